/**
 * Per-user politeness: at most `limit` deliveries per channel per user in each fixed window. One
 * conditional UpdateItem per take (ADD count, only while count < limit) on TABLES.politeness, so
 * concurrent workers cannot overshoot and a refused take consumes nothing. No transactions (dynalite
 * has none, and one item needs none).
 */
import { type DynamoDBDocumentClient, UpdateCommand } from "@aws-sdk/lib-dynamodb";

export interface PolitenessLimiterDeps {
  ddb: DynamoDBDocumentClient;
  table: string;
  /** Deliveries allowed per user, channel and window. */
  limit: number;
  windowSeconds: number;
  /** Epoch milliseconds; injectable for tests. */
  now?: () => number;
}

export type PolitenessDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export function makePolitenessLimiter(deps: PolitenessLimiterDeps) {
  if (!Number.isInteger(deps.limit) || deps.limit < 1) throw new Error(`politeness limit must be a positive integer, got ${deps.limit}`);
  if (!Number.isInteger(deps.windowSeconds) || deps.windowSeconds < 1) {
    throw new Error(`politeness windowSeconds must be a positive integer, got ${deps.windowSeconds}`);
  }
  const now = deps.now ?? Date.now;

  return {
    /** Counts one delivery for channel×user if the window still has room. */
    async take(channel: string, userId: string): Promise<PolitenessDecision> {
      const nowSeconds = Math.floor(now() / 1000);
      const windowStart = nowSeconds - (nowSeconds % deps.windowSeconds);
      const windowEnd = windowStart + deps.windowSeconds;
      try {
        await deps.ddb.send(
          new UpdateCommand({
            TableName: deps.table,
            // Key attributes are strings in every Tidings table layout.
            Key: { counterKey: `${channel}#${userId}`, window: String(windowStart) },
            UpdateExpression: "ADD #count :one SET #ttl = if_not_exists(#ttl, :ttl)",
            ConditionExpression: "attribute_not_exists(#count) OR #count < :limit",
            ExpressionAttributeNames: { "#count": "count", "#ttl": "ttl" },
            // Kept one extra window so an operator can still see the last counts.
            ExpressionAttributeValues: { ":one": 1, ":limit": deps.limit, ":ttl": windowEnd + deps.windowSeconds },
          }),
        );
        return { allowed: true };
      } catch (error) {
        if ((error as { name?: string }).name !== "ConditionalCheckFailedException") throw error;
        return { allowed: false, retryAfterSeconds: Math.max(1, windowEnd - nowSeconds) };
      }
    },
  };
}

export type PolitenessLimiter = ReturnType<typeof makePolitenessLimiter>;
