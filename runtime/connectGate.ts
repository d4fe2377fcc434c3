/**
 * What `$connect` checks before a connection is stored: the room asked for, and the per-user cap.
 */
import { DEFAULTS } from "./defaults";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { contextWords, ROOM_PATTERN } from "./chat";
import type { HttpResult, WebSocketEvent } from "./contracts";
import { takeSlot } from "./connectionSlots";

export interface ConnectGateDeps {
  ddb: DynamoDBDocumentClient;
  connectionsTable: string;
  /** @default 10 */
  maxConnectionsPerUser?: number;
  now?: () => number;
}

/**
 * What `$connect` checks before storing a connection: the room asked for (`?room=`) is one the token
 * lists, and the user holds fewer than `maxConnectionsPerUser` connections: it takes one of the user's
 * slots (runtime/connectionSlots.ts), exactly, however many connects race. The next one is refused (429),
 * not the oldest evicted: evicting would let a stolen token knock the real user off.
 */
export function makeConnectGate(deps: ConnectGateDeps) {
  const max = deps.maxConnectionsPerUser ?? DEFAULTS.websocket.maxConnectionsPerUser;
  return async (
    event: WebSocketEvent,
    userId: string,
  ): Promise<{ ok: true; room?: string; slot: string } | { ok: false; result: HttpResult; reason: string }> => {
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
    const slot = await takeSlot(deps, userId, event.requestContext.connectionId, max);
    if (!slot) {
      return {
        ok: false,
        reason: `connection cap (${max}) reached`,
        result: { statusCode: 429, body: `Too many connections: at most ${max} per user; close one and connect again` },
      };
    }
    return { ok: true, room, slot };
  };
}

export type ConnectGate = ReturnType<typeof makeConnectGate>;
