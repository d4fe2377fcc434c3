/**
 * Guards of the local mode's HTTP server (`npm start`): the Host check against DNS rebinding, the
 * producer-scope answer of the producer routes, and the `POST /dev/token` body. Plain functions, so
 * the local server, the tests and the docs share one definition.
 */

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
