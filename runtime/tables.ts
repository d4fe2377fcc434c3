/**
 * Key layout of every Tidings table: the components create them from this, the local mode creates the
 * same tables in dynalite from it, and handlers use the index names from here. Data only.
 */
export interface TableLayout {
  hashKey: string;
  rangeKey?: string;
  /** Global secondary indexes by name (string attributes, projection ALL unless the index says which). */
  indexes?: Record<string, IndexLayout>;
  /** Attribute DynamoDB expires items by (epoch seconds). Readers still ignore `ttl < now`. */
  ttlAttribute?: string;
}

export interface IndexLayout {
  hashKey: string;
  /**
   * Every index has a sort key that makes its entries unique, for a reason beyond ordering: dynalite,
   * the local DynamoDB, keys index entries that share a hash key by a 24-bit hash of the table key, so
   * thousands of them (one user's connections) collide and silently drop entries without one. (Nearly
   * unique is enough: of the notifications sharing a createdAt millisecond there are a handful.)
   */
  rangeKey: string;
  /**
   * The only attributes besides the keys the index holds (projection INCLUDE; none: KEYS_ONLY). Absent:
   * the whole item (ALL). An index of large items that needs few of their attributes pays for every
   * copy it keeps.
   */
  projection?: readonly string[];
}

/** An index's projection in DynamoDB's terms: the whole item, the keys and some attributes, or the keys only. */
export function projectionOf(index: IndexLayout): { ProjectionType: "ALL" | "INCLUDE" | "KEYS_ONLY"; NonKeyAttributes?: string[] } {
  if (!index.projection) return { ProjectionType: "ALL" };
  return index.projection.length ? { ProjectionType: "INCLUDE", NonKeyAttributes: [...index.projection] } : { ProjectionType: "KEYS_ONLY" };
}

/** Every attribute a key or index of the layout names, once each. */
export function keyAttributes(layout: TableLayout): string[] {
  const names = [layout.hashKey, layout.rangeKey, ...Object.values(layout.indexes ?? {}).flatMap((i) => [i.hashKey, i.rangeKey])];
  return names.filter((name, i): name is string => !!name && names.indexOf(name) === i);
}

export const TABLES = {
  /**
   * pk connectionId, GSI byUser on userId (+ connectionId), sparse GSI byRoom on room (+ connectionId), TTL on ttl.
   * Items: connectionId, userId, room?, slot, sourceIp, connectedAt, ttl, chatWindow?, chatCount? (runtime/chat.ts);
   * and each user's connection slots, `#slot#<userId>#<n>`: holder, expiresAt, ttl (runtime/connectionSlots.ts).
   */
  connections: {
    hashKey: "connectionId",
    indexes: { byUser: { hashKey: "userId", rangeKey: "connectionId" }, byRoom: { hashKey: "room", rangeKey: "connectionId" } },
    ttlAttribute: "ttl",
  },
  /** pk userId. Items: email, phone (E.164), device_tokens [{platform, token}], external_channels { slack: { webhookUrl } }. */
  contacts: { hashKey: "userId" },
  /** pk userId. Items: channels { <channel>: boolean }, types { <type>: { <channel>: boolean } }. */
  settings: { hashKey: "userId" },
  /**
   * pk eventId, sk channel. One item per notification, sk NOTIFICATION_ITEM, per-channel records in
   * `deliveries` (runtime/notificationLog.ts). GSI byCreatedDay on createdDayShard (`<YYYY-MM-DD>#<shard>`)
   * + createdAt, holding only `unfinishedChannels`: the reconciler reads the notifications of its
   * look-back window there, a few bytes each, instead of scanning the table. GSI userEventIds on userId +
   * eventId, keys only (written once per item: its keys never change): erasing a user finds their items.
   */
  notificationLog: {
    hashKey: "eventId",
    rangeKey: "channel",
    indexes: {
      byCreatedDay: { hashKey: "createdDayShard", rangeKey: "createdAt", projection: ["unfinishedChannels"] },
      userEventIds: { hashKey: "userId", rangeKey: "eventId", projection: [] },
    },
    ttlAttribute: "ttl",
  },
  /**
   * The in-app feed: pk userId, sk eventId (a user reads only rows under their own key). Three sparse GSIs,
   * so that every listing reads only its own rows: byTime on userId + feedKey (`<createdAt>#<eventId>`,
   * present while not archived; newest first with ScanIndexForward false), archived on userId + archivedKey
   * (the same value, present once archived), unread on userId + unreadKey (`<arrivedAt>#<eventId>`, until
   * read by id or archived; the user's read mark bounds it from below). Items: FeedItem (runtime/feed.ts),
   * and one read-mark row per user; TTL on ttl.
   */
  feed: {
    hashKey: "userId",
    rangeKey: "eventId",
    indexes: {
      byTime: { hashKey: "userId", rangeKey: "feedKey" },
      unread: { hashKey: "userId", rangeKey: "unreadKey" },
      archived: { hashKey: "userId", rangeKey: "archivedKey" },
    },
    ttlAttribute: "ttl",
  },
  /**
   * Topics: pk topic, sk userId, one item per subscriber (runtime/topics.ts); keys-only GSI byUser on
   * userId + topic, so erasing a user finds their subscriptions.
   */
  topics: {
    hashKey: "topic",
    rangeKey: "userId",
    indexes: { byUser: { hashKey: "userId", rangeKey: "topic", projection: [] } },
  },
  /** pk counterKey (`<channel>#<userId>`), sk window (window start, epoch seconds). Items: count, ttl. */
  politeness: { hashKey: "counterKey", rangeKey: "window", ttlAttribute: "ttl" },
} as const satisfies Record<string, TableLayout>;

export type TableName = keyof typeof TABLES;
