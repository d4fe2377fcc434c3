/**
 * Digests (`tidings:notificationTypes.<type>.digest`): notifications of a type are collected per
 * producer, user and `key` value while a window is open, and each channel but the inbox gets one delivery
 * when it closes.
 *
 * A digest is a scheduled notification (runtime/scheduling.ts) of its own, under its own id, sent when
 * the window closes: the one-time schedule wakes the scheduled sender, which claims it, and the service's
 * pipeline renders the type's templates with `{ count, items }` and sends it like any notification, reading
 * the user's settings, preferences and contacts then. Its item holds what was collected (`digestItems`,
 * by eventId, so a producer's retry is collected once). A window's pointer item (`current`, `closesAt`)
 * says which digest is open; the first notification after a window closed (or filled) moves it on with a
 * conditional write, so two requests racing open one window, not two.
 */
import { createHash } from "node:crypto";
import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { DigestItem, NotificationRequest } from "./contracts";
import { DEFAULTS } from "./defaults";
import { requestDigest } from "./deliveryDigest";
import { NOTIFICATION_ITEM } from "./logItem";
import { isConditionFailure } from "./logWrites";
import type { Scheduler } from "./scheduler";
import type { ScheduledLog } from "./scheduling";

/** What one digest collects at most: a fuller window closes early into the next digest. */
export const MAX_DIGEST_ITEMS = 50;
/** The `channel` of a window's pointer item in the log table: not a notification, nor a channel of one. */
const WINDOW_ITEM = "#digest-window";

export interface DigestsDeps {
  ddb: DynamoDBDocumentClient;
  /** The notification log table: digests are notifications there, windows their pointers. */
  table: string;
  scheduledLog: ScheduledLog;
  scheduler: Scheduler;
  /** Days a notification is kept. @default 90 */
  ttlDays?: number;
  now?: () => number;
}

/** What is collected: one notification, into the window of its producer, user, type and key value. */
export interface Collect {
  eventId: string;
  producer: string | undefined;
  userId: string;
  type: string;
  /** The type's `digest.key` value in this notification's data, as text ("" without a key). */
  keyValue: string;
  windowSeconds: number;
  item: DigestItem;
}

/** The digest's data for its templates: how many, and each collected notification's data in order. */
export function digestData(items: Record<string, DigestItem>): {
  data: { count: number; items: Record<string, unknown>[] };
  channels: string[];
} {
  const ordered = Object.entries(items).sort(([a, x], [b, y]) => (x.at === y.at ? (a < b ? -1 : 1) : x.at < y.at ? -1 : 1));
  return {
    data: { count: ordered.length, items: ordered.map(([, item]) => item.data) },
    channels: [...new Set(ordered.flatMap(([, item]) => item.channels))].sort(),
  };
}

/** The text of the key field's value in `data` (a digest per value); "" when the type has no key. */
export function digestKeyValue(key: string | undefined, data: Record<string, unknown> | undefined): string {
  if (key === undefined) return "";
  const value = data?.[key];
  return value === undefined || value === null ? "" : typeof value === "string" ? value : JSON.stringify(value);
}

export function makeDigests(deps: DigestsDeps) {
  const now = deps.now ?? Date.now;
  const ttlSeconds = (deps.ttlDays ?? DEFAULTS.logTtlDays) * 86_400;

  const windowId = (c: Collect) =>
    `dgw-${createHash("sha256")
      .update([c.producer ?? "", c.userId, c.type, c.keyValue].join("\n"))
      .digest("base64url")
      .slice(0, 32)}`;
  const digestIdOf = (window: string, n: number) => `dg-${window.slice(4)}-${n}`;

  /** The digest's own request: its user and type; the data and channels are what it collected, when it closes. */
  const requestOf = (c: Collect, digestId: string): NotificationRequest => ({ eventId: digestId, userId: c.userId, type: c.type });

  /** The digest's item and schedule, written once whoever opened the window (both writes are idempotent). */
  async function ensureDigest(c: Collect, digestId: string, closesAt: string): Promise<void> {
    const request = requestOf(c, digestId);
    await deps.scheduledLog.schedule({
      eventId: digestId,
      userId: c.userId,
      type: c.type,
      producer: c.producer,
      requestDigest: requestDigest(request),
      request,
      sendAt: closesAt,
      digest: true,
    });
    await deps.scheduler.create(digestId, closesAt);
  }

  /** Adds the item while the digest is still waiting and has room; false otherwise (or when it is not there yet). */
  async function add(digestId: string, c: Collect): Promise<boolean> {
    try {
      await deps.ddb.send(
        new UpdateCommand({
          TableName: deps.table,
          Key: { eventId: digestId, channel: NOTIFICATION_ITEM },
          UpdateExpression: "SET #items.#event = :item",
          ConditionExpression:
            "#s.#status = :scheduled AND attribute_exists(#items) AND (size(#items) < :max OR attribute_exists(#items.#event))",
          ExpressionAttributeNames: { "#items": "digestItems", "#event": c.eventId, "#s": "scheduled", "#status": "status" },
          ExpressionAttributeValues: { ":item": c.item, ":scheduled": "scheduled", ":max": MAX_DIGEST_ITEMS },
        }),
      );
      return true;
    } catch (error) {
      if (isConditionFailure(error)) return false;
      // The item would pass DynamoDB's 400 KB: this digest is full.
      if ((error as Error).name === "ValidationException" && /size/i.test((error as Error).message)) return false;
      throw error;
    }
  }

  return {
    /**
     * Collects a notification into the open window of its producer, user, type and key (opening one if
     * none is open), and answers the digest's id.
     */
    async collect(c: Collect): Promise<string> {
      const window = windowId(c);
      for (let attempt = 0; attempt < 5; attempt++) {
        const found = await deps.ddb.send(
          new GetCommand({ TableName: deps.table, Key: { eventId: window, channel: WINDOW_ITEM }, ConsistentRead: true }),
        );
        const pointer = found.Item as { current: number; closesAt: string } | undefined;
        if (pointer && Date.parse(pointer.closesAt) > now()) {
          const digestId = digestIdOf(window, pointer.current);
          if (await add(digestId, c)) return digestId;
          // Not there yet (its opener has not written it): write it, then add; still no room: a new window.
          await ensureDigest(c, digestId, pointer.closesAt);
          if (await add(digestId, c)) return digestId;
        }
        const current = (pointer?.current ?? 0) + 1;
        const closesAt = new Date(now() + c.windowSeconds * 1000).toISOString();
        try {
          await deps.ddb.send(
            new PutCommand({
              TableName: deps.table,
              Item: {
                eventId: window,
                channel: WINDOW_ITEM,
                userId: c.userId,
                ...(c.producer !== undefined ? { producer: c.producer } : {}),
                current,
                closesAt,
                ttl: Math.floor(now() / 1000) + c.windowSeconds + ttlSeconds,
              },
              ConditionExpression: pointer ? "#current = :seen" : "attribute_not_exists(eventId)",
              ...(pointer
                ? { ExpressionAttributeNames: { "#current": "current" }, ExpressionAttributeValues: { ":seen": pointer.current } }
                : {}),
            }),
          );
        } catch (error) {
          // Another request moved the window on first: join that one.
          if (isConditionFailure(error)) continue;
          throw error;
        }
        const digestId = digestIdOf(window, current);
        await ensureDigest(c, digestId, closesAt);
        if (await add(digestId, c)) return digestId;
      }
      throw new Error(`could not collect ${c.eventId} into a digest: its window kept moving`);
    },
  };
}

export type Digests = ReturnType<typeof makeDigests>;
