/**
 * `GET /notifications/{eventId}`: what happened to one notification, channel by channel, read from the
 * notification log (one consistent Query on the event's partition).
 *
 * 200 `{ eventId, userId, type, createdAt, channels: { <channel>: { status, updatedAt, reason?, attempts?, provider? } } }`
 * 400 `{ error: "invalid request", problems: [{ field: "eventId", problem }] }` for an id no producer could have sent
 * 404 `{ error: "not found", eventId }` when nothing is logged under that id (never sent, or expired by
 * TTL) or what is logged is another producer's: an eventId belongs to the producer that sent it
 */
import type { HttpResult, LogEntry } from "./contracts";
import { type DecisionLogger, logDecision, OUTCOME } from "./log";
import type { NotificationLog } from "./notificationLog";
import { type AuthorizerContext, type Producer, producerEventKey, producerOf } from "./producers";
import { EVENT_ID_PATTERN } from "./validate";

export interface ChannelStatus {
  status: LogEntry["status"];
  updatedAt: string;
  reason?: string;
  attempts?: number;
  provider?: string;
}

export interface NotificationStatus {
  eventId: string;
  userId: string;
  type: string;
  createdAt: string;
  channels: Record<string, ChannelStatus>;
}

export interface StatusApiDeps {
  log: Pick<NotificationLog, "rowsOf">;
  logger?: DecisionLogger;
}

/** The answer for one eventId from its log rows; undefined when there are none. */
export function notificationStatus(eventId: string, rows: LogEntry[]): NotificationStatus | undefined {
  if (rows.length === 0) return undefined;
  const first = rows.reduce((a, b) => (a.createdAt <= b.createdAt ? a : b));
  const channels: Record<string, ChannelStatus> = {};
  for (const row of rows) {
    channels[row.channel] = {
      status: row.status,
      updatedAt: row.updatedAt,
      ...(row.reason !== undefined ? { reason: row.reason } : {}),
      ...(typeof row.attempts === "number" ? { attempts: row.attempts } : {}),
      ...(row.provider !== undefined ? { provider: row.provider } : {}),
    };
  }
  return { eventId, userId: first.userId, type: first.type, createdAt: first.createdAt, channels };
}

const JSON_HEADERS = { "content-type": "application/json; charset=utf-8" };
const respond = (statusCode: number, body: unknown): HttpResult => ({ statusCode, headers: JSON_HEADERS, body: JSON.stringify(body) });

/** Answers one status request for `eventId` (already URL-decoded). */
export function makeStatusService(deps: StatusApiDeps) {
  const logger = deps.logger ?? logDecision;
  /**
   * The caller's notification under `eventId`: logged under it, or under the caller's own key when
   * another producer's holds it. An item logged before producers were recorded answers any caller.
   */
  async function rowsFor(eventId: string, caller: Producer | undefined): Promise<LogEntry[]> {
    const rows = await deps.log.rowsOf(eventId);
    const owner = rows.find((row) => row.producer !== undefined)?.producer;
    if (owner === undefined || caller === undefined || owner === caller.id) return rows;
    return deps.log.rowsOf(producerEventKey(eventId, caller.id));
  }

  return async (eventId: string | undefined, caller?: Producer): Promise<HttpResult> => {
    if (typeof eventId !== "string" || !EVENT_ID_PATTERN.test(eventId)) {
      return respond(400, {
        error: "invalid request",
        problems: [{ field: "eventId", problem: "must be 1–128 characters of A-Z, a-z, 0-9, _ and -" }],
      });
    }
    try {
      const status = notificationStatus(eventId, await rowsFor(eventId, caller));
      if (!status) return respond(404, { error: "not found", eventId });
      return respond(200, status);
    } catch (error) {
      const e = error as { name?: string; message?: string };
      logger({
        component: "status",
        outcome: OUTCOME.status.error,
        eventId,
        reason: `${e?.name ?? "Error"}: ${e?.message ?? ""}`.slice(0, 500),
      });
      return respond(500, { error: "internal error; retry" });
    }
  };
}

/** API Gateway HTTP API (payload 2.0) event for `GET /notifications/{eventId}`. */
export interface StatusApiEvent {
  pathParameters?: { eventId?: string } | null;
  rawPath?: string;
  requestContext?: { authorizer?: AuthorizerContext };
}

/** The Lambda handler: reads `{eventId}` from the path parameters. */
export function makeStatusApiHandler(deps: StatusApiDeps) {
  const serve = makeStatusService(deps);
  return async (event: StatusApiEvent): Promise<HttpResult> => serve(event?.pathParameters?.eventId ?? undefined, producerOf(event));
}
