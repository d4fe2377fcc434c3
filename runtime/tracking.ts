/**
 * Tracking links. An actionable notification keeps its `callback` and gains `link`,
 * `<baseUrl>/t/<token>`: the end-user API records `clicked` on the notification log and answers 302 to
 * the callback the log recorded for that notification. With the open pixel on, e-mail HTML ends with
 * `<img src="<baseUrl>/t/<token>">` whose token says "open": fetching it records `opened` and answers a
 * 1×1 GIF.
 *
 * The token is opaque: the notification's id, channel, what it records and its expiry, sealed with
 * AES-256-GCM (authenticated: it cannot be forged or altered, and it shows nothing to whoever sees the
 * link: no user id, no callback). The callback is not in it: it is read from the log at click time, so
 * a link whose notification is gone (the user erased, or the log item expired) answers 404, and a link
 * can never point anywhere else (no open redirect).
 *
 * The key is derived from the stack's token-signing secret with HKDF-SHA256 and an `info` of its own
 * (`linkKey`), so a link key is never a key that signs or verifies end users' tokens.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { DEFAULTS } from "./defaults";

export interface LinkClaims {
  /** The notification's id (eventId) */
  e: string;
  /** channel */
  c: string;
  /** Expiry, epoch seconds. */
  x: number;
  /** "c" click, "o" open. */
  a: "c" | "o";
}

/** What a link identifies: one notification on one channel. */
export interface LinkIds {
  eventId: string;
  channel: string;
}

export interface LinkSignerDeps {
  /** The token-signing secret (the link key is derived from it); called per use, so pass a cached loader. */
  getKey: () => Promise<Uint8Array>;
  /** The end-user API's URL: links are `<baseUrl>/t/<token>`. A function when it is known only later (local mode). */
  baseUrl: string | (() => string);
  /** Days a link works. @default 30 */
  ttlDays?: number;
  now?: () => number;
}

export type LinkCheck = { ok: true; claims: LinkClaims } | { ok: false; status: 400 | 404; reason: string };

/** Longest token accepted: a 128-character id with a tag, a channel name, the rest, sealed and encoded. */
export const MAX_LINK_TOKEN_LENGTH = 512;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** The links' own key: HKDF-SHA256 of the token-signing secret for this purpose only. */
export function linkKey(secret: Uint8Array): Buffer {
  return Buffer.from(hkdfSync("sha256", secret, Buffer.alloc(0), "tidings/tracking-link/v2", 32));
}

/** Seals claims into a token: base64url(iv ‖ ciphertext ‖ tag). */
export function sealLink(key: Uint8Array, claims: LinkClaims): string {
  return sealClaims(key, claims);
}

/** Seals any claims with AES-256-GCM under `key` (a key of one purpose, from HKDF). */
export function sealClaims(key: Uint8Array, claims: object): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv("aes-256-gcm", key, iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(claims), "utf8"), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]).toString("base64url");
}

/** Opens a sealed token: its claims, or why not (400 malformed, 404 not sealed with this key). Never throws. */
export function openClaims(
  key: Uint8Array,
  token: string,
): { ok: true; claims: unknown } | { ok: false; status: 400 | 404; reason: string } {
  if (typeof token !== "string" || token.length === 0 || token.length > MAX_LINK_TOKEN_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token)) {
    return { ok: false, status: 400, reason: "token is missing, too long or not base64url" };
  }
  const sealed = Buffer.from(token, "base64url");
  if (sealed.length <= IV_BYTES + TAG_BYTES) return { ok: false, status: 400, reason: "token is too short" };
  try {
    const decipher = createDecipheriv("aes-256-gcm", key, sealed.subarray(0, IV_BYTES));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    const plain = Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
    return { ok: true, claims: JSON.parse(plain.toString("utf8")) };
  } catch {
    return { ok: false, status: 404, reason: "unknown link" };
  }
}

/** The one-click unsubscribe links' own key (a purpose of its own, as the tracking links'). */
export function unsubscribeKey(secret: Uint8Array): Buffer {
  return Buffer.from(hkdfSync("sha256", secret, Buffer.alloc(0), "tidings/unsubscribe/v1", 32));
}

/** What an unsubscribe link turns off: one type on one channel for one user. */
export interface UnsubscribeClaims {
  u: string;
  t: string;
  c: string;
}

/** Opens an unsubscribe token: 400 malformed, 404 not one of this stack's. Never throws. */
export async function verifyUnsubscribeToken(
  token: string,
  getKey: () => Promise<Uint8Array>,
): Promise<{ ok: true; claims: UnsubscribeClaims } | { ok: false; status: 400 | 404; reason: string }> {
  const opened = openClaims(unsubscribeKey(await getKey()), token);
  if (!opened.ok) return opened;
  const claims = opened.claims as UnsubscribeClaims;
  if (!claims || typeof claims.u !== "string" || typeof claims.t !== "string" || typeof claims.c !== "string")
    return { ok: false, status: 400, reason: "token claims are incomplete" };
  return { ok: true, claims };
}

export function makeLinkSigner(deps: LinkSignerDeps) {
  const now = deps.now ?? Date.now;
  const ttlSeconds = (deps.ttlDays ?? DEFAULTS.tracking.linkTtlDays) * 86_400;
  const base = () => (typeof deps.baseUrl === "function" ? deps.baseUrl() : deps.baseUrl).replace(/\/+$/, "");

  async function sign(ids: LinkIds, action: LinkClaims["a"]): Promise<string> {
    const key = linkKey(await deps.getKey());
    const token = sealLink(key, { e: ids.eventId, c: ids.channel, a: action, x: Math.floor(now() / 1000) + ttlSeconds });
    return `${base()}/t/${token}`;
  }

  return {
    /** The tracking link of one notification on one channel: a click goes to the callback the log recorded. */
    click: (ids: LinkIds) => sign(ids, "c"),
    /** The open-pixel URL of one notification on one channel. */
    open: (ids: LinkIds) => sign(ids, "o"),
    /**
     * The one-click unsubscribe URL (RFC 8058) of one type on one channel for one user: `<baseUrl>/u/<token>`.
     * It does not expire: an old e-mail's link still unsubscribes.
     */
    unsubscribe: async (ids: { userId: string; type: string; channel: string }) =>
      `${base()}/u/${sealClaims(unsubscribeKey(await deps.getKey()), { u: ids.userId, t: ids.type, c: ids.channel } satisfies UnsubscribeClaims)}`,
  };
}

export type LinkSigner = ReturnType<typeof makeLinkSigner>;

/** Opens a token: 400 when it is malformed, 404 when it was not sealed with this key or it expired. Never throws. */
export async function verifyLinkToken(token: string, deps: { getKey: () => Promise<Uint8Array>; now?: () => number }): Promise<LinkCheck> {
  const opened = openClaims(linkKey(await deps.getKey()), token);
  if (!opened.ok) return opened;
  const claims = opened.claims as LinkClaims;
  const valid =
    claims &&
    typeof claims === "object" &&
    typeof claims.e === "string" &&
    typeof claims.c === "string" &&
    typeof claims.x === "number" &&
    (claims.a === "o" || claims.a === "c");
  if (!valid) return { ok: false, status: 400, reason: "token claims are incomplete" };
  if (claims.x * 1000 <= (deps.now ?? Date.now)()) return { ok: false, status: 404, reason: "link expired" };
  return { ok: true, claims };
}

/** A transparent 1×1 GIF, the open pixel's answer. */
export const PIXEL_GIF_BASE64 = "R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7";
