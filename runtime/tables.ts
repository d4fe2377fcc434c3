/**
 * Key layout of every Tidings table: the components create them from this, the local mode creates the
 * same tables in dynalite from it, and handlers use the index names from here. Data only.
 */
export interface TableLayout {
  hashKey: string;
  rangeKey?: string;
  /** Global secondary indexes by name → hash key (string attributes, projection ALL). */
  indexes?: Record<string, string>;
  /** Attribute DynamoDB expires items by (epoch seconds). Readers still ignore `ttl < now`. */
  ttlAttribute?: string;
}

export const TABLES = {
  /** pk connectionId, GSI byUser on userId, TTL on ttl. Items: connectionId, userId, sourceIp, connectedAt, ttl. */
  connections: { hashKey: "connectionId", indexes: { byUser: "userId" }, ttlAttribute: "ttl" },
  /** pk userId. Items: email, phone (E.164), device_tokens [{platform, token}], external_channels { slack: { webhookUrl } }. */
  contacts: { hashKey: "userId" },
  /** pk userId. Items: channels { <channel>: boolean }, types { <type>: { <channel>: boolean } }. */
  settings: { hashKey: "userId" },
  /** pk eventId, sk channel, GSI byUser. Items: LogEntry (runtime/contracts.ts). */
  notificationLog: { hashKey: "eventId", rangeKey: "channel", indexes: { byUser: "userId" }, ttlAttribute: "ttl" },
  /** pk counterKey (`<channel>#<userId>`), sk window (window start, epoch seconds). Items: count, ttl. */
  politeness: { hashKey: "counterKey", rangeKey: "window", ttlAttribute: "ttl" },
} as const satisfies Record<string, TableLayout>;

export type TableName = keyof typeof TABLES;
