/**
 * What `$connect` checks before a connection is stored: the room asked for, and the per-user cap.
 */
import { DEFAULTS } from "./defaults";
import { type DynamoDBDocumentClient, QueryCommand } from "@aws-sdk/lib-dynamodb";
import { contextWords, ROOM_PATTERN } from "./chat";
import type { HttpResult, WebSocketEvent } from "./contracts";
import { TABLES } from "./tables";

export interface ConnectGateDeps {
  ddb: DynamoDBDocumentClient;
  connectionsTable: string;
  /** @default 10 */
  maxConnectionsPerUser?: number;
  now?: () => number;
}

/**
 * What `$connect` checks before storing a connection: the room asked for (`?room=`) is one the token
 * lists, and the user holds fewer than `maxConnectionsPerUser` live connections. The next one is
 * refused (429), not the oldest evicted: evicting would let a stolen token knock the real user off.
 * Two connects racing may both pass the count: the cap is a bound on abuse, not an exact quota.
 */
export function makeConnectGate(deps: ConnectGateDeps) {
  const max = deps.maxConnectionsPerUser ?? DEFAULTS.websocket.maxConnectionsPerUser;
  const now = deps.now ?? Date.now;
  return async (
    event: WebSocketEvent,
    userId: string,
  ): Promise<{ ok: true; room?: string } | { ok: false; result: HttpResult; reason: string }> => {
    const room = event.queryStringParameters?.room ?? undefined;
    if (room !== undefined) {
      if (!ROOM_PATTERN.test(room) || !contextWords(event.requestContext.authorizer?.rooms).includes(room)) {
        return {
          ok: false,
          reason: "room not in token",
          result: { statusCode: 403, body: `Forbidden: the token does not list room "${String(room).slice(0, 64)}"` },
        };
      }
    }
    const out = await deps.ddb.send(
      new QueryCommand({
        TableName: deps.connectionsTable,
        IndexName: "byUser",
        KeyConditionExpression: "#user = :user",
        FilterExpression: "attribute_not_exists(#ttl) OR #ttl > :now",
        ExpressionAttributeNames: { "#user": TABLES.connections.indexes.byUser.hashKey, "#ttl": "ttl" },
        ExpressionAttributeValues: { ":user": userId, ":now": Math.floor(now() / 1000) },
        Select: "COUNT",
        Limit: 1000,
      }),
    );
    if ((out.Count ?? 0) >= max) {
      return {
        ok: false,
        reason: `connection cap (${max}) reached`,
        result: { statusCode: 429, body: `Too many connections: at most ${max} per user; close one and connect again` },
      };
    }
    return { ok: true, room };
  };
}

export type ConnectGate = ReturnType<typeof makeConnectGate>;
