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

/** A feed row as stored. `feedKey` orders it; `unreadKey` exists only while it is unread and not archived. */
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
  feedKey: string;
  unreadKey?: string;
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
  /** Opaque: pass back as `cursor` for the next (older) page. */
  nextCursor?: string;
}

/** Which items a listing returns. */
export interface ListOptions {
  limit: number;
  /** From a previous page's nextCursor. */
  cursor?: Record<string, unknown>;
  /** Only unread (and not archived) items. */
  unreadOnly?: boolean;
  /** Only archived items (default: archived items are left out). */
  archived?: boolean;
}

const INDEX_BY_TIME = "byTime";
const INDEX_UNREAD = "unread";

export function toEntry(item: FeedItem): FeedEntry {
  const { eventId, type, kind, content, callback, link, progress, createdAt, readAt, archivedAt } = item;
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

export function decodeCursor(cursor: string, userId: string, unreadOnly: boolean): Record<string, unknown> | undefined {
  if (cursor.length > 2048 || !/^[A-Za-z0-9_-]+$/.test(cursor)) return undefined;
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    return undefined;
  }
  if (!key || typeof key !== "object" || Array.isArray(key)) return undefined;
  const record = key as Record<string, unknown>;
  const sortKey = unreadOnly ? "unreadKey" : "feedKey";
  const expected = ["userId", "eventId", sortKey];
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

  async function get(userId: string, eventId: string): Promise<FeedItem | undefined> {
    const result = await deps.ddb.send(new GetCommand({ TableName: deps.table, Key: { userId, eventId }, ConsistentRead: true }));
    const item = result.Item as FeedItem | undefined;
    return item && item.ttl > nowSeconds() ? item : undefined;
  }

  /**
   * Marks items: `changed`, the ids that were unread; `logIds`, the eventId whose log row each item stands
   * for (a grouped item's newest update). Items must exist (check with `missing`).
   */
  async function mark(
    userId: string,
    eventIds: string[],
    field: "readAt" | "archivedAt",
  ): Promise<{ changed: string[]; logIds: string[] }> {
    const at = new Date(now()).toISOString();
    const changed: string[] = [];
    const logIds: string[] = [];
    for (const eventId of eventIds) {
      const result = await deps.ddb.send(
        new UpdateCommand({
          TableName: deps.table,
          Key: { userId, eventId },
          UpdateExpression: `SET #field = if_not_exists(#field, :at) REMOVE #unreadKey`,
          ConditionExpression: "attribute_exists(userId)",
          ExpressionAttributeNames: { "#field": field, "#unreadKey": "unreadKey" },
          ExpressionAttributeValues: { ":at": at },
          ReturnValues: "ALL_OLD",
        }),
      );
      if (result.Attributes?.unreadKey !== undefined) changed.push(eventId);
      logIds.push((result.Attributes?.lastEventId as string | undefined) ?? eventId);
    }
    return { changed, logIds };
  }

  /**
   * Progress in place: a delivery of a group updates its one item. Content, progress, updatedAt and
   * lastEventId follow the newest update (one accepted earlier, arriving late, changes nothing: "stale");
   * the item keeps its place and read state, unless the update says renotify, which makes it unread and
   * brings it back from the archive. The group's first delivery creates it, unread.
   */
  async function storeGroup(
    delivery: ChannelDelivery,
    group: NonNullable<ChannelDelivery["group"]>,
  ): Promise<"stored" | "updated" | "stale"> {
    const values = {
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
      set.push("unreadKey = feedKey");
      remove.push("readAt", "archivedAt");
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
      const feedKey = `${delivery.createdAt}#${group.id}`;
      const item: FeedItem = {
        userId: delivery.userId,
        eventId: group.id,
        type: delivery.type,
        kind: delivery.kind,
        content: delivery.content,
        ...(delivery.progress !== undefined ? { progress: delivery.progress } : {}),
        createdAt: delivery.createdAt,
        feedKey,
        unreadKey: feedKey,
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

    /**
     * Stores a delivery for its user; storing the same eventId again changes nothing (read state is kept).
     * A grouped delivery updates its group's one item instead (storeGroup).
     */
    async store(delivery: ChannelDelivery): Promise<"stored" | "exists" | "updated" | "stale"> {
      if (delivery.group) return storeGroup(delivery, delivery.group);
      const feedKey = `${delivery.createdAt}#${delivery.eventId}`;
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
        feedKey,
        unreadKey: feedKey,
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

    /** Newest first. Expired rows DynamoDB has not removed yet are left out. */
    async list(userId: string, options: ListOptions): Promise<FeedPage> {
      const items: FeedEntry[] = [];
      let startKey = options.cursor;
      const unreadOnly = options.unreadOnly ?? false;
      const names: Record<string, string> = { "#user": "userId", "#ttl": "ttl" };
      const values: Record<string, unknown> = { ":user": userId, ":now": nowSeconds() };
      let filter = "#ttl > :now";
      if (!unreadOnly) {
        names["#archivedAt"] = "archivedAt";
        filter += options.archived ? " AND attribute_exists(#archivedAt)" : " AND attribute_not_exists(#archivedAt)";
      }
      do {
        const page = await deps.ddb.send(
          new QueryCommand({
            TableName: deps.table,
            IndexName: unreadOnly ? INDEX_UNREAD : INDEX_BY_TIME,
            KeyConditionExpression: "#user = :user",
            FilterExpression: filter,
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
            ScanIndexForward: false,
            Limit: options.limit - items.length,
            ExclusiveStartKey: startKey,
          }),
        );
        for (const item of (page.Items ?? []) as FeedItem[]) items.push(toEntry(item));
        startKey = page.LastEvaluatedKey;
      } while (startKey && items.length < options.limit);
      return { items, ...(startKey ? { nextCursor: encodeCursor(startKey) } : {}) };
    },

    /** Unread and not archived, from the sparse index. */
    async unreadCount(userId: string): Promise<number> {
      let count = 0;
      const pages = paginateQuery(
        { client: deps.ddb },
        {
          TableName: deps.table,
          IndexName: INDEX_UNREAD,
          KeyConditionExpression: "#user = :user",
          FilterExpression: "#ttl > :now",
          ExpressionAttributeNames: { "#user": "userId", "#ttl": "ttl" },
          ExpressionAttributeValues: { ":user": userId, ":now": nowSeconds() },
          Select: "COUNT",
        },
      );
      for await (const page of pages) count += page.Count ?? 0;
      return count;
    },

    /** The eventIds of `eventIds` that the user has no (live) item for. */
    async missing(userId: string, eventIds: string[]): Promise<string[]> {
      const found = await Promise.all(eventIds.map((eventId) => get(userId, eventId)));
      return eventIds.filter((_, i) => !found[i]);
    },

    /** Every unread item's eventId. */
    async unreadIds(userId: string): Promise<string[]> {
      const ids: string[] = [];
      const pages = paginateQuery(
        { client: deps.ddb },
        {
          TableName: deps.table,
          IndexName: INDEX_UNREAD,
          KeyConditionExpression: "#user = :user",
          ExpressionAttributeNames: { "#user": "userId" },
          ExpressionAttributeValues: { ":user": userId },
        },
      );
      for await (const page of pages) for (const item of page.Items ?? []) ids.push(item.eventId as string);
      return ids;
    },

    markRead: (userId: string, eventIds: string[]) => mark(userId, eventIds, "readAt"),
    archive: (userId: string, eventIds: string[]) => mark(userId, eventIds, "archivedAt"),

    /** Deletes every item of the user (account erasure). */
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
          erased++;
        }
      }
      return erased;
    },
  };
}

export type Feed = ReturnType<typeof makeFeed>;

/** Index names the feed queries, for IAM statements. */
export const FEED_INDEXES = Object.keys(TABLES.feed.indexes);
