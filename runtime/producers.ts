/**
 * Producers as identities: who called a producer route (from the gateway's authorizer context), whether
 * the route's scope was granted (checked again in the function, behind the gateway's own check), which
 * types a producer may send (`tidings:producers`), and the eventId space each producer owns.
 */
import { createHash } from "node:crypto";
import type { HttpResult } from "./contracts";

/** The scope names of the producer routes, by what they allow (`tidings:auth.scopes`). */
export interface ProducerScopeNames {
  send: string;
  contactsWrite: string;
  contactsRead: string;
  erase: string;
  topicsWrite: string;
}

/** The authorizer context API Gateway (HTTP API, payload 2.0) passes: a JWT's claims and scopes, or the IAM caller. */
export interface AuthorizerContext {
  jwt?: { claims?: Record<string, unknown>; scopes?: string[] | null };
  iam?: { userArn?: string; accountId?: string };
}

export interface ProducerEvent {
  requestContext?: { authorizer?: AuthorizerContext };
}

/** A producer: the token's `client_id`, else its `sub` (JWT), or the caller's role or user ARN (IAM). */
export interface Producer {
  id: string;
  /** The scopes its token carries; undefined for an IAM caller, whose policy the gateway checked per route. */
  scopes?: string[];
}

/**
 * The IAM principal behind a caller ARN: an assumed-role session's role, as the role's own ARN without
 * its path (a session ARN does not carry it), so every session of one role is one producer; else the ARN.
 * @example iamPrincipalOf("arn:aws:sts::123456789012:assumed-role/orders/i-0abc") // "arn:aws:iam::123456789012:role/orders"
 */
export function iamPrincipalOf(userArn: string): string {
  const session = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([^/]+)\/.+$/.exec(userArn);
  return session ? `arn:${session[1]}:iam::${session[2]}:role/${session[3]}` : userArn;
}

/** Who called, from the authorizer context; undefined when the route ran without one. */
export function producerOf(event: ProducerEvent | undefined): Producer | undefined {
  const authorizer = event?.requestContext?.authorizer;
  const userArn = authorizer?.iam?.userArn;
  if (typeof userArn === "string" && userArn) return { id: iamPrincipalOf(userArn) };
  const claims = authorizer?.jwt?.claims;
  if (!claims) return undefined;
  const id = [claims.client_id, claims.sub].find((v): v is string => typeof v === "string" && v.length > 0);
  if (!id) return undefined;
  return { id, scopes: scopesOf(authorizer?.jwt?.scopes, claims) };
}

/** The token's scopes: what API Gateway parsed, else the `scope` (space-separated) or `scp` claim. */
function scopesOf(parsed: string[] | null | undefined, claims: Record<string, unknown>): string[] {
  if (Array.isArray(parsed) && parsed.length) return parsed;
  const { scope, scp } = claims;
  if (typeof scope === "string") return scope.split(" ").filter(Boolean);
  if (Array.isArray(scp)) return scp.filter((s): s is string => typeof s === "string");
  // API Gateway passes claims as strings: a list claim arrives as "[a b]".
  if (typeof scp === "string")
    return scp
      .replace(/^\[|\]$/g, "")
      .split(/[ ,]+/)
      .filter(Boolean);
  return [];
}

const JSON_HEADERS = { "content-type": "application/json; charset=utf-8" };

/** The 403 body when `scopes` lacks `required`. */
export function missingScopeBody(required: string) {
  return {
    error: "forbidden",
    message: `The token lacks the "${required}" scope this route needs`,
    missingScope: required,
  };
}

/**
 * The answer refusing a producer route's caller, or undefined to let it through: no authorizer context
 * is 401 (the route was deployed without its auth), a token without the route's scope is 403 naming it.
 * An IAM caller passes: the gateway allowed its policy on exactly this route.
 */
export function producerRefusal(event: ProducerEvent | undefined, requiredScope: string): HttpResult | undefined {
  const producer = producerOf(event);
  if (!producer) {
    return {
      statusCode: 401,
      headers: JSON_HEADERS,
      body: JSON.stringify({ error: "unauthorized", message: "This route needs a producer's credentials (IAM or a token)" }),
    };
  }
  if (producer.scopes === undefined || producer.scopes.includes(requiredScope)) return undefined;
  return { statusCode: 403, headers: JSON_HEADERS, body: JSON.stringify(missingScopeBody(requiredScope)) };
}

/**
 * Which types each producer may send (`tidings:producers`): exact names or `prefix.*`. A critical type
 * only where it is listed by name. Undefined: every producer may send every type.
 */
export type ProducerTypes = Record<string, string[]>;

/**
 * The types `producer` may send: its entry in `tidings:producers`, else what a grant recorded for it
 * (`grantSend(role, { types })`, read through `recorded`); "any" when neither limits it and
 * `tidings:producers` is unset, "none" when it is set and names neither.
 */
export async function allowedTypes(
  configured: ProducerTypes | undefined,
  producer: string | undefined,
  recorded?: (producer: string) => Promise<string[] | undefined>,
): Promise<string[] | "any" | "none"> {
  if (producer !== undefined && configured?.[producer]) return configured[producer];
  const granted = producer !== undefined && recorded ? await recorded(producer) : undefined;
  if (granted) return granted;
  return configured ? "none" : "any";
}

/** Why `producer` may not send `type`, or undefined when it may. */
export function typeRefusal(
  allowed: string[] | "any" | "none",
  producer: string | undefined,
  type: string,
  critical: boolean,
): string | undefined {
  if (allowed === "any") return undefined;
  const patterns = allowed === "none" ? undefined : allowed;
  if (!patterns) return `producer ${producer ?? "(unknown)"} may send no type (it is not in tidings:producers)`;
  if (patterns.includes(type)) return undefined;
  if (critical) return `producer ${producer} may not send the critical type ${type}: a critical type must be listed by name`;
  const byPrefix = patterns.some((p) => p.endsWith(".*") && type.startsWith(p.slice(0, -1)));
  return byPrefix ? undefined : `producer ${producer} may not send type ${type}`;
}

/**
 * The id of a notification whose eventId another producer took first: the eventId and a tag of the
 * producer's id. An eventId has no `.` (EVENT_ID_PATTERN), so no producer can choose another's.
 */
export function producerEventKey(eventId: string, producer: string): string {
  const tag = createHash("sha256").update(producer).digest("base64url").slice(0, 12);
  return `${eventId}.${tag}`;
}

/** The eventId a producer sent, from a notification's id. */
export function producersEventId(notificationId: string): string {
  const dot = notificationId.indexOf(".");
  return dot < 0 ? notificationId : notificationId.slice(0, dot);
}

/** Where a grant records the types of an IAM producer: an object of the templates bucket, by the producer's id. */
export function producerGrantKey(producer: string): string {
  return `producers/${createHash("sha256").update(producer).digest("hex")}.json`;
}
