/**
 * Route handlers of the WebSocket API: `$connect` stores the connection, `$disconnect` removes it,
 * `$default` answers unknown frames with an error frame, `sendmessage` broadcasts to every connection.
 */
import { ApiGatewayManagementApiClient, PostToConnectionCommand } from "@aws-sdk/client-apigatewaymanagementapi";
import { DeleteCommand, type DynamoDBDocumentClient, PutCommand, ScanCommand } from "@aws-sdk/lib-dynamodb";
import type { ErrorFrame, HttpResult, WebSocketEvent, WebSocketRequestContext } from "./contracts";
import { type ConnectionRow, isLive, postToConnections, resolveManagementEndpoint } from "./deliver";
import { type DecisionLogger, logDecision } from "./log";

/** Actions clients may send (besides the `$` routes); named in the `unknown_action` error frame. */
export const KNOWN_ACTIONS = ["sendmessage"];

/** Longest `message` a client may broadcast, in UTF-8 bytes. */
export const MAX_BROADCAST_BYTES = 32 * 1024;

/** What every connection receives from `sendmessage`. */
export interface BroadcastFrame {
  type: "message";
  from: string;
  message: string;
}

/** A management client, or a way to get the right one for the event's API and stage. */
export type ManagementClients =
  | ApiGatewayManagementApiClient
  | ((requestContext: WebSocketRequestContext) => ApiGatewayManagementApiClient);

/**
 * One management client per endpoint (see resolveManagementEndpoint), built lazily and reused for the
 * life of the Lambda instance.
 */
export function managementClientsByEndpoint(
  create: (endpoint: string) => ApiGatewayManagementApiClient = (endpoint) =>
    // cacheMiddleware: the middleware stack is resolved once per command class, not on every post.
    new ApiGatewayManagementApiClient({ endpoint, cacheMiddleware: true }),
): (requestContext: WebSocketRequestContext) => ApiGatewayManagementApiClient {
  const clients = new Map<string, ApiGatewayManagementApiClient>();
  return (requestContext) => {
    const endpoint = resolveManagementEndpoint(requestContext);
    let client = clients.get(endpoint);
    if (!client) clients.set(endpoint, (client = create(endpoint)));
    return client;
  };
}

function clientFor(mgmt: ManagementClients, requestContext: WebSocketRequestContext) {
  return typeof mgmt === "function" ? mgmt(requestContext) : mgmt;
}

const OK: HttpResult = { statusCode: 200 };

export interface ConnectDeps {
  ddb: DynamoDBDocumentClient;
  connectionsTable: string;
  /** Seconds after which a connection row is stale (API GW closes connections after 2 h anyway). */
  ttlSeconds: number;
  logger?: DecisionLogger;
  /** Epoch milliseconds; injectable for tests. */
  now?: () => number;
}

/** `$connect`: stores connectionId, userId (from the authorizer), sourceIp, connectedAt and ttl. */
export function makeConnectHandler(deps: ConnectDeps) {
  const logger = deps.logger ?? logDecision;
  const now = deps.now ?? Date.now;
  return async (event: WebSocketEvent): Promise<HttpResult> => {
    const { connectionId, authorizer, identity } = event.requestContext;
    const userId = authorizer?.userId;
    if (typeof userId !== "string" || !userId) {
      // Only reachable if the route were deployed without the authorizer: refuse rather than store anonymously.
      logger({ component: "websocket-connect", outcome: "refused", reason: "no userId from the authorizer", connectionId });
      return { statusCode: 401, body: "Unauthorized" };
    }
    const at = now();
    const row: ConnectionRow = {
      connectionId,
      userId,
      sourceIp: identity?.sourceIp,
      connectedAt: new Date(at).toISOString(),
      ttl: Math.floor(at / 1000) + deps.ttlSeconds,
    };
    try {
      await deps.ddb.send(new PutCommand({ TableName: deps.connectionsTable, Item: row }));
    } catch (error) {
      logger({ component: "websocket-connect", outcome: "error", userId, connectionId, reason: (error as Error)?.name });
      return { statusCode: 500, body: "Could not register the connection" };
    }
    logger({ component: "websocket-connect", outcome: "connected", userId, connectionId });
    return OK;
  };
}

/** `$disconnect`: deletes the connection row (API GW does not retry this route, so never fail it). */
export function makeDisconnectHandler(deps: { ddb: DynamoDBDocumentClient; connectionsTable: string; logger?: DecisionLogger }) {
  const logger = deps.logger ?? logDecision;
  return async (event: WebSocketEvent): Promise<HttpResult> => {
    const { connectionId, authorizer } = event.requestContext;
    try {
      await deps.ddb.send(new DeleteCommand({ TableName: deps.connectionsTable, Key: { connectionId } }));
      logger({ component: "websocket-disconnect", outcome: "disconnected", userId: authorizer?.userId, connectionId });
    } catch (error) {
      // The row expires by TTL and a later post's 410 removes it too.
      logger({ component: "websocket-disconnect", outcome: "error", connectionId, reason: (error as Error)?.name });
    }
    return OK;
  };
}

/** Posts one frame to the sender; a sender that is already gone is not an error. */
async function reply(mgmt: ManagementClients, requestContext: WebSocketRequestContext, frame: unknown) {
  try {
    await clientFor(mgmt, requestContext).send(
      new PostToConnectionCommand({ ConnectionId: requestContext.connectionId, Data: new TextEncoder().encode(JSON.stringify(frame)) }),
    );
  } catch (error) {
    if ((error as Error)?.name !== "GoneException") throw error;
  }
}

function errorFrame(error: string, message: string): ErrorFrame {
  return { type: "error", error, message };
}

/** Parses a frame body: a JSON object, or why not. */
function parseBody(body: string | undefined): { ok: true; value: Record<string, unknown> } | { ok: false; frame: ErrorFrame } {
  let value: unknown;
  try {
    value = JSON.parse(body ?? "");
  } catch {
    return { ok: false, frame: errorFrame("invalid_json", 'Frames must be JSON objects, e.g. {"action":"sendmessage","message":"hi"}') };
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) {
    return { ok: false, frame: errorFrame("invalid_json", 'Frames must be JSON objects, e.g. {"action":"sendmessage","message":"hi"}') };
  }
  return { ok: true, value: value as Record<string, unknown> };
}

/** `$default`: frames no route matched get an error frame; the connection stays open. */
export function makeDefaultHandler(deps: { mgmt: ManagementClients; logger?: DecisionLogger }) {
  const logger = deps.logger ?? logDecision;
  return async (event: WebSocketEvent): Promise<HttpResult> => {
    const { requestContext } = event;
    const parsed = parseBody(event.body);
    let frame: ErrorFrame;
    if (!parsed.ok) {
      frame = parsed.frame;
    } else if (typeof parsed.value.action !== "string") {
      frame = errorFrame("missing_action", `Frames need a string "action". Known actions: ${KNOWN_ACTIONS.join(", ")}`);
    } else {
      const action = parsed.value.action.slice(0, 64);
      frame = errorFrame("unknown_action", `Unknown action "${action}". Known actions: ${KNOWN_ACTIONS.join(", ")}`);
    }
    logger({
      component: "websocket-default",
      outcome: frame.error,
      userId: requestContext.authorizer?.userId,
      connectionId: requestContext.connectionId,
    });
    await reply(deps.mgmt, requestContext, frame);
    return OK;
  };
}

export interface BroadcastDeps {
  ddb: DynamoDBDocumentClient;
  mgmt: ManagementClients;
  connectionsTable: string;
  /** @default 10 */
  concurrency?: number;
  logger?: DecisionLogger;
}

/**
 * `sendmessage` (`{"action":"sendmessage","message":"…"}`): sends `{type:"message", from, message}` to
 * every open connection, the sender's included. An invalid body gets an error frame back instead.
 */
export function makeBroadcastHandler(deps: BroadcastDeps) {
  const logger = deps.logger ?? logDecision;
  return async (event: WebSocketEvent): Promise<HttpResult> => {
    const { requestContext } = event;
    const from = requestContext.authorizer?.userId ?? "anonymous";
    const parsed = parseBody(event.body);
    let problem: ErrorFrame | undefined;
    if (!parsed.ok) problem = parsed.frame;
    else if (typeof parsed.value.message !== "string" || parsed.value.message.length === 0) {
      problem = errorFrame("invalid_message", '"message" is required and must be a non-empty string');
    } else if (Buffer.byteLength(parsed.value.message, "utf8") > MAX_BROADCAST_BYTES) {
      problem = errorFrame("invalid_message", `"message" is longer than ${MAX_BROADCAST_BYTES} bytes`);
    }
    if (problem || !parsed.ok) {
      logger({
        component: "websocket-broadcast",
        outcome: "refused",
        userId: from,
        connectionId: requestContext.connectionId,
        reason: problem?.error,
      });
      await reply(deps.mgmt, requestContext, problem);
      return OK;
    }
    const frame: BroadcastFrame = { type: "message", from, message: parsed.value.message as string };
    const data = JSON.stringify(frame);
    const posting = { ...deps, mgmt: clientFor(deps.mgmt, requestContext) };
    const total = { delivered: 0, gone: 0, failed: 0 };
    let startKey: Record<string, unknown> | undefined;
    const now = Date.now();
    do {
      // Post page by page so memory stays flat however many connections there are.
      const page = await deps.ddb.send(
        new ScanCommand({
          TableName: deps.connectionsTable,
          ProjectionExpression: "connectionId, #ttl",
          ExpressionAttributeNames: { "#ttl": "ttl" },
          ExclusiveStartKey: startKey,
        }),
      );
      const ids = ((page.Items ?? []) as ConnectionRow[]).filter((row) => isLive(row, now)).map((row) => row.connectionId);
      const report = await postToConnections(posting, ids, data);
      total.delivered += report.delivered;
      total.gone += report.gone;
      total.failed += report.failed;
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    logger({ component: "websocket-broadcast", outcome: "broadcast", userId: from, connectionId: requestContext.connectionId, ...total });
    return OK;
  };
}
