/**
 * `DELETE /notifications/{eventId}`: cancels a scheduled notification of the calling producer.
 *
 * 200 `{ eventId, status: "cancelled" }` while nothing is sent yet (again: the same answer)
 * 409 `{ error: "already_sent", eventId, status }` once its time came (or it was never scheduled)
 * 404 `{ error: "not found", eventId }` for an eventId this producer has no notification under
 * 400 naming `eventId` for an id no producer could have sent
 */
import type { HttpResult } from "./contracts";
import { type DecisionLogger, logDecision, OUTCOME } from "./log";
import { type AuthorizerContext, type Producer, producerEventKey, producerOf } from "./producers";
import type { Scheduler } from "./scheduler";
import type { ScheduledLog } from "./scheduling";
import { EVENT_ID_PATTERN } from "./validate";

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

  return async (eventId: string | undefined, caller?: Producer): Promise<HttpResult> => {
    if (typeof eventId !== "string" || !EVENT_ID_PATTERN.test(eventId)) {
      return respond(400, {
        error: "invalid request",
        problems: [{ field: "eventId", problem: "must be 1–128 characters of A-Z, a-z, 0-9, _ and -" }],
      });
    }
    try {
      return await cancel(eventId, caller);
    } catch (error) {
      const e = error as { name?: string; message?: string };
      logger({
        component: "notify",
        outcome: OUTCOME.notify.error,
        eventId,
        reason: `${e?.name ?? "Error"}: ${e?.message ?? ""}`.slice(0, 500),
      });
      return respond(500, { error: "internal error; retry" });
    }
  };
}

/** API Gateway HTTP API (payload 2.0) event for `DELETE /notifications/{eventId}`. */
export interface CancelApiEvent {
  pathParameters?: { eventId?: string } | null;
  requestContext?: { authorizer?: AuthorizerContext };
}

export function makeCancelApiHandler(deps: CancelDeps) {
  const serve = makeCancelService(deps);
  return async (event: CancelApiEvent): Promise<HttpResult> => serve(event?.pathParameters?.eventId ?? undefined, producerOf(event));
}
