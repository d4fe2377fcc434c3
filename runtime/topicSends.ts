/**
 * Sending to a topic (`POST /notifications` with `topic`): the request is kept as a topic send item in the
 * notification log (`#topic`, under its eventId), and a fan-out function pages the topic's subscribers
 * from a saved cursor, sending each through the service's pipeline under a recipient id of its own
 * (`<eventId>.<hash of the userId>`). The cursor moves by conditional writes after each page, and each
 * page's recipients are kept (`#fanout-<n>`) for the status. A crash halfway re-runs at most one page, whose
 * recipients the log already holds: the pipeline answers them `duplicate`, so nobody gets it twice.
 */
import { createHash } from "node:crypto";
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { type DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { NotificationRequest } from "./contracts";
import { DEFAULTS } from "./defaults";
import { isConditionFailure } from "./logWrites";

/** The `channel` of a topic send's item in the log. */
export const TOPIC_SEND_ITEM = "#topic";
/** The `channel` of one fan-out page's recipients, in order. */
const PAGE_ITEM = (n: number) => `#fanout-${String(n).padStart(6, "0")}`;

/** A recipient's notification id: the send's eventId and 12 characters of the user's hash (NOTIFICATION_ID_PATTERN). */
export function recipientId(eventId: string, userId: string): string {
  return `${eventId}.${createHash("sha256").update(`recipient\n${userId}`).digest("base64url").slice(0, 12)}`;
}

/** A topic send as stored. */
export interface TopicSend {
  eventId: string;
  topic: string;
  type: string;
  producer?: string;
  requestDigest: string;
  request: NotificationRequest;
  createdAt: string;
  /** Subscribers when it was accepted. */
  recipients: number;
  /** The last subscriber the fan-out has sent to; absent before the first page. */
  cursor?: string;
  /** Pages done; recipients sent to; those no channel could reach (the pipeline's 422). */
  pages: number;
  reached: number;
  unreachable: number;
  done?: true;
}

export interface TopicSendsDeps {
  ddb: DynamoDBDocumentClient;
  /** The notification log table. */
  table: string;
  ttlDays?: number;
  now?: () => number;
}

export function makeTopicSends(deps: TopicSendsDeps) {
  const now = deps.now ?? Date.now;
  const ttlSeconds = (deps.ttlDays ?? DEFAULTS.logTtlDays) * 86_400;
  const key = (eventId: string) => ({ eventId, channel: TOPIC_SEND_ITEM });

  const fromItem = (item: Record<string, unknown>): TopicSend => {
    const { request, channel: _channel, ttl: _ttl, ...rest } = item as Record<string, unknown> & { request: Uint8Array };
    return { ...(rest as unknown as TopicSend), request: JSON.parse(inflateRawSync(request).toString("utf8")) };
  };

  async function get(eventId: string): Promise<TopicSend | undefined> {
    const found = await deps.ddb.send(new GetCommand({ TableName: deps.table, Key: key(eventId), ConsistentRead: true }));
    return found.Item ? fromItem(found.Item) : undefined;
  }

  return {
    get,

    /**
     * Writes the send once: a retry of it answers what is stored; another producer's send under the eventId
     * "taken" (this producer's goes under its own key); another request of this producer's "conflict".
     */
    async record(send: Omit<TopicSend, "createdAt" | "pages" | "reached" | "unreachable">): Promise<TopicSend | "taken" | "conflict"> {
      const createdAt = new Date(now()).toISOString();
      const { request, ...fields } = send;
      try {
        await deps.ddb.send(
          new PutCommand({
            TableName: deps.table,
            Item: {
              ...key(send.eventId),
              ...fields,
              request: deflateRawSync(JSON.stringify(request)),
              createdAt,
              pages: 0,
              reached: 0,
              unreachable: 0,
              ttl: Math.floor(now() / 1000) + ttlSeconds,
            },
            ConditionExpression: "attribute_not_exists(eventId)",
          }),
        );
        return { ...send, createdAt, pages: 0, reached: 0, unreachable: 0 };
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
      const stored = await get(send.eventId);
      if (stored && stored.producer !== undefined && send.producer !== undefined && stored.producer !== send.producer) return "taken";
      if (!stored || stored.producer !== send.producer || stored.requestDigest !== send.requestDigest) return "conflict";
      return stored;
    },

    /**
     * After a page: its recipients kept, the cursor moved from `seen` to `last` (undefined: the end).
     * False when another run moved it first (this run then stops).
     */
    async advance(send: TopicSend, page: { userIds: string[]; last?: string; unreachable: number }): Promise<boolean> {
      const n = send.pages + 1;
      await deps.ddb.send(
        new PutCommand({
          TableName: deps.table,
          Item: { eventId: send.eventId, channel: PAGE_ITEM(n), userIds: page.userIds, ttl: Math.floor(now() / 1000) + ttlSeconds },
        }),
      );
      try {
        await deps.ddb.send(
          new UpdateCommand({
            TableName: deps.table,
            Key: key(send.eventId),
            UpdateExpression: `SET pages = :n, reached = reached + :reached, unreachable = unreachable + :unreachable${
              page.last !== undefined ? ", #cursor = :last" : ", done = :done"
            }`,
            ConditionExpression: "pages = :seen",
            ExpressionAttributeNames: page.last !== undefined ? { "#cursor": "cursor" } : undefined,
            ExpressionAttributeValues: {
              ":n": n,
              ":seen": send.pages,
              ":reached": page.userIds.length,
              ":unreachable": page.unreachable,
              ...(page.last !== undefined ? { ":last": page.last } : { ":done": true }),
            },
          }),
        );
        return true;
      } catch (error) {
        if (isConditionFailure(error)) return false;
        throw error;
      }
    },

    /** Every recipient the fan-out has reached, page by page. */
    async recipients(eventId: string): Promise<string[]> {
      const userIds: string[] = [];
      let start: Record<string, unknown> | undefined;
      do {
        const page = await deps.ddb.send(
          new QueryCommand({
            TableName: deps.table,
            KeyConditionExpression: "eventId = :id AND begins_with(channel, :pages)",
            ExpressionAttributeValues: { ":id": eventId, ":pages": "#fanout-" },
            ConsistentRead: true,
            ExclusiveStartKey: start,
          }),
        );
        for (const item of page.Items ?? []) userIds.push(...((item.userIds as string[]) ?? []));
        start = page.LastEvaluatedKey;
      } while (start);
      return userIds;
    },
  };
}

export type TopicSends = ReturnType<typeof makeTopicSends>;
