/**
 * Key layout of every Tidings table: the components create them from this, the local mode creates the
 * same tables in dynalite from it, and handlers use the index names from here. Data only.
 */
export interface TableLayout {
  hashKey: string;
  rangeKey?: string;
  /** Global secondary indexes by name (string attributes, projection ALL). */
  indexes?: Record<string, IndexLayout>;
  /** Attribute DynamoDB expires items by (epoch seconds). Readers still ignore `ttl < now`. */
  ttlAttribute?: string;
}

export interface IndexLayout {
  hashKey: string;
  /**
   * Every index has a sort key that makes its entries unique, for a reason beyond ordering: dynalite,
   * the local DynamoDB, keys index entries that share a hash key by a 24-bit hash of the table key, so
   * thousands of them (one user's connections) collide and silently drop entries without one.
   */
  rangeKey: string;
}

/** Every attribute a key or index of the layout names, once each. */
export function keyAttributes(layout: TableLayout): string[] {
  const names = [layout.hashKey, layout.rangeKey, ...Object.values(layout.indexes ?? {}).flatMap((i) => [i.hashKey, i.rangeKey])];
  return names.filter((name, i): name is string => !!name && names.indexOf(name) === i);
}

export const TABLES = {
  /**
   * pk connectionId, GSI byUser on userId (+ connectionId), sparse GSI byRoom on room (+ connectionId), TTL on ttl.
   * Items: connectionId, userId, room?, sourceIp, connectedAt, ttl, chatWindow?, chatCount? (runtime/chat.ts).
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
   * pk eventId, sk channel, GSI byUser on userId + createdAt (a user's notifications, newest last). One item
   * per notification, sk NOTIFICATION_ITEM, per-channel records in `deliveries` (runtime/notificationLog.ts).
   */
  notificationLog: {
    hashKey: "eventId",
    rangeKey: "channel",
    indexes: { byUser: { hashKey: "userId", rangeKey: "createdAt" } },
    ttlAttribute: "ttl",
  },
  /**
   * The in-app feed: pk userId, sk eventId (a user reads only rows under their own key). GSI byTime on
   * userId + feedKey (`<createdAt>#<eventId>`, newest first with ScanIndexForward false); sparse GSI
   * unread on userId + unreadKey (present only while unread and not archived), so counting unread reads
   * only unread rows. Items: FeedItem (runtime/feed.ts), TTL on ttl.
   */
  feed: {
    hashKey: "userId",
    rangeKey: "eventId",
    indexes: { byTime: { hashKey: "userId", rangeKey: "feedKey" }, unread: { hashKey: "userId", rangeKey: "unreadKey" } },
    ttlAttribute: "ttl",
  },
  /** pk counterKey (`<channel>#<userId>`), sk window (window start, epoch seconds). Items: count, ttl. */
  politeness: { hashKey: "counterKey", rangeKey: "window", ttlAttribute: "ttl" },
} as const satisfies Record<string, TableLayout>;

export type TableName = keyof typeof TABLES;
