/**
 * The producer side of user data, next to `POST /notifications` and behind the same auth:
 *
 *   PUT    /users/{userId}/contact   { email?, phone?, external_channels? } → 200 the contact
 *   GET    /users/{userId}/contact   → 200 the contact, 404 when there is none
 *   DELETE /users/{userId}           erases contact, settings, feed, connections and (given the log) the
 *                                    user's notification-log items → 200 what was erased
 *
 * Addresses are checked by the same rules the notification service applies when it sends
 * (runtime/contacts.ts `resolveAddress`), so what is stored here is what delivery accepts. A field set
 * to null is removed; device tokens are the user's own business (`POST /me/devices`) and are kept.
 */
import { type Topics, topicRoute } from "./topics";
import { removeConnection } from "./connectionSlots";
import { DeleteCommand, type DynamoDBDocumentClient, GetCommand, paginateQuery, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { type AddressSchema, addressProblems, BUILT_IN_ADDRESSES, maskedAddress } from "./addresses";
import { batchWriteAll } from "./batches";
import { type ContactRow, resolveAddress } from "./contacts";
import { connectionsOfUser } from "./deliver";
import { holdOf } from "./addressHolds";
import type { Feed } from "./feed";
import type { NotificationLog } from "./notificationLog";
import {
  describeError,
  type HttpAnswer,
  type HttpRequestEvent,
  isPlainRecord,
  methodOf,
  parseJsonBody,
  parseQuery,
  pathSegments,
  rejected,
  respond,
  unknownKeys,
} from "./http";
import { type DecisionLogger, logDecision, OUTCOME } from "./log";
import type { Problem } from "./contracts";
import { userIdProblem } from "./validate";

export interface UserDataDeps {
  ddb: DynamoDBDocumentClient;
  tables: { contacts: string; settings: string; connections: string };
  feed: Feed;
  /**
   * The notification log: erasing a user deletes their items too (what was sent to them, addresses of
   * deliveries still on their way), and their worker then refuses any delivery still queued. Absent: the
   * log is left to its TTL.
   */
  log?: Pick<NotificationLog, "eraseUser">;
  /** Topic subscriptions: the `/topics` routes, and erasing a user deletes theirs. @default no topic routes */
  topics?: Topics;
  /** The politeness table and the channels with per-user counters: erasing a user deletes theirs. */
  politeness?: { table: string; channels: string[] };
  /** Origins a Slack webhook URL may use besides hooks.slack.com (the local mode's sink). */
  webhookOrigins?: string[];
  /** The address schema of each channel keeping per-user addresses in `external_channels`. @default Slack's */
  addresses?: Record<string, AddressSchema>;
  /** Closes a connection at the WebSocket API (ApiGatewayManagementApi DeleteConnection); rows are deleted regardless. */
  closeConnection?: (connectionId: string) => Promise<void>;
  logger?: DecisionLogger;
}

/** The contact as the API answers it: each channel address's secret fields masked. */
function contactView(row: ContactRow & Record<string, unknown>, addresses: Record<string, AddressSchema>) {
  const { userId, email, phone, external_channels, device_tokens } = row;
  const suppressed = holdOf(row, "emailSuppressed");
  const external =
    external_channels && typeof external_channels === "object"
      ? Object.fromEntries(Object.entries(external_channels).map(([channel, value]) => [channel, maskedAddress(addresses[channel], value)]))
      : external_channels;
  return {
    userId,
    ...(email !== undefined ? { email } : {}),
    ...(suppressed ? { emailSuppressed: { reason: suppressed.reason, at: suppressed.at } } : {}),
    ...(phone !== undefined ? { phone } : {}),
    ...(external !== undefined ? { external_channels: external } : {}),
    devices: Array.isArray(device_tokens)
      ? device_tokens.map((d: { platform?: unknown; addedAt?: unknown } | null) => ({ platform: d?.platform, addedAt: d?.addedAt }))
      : [],
  };
}

/** Validates a contact body: the fields to set and to remove, or the problems. */
export function validateContact(
  body: Record<string, unknown>,
  webhookOrigins: string[] = [],
  addresses: Record<string, AddressSchema> = BUILT_IN_ADDRESSES,
): { ok: true; set: Record<string, unknown>; remove: string[] } | { ok: false; problems: Problem[] } {
  const problems = unknownKeys(body, ["email", "phone", "external_channels"]);
  const set: Record<string, unknown> = {};
  const remove: string[] = [];
  if (Object.keys(body).length === 0) problems.push({ field: "body", problem: "needs at least one of email, phone, external_channels" });
  for (const field of ["email", "phone"] as const) {
    const value = body[field];
    if (value === undefined) continue;
    if (value === null) {
      remove.push(field);
      continue;
    }
    const checked = resolveAddress(field === "email" ? "email" : "sms", { userId: "", [field]: value });
    if (!checked.ok || typeof value !== "string") problems.push({ field, problem: checked.ok ? "must be a string" : checked.problem });
    else set[field] = value;
  }
  const external = body.external_channels;
  if (external === null) remove.push("external_channels");
  else if (external !== undefined) {
    if (!isPlainRecord(external))
      problems.push({ field: "external_channels", problem: "must be an object, e.g. { slack: { webhookUrl } }" });
    else {
      // Each channel's address, checked by its provider's schema (Slack's built in).
      for (const [channel, value] of Object.entries(external)) {
        const schema = addresses[channel];
        if (!schema) {
          const known = Object.keys(addresses);
          problems.push({
            field: `external_channels.${channel}`,
            problem: `is not a channel with per-user addresses (${known.length ? `one of: ${known.join(", ")}` : "none in this stack"})`,
          });
          continue;
        }
        problems.push(...addressProblems(schema, value, `external_channels.${channel}`, webhookOrigins));
      }
      if (!problems.length) set.external_channels = external;
    }
  }
  return problems.length ? { ok: false, problems } : { ok: true, set, remove };
}

export function makeUserDataApi(deps: UserDataDeps) {
  const logger = deps.logger ?? logDecision;
  const addresses = { ...BUILT_IN_ADDRESSES, ...deps.addresses };

  async function getContact(userId: string) {
    const result = await deps.ddb.send(new GetCommand({ TableName: deps.tables.contacts, Key: { userId }, ConsistentRead: true }));
    return result.Item as (ContactRow & Record<string, unknown>) | undefined;
  }

  async function putContact(userId: string, event: HttpRequestEvent): Promise<HttpAnswer> {
    const body = parseJsonBody(event);
    if (!body.ok) return body.answer;
    const checked = validateContact(body.value, deps.webhookOrigins, addresses);
    if (!checked.ok) return rejected(400, "invalid request", checked.problems);
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const sets: string[] = [];
    for (const [field, value] of Object.entries(checked.set)) {
      names[`#${field}`] = field;
      values[`:${field}`] = value;
      sets.push(`#${field} = :${field}`);
    }
    // What a producer writes counts as verified: a self-entered address waiting for its code stops waiting.
    const settled = ["email", "phone"].filter((field) => field in checked.set || checked.remove.includes(field));
    for (const field of settled) checked.remove.push(`${field}Unverified`);
    for (const field of checked.remove) names[`#${field}`] = field;
    const expression = [
      sets.length ? `SET ${sets.join(", ")}` : "",
      checked.remove.length ? `REMOVE ${checked.remove.map((f) => `#${f}`).join(", ")}` : "",
    ]
      .filter(Boolean)
      .join(" ");
    const result = await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.tables.contacts,
        Key: { userId },
        UpdateExpression: expression,
        ExpressionAttributeNames: names,
        ...(sets.length ? { ExpressionAttributeValues: values } : {}),
        ReturnValues: "ALL_NEW",
      }),
    );
    logger({
      component: "user-data",
      outcome: OUTCOME["user-data"].contactSaved,
      userId,
      fields: [...Object.keys(checked.set), ...checked.remove].join(","),
    });
    return respond(200, contactView((result.Attributes ?? { userId }) as ContactRow & Record<string, unknown>, addresses));
  }

  /** The user's per-user counters on every channel that keeps them: keyed by `<channel>#<userId>`. */
  async function erasePoliteness(userId: string): Promise<void> {
    const politeness = deps.politeness;
    if (!politeness) return;
    const keys: Record<string, unknown>[] = [];
    for (const channel of politeness.channels) {
      const pages = paginateQuery(
        { client: deps.ddb },
        {
          TableName: politeness.table,
          KeyConditionExpression: "counterKey = :key",
          ExpressionAttributeValues: { ":key": `${channel}#${userId}` },
          ProjectionExpression: "counterKey, #window",
          ExpressionAttributeNames: { "#window": "window" },
        },
      );
      for await (const page of pages) keys.push(...(page.Items ?? []));
    }
    for (let i = 0; i < keys.length; i += 25) {
      await batchWriteAll(deps.ddb, { [politeness.table]: keys.slice(i, i + 25).map((Key) => ({ DeleteRequest: { Key } })) });
    }
  }

  async function eraseUser(userId: string): Promise<HttpAnswer> {
    const [contact, settings] = await Promise.all(
      [deps.tables.contacts, deps.tables.settings].map((table) =>
        deps.ddb.send(new DeleteCommand({ TableName: table, Key: { userId }, ReturnValues: "ALL_OLD" })),
      ),
    );
    const feedItems = await deps.feed.erase(userId);
    await erasePoliteness(userId);
    const connectionIds = await connectionsOfUser({ ddb: deps.ddb, connectionsTable: deps.tables.connections }, userId);
    for (const connectionId of connectionIds) {
      await removeConnection({ ddb: deps.ddb, connectionsTable: deps.tables.connections }, connectionId);
      await deps.closeConnection?.(connectionId).catch(() => undefined);
    }
    // The log last: a notification accepted while the rest was erased is erased too, and without a
    // contact none is sent after. (Not in the answer, whose keys are a contract; the decision log says.)
    const logItems = (await deps.log?.eraseUser(userId)) ?? 0;
    const subscriptions = (await deps.topics?.eraseUser(userId)) ?? 0;
    const erased = { contact: !!contact.Attributes, settings: !!settings.Attributes, feedItems, connections: connectionIds.length };
    logger({ component: "user-data", outcome: OUTCOME["user-data"].userErased, userId, ...erased, logItems, subscriptions });
    return respond(200, { userId, erased });
  }

  async function route(event: HttpRequestEvent): Promise<HttpAnswer> {
    const method = methodOf(event);
    const segments = pathSegments(event);
    if (!segments) return rejected(400, "invalid request", [{ field: "path", problem: "is not URL-encoded correctly" }]);
    if (segments[0] === "topics" && deps.topics) return topicRoute(deps.topics, segments, method, event);
    if (segments[0] !== "users" || segments.length < 2 || segments.length > 3 || (segments.length === 3 && segments[2] !== "contact")) {
      return rejected(404, "not found", [{ field: "path", problem: `/${segments.join("/")} is not a route of this API` }]);
    }
    const userId = segments[1];
    const problem = userIdProblem(userId);
    if (problem) return rejected(400, "invalid request", [{ field: "path.userId", problem }]);
    const query = parseQuery(event, []);
    if (!query.ok) return query.answer;
    const allowed = segments.length === 3 ? ["GET", "PUT"] : ["DELETE"];
    if (!allowed.includes(method)) {
      return rejected(405, "method not allowed", [{ field: "method", problem: `${method} is not allowed here (${allowed.join(", ")})` }], {
        allow: allowed.join(", "),
      });
    }
    if (method === "PUT") return putContact(userId, event);
    if (method === "DELETE") return eraseUser(userId);
    const contact = await getContact(userId);
    return contact
      ? respond(200, contactView(contact, addresses))
      : rejected(404, "not found", [{ field: "path.userId", problem: "has no contact" }]);
  }

  return async (event: HttpRequestEvent): Promise<HttpAnswer> => {
    try {
      return await route(event);
    } catch (error) {
      logger({ component: "user-data", outcome: OUTCOME["user-data"].error, reason: describeError(error) });
      return respond(500, { error: "internal error" });
    }
  };
}
