/**
 * The ops page's list of notifications (`GET /ops/notifications`): every notification of the local log,
 * each channel's status, reason, tries and provider, the ones that need an operator first (failed and
 * dead-lettered, then those still on their way or scheduled), newest first within each. Searchable by
 * eventId, user, type, channel and status.
 *
 * The local log is small: a Scan reads it whole. The deployed stack has no ops page; there an operator
 * asks `GET /notifications/{eventId}` and the dashboard.
 */
import { type DynamoDBDocumentClient, paginateScan } from "@aws-sdk/lib-dynamodb";
import { DELIVERY_STATUS, type LogEntry } from "../runtime/contracts";
import { entriesOf, isNotificationLog, type Item, NOTIFICATION_ITEM } from "../runtime/logItem";
import { producersEventId } from "../runtime/producers";
import type { NotificationLog } from "../runtime/notificationLog";
import { type TopicSendStatus, topicSendStatus } from "../runtime/statusApi";
import { makeTopicSends, TOPIC_SEND_ITEM, type TopicSend } from "../runtime/topicSends";
import { type ScheduleRecord, scheduleOf, shownScheduleStatus } from "../runtime/scheduling";

export interface OpsNotification {
  eventId: string;
  /** Its key in the log (the producer's eventId, or the producer's own key when another's held it). */
  notificationId: string;
  userId: string;
  type: string;
  createdAt: string;
  producer?: string;
  /** Scheduled notifications: `scheduled`, `sent`, `failed` or `cancelled`. */
  status?: ScheduleRecord["status"];
  sendAt?: string;
  channels: Record<
    string,
    { status: LogEntry["status"]; reason?: string; tries: number; provider?: string; digestId?: string; updatedAt: string }
  >;
}

export interface OpsQuery {
  eventId?: string;
  userId?: string;
  type?: string;
  channel?: string;
  status?: string;
  limit: number;
}

/** What a filter may name as `status`: a channel's, or a scheduled notification's. */
export const OPS_STATUSES = [...Object.values(DELIVERY_STATUS), "scheduled", "cancelled", "failed"];
const MAX_LIMIT = 200;

/** The query of `GET /ops/notifications`, or the problems naming each bad parameter. */
export function opsQuery(
  params: URLSearchParams,
  channels: string[],
): { ok: true; query: OpsQuery } | { ok: false; problems: { field: string; problem: string }[] } {
  const problems: { field: string; problem: string }[] = [];
  const known = new Set(["eventId", "userId", "type", "channel", "status", "limit"]);
  for (const key of params.keys()) if (!known.has(key)) problems.push({ field: key, problem: "is not a filter of this list" });
  const status = params.get("status") ?? undefined;
  if (status !== undefined && !OPS_STATUSES.includes(status))
    problems.push({ field: "status", problem: `must be one of: ${OPS_STATUSES.join(", ")}` });
  const channel = params.get("channel") ?? undefined;
  if (channel !== undefined && !channels.includes(channel))
    problems.push({ field: "channel", problem: `must be one of: ${channels.join(", ")}` });
  const limitText = params.get("limit") ?? "50";
  const limit = Number(limitText);
  if (!/^\d+$/.test(limitText) || limit < 1 || limit > MAX_LIMIT)
    problems.push({ field: "limit", problem: `must be a whole number from 1 to ${MAX_LIMIT}` });
  if (problems.length) return { ok: false, problems };
  const text = (name: string) => params.get(name) || undefined;
  return { ok: true, query: { eventId: text("eventId"), userId: text("userId"), type: text("type"), channel, status, limit } };
}

/**
 * How much a notification needs an operator: 0 = something failed, 1 = still on its way (or waiting), 2 = done
 * (a channel collected into a digest counts as done here: its digest is listed, and waits, on its own).
 */
function urgency(n: OpsNotification): number {
  const statuses = Object.values(n.channels).map((c) => c.status as string);
  if (n.status === "failed" || statuses.some((s) => s === DELIVERY_STATUS.error || s === DELIVERY_STATUS.deadLettered)) return 0;
  const onItsWay: string[] = [DELIVERY_STATUS.created, DELIVERY_STATUS.pending, DELIVERY_STATUS.delayed];
  if (n.status === "scheduled" || statuses.some((s) => onItsWay.includes(s))) return 1;
  return 2;
}

/** One channel's entry as the list shows it. */
function channelRow(entry: LogEntry): OpsNotification["channels"][string] {
  return {
    status: entry.status,
    ...(entry.reason !== undefined ? { reason: entry.reason } : {}),
    tries: typeof entry.attempts === "number" ? entry.attempts : 0,
    ...(entry.provider !== undefined ? { provider: entry.provider } : {}),
    // Collected: the digest (a notification of its own, listed too) is what waits or fails.
    ...(entry.digestId !== undefined ? { digestId: entry.digestId } : {}),
    updatedAt: entry.updatedAt,
  };
}

function notificationOf(item: Item): OpsNotification {
  const scheduled = item.channel === NOTIFICATION_ITEM ? scheduleOf(item) : undefined;
  const channels: OpsNotification["channels"] = {};
  for (const entry of entriesOf(item)) channels[entry.channel] = channelRow(entry);
  return {
    eventId: producersEventId(item.eventId),
    notificationId: item.eventId,
    userId: String(item.userId),
    type: String(item.type),
    createdAt: String(item.createdAt),
    ...(item.producer !== undefined ? { producer: String(item.producer) } : {}),
    ...(scheduled ? { status: shownScheduleStatus(scheduled.status), sendAt: scheduled.sendAt } : {}),
    channels,
  };
}

function matches(n: OpsNotification, q: OpsQuery): boolean {
  if (q.eventId !== undefined && !n.eventId.includes(q.eventId)) return false;
  if (q.userId !== undefined && n.userId !== q.userId) return false;
  if (q.type !== undefined && n.type !== q.type) return false;
  if (q.channel !== undefined && !n.channels[q.channel]) return false;
  if (q.status !== undefined) {
    const statuses = q.channel !== undefined ? [n.channels[q.channel].status] : Object.values(n.channels).map((c) => c.status);
    if (!statuses.includes(q.status as LogEntry["status"]) && n.status !== q.status) return false;
  }
  return true;
}

/** The notifications matching `query`, those that need an operator first, newest first within each. */
export async function listNotifications(ddb: DynamoDBDocumentClient, table: string, query: OpsQuery) {
  const byId = new Map<string, OpsNotification>();
  for await (const page of paginateScan({ client: ddb }, { TableName: table })) {
    for (const item of (page.Items ?? []) as Item[]) {
      if (!isNotificationLog(item)) continue; // a topic send, a fan-out page, a digest window
      const found = notificationOf(item);
      // Rows of the earlier one-row-per-channel layout: one notification of several rows.
      const seen = byId.get(found.notificationId);
      if (seen) Object.assign(seen.channels, found.channels);
      else byId.set(found.notificationId, found);
    }
  }
  const items = [...byId.values()]
    .filter((n) => matches(n, query))
    .sort((a, b) => urgency(a) - urgency(b) || b.createdAt.localeCompare(a.createdAt))
    .slice(0, query.limit);
  return { items };
}

/** One step of a notification's way, as the functions logged it (local/opsNotifications.ts `makeTimeline`). */
export interface TimelineStep {
  at: string;
  component: string;
  outcome: string;
  channel?: string;
  reason?: string;
}

/** What each channel of one notification was sent: its status and the delivery it kept, content and recipient. */
export interface OpsNotificationDetail extends OpsNotification {
  sent: Record<string, { content?: { subject?: string; text?: string; html?: string }; to?: string }>;
  /** Its way through the system, oldest first (the decisions logged in this run). */
  timeline: TimelineStep[];
}

/**
 * The decisions the functions log, kept per notification for the ops page's timeline (the local mode's
 * stand-in for CloudWatch Logs Insights on the deployed stack): the newest `maxNotifications`, each with
 * at most `maxSteps` steps.
 */
export function makeTimeline(options: { maxNotifications?: number; maxSteps?: number } = {}) {
  const maxNotifications = options.maxNotifications ?? 2_000;
  const maxSteps = options.maxSteps ?? 100;
  const steps = new Map<string, TimelineStep[]>();
  return {
    record(decision: { eventId?: string; component: string; outcome: string; channel?: string; reason?: string }) {
      if (typeof decision.eventId !== "string") return;
      const id = producersEventId(decision.eventId);
      let list = steps.get(id);
      if (!list) {
        if (steps.size >= maxNotifications) steps.delete(steps.keys().next().value as string);
        list = [];
        steps.set(id, list);
      }
      if (list.length >= maxSteps) return;
      const { component, outcome, channel, reason } = decision;
      list.push({ at: new Date().toISOString(), component, outcome, ...(channel ? { channel } : {}), ...(reason ? { reason } : {}) });
    },
    of: (eventId: string): TimelineStep[] => [...(steps.get(eventId) ?? [])],
  };
}

export type Timeline = ReturnType<typeof makeTimeline>;

/** One notification by its key in the log, with what each channel sent and its timeline; undefined when unknown. */
export async function notificationDetail(
  log: NotificationLog,
  timeline: Timeline,
  notificationId: string,
): Promise<OpsNotificationDetail | undefined> {
  const { rows, item } = await log.notificationOf(notificationId);
  if (!item && rows.length === 0) return undefined;
  const first = rows[0];
  const found: OpsNotification = {
    eventId: producersEventId(notificationId),
    notificationId,
    userId: item?.userId ?? first.userId,
    type: item?.type ?? first.type,
    createdAt: item?.createdAt ?? first.createdAt,
    ...((item?.producer ?? first?.producer) !== undefined ? { producer: item?.producer ?? first?.producer } : {}),
    ...(item?.schedule ? { status: shownScheduleStatus(item.schedule.status), sendAt: item.schedule.sendAt } : {}),
    channels: {},
  };
  const sent: OpsNotificationDetail["sent"] = {};
  for (const row of rows) {
    found.channels[row.channel] = channelRow(row);
    const delivery = row.delivery;
    const address = delivery?.address ?? {};
    // Where it went, without a webhook URL's secret path.
    const to = address.email ?? address.phone ?? (address.webhookUrl ? String(address.webhookUrl).replace(/[^/]+$/, "•••") : undefined);
    sent[row.channel] = { ...(delivery ? { content: delivery.content } : {}), ...(to ? { to: String(to) } : {}) };
  }
  return { ...found, sent, timeline: timeline.of(found.eventId) };
}

/** The topic sends in the log (newest first, at most `limit`), each with its recipients' counts. */
export async function listTopicSends(
  ddb: DynamoDBDocumentClient,
  table: string,
  log: NotificationLog,
  limit = 20,
): Promise<TopicSendStatus[]> {
  const sends = makeTopicSends({ ddb, table });
  const ids: string[] = [];
  for await (const page of paginateScan(
    { client: ddb },
    {
      TableName: table,
      FilterExpression: "channel = :topic",
      ExpressionAttributeValues: { ":topic": TOPIC_SEND_ITEM },
      ProjectionExpression: "eventId",
    },
  )) {
    for (const item of page.Items ?? []) ids.push(item.eventId as string);
  }
  const found = (await Promise.all(ids.map((eventId) => sends.get(eventId)))).filter((send): send is TopicSend => send !== undefined);
  found.sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  return Promise.all(found.slice(0, limit).map((send) => topicSendStatus(send, { log, topicSends: sends })));
}
