/**
 * Room chat over the WebSocket API (`sendmessage`), and the per-user connection cap at `$connect`.
 *
 * Chat is off unless `tidings:websocket.sendMessage.enabled` is set: a broadcast channel between users
 * is a phishing channel, so when it is on it is narrow. A connection joins at most one room, at
 * `$connect` (`?room=<name>`), and only a room its token's `rooms` claim lists. A frame reaches the
 * connections of that room alone (one Query on the `byRoom` index, no Scan), the sender needs the
 * `chat:send` scope, and each connection may send `perMinute` frames in a fixed one-minute window,
 * counted on its own connection row with one conditional write (so every Lambda instance agrees).
 */
import { deceptiveCharacterProblem } from "./content";
import { PostToConnectionCommand } from "@aws-sdk/client-apigatewaymanagementapi";
import { type DynamoDBDocumentClient, paginateQuery, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { ErrorFrame, HttpResult, WebSocketEvent, WebSocketRequestContext } from "./contracts";
import { type ConnectionRow, clientFor, isLive, type ManagementClients, postToConnections } from "./deliver";
import { type DecisionLogger, logDecision } from "./log";
import { TABLES } from "./tables";

/** Longest chat `message`, in UTF-8 bytes. */
export const MAX_CHAT_BYTES = 32 * 1024;
/** A room name: a word, as an identity provider would list it in `rooms`. */
export const ROOM_PATTERN = /^[A-Za-z0-9_.:-]{1,64}$/;

/** What every connection of the room receives. */
export interface ChatFrame {
  type: "message";
  room: string;
  from: string;
  message: string;
}

export interface ChatDeps {
  ddb: DynamoDBDocumentClient;
  mgmt: ManagementClients;
  connectionsTable: string;
  /** Scope the sender's token needs. @default "chat:send" */
  scope?: string;
  /** Frames one connection may send per minute. @default 20 */
  perMinute?: number;
  /** @default 10 */
  concurrency?: number;
  logger?: DecisionLogger;
  now?: () => number;
}

function errorFrame(error: ErrorFrame["error"], message: string): ErrorFrame {
  return { type: "error", error, message };
}

/** The words of an authorizer context entry (`"a b c"`). */
export function contextWords(value: unknown): string[] {
  return typeof value === "string" && value ? value.split(" ") : [];
}

type Counted = { ok: true; row: ConnectionRow & { room?: string } } | { ok: false; reason: "rate_limited" | "gone" };

/**
 * Counts one frame for the connection in the current minute, only while under the limit, and returns
 * the row (its room). New window: reset to 1; same window: add 1 while below `limit`.
 */
async function countFrame(deps: ChatDeps, connectionId: string, limit: number, nowMs: number): Promise<Counted> {
  const window = Math.floor(nowMs / 60_000);
  const names = { "#w": "chatWindow", "#n": "chatCount" };
  const attempts = [
    {
      UpdateExpression: "ADD #n :one",
      ConditionExpression: "attribute_exists(connectionId) AND #w = :w AND #n < :limit",
      ExpressionAttributeValues: { ":one": 1, ":w": window, ":limit": limit },
    },
    {
      UpdateExpression: "SET #w = :w, #n = :one",
      ConditionExpression: "attribute_exists(connectionId) AND (attribute_not_exists(#w) OR #w <> :w)",
      ExpressionAttributeValues: { ":one": 1, ":w": window },
    },
  ];
  for (const attempt of attempts) {
    try {
      const out = await deps.ddb.send(
        new UpdateCommand({
          TableName: deps.connectionsTable,
          Key: { connectionId },
          ExpressionAttributeNames: names,
          ReturnValues: "ALL_NEW",
          ...attempt,
        }),
      );
      return { ok: true, row: out.Attributes as ConnectionRow & { room?: string } };
    } catch (error) {
      if ((error as { name?: string }).name !== "ConditionalCheckFailedException") throw error;
    }
  }
  return { ok: false, reason: "rate_limited" };
}

/** The open connections of a room, via the `byRoom` index, all pages, stale rows left out. */
export async function connectionsOfRoom(deps: Pick<ChatDeps, "ddb" | "connectionsTable">, room: string, nowMs = Date.now()) {
  const index = TABLES.connections.indexes.byRoom;
  const ids: string[] = [];
  const pages = paginateQuery(
    { client: deps.ddb },
    {
      TableName: deps.connectionsTable,
      IndexName: "byRoom",
      KeyConditionExpression: "#room = :room",
      ExpressionAttributeNames: { "#room": index.hashKey },
      ExpressionAttributeValues: { ":room": room },
    },
  );
  for await (const page of pages)
    for (const row of (page.Items ?? []) as ConnectionRow[]) if (isLive(row, nowMs)) ids.push(row.connectionId);
  return ids;
}

/**
 * `sendmessage` (`{"action":"sendmessage","message":"…"}`, or `"data"` for `"message"`): posts `{type:"message", room, from, message}`
 * to every connection of the sender's room. Every refusal is an error frame to the sender alone:
 * `forbidden` (no scope), `no_room`, `rate_limited`, `invalid_message`.
 */
export function makeChatHandler(deps: ChatDeps) {
  const logger = deps.logger ?? logDecision;
  const now = deps.now ?? Date.now;
  const scope = deps.scope ?? "chat:send";
  const perMinute = deps.perMinute ?? 20;
  return async (event: WebSocketEvent): Promise<HttpResult> => {
    const { requestContext } = event;
    const from = requestContext.authorizer?.userId ?? "anonymous";
    const mgmt = clientFor(deps.mgmt, requestContext);
    const refuse = async (frame: ErrorFrame) => {
      logger({
        component: "websocket-chat",
        outcome: "refused",
        userId: from,
        connectionId: requestContext.connectionId,
        reason: frame.error,
      });
      await reply(mgmt, requestContext, frame);
      return { statusCode: 200 };
    };
    if (!contextWords(requestContext.authorizer?.scope).includes(scope)) {
      return refuse(errorFrame("forbidden", `sendmessage needs the "${scope}" scope in your token`));
    }
    const message = parseMessage(event.body);
    if (typeof message !== "string") return refuse(message);

    const counted = await countFrame(deps, requestContext.connectionId, perMinute, now());
    if (!counted.ok)
      return refuse(errorFrame("rate_limited", `At most ${perMinute} messages per minute per connection; wait and send again`));
    const room = counted.row.room;
    if (!room) return refuse(errorFrame("no_room", "Join a room first: connect with ?room=<name>, a room your token's rooms claim lists"));

    const frame: ChatFrame = { type: "message", room, from, message };
    const ids = await connectionsOfRoom(deps, room, now());
    const report = await postToConnections({ ...deps, mgmt }, ids, JSON.stringify(frame));
    logger({
      component: "websocket-chat",
      outcome: "sent",
      userId: from,
      connectionId: requestContext.connectionId,
      room,
      delivered: report.delivered,
      gone: report.gone,
      failed: report.failed,
    });
    return { statusCode: 200 };
  };
}

/** The frame's text: `message`, or `data` as the seeds' clients send it (`{"action":"sendmessage","data":"hi"}`). */
function parseMessage(body: string | undefined): string | ErrorFrame {
  let value: { message?: unknown; data?: unknown } | null;
  try {
    value = JSON.parse(body ?? "");
  } catch {
    return errorFrame("invalid_json", 'Frames must be JSON objects, e.g. {"action":"sendmessage","message":"hi"}');
  }
  if (value?.message !== undefined && value?.data !== undefined)
    return errorFrame("invalid_message", 'give the text as "message" or as "data", not both');
  const message = value?.message ?? value?.data;
  if (typeof message !== "string" || message.length === 0)
    return errorFrame("invalid_message", '"message" (or "data") is required and must be a non-empty string');
  if (Buffer.byteLength(message, "utf8") > MAX_CHAT_BYTES)
    return errorFrame("invalid_message", `"message" is longer than ${MAX_CHAT_BYTES} bytes`);
  const deceptive = deceptiveCharacterProblem(message);
  if (deceptive) return errorFrame("invalid_message", `"message" ${deceptive}`);
  return message;
}

async function reply(
  mgmt: { send: (command: PostToConnectionCommand) => Promise<unknown> },
  requestContext: WebSocketRequestContext,
  frame: unknown,
) {
  try {
    await mgmt.send(
      new PostToConnectionCommand({ ConnectionId: requestContext.connectionId, Data: new TextEncoder().encode(JSON.stringify(frame)) }),
    );
  } catch (error) {
    if ((error as Error)?.name !== "GoneException") throw error;
  }
}
