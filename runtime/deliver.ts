/**
 * Posting frames to WebSocket connections: one posting loop (bounded parallelism, 410 Gone → the stale
 * connection row is deleted) shared by the per-user delivery of the websocket channel and the
 * `sendmessage` broadcast.
 */
import { removeConnection } from "./connectionSlots";
import { ApiGatewayManagementApiClient } from "@aws-sdk/client-apigatewaymanagementapi";
import { type DynamoDBDocumentClient, paginateQuery } from "@aws-sdk/lib-dynamodb";
import { connectionPoster } from "./connectionPoster";
import { TABLES } from "./tables";
import type { WebSocketRequestContext } from "./contracts";
import { type DecisionLogger, logDecision, OUTCOME } from "./log";

/** Posts in flight at once unless a caller says otherwise (see `PostingDeps.concurrency`). */
const DEFAULT_POST_CONCURRENCY = 50;

export interface DeliveryReport {
  /** Connections that accepted the frame. */
  delivered: number;
  /** Connections API Gateway no longer knows (410): their rows were deleted. */
  gone: number;
  /** Connections where the post failed for another reason. */
  failed: number;
  /** One short line per failure: `<connectionId>: <error name>`. */
  errors: string[];
}

export interface PostingDeps {
  ddb: DynamoDBDocumentClient;
  mgmt: ApiGatewayManagementApiClient;
  connectionsTable: string;
  /**
   * Posts in flight at once. Each post mostly waits for the network, so more in flight buys rate until
   * the SDK HTTP agent's sockets (50 by default) are all busy; beyond that, posts queue in the client.
   * @default 50
   */
  concurrency?: number;
  logger?: DecisionLogger;
}

/** A connection row as stored by the `$connect` handler (TABLES.connections). */
export interface ConnectionRow {
  connectionId: string;
  userId?: string;
  sourceIp?: string;
  connectedAt?: string;
  /** Epoch seconds after which the row is stale (DynamoDB TTL deletes it eventually). */
  ttl?: number;
}

/** Rows DynamoDB has not expired yet but whose ttl has passed are treated as gone. */
export function isLive(row: ConnectionRow, nowMs = Date.now()): boolean {
  return typeof row.ttl !== "number" || row.ttl * 1000 > nowMs;
}

/**
 * Where the management API is: `AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI` wins (local mode and tests),
 * else `https://{domainName}/{stage}` from a route event, else the endpoint the stack captured.
 */
export function resolveManagementEndpoint(from: { domainName?: string; stage?: string; captured?: string }): string {
  const override = process.env.AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI;
  if (override) return override;
  if (from.domainName && from.stage) return `https://${from.domainName}/${from.stage}`;
  if (from.captured) return from.captured;
  throw new Error("No management endpoint: pass a route event's domainName/stage or the stack's managementEndpoint");
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
    if (!client) {
      client = create(endpoint);
      clients.set(endpoint, client);
    }
    return client;
  };
}

export function clientFor(mgmt: ManagementClients, requestContext: WebSocketRequestContext) {
  return typeof mgmt === "function" ? mgmt(requestContext) : mgmt;
}

/** Posts `data` to each connection, at most `concurrency` at a time; deletes rows of gone connections. */
export async function postToConnections(deps: PostingDeps, connectionIds: string[], data: string): Promise<DeliveryReport> {
  const report: DeliveryReport = { delivered: 0, gone: 0, failed: 0, errors: [] };
  const queue = [...connectionIds];
  const payload = new TextEncoder().encode(data);
  const post = connectionPoster(deps.mgmt, payload);
  const worker = async () => {
    for (let connectionId = queue.shift(); connectionId !== undefined; connectionId = queue.shift()) {
      try {
        await post(connectionId);
        report.delivered++;
      } catch (error) {
        const { name, $metadata } = error as { name?: string; $metadata?: { httpStatusCode?: number } };
        if (name === "GoneException" || $metadata?.httpStatusCode === 410) {
          report.gone++;
          await deleteConnection(deps, connectionId);
        } else {
          report.failed++;
          report.errors.push(`${connectionId}: ${name ?? "Error"}`);
        }
      }
    }
  };
  const workers = Math.max(1, Math.min(deps.concurrency ?? DEFAULT_POST_CONCURRENCY, queue.length));
  await Promise.all(Array.from({ length: workers }, worker));
  return report;
}

async function deleteConnection(deps: PostingDeps, connectionId: string) {
  try {
    await removeConnection(deps, connectionId);
  } catch (error) {
    // The row expires by TTL anyway; a failed clean-up is not a failed delivery.
    (deps.logger ?? logDecision)({
      component: "websocket-delivery",
      outcome: OUTCOME["websocket-delivery"].cleanupFailed,
      connectionId,
      reason: (error as Error)?.name,
    });
  }
}

/** The open connections of one user, via the `byUser` index, all pages, stale rows left out. */
export async function connectionsOfUser(deps: Pick<PostingDeps, "ddb" | "connectionsTable">, userId: string): Promise<string[]> {
  const indexName = "byUser";
  const ids: string[] = [];
  const now = Date.now();
  const pages = paginateQuery(
    { client: deps.ddb },
    {
      TableName: deps.connectionsTable,
      IndexName: indexName,
      KeyConditionExpression: "#user = :user",
      // Only what posting needs: a fan-out to thousands of connections unmarshals thousands of rows.
      ProjectionExpression: "connectionId, #ttl",
      ExpressionAttributeNames: { "#user": TABLES.connections.indexes.byUser.hashKey, "#ttl": "ttl" },
      ExpressionAttributeValues: { ":user": userId },
    },
  );
  for await (const page of pages) for (const row of (page.Items ?? []) as ConnectionRow[]) if (isLive(row, now)) ids.push(row.connectionId);
  return ids;
}

/**
 * `(userId, frame) → report`: sends one frame to every open connection of a user. Throws only when the
 * connections cannot be read (the caller decides whether that is retryable).
 */
export function makeUserDelivery(deps: PostingDeps) {
  return async (userId: string, frame: unknown): Promise<DeliveryReport> => {
    const connectionIds = await connectionsOfUser(deps, userId);
    return postToConnections(deps, connectionIds, JSON.stringify(frame));
  };
}
