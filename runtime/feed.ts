/**
 * The in-app feed (TABLES.feed): every websocket-channel notification stored for its user, read or not,
 * until its TTL. The websocket provider stores; the end-user API (runtime/userApi.ts) lists, counts,
 * marks read and archives. Every operation is keyed by the caller's userId, so one user can never reach
 * another user's rows: an eventId that is not under the caller's key is simply not found.
 */
import { createHash } from "node:crypto";
import { DEFAULTS } from "./defaults";
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  paginateQuery,
  QueryCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import type { ChannelDelivery, RenderedContent } from "./contracts";
import { isConditionFailure } from "./logWrites";
import { TABLES } from "./tables";

/**
 * A feed row as stored. `feedKey` orders the inbox and exists only while the item is not archived;
 * `archivedKey` (the same value) exists only while it is; `unreadKey` (`<arrivedAt>#<eventId>`) exists
 * until it is read by id or archived. "Mark all read" removes no key: it writes the user's read mark, and
 * every item that arrived up to it counts as read (see readMark), so its cost does not grow with the feed.
 */
export interface FeedItem {
  userId: string;
  eventId: string;
  type: string;
  kind: "actionable" | "feedback";
  content: RenderedContent;
  callback?: string;
  link?: string;
  progress?: number;
  createdAt: string;
  readAt?: string;
  archivedAt?: string;
  feedKey?: string;
  archivedKey?: string;
  unreadKey?: string;
  /** When the item entered the inbox (or a renotify brought it back): the read mark compares it. */
  arrivedAt?: string;
  ttl: number;
  /** Progress in place: the producer's groupKey; the item's `eventId` is its group's id (groupItemId). */
  groupKey?: string;
  /** A grouped item: when its newest update was accepted. */
  updatedAt?: string;
  /** A grouped item: the eventId of its newest update (whose log row a read opens). */
  lastEventId?: string;
}

/** An item as the end-user API answers it (no keys, no ttl). */
export type FeedEntry = Pick<
  FeedItem,
  | "eventId"
  | "type"
  | "kind"
  | "content"
  | "callback"
  | "link"
  | "progress"
  | "createdAt"
  | "readAt"
  | "archivedAt"
  | "groupKey"
  | "updatedAt"
>;

/**
 * The one feed item of a producer's groupKey for a user: an id like an eventId (so the read, archive and
 * sync routes take it), that no two producers' keys share.
 */
export function groupItemId(producer: string | undefined, groupKey: string): string {
  return `g-${createHash("sha256")
    .update(`${producer ?? ""}\n${groupKey}`)
    .digest("base64url")
    .slice(0, 32)}`;
}

export interface FeedDeps {
  ddb: DynamoDBDocumentClient;
  table: string;
  /** Days an item is kept. @default 90 */
  ttlDays?: number;
  now?: () => number;
}

export interface FeedPage {
  items: FeedEntry[];
  /** Unread and not archived, in the whole feed. */
  unreadCount: number;
  /** Opaque: pass back as `cursor` for the next (older) page. */
  nextCursor?: string;
}

/** Which items a listing returns. */
export interface ListOptions {
  limit: number;
  /** From a previous page's nextCursor. */
  cursor?: Record<string, unknown>;
  /** The inbox (not archived), its unread items only, or the archive. @default "inbox" */
  listing?: Listing;
}

/** Which listing a query (and its cursor) belongs to: the index it reads and that index's sort key. */
const LISTINGS = {
  inbox: { index: "byTime", sortKey: "feedKey" },
  unread: { index: "unread", sortKey: "unreadKey" },
  archived: { index: "archived", sortKey: "archivedKey" },
} as const satisfies Record<string, { index: keyof typeof TABLES.feed.indexes; sortKey: string }>;
export type Listing = keyof typeof LISTINGS;

/**
 * The row holding the user's read mark, under a sort key no eventId can take (NOTIFICATION_ID_PATTERN has
 * no `~`), so no route reaches it and it is in no index.
 */
export const READ_MARK_ID = "~read";

/** The unreadKey of an item that arrived at `at`. */
const unreadKeyOf = (at: string, eventId: string) => `${at}#${eventId}`;
/** Above every unreadKey of an item that arrived at or before `at` ("~" sorts after every id character). */
const aboveArrivalsAt = (at: string) => `${at}#~`;

/** When the item was read: by id, or by the user's read mark if it arrived by then. */
function readAtOf(item: FeedItem, readMark: string | undefined): string | undefined {
  if (item.readAt !== undefined) return item.readAt;
  const arrivedAt = item.arrivedAt ?? item.createdAt;
  return readMark !== undefined && arrivedAt <= readMark ? readMark : undefined;
}

export function toEntry(item: FeedItem, readMark?: string): FeedEntry {
  const { eventId, type, kind, content, callback, link, progress, createdAt, archivedAt } = item;
  const readAt = readAtOf(item, readMark);
  const entry: FeedEntry = { eventId, type, kind, content, createdAt };
  if (callback !== undefined) entry.callback = callback;
  if (link !== undefined) entry.link = link;
  if (progress !== undefined) entry.progress = progress;
  if (readAt !== undefined) entry.readAt = readAt;
  if (archivedAt !== undefined) entry.archivedAt = archivedAt;
  if (item.groupKey !== undefined) entry.groupKey = item.groupKey;
  if (item.updatedAt !== undefined) entry.updatedAt = item.updatedAt;
  return entry;
}

/** Cursor = base64url of the index's LastEvaluatedKey; a cursor naming another user is refused. */
export function encodeCursor(key: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(key), "utf8").toString("base64url");
}

export function decodeCursor(cursor: string, userId: string, listing: Listing): Record<string, unknown> | undefined {
  if (cursor.length > 2048 || !/^[A-Za-z0-9_-]+$/.test(cursor)) return undefined;
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    return undefined;
  }
  if (!key || typeof key !== "object" || Array.isArray(key)) return undefined;
  const record = key as Record<string, unknown>;
  const expected = ["userId", "eventId", LISTINGS[listing].sortKey];
  // Key values DynamoDB takes: non-empty strings (an empty one is a ValidationException, not an empty page).
  const isKeyValue = (v: unknown) => typeof v === "string" && v.length > 0 && v.length <= 1024;
  if (Object.keys(record).length !== 3 || !expected.every((k) => isKeyValue(record[k]))) return undefined;
  return record.userId === userId ? record : undefined;
}

/** Whether a grouped item holds an update accepted before this delivery (it would take it). */
function olderThan(held: FeedItem, delivery: ChannelDelivery): boolean {
  const at = held.updatedAt ?? held.createdAt;
  return at < delivery.createdAt || (at === delivery.createdAt && (held.lastEventId ?? "") < delivery.eventId);
}

export function makeFeed(deps: FeedDeps) {
  const now = deps.now ?? Date.now;
  const ttlSeconds = (deps.ttlDays ?? DEFAULTS.feedTtlDays) * 86_400;
  const nowSeconds = () => Math.floor(now() / 1000);
  const nowIso = () => new Date(now()).toISOString();

  async function get(userId: string, eventId: string): Promise<FeedItem | undefined> {
    const result = await deps.ddb.send(new GetCommand({ TableName: deps.table, Key: { userId, eventId }, ConsistentRead: true }));
    const item = result.Item as FeedItem | undefined;
    return item && item.ttl > nowSeconds() ? item : undefined;
  }

  /** The user's read mark: every item that arrived up to this time is read. */
  async function readMark(userId: string): Promise<string | undefined> {
    const result = await deps.ddb.send(
      new GetCommand({ TableName: deps.table, Key: { userId, eventId: READ_MARK_ID }, ConsistentRead: true }),
    );
    return result.Item?.readAt as string | undefined;
  }

  /** A query on the unread index: the items above the read mark (and above `since`), newest first. */
  function unreadQuery(userId: string, above: string | undefined) {
    return {
      TableName: deps.table,
      IndexName: LISTINGS.unread.index,
      KeyConditionExpression: above === undefined ? "#user = :user" : "#user = :user AND #unreadKey > :above",
      FilterExpression: "#ttl > :now",
      ExpressionAttributeNames: { "#user": "userId", "#ttl": "ttl", ...(above === undefined ? {} : { "#unreadKey": "unreadKey" }) },
      ExpressionAttributeValues: { ":user": userId, ":now": nowSeconds(), ...(above === undefined ? {} : { ":above": above }) },
    };
  }

  /** The unread index above the read mark, so it counts only unread rows. */
  async function countUnread(userId: string, mark: string | undefined): Promise<number> {
    let count = 0;
    const pages = paginateQuery(
      { client: deps.ddb },
      { ...unreadQuery(userId, mark === undefined ? undefined : aboveArrivalsAt(mark)), Select: "COUNT" },
    );
    for await (const page of pages) count += page.Count ?? 0;
    return count;
  }

  /** The larger of two optional ISO times. */
  const later = (a: string | undefined, b: string | undefined) => (a === undefined ? b : b === undefined || a > b ? a : b);

  /**
   * Progress in place: a delivery of a group updates its one item. Content, progress, updatedAt and
   * lastEventId follow the newest update (one accepted earlier, arriving late, changes nothing: "stale");
   * the item keeps its place and read state, unless the update says renotify, which makes it unread, brings
   * it back from the archive and to the top of the inbox. The group's first delivery creates it, unread.
   */
  async function storeGroup(
    delivery: ChannelDelivery,
    group: NonNullable<ChannelDelivery["group"]>,
  ): Promise<"stored" | "updated" | "stale"> {
    const arrivedAt = nowIso();
    const feedKey = `${delivery.createdAt}#${group.id}`;
    const values: Record<string, unknown> = {
      ":content": delivery.content,
      ":updatedAt": delivery.createdAt,
      ":eventId": delivery.eventId,
      ":type": delivery.type,
      ":kind": delivery.kind,
      ":ttl": nowSeconds() + ttlSeconds,
      ...(delivery.progress !== undefined ? { ":progress": delivery.progress } : {}),
    };
    const set = ["content = :content", "updatedAt = :updatedAt", "lastEventId = :eventId", "#type = :type", "kind = :kind", "#ttl = :ttl"];
    const remove: string[] = [];
    if (delivery.progress !== undefined) set.push("progress = :progress");
    else remove.push("progress");
    if (group.renotify) {
      set.push("feedKey = :feedKey", "unreadKey = :unreadKey", "arrivedAt = :arrivedAt");
      Object.assign(values, { ":feedKey": feedKey, ":unreadKey": unreadKeyOf(arrivedAt, group.id), ":arrivedAt": arrivedAt });
      remove.push("readAt", "archivedAt", "archivedKey");
    }
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await deps.ddb.send(
          new UpdateCommand({
            TableName: deps.table,
            Key: { userId: delivery.userId, eventId: group.id },
            UpdateExpression: `SET ${set.join(", ")}${remove.length ? ` REMOVE ${remove.join(", ")}` : ""}`,
            // Newer than what it holds (accepted later; the same instant: the larger eventId), so updates
            // arriving out of order end on the newest.
            ConditionExpression:
              "attribute_exists(userId) AND (updatedAt < :updatedAt OR (updatedAt = :updatedAt AND lastEventId < :eventId))",
            ExpressionAttributeNames: { "#type": "type", "#ttl": "ttl" },
            ExpressionAttributeValues: values,
          }),
        );
        return "updated";
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
      const item: FeedItem = {
        userId: delivery.userId,
        eventId: group.id,
        type: delivery.type,
        kind: delivery.kind,
        content: delivery.content,
        ...(delivery.progress !== undefined ? { progress: delivery.progress } : {}),
        createdAt: delivery.createdAt,
        feedKey,
        unreadKey: unreadKeyOf(arrivedAt, group.id),
        arrivedAt,
        ttl: nowSeconds() + ttlSeconds,
        groupKey: group.key,
        updatedAt: delivery.createdAt,
        lastEventId: delivery.eventId,
      };
      try {
        await deps.ddb.send(new PutCommand({ TableName: deps.table, Item: item, ConditionExpression: "attribute_not_exists(userId)" }));
        return "stored";
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        // It exists: it holds a newer update (stale), or an older one was created since the update was
        // tried, which the next attempt updates.
        const held = await get(delivery.userId, group.id);
        if (!held || !olderThan(held, delivery)) return "stale";
      }
    }
    return "stale";
  }

  return {
    get,
    readMark,

    /**
     * Stores a delivery for its user; storing the same eventId again changes nothing (read state is kept).
     * A grouped delivery updates its group's one item instead (storeGroup).
     */
    async store(delivery: ChannelDelivery): Promise<"stored" | "exists" | "updated" | "stale"> {
      if (delivery.group) return storeGroup(delivery, delivery.group);
      const arrivedAt = nowIso();
      const item: FeedItem = {
        userId: delivery.userId,
        eventId: delivery.eventId,
        type: delivery.type,
        kind: delivery.kind,
        content: delivery.content,
        ...(delivery.callback !== undefined ? { callback: delivery.callback } : {}),
        ...(delivery.link !== undefined ? { link: delivery.link } : {}),
        ...(delivery.progress !== undefined ? { progress: delivery.progress } : {}),
        createdAt: delivery.createdAt,
        feedKey: `${delivery.createdAt}#${delivery.eventId}`,
        unreadKey: unreadKeyOf(arrivedAt, delivery.eventId),
        arrivedAt,
        ttl: nowSeconds() + ttlSeconds,
      };
      try {
        await deps.ddb.send(new PutCommand({ TableName: deps.table, Item: item, ConditionExpression: "attribute_not_exists(userId)" }));
        return "stored";
      } catch (error) {
        if (isConditionFailure(error)) return "exists";
        throw error;
      }
    },

    /**
     * Newest first: every query reads its own sparse index, so a page costs the same whatever else the
     * feed holds. Expired rows DynamoDB has not removed yet are left out.
     */
    async list(userId: string, options: ListOptions): Promise<FeedPage> {
      const listing = options.listing ?? "inbox";
      const mark = await readMark(userId);
      const query =
        listing === "unread"
          ? unreadQuery(userId, mark === undefined ? undefined : aboveArrivalsAt(mark))
          : {
              TableName: deps.table,
              IndexName: LISTINGS[listing].index,
              KeyConditionExpression: "#user = :user",
              // Rows archived before the archive had its own index still hold a feedKey.
              FilterExpression: listing === "inbox" ? "#ttl > :now AND attribute_not_exists(archivedAt)" : "#ttl > :now",
              ExpressionAttributeNames: { "#user": "userId", "#ttl": "ttl" },
              ExpressionAttributeValues: { ":user": userId, ":now": nowSeconds() },
            };
      const listItems = async () => {
        const items: FeedEntry[] = [];
        let startKey = options.cursor;
        do {
          const page = await deps.ddb.send(
            new QueryCommand({ ...query, ScanIndexForward: false, Limit: options.limit - items.length, ExclusiveStartKey: startKey }),
          );
          for (const item of (page.Items ?? []) as FeedItem[]) items.push(toEntry(item, mark));
          startKey = page.LastEvaluatedKey;
        } while (startKey && items.length < options.limit);
        return { items, startKey };
      };
      const [{ items, startKey }, unreadCount] = await Promise.all([listItems(), countUnread(userId, mark)]);
      return { items, unreadCount, ...(startKey ? { nextCursor: encodeCursor(startKey) } : {}) };
    },

    /** Unread and not archived. */
    unreadCount: async (userId: string): Promise<number> => countUnread(userId, await readMark(userId)),

    /** The eventIds of `eventIds` that the user has no (live) item for. */
    async missing(userId: string, eventIds: string[]): Promise<string[]> {
      const found = await Promise.all(eventIds.map((eventId) => get(userId, eventId)));
      return eventIds.filter((_, i) => !found[i]);
    },

    /**
     * The unread items that arrived after `since` (and after the read mark): type and the eventId whose
     * log row each stands for. Bounded by what arrived since then, not by the feed's length.
     */
    async unreadSince(userId: string, since: string): Promise<{ type: string; logId: string }[]> {
      const above = aboveArrivalsAt(later(await readMark(userId), since) as string);
      const found: { type: string; logId: string }[] = [];
      const query = unreadQuery(userId, above);
      const pages = paginateQuery(
        { client: deps.ddb },
        {
          ...query,
          ProjectionExpression: "eventId, #type, lastEventId",
          ExpressionAttributeNames: { ...query.ExpressionAttributeNames, "#type": "type" },
        },
      );
      for await (const page of pages) {
        for (const item of (page.Items ?? []) as FeedItem[]) found.push({ type: item.type, logId: item.lastEventId ?? item.eventId });
      }
      return found;
    },

    /**
     * Marks read by id: `logIds`, the eventId whose log row each item stands for (a grouped item's newest
     * update). Items must exist (check with `missing`).
     */
    async markRead(userId: string, eventIds: string[]): Promise<{ logIds: string[] }> {
      const at = nowIso();
      const logIds: string[] = [];
      for (const eventId of eventIds) {
        const result = await deps.ddb.send(
          new UpdateCommand({
            TableName: deps.table,
            Key: { userId, eventId },
            UpdateExpression: "SET readAt = if_not_exists(readAt, :at) REMOVE unreadKey",
            ConditionExpression: "attribute_exists(userId)",
            ExpressionAttributeValues: { ":at": at },
            ReturnValues: "ALL_OLD",
          }),
        );
        logIds.push((result.Attributes?.lastEventId as string | undefined) ?? eventId);
      }
      return { logIds };
    },

    /**
     * Everything that arrived up to now is read: one write, whatever the feed holds. The mark only moves
     * forward. Returns it.
     */
    async markAllRead(userId: string): Promise<string> {
      const at = nowIso();
      try {
        await deps.ddb.send(
          new UpdateCommand({
            TableName: deps.table,
            Key: { userId, eventId: READ_MARK_ID },
            UpdateExpression: "SET readAt = :at",
            ConditionExpression: "attribute_not_exists(readAt) OR readAt < :at",
            ExpressionAttributeValues: { ":at": at },
          }),
        );
        return at;
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        return (await readMark(userId)) ?? at;
      }
    },

    /** Moves items to the archive (their inbox key becomes their archive key). Items must exist. */
    async archive(userId: string, eventIds: string[]): Promise<void> {
      const at = nowIso();
      for (const eventId of eventIds) {
        try {
          await deps.ddb.send(
            new UpdateCommand({
              TableName: deps.table,
              Key: { userId, eventId },
              UpdateExpression: "SET archivedAt = if_not_exists(archivedAt, :at), archivedKey = feedKey REMOVE feedKey, unreadKey",
              ConditionExpression: "attribute_exists(feedKey)",
              ExpressionAttributeValues: { ":at": at },
            }),
          );
        } catch (error) {
          // Already archived.
          if (!isConditionFailure(error)) throw error;
        }
      }
    },

    /** Deletes every item of the user, and the read mark (account erasure). */
    async erase(userId: string): Promise<number> {
      let erased = 0;
      const pages = paginateQuery(
        { client: deps.ddb },
        {
          TableName: deps.table,
          KeyConditionExpression: "#user = :user",
          ExpressionAttributeNames: { "#user": "userId" },
          ExpressionAttributeValues: { ":user": userId },
          ProjectionExpression: "userId, eventId",
        },
      );
      for await (const page of pages) {
        for (const item of page.Items ?? []) {
          await deps.ddb.send(new DeleteCommand({ TableName: deps.table, Key: { userId, eventId: item.eventId } }));
          if (item.eventId !== READ_MARK_ID) erased++;
        }
      }
      return erased;
    },
  };
}

export type Feed = ReturnType<typeof makeFeed>;

/** Index names the feed queries, for IAM statements. */
export const FEED_INDEXES = Object.keys(TABLES.feed.indexes);
