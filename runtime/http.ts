/**
 * The small HTTP layer the user-facing routes share (runtime/userApi.ts, runtime/userData.ts): the API
 * Gateway HTTP API (payload 2.0) event as much as they read, decoding the body under a size limit,
 * strict query parsing, and JSON answers whose `problems` name the field.
 */
import type { AuthorizerContext } from "./producers";
import type { HttpResult } from "./contracts";
import type { Problem } from "./contracts";

/** The HTTP API payload-2.0 event; the local API builds the same shape. */
export interface HttpRequestEvent {
  rawPath?: string;
  rawQueryString?: string;
  headers?: Record<string, string | undefined>;
  body?: string | null;
  isBase64Encoded?: boolean;
  routeKey?: string;
  requestContext?: { http?: { method?: string; path?: string }; requestId?: string; routeKey?: string; authorizer?: AuthorizerContext };
}

export interface HttpAnswer extends HttpResult {
  isBase64Encoded?: boolean;
}

/** Bodies of the user-facing routes are small: contact, preferences, a list of at most 100 eventIds. */
export const MAX_USER_BODY_BYTES = 16 * 1024;

const JSON_HEADERS = { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" };

export function respond(statusCode: number, body?: unknown, headers: Record<string, string> = {}): HttpAnswer {
  if (body === undefined) return { statusCode, headers: { "cache-control": "no-store", ...headers } };
  return { statusCode, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

export function rejected(statusCode: number, error: string, problems: Problem[], headers?: Record<string, string>): HttpAnswer {
  return respond(statusCode, { error, problems }, headers);
}

export function methodOf(event: HttpRequestEvent): string {
  return (event?.requestContext?.http?.method ?? "GET").toUpperCase();
}

/** The path split on `/`, each segment URL-decoded; undefined when a segment does not decode. */
export function pathSegments(event: HttpRequestEvent): string[] | undefined {
  const raw = event?.rawPath ?? event?.requestContext?.http?.path ?? "/";
  try {
    return raw
      .split("/")
      .filter((s) => s !== "")
      .map((s) => decodeURIComponent(s));
  } catch {
    return undefined;
  }
}

/** Lower-cased header lookup. */
export function header(event: HttpRequestEvent, name: string): string | undefined {
  const headers = event?.headers ?? {};
  for (const [key, value] of Object.entries(headers)) if (key.toLowerCase() === name) return value;
  return undefined;
}

export type Query = { ok: true; values: Record<string, string> } | { ok: false; answer: HttpAnswer };

/** Parses the query string: only `allowed` keys, each at most once. */
export function parseQuery(event: HttpRequestEvent, allowed: string[]): Query {
  const params = new URLSearchParams(event?.rawQueryString ?? "");
  const values: Record<string, string> = {};
  const problems: Problem[] = [];
  for (const [key, value] of params) {
    if (!allowed.includes(key))
      problems.push({ field: `query.${key.slice(0, 64)}`, problem: `is not a parameter here (${allowed.join(", ") || "none"})` });
    else if (Object.hasOwn(values, key)) problems.push({ field: `query.${key}`, problem: "is given more than once" });
    else values[key] = value;
  }
  return problems.length ? { ok: false, answer: rejected(400, "invalid request", problems) } : { ok: true, values };
}

export type Body = { ok: true; value: Record<string, unknown> } | { ok: false; answer: HttpAnswer };

/** The body as a JSON object of at most `limit` bytes: 413 above it, 400 when it is not an object. */
export function parseJsonBody(event: HttpRequestEvent, limit = MAX_USER_BODY_BYTES): Body {
  let text = event?.body ?? undefined;
  if (text !== undefined && event.isBase64Encoded) {
    const bytes = Buffer.from(text, "base64");
    if (bytes.length > limit) return tooLarge(bytes.length, limit);
    try {
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      return { ok: false, answer: rejected(400, "invalid request", [{ field: "body", problem: "is not UTF-8 text" }]) };
    }
  }
  if (text === undefined || text === null || text === "") {
    return { ok: false, answer: rejected(400, "invalid request", [{ field: "body", problem: "is required: a JSON object" }]) };
  }
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > limit) return tooLarge(bytes, limit);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return {
      ok: false,
      answer: rejected(400, "invalid request", [{ field: "body", problem: `is not valid JSON (${(error as Error).message})` }]),
    };
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) {
    return { ok: false, answer: rejected(400, "invalid request", [{ field: "body", problem: "must be a JSON object" }]) };
  }
  return { ok: true, value: value as Record<string, unknown> };
}

function tooLarge(bytes: number, limit: number): Body {
  return {
    ok: false,
    answer: rejected(413, "request too large", [{ field: "body", problem: `is ${bytes} bytes; the limit is ${limit}` }]),
  };
}

/** Keys of `body` outside `allowed`, as problems. */
export function unknownKeys(body: Record<string, unknown>, allowed: string[], prefix = ""): Problem[] {
  return Object.keys(body)
    .filter((key) => !allowed.includes(key))
    .map((key) => ({ field: `${prefix}${key.slice(0, 64)}`, problem: `is not a field here (${allowed.join(", ")})` }));
}

export function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return !!value && typeof value === "object" && !Array.isArray(value);
}

export function describeError(error: unknown): string {
  const e = error as { name?: string; message?: string } | undefined;
  return `${e?.name ?? "Error"}: ${e?.message ?? String(error)}`.slice(0, 300);
}
