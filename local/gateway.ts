/**
 * A stand-in for an API Gateway WebSocket API on 127.0.0.1, built on `ws` + node:http, so the real
 * handlers (and the code `pulumi up` ships) run locally against real sockets:
 *
 * - upgrade → `$connect` event → REQUEST authorizer (its IAM policy decides) → `$connect` route; a Deny
 *   answers 403, a throwing authorizer or missing identity source 401, a non-2xx `$connect` its status;
 * - frames are routed by `$request.body.action` (non-JSON or unknown action → `$default`);
 * - close → `$disconnect`;
 * - the management API (`POST|GET|DELETE /{stage}/@connections/{id}`) on the same port, answering 410
 *   with `x-amzn-errortype: GoneException` for unknown ids, so `ApiGatewayManagementApiClient` throws
 *   `GoneException` exactly as it does in AWS.
 */
import { guardLocalServer } from "./localGuards";
import { randomBytes, randomUUID } from "node:crypto";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { WebSocket, WebSocketServer } from "ws";
import type { WebSocketEvent } from "../runtime/contracts";

import type { AuthResult } from "../runtime/authorizer";
export type { AuthResult } from "../runtime/authorizer";

export type RouteHandler = (event: WebSocketEvent) => Promise<{ statusCode: number; body?: string } | void>;

export interface WebSocketGatewayOptions {
  /** 0 = any free port. @default 0 */
  port?: number;
  /** @default "dev" */
  stage?: string;
  authorize: (event: WebSocketEvent) => Promise<AuthResult>;
  /** By route key: `$connect`, `$disconnect`, `$default` and actions such as `sendmessage`. */
  routes: Record<string, RouteHandler>;
  /**
   * Identity sources of the authorizer: when one is missing API Gateway answers 401 without calling it.
   * @default [] (the authorizer is always called)
   * @example ["route.request.querystring.token"]
   */
  identitySources?: string[];
  /** Receives errors thrown by route handlers (API GW logs them; the client gets "Internal server error"). */
  onError?: (routeKey: string, error: unknown) => void;
}

export interface WebSocketGateway {
  /** `ws://127.0.0.1:<port>` — clients connect here (with `?token=…`). */
  url: string;
  /** `http://127.0.0.1:<port>/<stage>` — the ApiGatewayManagementApiClient endpoint. */
  managementEndpoint: string;
  /** Ids of the open connections. */
  connections(): string[];
  /** Cuts a connection without a close handshake, as a network drop does; `$disconnect` still runs. */
  dropConnection(connectionId: string): void;
  /**
   * Holds every management-API request this long before answering it: the Lambda → API Gateway
   * network round trip, which loopback lacks (benchmarks). A timer, no CPU. @default 0
   */
  setManagementLatency(ms: number): void;
  stop(): Promise<void>;
}

/** API Gateway's limit on one WebSocket message and on one management-API post. */
export const MAX_MESSAGE_BYTES = 128 * 1024;

interface OpenConnection {
  socket: WebSocket;
  connectedAt: Date;
  lastActiveAt: Date;
  sourceIp: string;
  userAgent?: string;
  authorizer?: Record<string, unknown>;
}

export async function startWebSocketGateway(options: WebSocketGatewayOptions): Promise<WebSocketGateway> {
  const stage = options.stage ?? "dev";
  const open = new Map<string, OpenConnection>();
  const pending = new Set<Promise<unknown>>();
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  const server = http.createServer((req, res) => {
    handleManagement(req, res).catch((error) => reply(res, 500, { message: String(error) }, "InternalServerErrorException"));
  });
  // Node closes a kept-alive connection after 5 s idle; AWS endpoints keep theirs far longer. With 5 s, a
  // client reusing its idle sockets at that moment meets a burst of resets the real API never sends
  // (seen in the fan-out bench: 25–50 at once, enough to empty the SDK's retry budget).
  server.keepAliveTimeout = 30_000;
  server.on("upgrade", (req, socket, head) => {
    handleUpgrade(req, socket, head).catch((error) => {
      options.onError?.("$connect", error);
      rejectUpgrade(socket, 500, "Internal server error");
    });
  });
  // A page the developer visits may neither connect as a user nor call the management endpoints.
  guardLocalServer(server);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const domainName = `127.0.0.1:${port}`;
  const methodArnFor = (routeKey: string) => `arn:aws:execute-api:local:000000000000:local/${stage}/${routeKey}`;

  /** Runs a handler and keeps its promise so stop() can wait for in-flight `$disconnect`s. */
  function track<T>(promise: Promise<T>): Promise<T> {
    pending.add(promise);
    promise.finally(() => pending.delete(promise)).catch(() => {});
    return promise;
  }

  function context(
    routeKey: string,
    eventType: string,
    connectionId: string,
    connection: Pick<OpenConnection, "sourceIp" | "authorizer" | "connectedAt">,
  ) {
    return {
      routeKey,
      eventType,
      connectionId,
      domainName,
      stage,
      requestId: randomUUID(),
      connectedAt: connection.connectedAt.getTime(),
      requestTimeEpoch: Date.now(),
      identity: { sourceIp: connection.sourceIp },
      ...(connection.authorizer ? { authorizer: connection.authorizer } : {}),
    };
  }

  async function handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer) {
    const url = new URL(req.url ?? "/", `http://${domainName}`);
    const queryStringParameters = url.searchParams.size ? Object.fromEntries(url.searchParams) : undefined;
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(",") : v]));
    const connectionId = newConnectionId();
    const connection = { sourceIp: req.socket.remoteAddress ?? "127.0.0.1", connectedAt: new Date() } as OpenConnection;
    const event: WebSocketEvent = {
      requestContext: context("$connect", "CONNECT", connectionId, connection),
      queryStringParameters,
      headers,
      methodArn: methodArnFor("$connect"),
    };

    const missing = (options.identitySources ?? []).some((source) => identitySource(event, source) === undefined);
    if (missing) return rejectUpgrade(socket, 401, "Unauthorized");
    let auth: AuthResult;
    try {
      auth = await options.authorize(event);
    } catch {
      return rejectUpgrade(socket, 401, "Unauthorized");
    }
    if (!allows(auth, event.methodArn!)) return rejectUpgrade(socket, 403, "Forbidden");
    connection.authorizer = { ...(auth.context ?? {}), principalId: auth.principalId };
    event.requestContext.authorizer = connection.authorizer;

    const connect = options.routes["$connect"];
    if (connect) {
      let result: Awaited<ReturnType<RouteHandler>>;
      try {
        result = await connect(event);
      } catch (error) {
        options.onError?.("$connect", error);
        return rejectUpgrade(socket, 500, "Internal server error");
      }
      const status = result?.statusCode ?? 200;
      if (status < 200 || status > 299) return rejectUpgrade(socket, status, result?.body ?? "Forbidden");
    }

    wss.handleUpgrade(req, socket, head, (ws) => {
      connection.socket = ws;
      connection.lastActiveAt = new Date();
      connection.userAgent = headers["user-agent"];
      open.set(connectionId, connection);
      ws.on("message", (data, isBinary) => {
        connection.lastActiveAt = new Date();
        const body = isBinary ? Buffer.from(data as Buffer).toString("base64") : data.toString();
        track(route(connectionId, connection, body));
      });
      ws.on("close", (code, reason) => {
        open.delete(connectionId);
        const disconnect = options.routes["$disconnect"];
        if (!disconnect) return;
        const disconnectEvent: WebSocketEvent = {
          requestContext: {
            ...context("$disconnect", "DISCONNECT", connectionId, connection),
            disconnectStatusCode: code,
            disconnectReason: reason.toString(),
          } as WebSocketEvent["requestContext"],
        };
        track(disconnect(disconnectEvent).catch((error) => options.onError?.("$disconnect", error)));
      });
      ws.on("error", () => {});
    });
  }

  async function route(connectionId: string, connection: OpenConnection, body: string) {
    let routeKey = "$default";
    try {
      const parsed = JSON.parse(body);
      const action = parsed && typeof parsed === "object" ? parsed.action : undefined;
      // Only the routes the API has: `in` would also find __proto__, constructor and the rest of Object.prototype.
      if (typeof action === "string" && Object.hasOwn(options.routes, action) && !action.startsWith("$")) routeKey = action;
    } catch {
      // Not JSON: API Gateway falls back to $default.
    }
    const handler = options.routes[routeKey];
    const requestContext = { ...context(routeKey, "MESSAGE", connectionId, connection), messageId: newConnectionId() };
    if (!handler) {
      // What API Gateway answers when neither the action nor $default has a route.
      send(connection, { message: "Forbidden", connectionId, requestId: requestContext.requestId });
      return;
    }
    try {
      await handler({ requestContext, body });
    } catch (error) {
      options.onError?.(routeKey, error);
      send(connection, { message: "Internal server error", connectionId, requestId: requestContext.requestId });
    }
  }

  let managementLatencyMs = 0;

  async function handleManagement(req: http.IncomingMessage, res: http.ServerResponse) {
    if (managementLatencyMs > 0) await new Promise((resolve) => setTimeout(resolve, managementLatencyMs));
    const url = new URL(req.url ?? "/", `http://${domainName}`);
    const prefix = `/${stage}/@connections/`;
    if (!url.pathname.startsWith(prefix)) {
      return reply(res, 403, { message: "Forbidden" }, "ForbiddenException");
    }
    const connectionId = decodeURIComponent(url.pathname.slice(prefix.length));
    // Bounded read: a body over the limit is refused without buffering it whole.
    const body = await readBody(req, MAX_MESSAGE_BYTES);
    if (body === undefined) {
      return reply(res, 413, { message: `Message too long: over the ${MAX_MESSAGE_BYTES}-byte limit` }, "PayloadTooLargeException");
    }
    const connection = open.get(connectionId);
    if (!connection || connection.socket.readyState !== WebSocket.OPEN) {
      return reply(res, 410, { message: null }, "GoneException");
    }
    switch (req.method) {
      case "POST":
        if (body.length > MAX_MESSAGE_BYTES) {
          return reply(
            res,
            413,
            { message: `Message too long: ${body.length} bytes, limit ${MAX_MESSAGE_BYTES}` },
            "PayloadTooLargeException",
          );
        }
        connection.socket.send(body.toString("utf8"));
        return reply(res, 200);
      case "GET":
        return reply(res, 200, {
          connectedAt: connection.connectedAt.toISOString(),
          lastActiveAt: connection.lastActiveAt.toISOString(),
          identity: { sourceIp: connection.sourceIp, userAgent: connection.userAgent },
        });
      case "DELETE":
        connection.socket.close(1000, "Goodbye");
        return reply(res, 204);
      default:
        return reply(res, 403, { message: `Method ${req.method} not supported` }, "ForbiddenException");
    }
  }

  return {
    url: `ws://${domainName}`,
    managementEndpoint: `http://${domainName}/${stage}`,
    connections: () => [...open.keys()],
    setManagementLatency(ms) {
      if (!(ms >= 0)) throw new Error(`management latency must be 0 or more milliseconds, got ${ms}`);
      managementLatencyMs = ms;
    },
    dropConnection(connectionId) {
      open.get(connectionId)?.socket.terminate();
    },
    async stop() {
      // Let every close event fire and its $disconnect handler finish before the servers go.
      const closed = [...open.values()].map(({ socket }) => new Promise((resolve) => socket.once("close", resolve)));
      for (const connection of open.values()) connection.socket.terminate();
      await Promise.all(closed);
      await Promise.allSettled([...pending]);
      wss.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

/** API Gateway connection ids are 16 base64 characters ending in "=", so URL-encoding matters. */
function newConnectionId(): string {
  return randomBytes(11).toString("base64");
}

/** Does the policy allow `methodArn`? Deny wins; `*` and `?` in resources match like IAM. */
function allows(auth: AuthResult | undefined, methodArn: string): boolean {
  const statements = auth?.policyDocument?.Statement;
  if (!Array.isArray(statements) || typeof auth?.principalId !== "string") return false;
  const matching = statements.filter((s) => {
    const actions = ([] as string[]).concat(s.Action);
    const resources = ([] as string[]).concat(s.Resource);
    return (
      actions.some((a) => a === "execute-api:Invoke" || a === "execute-api:*" || a === "*") &&
      resources.some((r) => arnMatches(r, methodArn))
    );
  });
  return matching.some((s) => s.Effect === "Allow") && !matching.some((s) => s.Effect === "Deny");
}

function arnMatches(pattern: string, arn: string): boolean {
  const regex = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, "\\$&")
      .replace(/\*/g, ".*")
      .replace(/\?/g, ".")}$`,
  );
  return regex.test(arn);
}

function identitySource(event: WebSocketEvent, source: string): string | undefined {
  const query = /^route\.request\.querystring\.(.+)$/.exec(source);
  if (query) return event.queryStringParameters?.[query[1]] || undefined;
  const header = /^route\.request\.header\.(.+)$/.exec(source);
  if (header) return event.headers?.[header[1].toLowerCase()] || undefined;
  return undefined;
}

function rejectUpgrade(socket: Duplex, status: number, message: string) {
  if (!socket.writable) return;
  const body = JSON.stringify({ message });
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? "Error"}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function send(connection: OpenConnection, frame: unknown) {
  if (connection.socket.readyState === WebSocket.OPEN) connection.socket.send(JSON.stringify(frame));
}

function reply(res: http.ServerResponse, status: number, body?: unknown, errorType?: string) {
  const headers: Record<string, string> = {};
  if (errorType) headers["x-amzn-errortype"] = errorType;
  if (body !== undefined) headers["content-type"] = "application/json";
  res.writeHead(status, headers);
  res.end(body === undefined ? undefined : JSON.stringify(body));
}

/** The body, or undefined as soon as it grows past `limit` bytes (the rest is drained, not kept). */
function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on("data", (c: Buffer) => {
      if (over) return;
      size += c.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(over ? undefined : Buffer.concat(chunks)));
    req.on("error", reject);
  });
}
