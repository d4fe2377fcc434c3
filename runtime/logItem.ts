/**
 * The notification log's items as they are stored: one item per notification (the sort key
 * NOTIFICATION_ITEM), each channel's record in its map `deliveries`, and, read the same way, the rows of
 * the earlier one-row-per-channel layout (runtime/notificationLog.ts says how both are written).
 */
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { type ChannelDelivery, DELIVERY_STATUS, type DeliveryStatus, type LogEntry } from "./contracts";
import { DEFAULTS } from "./defaults";

/**
 * The sort key (`channel` attribute) of a notification's one item. No channel name can take it
 * (CHANNEL_NAME_PATTERN in runtime/config.ts starts with a letter; tests/notificationLog.test.ts checks), so the table keeps its (eventId, channel) key schema and
 * rows of the earlier one-row-per-channel layout sit beside it.
 */
export const NOTIFICATION_ITEM = "#notification";

/**
 * Most bytes the producer may write in one notification item. DynamoDB refuses items over 400 KB; what
 * workers add later (status, timestamps, lease, provider ids, a reason of at most a few hundred
 * characters) is bounded per channel, and stays under the headroom kept here.
 */
export const MAX_ITEM_BYTES = 400 * 1024;
const HEADROOM_BYTES = 8 * 1024;
const HEADROOM_PER_CHANNEL_BYTES = 2 * 1024;

/**
 * How long a row may sit `created` or `pending` with no delivery in flight before it counts as stuck:
 * its event was lost on the way (rule DLQ, a crash between put and queue). Far below the queues'
 * retention, above the longest politeness delay (15 min) a healthy row can wait
 * (`tidings:reconciler.stuckAfterMinutes`).
 */
export const STUCK_AFTER_MS = DEFAULTS.reconciler.stuckAfterMinutes * 60_000;

/** Index keys a day's notifications are spread over in byCreatedDay (more keys, more writes per second). */
export const RECONCILE_SHARDS = 8;

/** The byCreatedDay key of a notification: its UTC day and a shard chosen by its eventId. */
export function createdDayShard(eventId: string, createdAt: string): string {
  let hash = 0;
  for (let i = 0; i < eventId.length; i++) hash = (hash * 31 + eventId.charCodeAt(i)) >>> 0;
  return dayShardKey(createdAt.slice(0, 10), hash % RECONCILE_SHARDS);
}

/** The byCreatedDay key of one shard of one UTC day (YYYY-MM-DD). */
export const dayShardKey = (day: string, shard: number) => `${day}#${shard}`;

/** The UTC days (YYYY-MM-DD) from `fromIso`'s to `toIso`'s, both included. */
export function daysBetween(fromIso: string, toIso: string): string[] {
  const days: string[] = [];
  const last = toIso.slice(0, 10);
  for (let day = new Date(`${fromIso.slice(0, 10)}T00:00:00.000Z`); ; day = new Date(day.getTime() + 86_400_000)) {
    const iso = day.toISOString().slice(0, 10);
    if (iso > last) return days;
    days.push(iso);
  }
}

/**
 * A row that should have moved on and has not: still `created`/`pending`, untouched for `stuckAfterMs`,
 * and no worker holding a live claim on it. Such a row may be put on the bus again: the worker's claim
 * keeps the delivery exactly-once if the first copy turns up after all.
 */
export function isStuck(
  row: Pick<LogEntry, "status" | "updatedAt" | "claimedUntil">,
  nowMs: number,
  stuckAfterMs = STUCK_AFTER_MS,
): boolean {
  if (row.status !== "created" && row.status !== "pending") return false;
  if (typeof row.claimedUntil === "number" && row.claimedUntil > nowMs) return false;
  const updated = Date.parse(row.updatedAt);
  return Number.isFinite(updated) && updated <= nowMs - stuckAfterMs;
}

export interface NewLogEntry {
  eventId: string;
  channel: string;
  userId: string;
  type: string;
  status:
    | typeof DELIVERY_STATUS.created
    | typeof DELIVERY_STATUS.unsubscribed
    | typeof DELIVERY_STATUS.error
    | typeof DELIVERY_STATUS.digested;
  /** `digested`: the digest it was collected into. */
  digestId?: string;
  reason?: string;
  /** The event detail as put on the bus: kept so the reconciler can put a lost event again. */
  delivery?: ChannelDelivery;
  /** SHA-256 of `delivery`: what a worker checks before it sends (runtime/deliveryDigest.ts). */
  digest?: string;
  /** SHA-256 of the producer's request without eventId: tells a retry from a reused eventId. */
  requestDigest?: string;
  /** Who sent it: its eventId is that producer's. */
  producer?: string;
  /** The producer's callback: where the notification's tracking links go. */
  callback?: string;
}

/** A stored item: the notification item, or a row of the earlier one-row-per-channel layout. */
export type Item = Record<string, unknown> & { eventId: string; channel: string };
/** One channel's record inside the notification item: its delivery kept deflated (a map in older records). */
export type DeliveryRecord = Omit<
  LogEntry,
  "eventId" | "channel" | "userId" | "type" | "createdAt" | "requestDigest" | "producer" | "callback" | "ttl" | "delivery"
> & {
  delivery?: Uint8Array | ChannelDelivery;
};

/** The notification's own fields, shared by every channel's entry. */
export const NOTIFICATION_FIELDS = ["userId", "type", "createdAt", "requestDigest", "producer", "callback", "ttl"] as const;

/**
 * A channel's kept delivery as the item stores it: its JSON, deflated (binary). DynamoDB bills each write
 * by the whole item's size, and every worker update of a notification pays for every unfinished channel's
 * kept delivery, rendered content included (an e-mail's HTML above all): kept smaller, each of those
 * writes costs fewer units, and more content fits in the 400 KB item. About 15 µs per KB of JSON.
 */
export const storedDelivery = (delivery: ChannelDelivery): Uint8Array => deflateRawSync(JSON.stringify(delivery));

/** The delivery a record keeps: deflated, or a map in records written before deliveries were deflated. */
export function keptDelivery(stored: unknown): ChannelDelivery | undefined {
  if (stored instanceof Uint8Array) return JSON.parse(inflateRawSync(stored).toString("utf8")) as ChannelDelivery;
  return stored as ChannelDelivery | undefined;
}

/** `channel`'s entry of a stored item: its record with the notification's fields; a legacy row as it is. */
export function entryOf(item: Item | undefined, channel: string): LogEntry | undefined {
  if (!item) return undefined;
  if (item.channel !== NOTIFICATION_ITEM) return item.channel === channel ? (item as unknown as LogEntry) : undefined;
  const record = (item.deliveries as Record<string, DeliveryRecord> | undefined)?.[channel];
  if (!record) return undefined;
  const shared: Partial<LogEntry> = {};
  for (const field of NOTIFICATION_FIELDS) if (item[field] !== undefined) Object.assign(shared, { [field]: item[field] });
  const entry = { ...record, ...shared, eventId: item.eventId, channel } as LogEntry;
  if (record.delivery !== undefined) entry.delivery = keptDelivery(record.delivery);
  return entry;
}

/**
 * Whether a stored item is the log of a notification: its item, or a row of the earlier one-row-per-channel
 * layout. Items whose `channel` starts with `#` are otherwise the pipeline's own (a topic send, its fan-out
 * pages, a digest window), never a channel of a notification.
 */
export const isNotificationLog = (item: Item) => item.channel === NOTIFICATION_ITEM || !String(item.channel).startsWith("#");

/** Every channel's entry of a stored item. */
export function entriesOf(item: Item): LogEntry[] {
  if (!isNotificationLog(item)) return [];
  if (item.channel !== NOTIFICATION_ITEM) return [item as unknown as LogEntry];
  return Object.keys((item.deliveries as Record<string, unknown> | undefined) ?? {}).map((channel) => entryOf(item, channel)!);
}

/** The record a new channel starts with. */
export function recordOf(entry: NewLogEntry, at: string): DeliveryRecord {
  const record: DeliveryRecord = { status: entry.status, updatedAt: at, attempts: 0 };
  if (entry.reason !== undefined) record.reason = entry.reason;
  if (entry.delivery !== undefined) record.delivery = storedDelivery(entry.delivery);
  if (entry.digest !== undefined) record.digest = entry.digest;
  if (entry.digestId !== undefined) record.digestId = entry.digestId;
  return record;
}

export const isUnfinished = (status: DeliveryStatus | undefined) =>
  status === DELIVERY_STATUS.created || status === DELIVERY_STATUS.pending || status === DELIVERY_STATUS.delayed;

/** The notification item `createAll` puts for entries of one eventId (all of one request). */
export function notificationItem(entries: NewLogEntry[], at: string, ttl: number): Item {
  const [first] = entries;
  for (const entry of entries) {
    if (
      entry.eventId !== first.eventId ||
      entry.userId !== first.userId ||
      entry.type !== first.type ||
      entry.requestDigest !== first.requestDigest ||
      entry.producer !== first.producer ||
      entry.callback !== first.callback
    )
      throw new Error(
        `one notification item holds one notification: ${entry.eventId}/${entry.channel} differs from ${first.eventId}/${first.channel}`,
      );
  }
  const unfinished = entries.filter((entry) => isUnfinished(entry.status)).map((entry) => entry.channel);
  return {
    eventId: first.eventId,
    channel: NOTIFICATION_ITEM,
    userId: first.userId,
    type: first.type,
    ...(first.requestDigest !== undefined ? { requestDigest: first.requestDigest } : {}),
    ...(first.producer !== undefined ? { producer: first.producer } : {}),
    ...(first.callback !== undefined ? { callback: first.callback } : {}),
    createdAt: at,
    createdDayShard: createdDayShard(first.eventId, at),
    ttl,
    deliveries: Object.fromEntries(entries.map((entry) => [entry.channel, recordOf(entry, at)])),
    ...(unfinished.length ? { unfinishedChannels: new Set(unfinished) } : {}),
  };
}

/**
 * Whether the notification item for `entries` fits in DynamoDB with room for what workers add:
 * undefined when it does, else its size and the limit, in bytes (JSON's size with each binary value
 * counted by its bytes, a little above DynamoDB's).
 */
export function oversizeNotification(entries: NewLogEntry[]): { bytes: number; limit: number } | undefined {
  if (!entries.length) return undefined;
  const item = notificationItem(entries, new Date(0).toISOString(), 0);
  let binaryBytes = 0;
  const json = JSON.stringify(item, function (this: Record<string, unknown>, key, value) {
    const raw = this[key];
    if (raw instanceof Uint8Array) {
      binaryBytes += raw.byteLength;
      return "";
    }
    return raw instanceof Set ? [...raw] : value;
  });
  const bytes = Buffer.byteLength(json, "utf8") + binaryBytes;
  const limit = MAX_ITEM_BYTES - HEADROOM_BYTES - entries.length * HEADROOM_PER_CHANNEL_BYTES;
  return bytes > limit ? { bytes, limit } : undefined;
}
