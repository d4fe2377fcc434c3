/**
 * Signed tracking links. An actionable notification keeps its `callback` and gains `link`,
 * `<baseUrl>/t/<token>`: the end-user API records `clicked` on the notification log and answers 302 to
 * the callback. The token carries the eventId, channel, userId, the callback URL and an expiry, and is
 * HMAC-SHA256-signed, so it cannot be forged, altered or pointed anywhere else (no open redirect).
 * With the open pixel on, e-mail HTML ends with `<img src="<baseUrl>/t/<token>">` whose token says
 * "open": fetching it records `opened` and answers a 1×1 GIF.
 *
 * Token: `<base64url(JSON claims)>.<base64url(HMAC(key, "tidings-link.v1." + claims))>`. The key is
 * the stack's token-signing secret; the prefix keeps a link signature from ever passing as anything else.
 */
import { DEFAULTS } from "./defaults";
import { createHmac, timingSafeEqual } from "node:crypto";
import { callbackProblem } from "./validate";

export interface LinkClaims {
  /** eventId */
  e: string;
  /** channel */
  c: string;
  /** userId */
  u: string;
  /** Where a click goes (the producer's callback); absent on open pixels. */
  r?: string;
  /** Expiry, epoch seconds. */
  x: number;
  /** "c" click, "o" open. */
  a: "c" | "o";
}

export interface LinkSignerDeps {
  /** The HMAC key (the token-signing secret); called per use, so pass a cached loader. */
  getKey: () => Promise<Uint8Array>;
  /** The end-user API's URL: links are `<baseUrl>/t/<token>`. A function when it is known only later (local mode). */
  baseUrl: string | (() => string);
  /** Days a link works. @default 30 */
  ttlDays?: number;
  now?: () => number;
}

export type LinkCheck = { ok: true; claims: LinkClaims } | { ok: false; status: 400 | 404; reason: string };

const DOMAIN = "tidings-link.v1.";
/** Longest token accepted: claims with a 2048-character callback, encoded, plus the signature. */
export const MAX_LINK_TOKEN_LENGTH = 4096;

function signature(key: Uint8Array, claims: string): string {
  return createHmac("sha256", key)
    .update(DOMAIN + claims)
    .digest("base64url");
}

export function makeLinkSigner(deps: LinkSignerDeps) {
  const now = deps.now ?? Date.now;
  const ttlSeconds = (deps.ttlDays ?? DEFAULTS.tracking.linkTtlDays) * 86_400;
  const base = () => (typeof deps.baseUrl === "function" ? deps.baseUrl() : deps.baseUrl).replace(/\/+$/, "");

  async function sign(claims: Omit<LinkClaims, "x">): Promise<string> {
    const key = await deps.getKey();
    const encoded = Buffer.from(JSON.stringify({ ...claims, x: Math.floor(now() / 1000) + ttlSeconds }), "utf8").toString("base64url");
    return `${base()}/t/${encoded}.${signature(key, encoded)}`;
  }

  return {
    /** The tracking link of one eventId×channel whose click goes to `callback`. */
    click: (ids: { eventId: string; channel: string; userId: string }, callback: string) =>
      sign({ e: ids.eventId, c: ids.channel, u: ids.userId, r: callback, a: "c" }),
    /** The open-pixel URL of one eventId×channel. */
    open: (ids: { eventId: string; channel: string; userId: string }) => sign({ e: ids.eventId, c: ids.channel, u: ids.userId, a: "o" }),
  };
}

export type LinkSigner = ReturnType<typeof makeLinkSigner>;

/** Checks a token: 400 when it is malformed, 404 when its signature is wrong or it expired. Never throws. */
export async function verifyLinkToken(token: string, deps: { getKey: () => Promise<Uint8Array>; now?: () => number }): Promise<LinkCheck> {
  if (typeof token !== "string" || token.length === 0 || token.length > MAX_LINK_TOKEN_LENGTH) {
    return { ok: false, status: 400, reason: "token is missing or too long" };
  }
  const match = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{43})$/.exec(token);
  if (!match) return { ok: false, status: 400, reason: "token is not <claims>.<signature>" };
  const [, encoded, given] = match;
  const expected = signature(await deps.getKey(), encoded);
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  if (a.length !== b.length || !timingSafeEqual(a, b)) return { ok: false, status: 404, reason: "unknown link" };
  let claims: LinkClaims;
  try {
    claims = JSON.parse(Buffer.from(encoded, "base64url").toString("utf8"));
  } catch {
    return { ok: false, status: 400, reason: "token claims are not JSON" };
  }
  const valid =
    claims &&
    typeof claims === "object" &&
    typeof claims.e === "string" &&
    typeof claims.c === "string" &&
    typeof claims.u === "string" &&
    typeof claims.x === "number" &&
    (claims.a === "o" || (claims.a === "c" && typeof claims.r === "string" && callbackProblem(claims.r) === undefined));
  if (!valid) return { ok: false, status: 400, reason: "token claims are incomplete" };
  if (claims.x * 1000 <= (deps.now ?? Date.now)()) return { ok: false, status: 404, reason: "link expired" };
  return { ok: true, claims };
}

/** A transparent 1×1 GIF, the open pixel's answer. */
export const PIXEL_GIF_BASE64 = "R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7";
