/**
 * Guards of the local mode's servers (`npm start`): the Host check against DNS rebinding, the Origin
 * check against cross-site requests from pages the developer visits, anti-framing headers on every
 * answer (guardLocalServer puts all three on a server, every route and upgrade of it), the
 * producer-scope answer of the producer routes, and the `POST /dev/token` body. Plain functions, so
 * the local servers, the tests and the docs share one definition.
 */
import type * as http from "node:http";
import type { Duplex } from "node:stream";

/** Host names the local server answers to (with any port). */
export const LOCAL_HOSTS = ["127.0.0.1", "localhost", "[::1]"];

/** The error body for a Host header that is not a loopback name, or undefined when it is one. */
export function checkLocalHost(host: string | undefined): { error: string; message: string } | undefined {
  const name = (host ?? "").toLowerCase().replace(/:\d{1,5}$/, "");
  if (LOCAL_HOSTS.includes(name)) return undefined;
  return {
    error: "forbidden_host",
    message: `The local mode answers only to Host ${LOCAL_HOSTS.join(", ")} (got ${JSON.stringify((host ?? "").slice(0, 100))}): a page on another name may not reach it`,
  };
}

/** The error body for an Origin that is not a loopback page, or undefined when there is none or it is one. */
export function checkLocalOrigin(origin: string | undefined): { error: string; message: string } | undefined {
  if (origin === undefined) return undefined;
  let host = "";
  try {
    const url = new URL(origin);
    if (url.protocol === "http:" || url.protocol === "https:") host = url.hostname.toLowerCase();
  } catch {
    // "null" (a sandboxed or file: page) and anything unparsable are not loopback pages.
  }
  if (LOCAL_HOSTS.includes(host) || LOCAL_HOSTS.includes(`[${host}]`)) return undefined;
  return {
    error: "forbidden_origin",
    message: `The local mode answers only to pages on ${LOCAL_HOSTS.join(", ")} (got Origin ${JSON.stringify(origin.slice(0, 100))})`,
  };
}

/** Sent with every answer of a local server: no page may frame it (clickjacking). */
export const ANTI_FRAMING_HEADERS = { "x-frame-options": "DENY", "content-security-policy": "frame-ancestors 'none'" };

/**
 * Puts the Host and Origin checks before every request and WebSocket upgrade `server` handles, whoever
 * registered its handlers (ours or a library's), and the anti-framing headers on every answer.
 */
export function guardLocalServer(server: http.Server): void {
  const refusal = (req: http.IncomingMessage) => checkLocalHost(req.headers.host) ?? checkLocalOrigin(req.headers.origin);
  const requestHandlers = server.listeners("request") as ((req: http.IncomingMessage, res: http.ServerResponse) => void)[];
  server.removeAllListeners("request");
  server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
    for (const [name, value] of Object.entries(ANTI_FRAMING_HEADERS)) res.setHeader(name, value);
    const refused = refusal(req);
    if (refused) {
      res.writeHead(403, { "content-type": "application/json" });
      res.end(JSON.stringify(refused));
      return;
    }
    for (const handler of requestHandlers) handler.call(server, req, res);
  });
  const upgradeHandlers = server.listeners("upgrade") as ((req: http.IncomingMessage, socket: Duplex, head: Buffer) => void)[];
  server.removeAllListeners("upgrade");
  server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const refused = refusal(req);
    if (refused) {
      const body = JSON.stringify(refused);
      socket.end(
        `HTTP/1.1 403 Forbidden\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
      );
      return;
    }
    for (const handler of upgradeHandlers) handler.call(server, req, socket, head);
  });
}

/** The 403 body when `scopes` lacks `required`, or undefined. */
export function producerScopeProblem(scopes: string[], required: string) {
  if (scopes.includes(required)) return undefined;
  return {
    error: "forbidden",
    message: `The token lacks the "${required}" scope that producers need: ask POST /dev/token for {"userId": "...", "scope": "${required}"}`,
    missingScope: required,
  };
}

const WORD = /^[\x21-\x7e]{1,128}$/;

type DevTokenRequest =
  | { ok: true; userId: string; scope?: string; rooms?: string[] }
  | { ok: false; error: { error: string; message: string; field?: string } };

/**
 * `{ "userId": "alice" }` (an end user's token), `{ "userId": "svc-orders", "scope": "notifications:send" }`
 * (a producer's), optionally `"rooms": ["ops"]` (chat rooms the user may join).
 */
export function parseDevTokenRequest(body: string | undefined): DevTokenRequest {
  let value: unknown;
  try {
    value = JSON.parse(body ?? "{}");
  } catch {
    return { ok: false, error: { error: "invalid_json", message: 'Body must be JSON: {"userId": "alice"}' } };
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) {
    return { ok: false, error: { error: "invalid_json", message: 'Body must be a JSON object: {"userId": "alice"}' } };
  }
  const { userId, scope, rooms } = value as { userId?: unknown; scope?: unknown; rooms?: unknown };
  if (typeof userId !== "string" || !WORD.test(userId)) {
    return {
      ok: false,
      error: { error: "invalid_user", field: "userId", message: "userId must be 1–128 printable characters without spaces" },
    };
  }
  if (scope !== undefined && (typeof scope !== "string" || scope.length > 1000 || !scope.split(" ").every((w) => WORD.test(w)))) {
    return {
      ok: false,
      error: { error: "invalid_scope", field: "scope", message: 'scope must be space-separated words, e.g. "notifications:send"' },
    };
  }
  if (
    rooms !== undefined &&
    (!Array.isArray(rooms) || rooms.length > 20 || !rooms.every((r) => typeof r === "string" && /^[A-Za-z0-9_.:-]{1,64}$/.test(r)))
  ) {
    return {
      ok: false,
      error: { error: "invalid_rooms", field: "rooms", message: "rooms must be an array of up to 20 room names (^[A-Za-z0-9_.:-]{1,64}$)" },
    };
  }
  return { ok: true, userId, scope, rooms: rooms as string[] | undefined };
}
