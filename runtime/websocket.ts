/**
 * Route handlers of the WebSocket API: `$connect` stores the connection (within the per-user cap),
 * `$disconnect` removes it, `$default` answers unknown frames with an error frame. The optional
 * `sendmessage` room chat is in runtime/chat.ts.
 */
import { removeConnection } from "./connectionSlots";
import { PostToConnectionCommand } from "@aws-sdk/client-apigatewaymanagementapi";
import { type DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import type { ConnectGate } from "./connectGate";
import type { ErrorFrame, HttpResult, WebSocketEvent, WebSocketRequestContext } from "./contracts";
import { type ConnectionRow, clientFor, type ManagementClients } from "./deliver";
import { type DecisionLogger, logDecision, OUTCOME, type OutcomeOf } from "./log";

const OK: HttpResult = { statusCode: 200 };

export interface ConnectDeps {
  ddb: DynamoDBDocumentClient;
  connectionsTable: string;
  /** Seconds after which a connection row is stale (API GW closes connections after 2 h anyway). */
  ttlSeconds: number;
  /** Per-user cap and room check (runtime/connectGate.ts); none: every connect is stored. */
  gate?: ConnectGate;
  logger?: DecisionLogger;
  /** Epoch milliseconds; injectable for tests. */
  now?: () => number;
}

/** `$connect`: stores connectionId, userId (from the authorizer), room, sourceIp, connectedAt and ttl. */
export function makeConnectHandler(deps: ConnectDeps) {
  const logger = deps.logger ?? logDecision;
  const now = deps.now ?? Date.now;
  return async (event: WebSocketEvent): Promise<HttpResult> => {
    const { connectionId, authorizer, identity } = event.requestContext;
    const userId = authorizer?.userId;
    if (typeof userId !== "string" || !userId) {
      // Only reachable if the route were deployed without the authorizer: refuse rather than store anonymously.
      logger({
        component: "websocket-connect",
        outcome: OUTCOME["websocket-connect"].refused,
        reason: "no userId from the authorizer",
        connectionId,
      });
      return { statusCode: 401, body: "Unauthorized" };
    }
    let room: string | undefined;
    let slot: string | undefined;
    if (deps.gate) {
      let gate: Awaited<ReturnType<NonNullable<ConnectDeps["gate"]>>>;
      try {
        gate = await deps.gate(event, userId);
      } catch (error) {
        logger({ component: "websocket-connect", outcome: "error", userId, connectionId, reason: (error as Error)?.name });
        return { statusCode: 500, body: "Could not register the connection" };
      }
      if (!gate.ok) {
        logger({ component: "websocket-connect", outcome: "refused", userId, connectionId, reason: gate.reason });
        return gate.result;
      }
      room = gate.room;
      slot = gate.slot;
    }
    const at = now();
    const row: ConnectionRow & { room?: string; slot?: string } = {
      connectionId,
      userId,
      ...(room ? { room } : {}),
      // The slot is given back with the row (runtime/connectionSlots.ts); if this put fails, it frees itself within SLOT_LIFETIME_SECONDS.
      ...(slot ? { slot } : {}),
      sourceIp: identity?.sourceIp,
      connectedAt: new Date(at).toISOString(),
      ttl: Math.floor(at / 1000) + deps.ttlSeconds,
    };
    try {
      await deps.ddb.send(new PutCommand({ TableName: deps.connectionsTable, Item: row }));
    } catch (error) {
      logger({
        component: "websocket-connect",
        outcome: OUTCOME["websocket-connect"].error,
        userId,
        connectionId,
        reason: (error as Error)?.name,
      });
      return { statusCode: 500, body: "Could not register the connection" };
    }
    logger({ component: "websocket-connect", outcome: OUTCOME["websocket-connect"].connected, userId, connectionId });
    return OK;
  };
}

/** `$disconnect`: deletes the connection row and gives its slot back (API GW does not retry this route, so never fail it). */
export function makeDisconnectHandler(deps: { ddb: DynamoDBDocumentClient; connectionsTable: string; logger?: DecisionLogger }) {
  const logger = deps.logger ?? logDecision;
  return async (event: WebSocketEvent): Promise<HttpResult> => {
    const { connectionId, authorizer } = event.requestContext;
    try {
      await removeConnection(deps, connectionId);
      logger({
        component: "websocket-disconnect",
        outcome: OUTCOME["websocket-disconnect"].disconnected,
        userId: authorizer?.userId,
        connectionId,
      });
    } catch (error) {
      // The row expires by TTL and a later post's 410 removes it too.
      logger({
        component: "websocket-disconnect",
        outcome: OUTCOME["websocket-disconnect"].error,
        connectionId,
        reason: (error as Error)?.name,
      });
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

function errorFrame<E extends ErrorFrame["error"]>(error: E, message: string): ErrorFrame & { error: E } {
  return { type: "error", error, message };
}

/** Parses a frame body: a JSON object, or why not. */
function parseBody(
  body: string | undefined,
): { ok: true; value: Record<string, unknown> } | { ok: false; frame: ErrorFrame & { error: "invalid_json" } } {
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
export function makeDefaultHandler(deps: {
  mgmt: ManagementClients;
  /** Actions the API serves besides the `$` routes, named in the error frame. @default none */
  knownActions?: string[];
  logger?: DecisionLogger;
}) {
  const logger = deps.logger ?? logDecision;
  const known = deps.knownActions?.length ? deps.knownActions.join(", ") : "none";
  return async (event: WebSocketEvent): Promise<HttpResult> => {
    const { requestContext } = event;
    const parsed = parseBody(event.body);
    let frame: ErrorFrame & { error: OutcomeOf<"websocket-default"> };
    if (!parsed.ok) {
      frame = parsed.frame;
    } else if (typeof parsed.value.action !== "string") {
      frame = errorFrame("missing_action", `Frames need a string "action". Known actions: ${known}`);
    } else {
      const action = parsed.value.action.slice(0, 64);
      frame = errorFrame("unknown_action", `Unknown action "${action}". Known actions: ${known}`);
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
