/**
 * `DELETE /notifications/{eventId}`: cancels a scheduled notification of the calling producer.
 *
 * 200 `{ eventId, status: "cancelled" }` while nothing is sent yet (again: the same answer)
 * 409 `{ error: "already_sent", eventId, status }` once its time came (or it was never scheduled)
 * 409 `{ error: "digest", eventId, message }` for a digest: it closes by itself, and its collected
 *     notifications would otherwise never be sent
 * 404 `{ error: "not found", eventId }` for an eventId this producer has no notification under
 * 400 naming `eventId` for an id no producer could have sent
 */
import type { HttpResult } from "./contracts";
import { type DecisionLogger, logDecision, OUTCOME } from "./log";
import { type Producer, producerEventKey } from "./producers";
import type { Scheduler } from "./scheduler";
import type { ScheduledLog } from "./scheduling";
import { eventIdHandler, eventIdRoute, type StatusApiEvent } from "./statusApi";

export interface CancelDeps {
  log: Pick<ScheduledLog, "find" | "cancel">;
  scheduler: Scheduler;
  logger?: DecisionLogger;
}

const JSON_HEADERS = { "content-type": "application/json; charset=utf-8" };
const respond = (statusCode: number, body: unknown): HttpResult => ({ statusCode, headers: JSON_HEADERS, body: JSON.stringify(body) });

export function makeCancelService(deps: CancelDeps) {
  const logger = deps.logger ?? logDecision;

  /** The caller's notification under `eventId`: its own key when another producer's holds the eventId. */
  async function findOwn(eventId: string, caller: Producer | undefined) {
    const found = await deps.log.find(eventId);
    if (!found || found.producer === undefined || caller === undefined || found.producer === caller.id) return { key: eventId, found };
    const key = producerEventKey(eventId, caller.id);
    return { key, found: await deps.log.find(key) };
  }

  async function cancel(eventId: string, caller: Producer | undefined): Promise<HttpResult> {
    const { key, found } = await findOwn(eventId, caller);
    if (!found) return respond(404, { error: "not found", eventId });
    if (found.digest)
      return respond(409, {
        error: "digest",
        eventId,
        message: "a digest closes by itself: the notifications it collected are sent with it",
      });
    const status = found.schedule?.status;
    if (status === "cancelled") return respond(200, { eventId, status });
    if (status === "scheduled" && (await deps.log.cancel(key))) {
      // The schedule's fire would find it cancelled anyway; deleting it spares the invocation.
      await deps.scheduler
        .delete(key)
        .catch((error: unknown) =>
          logger({ component: "notify", outcome: OUTCOME.notify.error, eventId, reason: `schedule not deleted: ${String(error)}` }),
        );
      logger({ component: "notify", outcome: OUTCOME.notify.cancelled, eventId });
      return respond(200, { eventId, status: "cancelled" });
    }
    // Its time came first (or the notification was sent at once): the send won the race.
    const now = status === "scheduled" ? (await deps.log.find(key))?.schedule?.status : status;
    if (now === "cancelled") return respond(200, { eventId, status: now });
    return respond(409, { error: "already_sent", eventId, status: now ?? "sent" });
  }

  return eventIdRoute("notify", logger, cancel);
}

/** API Gateway HTTP API (payload 2.0) event for `DELETE /notifications/{eventId}`: the status route's. */
export type CancelApiEvent = StatusApiEvent;

export function makeCancelApiHandler(deps: CancelDeps) {
  return eventIdHandler(makeCancelService(deps));
}
