/**
 * The notification log: one row per eventId×channel (TABLES.notificationLog), the dedupe key of the
 * pipeline and the record of each delivery's status. The service creates rows, workers move them on.
 */
import { DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { DeliveryStatus, LogEntry } from "./contracts";

export interface NotificationLogDeps {
  ddb: DynamoDBDocumentClient;
  table: string;
  /** Days a row is kept before DynamoDB expires it. @default 90 */
  ttlDays?: number;
  /** Epoch milliseconds; injectable for tests. */
  now?: () => number;
}

export interface NewLogEntry {
  eventId: string;
  channel: string;
  userId: string;
  type: string;
  status: "created" | "unsubscribed" | "error";
  reason?: string;
}

export interface StatusFields {
  provider?: string;
  providerMessageId?: string;
  reason?: string;
  /** Adds one to `attempts` (a provider call was made). */
  countAttempt?: boolean;
}

export function makeNotificationLog(deps: NotificationLogDeps) {
  const now = deps.now ?? Date.now;
  const ttlSeconds = (deps.ttlDays ?? 90) * 86_400;
  const key = (eventId: string, channel: string) => ({ eventId, channel });

  return {
    /** Conditional put: "exists" when eventId×channel is already logged (an idempotent retry). */
    async create(entry: NewLogEntry): Promise<"created" | "exists"> {
      const at = new Date(now()).toISOString();
      try {
        await deps.ddb.send(
          new PutCommand({
            TableName: deps.table,
            Item: { ...entry, createdAt: at, updatedAt: at, attempts: 0, ttl: Math.floor(now() / 1000) + ttlSeconds },
            ConditionExpression: "attribute_not_exists(eventId)",
          }),
        );
        return "created";
      } catch (error) {
        if ((error as { name?: string }).name === "ConditionalCheckFailedException") return "exists";
        throw error;
      }
    },

    async get(eventId: string, channel: string): Promise<LogEntry | undefined> {
      const result = await deps.ddb.send(
        new GetCommand({ TableName: deps.table, Key: key(eventId, channel), ConsistentRead: true }),
      );
      return result.Item as LogEntry | undefined;
    },

    /** Moves a row to `status`, recording provider, message id and reason when given. */
    async setStatus(eventId: string, channel: string, status: DeliveryStatus, fields: StatusFields = {}): Promise<void> {
      const names: Record<string, string> = { "#status": "status", "#updatedAt": "updatedAt" };
      const values: Record<string, unknown> = { ":status": status, ":updatedAt": new Date(now()).toISOString() };
      const sets = ["#status = :status", "#updatedAt = :updatedAt"];
      for (const field of ["provider", "providerMessageId", "reason"] as const) {
        if (fields[field] !== undefined) {
          names[`#${field}`] = field;
          values[`:${field}`] = fields[field];
          sets.push(`#${field} = :${field}`);
        }
      }
      let expression = `SET ${sets.join(", ")}`;
      if (fields.countAttempt) {
        names["#attempts"] = "attempts";
        values[":one"] = 1;
        expression += " ADD #attempts :one";
      }
      await deps.ddb.send(
        new UpdateCommand({
          TableName: deps.table,
          Key: key(eventId, channel),
          UpdateExpression: expression,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        }),
      );
    },
  };
}

export type NotificationLog = ReturnType<typeof makeNotificationLog>;
