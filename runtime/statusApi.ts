/**
 * `GET /notifications/{eventId}`: what happened to one notification, channel by channel, read from the
 * notification log (one consistent Query on the event's partition).
 *
 * 200 `{ eventId, userId, type, createdAt, channels: { <channel>: { status, updatedAt, reason?, attempts?, provider? } } }`
 * 400 `{ error: "invalid request", problems: [{ field: "eventId", problem }] }` for an id no producer could have sent
 * 404 `{ error: "not found", eventId }` when nothing is logged under that id (never sent, or expired by
 * TTL) or what is logged is another producer's: an eventId belongs to the producer that sent it
 */
import { DELIVERY_STATUS, type HttpResult, isDelivered, type LogEntry } from "./contracts";
import { isUnfinished } from "./logItem";
import { recipientId, type TopicSend, type TopicSends } from "./topicSends";
import { type DecisionLogger, logDecision, OUTCOME } from "./log";
import type { NotificationLog } from "./notificationLog";
import { type ScheduleRecord, shownScheduleStatus } from "./scheduling";
import { type AuthorizerContext, type Producer, producerEventKey, producerOf } from "./producers";
import { EVENT_ID_PATTERN } from "./validate";

export interface ChannelStatus {
  status: LogEntry["status"];
  updatedAt: string;
  reason?: string;
  /** `delayed`: when it is sent. */
  until?: string;
  attempts?: number;
  provider?: string;
  /** Collected into this digest: `digested` until the digest is sent on the channel, then the digest's status. */
  digestId?: string;
}

export interface NotificationStatus {
  eventId: string;
  userId: string;
  type: string;
  createdAt: string;
  channels: Record<string, ChannelStatus>;
  /** A scheduled notification's state: `scheduled` until its time, then `sent` (or `failed`, with `reason`), or `cancelled`. */
  status?: ScheduleRecord["status"];
  /** When a scheduled notification is (or was) to be sent. */
  sendAt?: string;
  /** Why a scheduled notification was not sent when its time came. */
  reason?: string;
}

/** A topic send: its recipients, and how each stands (on any channel: sent first, then failed, then skipped). */
export interface TopicSendStatus {
  eventId: string;
  topic: string;
  type: string;
  createdAt: string;
  recipients: number;
  sent: number;
  skipped: number;
  failed: number;
  pending: number;
}

/** How one recipient stands: sent on some channel; else still on its way; else failed; else skipped (or never reached by any channel). */
export function recipientOutcome(entries: LogEntry[] | undefined): "sent" | "pending" | "failed" | "skipped" {
  if (!entries?.length) return "skipped";
  if (entries.some((e) => isDelivered(e.status))) return "sent";
  if (entries.some((e) => isUnfinished(e.status) || e.status === DELIVERY_STATUS.digested)) return "pending";
  if (entries.some((e) => e.status === DELIVERY_STATUS.error || e.status === DELIVERY_STATUS.deadLettered)) return "failed";
  return "skipped";
}

/** A topic send's counts, from each reached recipient's notification; the ones not reached yet are pending. */
export async function topicSendStatus(
  send: TopicSend,
  deps: { log: Pick<NotificationLog, "entriesFor">; topicSends: Pick<TopicSends, "recipients"> },
): Promise<TopicSendStatus> {
  const userIds = await deps.topicSends.recipients(send.eventId);
  const entries = await deps.log.entriesFor(userIds.map((userId) => recipientId(send.eventId, userId)));
  const counts = { sent: 0, skipped: 0, failed: 0, pending: 0 };
  for (const userId of userIds) counts[recipientOutcome(entries.get(recipientId(send.eventId, userId)))]++;
  const recipients = send.done ? userIds.length : Math.max(send.recipients, userIds.length);
  counts.pending += recipients - userIds.length;
  return { eventId: send.eventId, topic: send.topic, type: send.type, createdAt: send.createdAt, recipients, ...counts };
}

export interface StatusApiDeps {
  log: Pick<NotificationLog, "notificationOf" | "entriesFor">;
  /** Topic sends (runtime/topicSends.ts): their status is their recipients'. @default none */
  topicSends?: Pick<TopicSends, "get" | "recipients">;
  logger?: DecisionLogger;
}

/** The answer for one eventId from its log rows and schedule; undefined when there is nothing. */
export function notificationStatus(
  eventId: string,
  rows: LogEntry[],
  scheduled?: { userId: string; type: string; createdAt: string; schedule: ScheduleRecord },
  digests: Map<string, LogEntry[]> = new Map(),
): NotificationStatus | undefined {
  const schedule = scheduled
    ? {
        status: shownScheduleStatus(scheduled.schedule.status),
        sendAt: scheduled.schedule.sendAt,
        ...(scheduled.schedule.reason !== undefined ? { reason: scheduled.schedule.reason } : {}),
      }
    : {};
  if (rows.length === 0) {
    if (!scheduled) return undefined;
    const { userId, type, createdAt } = scheduled;
    return { eventId, userId, type, createdAt, channels: {}, ...schedule };
  }
  const first = rows.reduce((a, b) => (a.createdAt <= b.createdAt ? a : b));
  const channels: Record<string, ChannelStatus> = {};
  for (const row of rows) {
    // Collected into a digest: once the digest has gone out on this channel (or ended there), that is its status.
    const digest = row.digestId ? digests.get(row.digestId)?.find((d) => d.channel === row.channel) : undefined;
    if (row.status === DELIVERY_STATUS.digested && digest && !isUnfinished(digest.status)) {
      channels[row.channel] = {
        status: digest.status,
        updatedAt: digest.updatedAt,
        ...(digest.reason !== undefined ? { reason: digest.reason } : {}),
        ...(digest.provider !== undefined ? { provider: digest.provider } : {}),
        digestId: row.digestId,
      };
      continue;
    }
    channels[row.channel] = {
      status: row.status,
      updatedAt: row.updatedAt,
      ...(row.digestId !== undefined ? { digestId: row.digestId } : {}),
      ...(row.reason !== undefined ? { reason: row.reason } : {}),
      ...(row.until !== undefined ? { until: row.until } : {}),
      ...(typeof row.attempts === "number" ? { attempts: row.attempts } : {}),
      ...(row.provider !== undefined ? { provider: row.provider } : {}),
    };
  }
  return { eventId, userId: first.userId, type: first.type, createdAt: first.createdAt, channels, ...schedule };
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
  async function notificationFor(eventId: string, caller: Producer | undefined) {
    const found = await deps.log.notificationOf(eventId);
    const owner = found.item?.producer ?? found.rows.find((row) => row.producer !== undefined)?.producer;
    if (owner === undefined || caller === undefined || owner === caller.id) return found;
    return deps.log.notificationOf(producerEventKey(eventId, caller.id));
  }

  /** A topic send's counts, from each reached recipient's notification; the ones not reached yet are pending. */
  const topicStatus = (send: TopicSend) => topicSendStatus(send, { log: deps.log, topicSends: deps.topicSends! });

  return eventIdRoute("status", logger, async (eventId, caller) => {
    const found = await notificationFor(eventId, caller);
    const digestIds = [
      ...new Set(found.rows.flatMap((row) => (row.status === DELIVERY_STATUS.digested && row.digestId ? [row.digestId] : []))),
    ];
    const digests = new Map(await Promise.all(digestIds.map(async (id) => [id, (await deps.log.notificationOf(id)).rows] as const)));
    const status = notificationStatus(
      eventId,
      found.rows,
      found.item?.schedule ? { ...found.item, schedule: found.item.schedule } : undefined,
      digests,
    );
    if (!status) {
      const held = await deps.topicSends?.get(eventId);
      // Another producer's send under this eventId: the caller's own is under its own key.
      const topicSend =
        held && held.producer !== undefined && caller !== undefined && held.producer !== caller.id
          ? await deps.topicSends?.get(producerEventKey(eventId, caller.id))
          : held;
      if (topicSend) return respond(200, { ...(await topicStatus(topicSend)), eventId });
      return respond(404, { error: "not found", eventId });
    }
    return respond(200, status);
  });
}

/**
 * A producer route on one notification (`/notifications/{eventId}`): 400 naming `eventId` for an id no
 * producer could have sent, and a 500 that leaks nothing when a table cannot be reached.
 */
export function eventIdRoute(
  component: "status" | "notify",
  logger: DecisionLogger,
  serve: (eventId: string, caller: Producer | undefined) => Promise<HttpResult>,
): (eventId: string | undefined, caller?: Producer) => Promise<HttpResult> {
  return async (eventId, caller) => {
    if (typeof eventId !== "string" || !EVENT_ID_PATTERN.test(eventId)) {
      return respond(400, {
        error: "invalid request",
        problems: [{ field: "eventId", problem: "must be 1–128 characters of A-Z, a-z, 0-9, _ and -" }],
      });
    }
    try {
      return await serve(eventId, caller);
    } catch (error) {
      const e = error as { name?: string; message?: string };
      logger({ component, outcome: OUTCOME[component].error, eventId, reason: `${e?.name ?? "Error"}: ${e?.message ?? ""}`.slice(0, 500) });
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
  return eventIdHandler(makeStatusService(deps));
}

/** A `/notifications/{eventId}` route's Lambda handler: `{eventId}` from the path, the caller from the authorizer. */
export function eventIdHandler(serve: (eventId: string | undefined, caller?: Producer) => Promise<HttpResult>) {
  return async (event: StatusApiEvent): Promise<HttpResult> => serve(event?.pathParameters?.eventId ?? undefined, producerOf(event));
}
