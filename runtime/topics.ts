/**
 * Topics: named lists of subscribers a producer keeps (TABLES.topics, one item per topic and user), on
 * the producer API with scope `topics:write` (served by the user-data function, which also erases a
 * user's subscriptions with the user):
 *
 *   PUT    /topics/{topic}/subscribers           { userIds: [...] } (1–1000) → 200 { topic, added }
 *   DELETE /topics/{topic}/subscribers/{userId}  → 204 (also when not subscribed)
 *   GET    /topics/{topic}/subscribers?cursor=   → 200 { topic, userIds, nextCursor? }, 100 a page, by userId
 */
import { DeleteCommand, type DynamoDBDocumentClient, paginateQuery, QueryCommand } from "@aws-sdk/lib-dynamodb";
import { batchGetAll, batchWriteAll } from "./batches";
import type { Problem } from "./contracts";
import { type HttpAnswer, type HttpRequestEvent, parseJsonBody, parseQuery, rejected, respond, unknownKeys } from "./http";
import { TOPIC_PATTERN, userIdProblem } from "./validate";

/** Most userIds one `PUT /topics/{topic}/subscribers` may name. */
export const MAX_SUBSCRIBERS_PER_REQUEST = 1000;
/** Subscribers per page of `GET /topics/{topic}/subscribers`. */
export const SUBSCRIBERS_PAGE = 100;

const BATCH_GET_LIMIT = 100;
const BATCH_WRITE_LIMIT = 25;
const chunks = <T>(items: T[], size: number): T[][] =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, i * size + size));

export interface TopicsDeps {
  ddb: DynamoDBDocumentClient;
  table: string;
}

export function makeTopics(deps: TopicsDeps) {
  /** Which of `userIds` are subscribed to `topic` already. */
  async function subscribed(topic: string, userIds: string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (const chunk of chunks(userIds, BATCH_GET_LIMIT)) {
      const items = await batchGetAll(deps.ddb, {
        [deps.table]: { Keys: chunk.map((userId) => ({ topic, userId })), ProjectionExpression: "userId", ConsistentRead: true },
      });
      for (const item of items[deps.table] ?? []) found.add(item.userId as string);
    }
    return found;
  }

  /** Puts or deletes, 25 to a BatchWriteItem. */
  async function writeAll(requests: NonNullable<Parameters<typeof batchWriteAll>[1][string]>): Promise<void> {
    for (const chunk of chunks(requests, BATCH_WRITE_LIMIT)) await batchWriteAll(deps.ddb, { [deps.table]: chunk });
  }

  return {
    /** Subscribes `userIds`; answers how many were not subscribed before. */
    async subscribe(topic: string, userIds: string[]): Promise<number> {
      const before = await subscribed(topic, userIds);
      const added = userIds.filter((userId) => !before.has(userId));
      await writeAll(added.map((userId) => ({ PutRequest: { Item: { topic, userId } } })));
      return added.length;
    },

    async unsubscribe(topic: string, userId: string): Promise<void> {
      await deps.ddb.send(new DeleteCommand({ TableName: deps.table, Key: { topic, userId } }));
    },

    /** One page of subscribers by userId, after `after` (a userId). */
    async page(topic: string, after: string | undefined, limit = SUBSCRIBERS_PAGE): Promise<{ userIds: string[]; last?: string }> {
      const answer = await deps.ddb.send(
        new QueryCommand({
          TableName: deps.table,
          KeyConditionExpression: "topic = :topic",
          ExpressionAttributeValues: { ":topic": topic },
          ProjectionExpression: "userId",
          ConsistentRead: true,
          Limit: limit,
          ...(after !== undefined ? { ExclusiveStartKey: { topic, userId: after } } : {}),
        }),
      );
      const userIds = (answer.Items ?? []).map((item) => item.userId as string);
      return { userIds, ...(answer.LastEvaluatedKey ? { last: answer.LastEvaluatedKey.userId as string } : {}) };
    },

    /** How many subscribe to `topic` (keys only, a 1 MB page at a time). */
    async count(topic: string): Promise<number> {
      let count = 0;
      const pages = paginateQuery(
        { client: deps.ddb },
        {
          TableName: deps.table,
          KeyConditionExpression: "topic = :topic",
          ExpressionAttributeValues: { ":topic": topic },
          Select: "COUNT",
        },
      );
      for await (const page of pages) count += page.Count ?? 0;
      return count;
    },

    /** Deletes every subscription of the user (account erasure); answers how many. */
    async eraseUser(userId: string): Promise<number> {
      const pages = paginateQuery(
        { client: deps.ddb },
        {
          TableName: deps.table,
          IndexName: "byUser",
          KeyConditionExpression: "userId = :user",
          ExpressionAttributeValues: { ":user": userId },
        },
      );
      const keys: { topic: string; userId: string }[] = [];
      for await (const page of pages) for (const item of page.Items ?? []) keys.push({ topic: item.topic as string, userId });
      await writeAll(keys.map((Key) => ({ DeleteRequest: { Key } })));
      return keys.length;
    },
  };
}

export type Topics = ReturnType<typeof makeTopics>;

/** The topic routes' answer to one request under `/topics/…` (`segments` after the path is split). */
export async function topicRoute(topics: Topics, segments: string[], method: string, event: HttpRequestEvent): Promise<HttpAnswer> {
  const [, topic, part, userId] = segments;
  if (segments.length < 3 || segments.length > 4 || part !== "subscribers")
    return rejected(404, "not found", [{ field: "path", problem: `/${segments.join("/")} is not a route of this API` }]);
  const problems: Problem[] = [];
  if (!TOPIC_PATTERN.test(topic)) problems.push({ field: "path.topic", problem: `must match ${TOPIC_PATTERN}` });
  const allowed = segments.length === 4 ? ["DELETE"] : ["GET", "PUT"];
  if (!allowed.includes(method))
    return rejected(405, "method not allowed", [{ field: "method", problem: `${method} is not allowed here (${allowed.join(", ")})` }], {
      allow: allowed.join(", "),
    });
  if (segments.length === 4) {
    const problem = userIdProblem(userId);
    if (problem) problems.push({ field: "path.userId", problem });
    if (problems.length) return rejected(400, "invalid request", problems);
    const query = parseQuery(event, []);
    if (!query.ok) return query.answer;
    await topics.unsubscribe(topic, userId);
    return { statusCode: 204, headers: {}, body: "" };
  }
  if (method === "GET") {
    const query = parseQuery(event, ["cursor"]);
    if (!query.ok) return query.answer;
    const cursor = query.values.cursor;
    let after: string | undefined;
    if (cursor !== undefined) {
      after = /^[A-Za-z0-9_-]{1,700}$/.test(cursor) ? Buffer.from(cursor, "base64url").toString("utf8") : undefined;
      if (after === undefined || userIdProblem(after))
        problems.push({ field: "query.cursor", problem: "is not a cursor of this listing (use nextCursor as given)" });
    }
    if (problems.length) return rejected(400, "invalid request", problems);
    const page = await topics.page(topic, after);
    return respond(200, {
      topic,
      userIds: page.userIds,
      ...(page.last !== undefined ? { nextCursor: Buffer.from(page.last, "utf8").toString("base64url") } : {}),
    });
  }
  const body = parseJsonBody(event);
  if (!body.ok) return body.answer;
  problems.push(...unknownKeys(body.value, ["userIds"]));
  const userIds = body.value.userIds;
  if (!Array.isArray(userIds) || userIds.length < 1 || userIds.length > MAX_SUBSCRIBERS_PER_REQUEST)
    problems.push({ field: "userIds", problem: `must be a list of 1–${MAX_SUBSCRIBERS_PER_REQUEST} user ids` });
  else {
    userIds.forEach((id, i) => {
      const problem = userIdProblem(id);
      if (problem) problems.push({ field: `userIds[${i}]`, problem });
    });
  }
  if (problems.length) return rejected(400, "invalid request", problems);
  const added = await topics.subscribe(topic, [...new Set(userIds as string[])]);
  return respond(200, { topic, added });
}
