/**
 * Self-service contact details (issue 22 §7): a signed-in user enters their own e-mail address or phone
 * number on the end-user API. It is stored unverified (`emailUnverified` / `phoneUnverified` on the
 * contact), and a 6-digit code goes to it through the channel's own pipeline (log row, bus, queue, worker,
 * provider): by e-mail with a link that confirms it, by SMS as a code. Until the code comes back the
 * service delivers nothing there (runtime/contacts.ts: `skipped: unverified`). Details a producer writes
 * (`PUT /users/{id}/contact`) count as verified.
 *
 *   GET  /me/contact                    → { email?: { address, verified }, phone?: { address, verified } }
 *   PUT  /me/contact { email?, phone? } → the same; null removes one; a new address gets a code
 *   POST /me/contact/verify { channel: "email" | "sms", code }
 *   GET  /v/{token}, POST /v/{token}    the e-mail's link: a page with a button; the button confirms
 *
 * Codes are kept as an HMAC under a key of their own (a stolen table does not give them away), expire after
 * CODE_TTL_MINUTES, and die after MAX_WRONG_CODES wrong tries; at most MAX_CODES_PER_HOUR are sent per
 * address field and user.
 */
import { createHmac, hkdfSync, randomInt, randomUUID, timingSafeEqual } from "node:crypto";
import { type EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { resolveAddress } from "./contacts";
import { type ChannelDelivery, detailTypeFor, EVENT_SOURCE, type Problem } from "./contracts";
import { deliveryDigest } from "./deliveryDigest";
import { type HttpAnswer, rejected, respond, unknownKeys } from "./http";
import { isConditionFailure } from "./logWrites";
import type { NotificationLog } from "./notificationLog";
import { openClaims, sealClaims } from "./tracking";

/** Minutes a code is good for. */
export const CODE_TTL_MINUTES = 30;
/** Wrong codes before a code dies (the user asks for a new one). */
export const MAX_WRONG_CODES = 5;
/** Codes sent per address field and user in an hour. */
export const MAX_CODES_PER_HOUR = 5;
/** The type verification messages are logged under (not a configured type: no template, no preferences). */
export const VERIFICATION_TYPE = "tidings.contact-verification";

/** Each self-entered field, the channel that verifies it, and the contact attribute that says "unverified". */
const FIELDS = {
  email: { channel: "email", pending: "emailUnverified" },
  phone: { channel: "sms", pending: "phoneUnverified" },
} as const;
type Field = keyof typeof FIELDS;
const fieldOfChannel = (channel: unknown): Field | undefined =>
  (Object.keys(FIELDS) as Field[]).find((field) => FIELDS[field].channel === channel);

/** One of the user's own addresses, as `GET /me/contact` answers it; `expiresAt`: when its code expires. */
export interface SelfContactEntry {
  address: string;
  verified: boolean;
  expiresAt?: string;
}
/** `GET /me/contact` (and the answer of PUT and verify). */
export type SelfContactView = Partial<Record<Field, SelfContactEntry>>;
/** `PUT /me/contact`: a new address (a code goes to it), or null to remove it. */
export type SelfContactUpdate = Partial<Record<Field, string | null>>;
/** `POST /me/contact/verify`. */
export interface VerifyCodeRequest {
  channel: (typeof FIELDS)[Field]["channel"];
  code: string;
}

/** What the contact holds while a self-entered address waits for its code. */
export interface PendingVerification {
  codeHash: string;
  expiresAt: string;
  wrongCodes: number;
  /** This hour's sends (rate limit): the hour started at `windowStart`. */
  windowStart: string;
  sends: number;
}

export interface SelfContactDeps {
  ddb: DynamoDBDocumentClient;
  contactsTable: string;
  log: NotificationLog;
  events: EventBridgeClient;
  busName: string;
  enabledChannels: string[];
  /** The token-signing secret: codes and the e-mail's link get keys of their own from it. */
  getSecret: () => Promise<Uint8Array>;
  /** The end-user API's public URL, for the e-mail's link. */
  userApiUrl: () => string;
  now?: () => number;
}

/** A key of one purpose, from the token-signing secret (HKDF-SHA256). */
const purposeKey = (secret: Uint8Array, purpose: string) => Buffer.from(hkdfSync("sha256", secret, Buffer.alloc(0), purpose, 32));

export function makeSelfContact(deps: SelfContactDeps) {
  const now = deps.now ?? Date.now;

  async function codeHash(userId: string, field: Field, address: string, code: string): Promise<string> {
    const key = purposeKey(await deps.getSecret(), "tidings/contact-verification/v1");
    return createHmac("sha256", key).update(`${userId}\n${field}\n${address}\n${code}`).digest("base64url");
  }

  async function contactOf(userId: string): Promise<Record<string, unknown> | undefined> {
    const result = await deps.ddb.send(new GetCommand({ TableName: deps.contactsTable, Key: { userId }, ConsistentRead: true }));
    return result.Item;
  }

  /** The contact as its user sees it: each address and whether it is verified. */
  function view(contact: Record<string, unknown> | undefined): SelfContactView {
    const answer: SelfContactView = {};
    for (const field of Object.keys(FIELDS) as Field[]) {
      const address = contact?.[field];
      if (typeof address !== "string" || !address) continue;
      const pending = contact?.[FIELDS[field].pending] as PendingVerification | undefined;
      answer[field] = pending ? { address, verified: false, expiresAt: pending.expiresAt } : { address, verified: true };
    }
    return answer;
  }

  /** Puts the code's message on the channel's way, as the notification service puts a delivery. */
  async function sendCode(userId: string, field: Field, address: string, code: string): Promise<void> {
    const channel = FIELDS[field].channel;
    const eventId = `verify-${randomUUID()}`;
    let content: ChannelDelivery["content"];
    if (field === "email") {
      const token = sealClaims(purposeKey(await deps.getSecret(), "tidings/contact-link/v1"), { u: userId, a: address, k: code });
      const link = `${deps.userApiUrl()}/v/${token}`;
      content = {
        subject: "Confirm your e-mail address",
        text: `Your code is ${code}. Or confirm this address here: ${link}\n\nIt is good for ${CODE_TTL_MINUTES} minutes. If you did not ask for it, ignore this e-mail.`,
        html: `<p>Your code is <b>${code}</b>.</p><p><a href="${link}">Confirm this address</a></p><p>It is good for ${CODE_TTL_MINUTES} minutes. If you did not ask for it, ignore this e-mail.</p>`,
      };
    } else content = { text: `Your verification code is ${code}. It is good for ${CODE_TTL_MINUTES} minutes.` };
    const delivery: ChannelDelivery = {
      eventId,
      userId,
      type: VERIFICATION_TYPE,
      channel,
      kind: "actionable",
      content,
      address: field === "email" ? { email: address } : { phone: address },
      createdAt: new Date(now()).toISOString(),
      // Not held by quiet hours or politeness: the user is waiting for it.
      critical: true,
    };
    await deps.log.create({
      eventId,
      channel,
      userId,
      type: VERIFICATION_TYPE,
      status: "created",
      delivery,
      digest: deliveryDigest(delivery),
    });
    const answer = await deps.events.send(
      new PutEventsCommand({
        Entries: [
          { EventBusName: deps.busName, Source: EVENT_SOURCE, DetailType: detailTypeFor(channel), Detail: JSON.stringify(delivery) },
        ],
      }),
    );
    // Not put: the reconciler puts the logged row again, as for any notification.
    if (answer.FailedEntryCount) throw new Error(`the bus refused the ${channel} verification: ${answer.Entries?.[0]?.ErrorCode}`);
  }

  /** PUT /me/contact: stores what changed unverified and sends each a code; null removes a field. */
  async function put(userId: string, body: Record<string, unknown>): Promise<HttpAnswer> {
    const problems: Problem[] = unknownKeys(body, ["email", "phone"]);
    if (body.email === undefined && body.phone === undefined) problems.push({ field: "body", problem: "needs email, phone or both" });
    const wanted: SelfContactUpdate = {};
    for (const field of Object.keys(FIELDS) as Field[]) {
      const value = body[field];
      if (value === undefined) continue;
      if (value === null) {
        wanted[field] = null;
        continue;
      }
      const checked = resolveAddress(FIELDS[field].channel, { userId, [field]: value });
      if (typeof value !== "string") problems.push({ field, problem: "must be a string (or null to remove it)" });
      else if (!checked.ok) problems.push({ field, problem: checked.problem });
      else if (!deps.enabledChannels.includes(FIELDS[field].channel))
        problems.push({ field, problem: `cannot be verified: the ${FIELDS[field].channel} channel is not enabled in this stack` });
      else wanted[field] = value;
    }
    if (problems.length) return rejected(400, "invalid request", problems);

    const stored = await contactOf(userId);
    const at = now();
    const codes: { field: Field; address: string; code: string }[] = [];
    const set: string[] = [];
    const remove: string[] = [];
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    for (const [field, address] of Object.entries(wanted) as [Field, string | null][]) {
      const pendingName = FIELDS[field].pending;
      const pending = stored?.[pendingName] as PendingVerification | undefined;
      // The same address, verified: nothing to do.
      if (address !== null && stored?.[field] === address && !pending) continue;
      names[`#${field}`] = field;
      names[`#${pendingName}`] = pendingName;
      if (address === null) {
        remove.push(`#${field}`, `#${pendingName}`);
        continue;
      }
      const sameHour = pending && at - Date.parse(pending.windowStart) < 3_600_000;
      const sends = sameHour ? pending.sends + 1 : 1;
      if (sends > MAX_CODES_PER_HOUR) {
        const retryAt = Date.parse(pending!.windowStart) + 3_600_000;
        return rejected(
          429,
          "too many requests",
          [{ field, problem: `at most ${MAX_CODES_PER_HOUR} codes an hour; ask again after ${new Date(retryAt).toISOString()}` }],
          { "retry-after": String(Math.ceil((retryAt - at) / 1000)) },
        );
      }
      const code = String(randomInt(0, 1_000_000)).padStart(6, "0");
      const next: PendingVerification = {
        codeHash: await codeHash(userId, field, address, code),
        expiresAt: new Date(at + CODE_TTL_MINUTES * 60_000).toISOString(),
        wrongCodes: 0,
        windowStart: sameHour ? pending.windowStart : new Date(at).toISOString(),
        sends,
      };
      set.push(`#${field} = :${field}`, `#${pendingName} = :${pendingName}`);
      values[`:${field}`] = address;
      values[`:${pendingName}`] = next;
      codes.push({ field, address, code });
    }
    let contact = stored;
    if (set.length || remove.length) {
      const result = await deps.ddb.send(
        new UpdateCommand({
          TableName: deps.contactsTable,
          Key: { userId },
          UpdateExpression: [set.length ? `SET ${set.join(", ")}` : "", remove.length ? `REMOVE ${remove.join(", ")}` : ""]
            .filter(Boolean)
            .join(" "),
          ExpressionAttributeNames: names,
          ...(set.length ? { ExpressionAttributeValues: values } : {}),
          ReturnValues: "ALL_NEW",
        }),
      );
      contact = result.Attributes;
    }
    for (const { field, address, code } of codes) await sendCode(userId, field, address, code);
    return respond(200, view(contact));
  }

  /** Checks a code for the address waiting on `field`: verified, or why not (nothing written but a wrong try). */
  async function check(userId: string, field: Field, code: string, address?: string): Promise<HttpAnswer> {
    const pendingName = FIELDS[field].pending;
    const channel = FIELDS[field].channel;
    const contact = await contactOf(userId);
    const pending = contact?.[pendingName] as PendingVerification | undefined;
    const waiting = contact?.[field];
    if (!pending || typeof waiting !== "string" || (address !== undefined && address !== waiting))
      return rejected(404, "not found", [
        { field: "channel", problem: `no ${field === "email" ? "e-mail address" : "phone number"} waits for a code on ${channel}` },
      ]);
    if (pending.wrongCodes >= MAX_WRONG_CODES)
      return rejected(400, "invalid request", [{ field: "code", problem: "too many wrong codes: ask for a new one (PUT /me/contact)" }]);
    if (Date.parse(pending.expiresAt) <= now())
      return rejected(400, "invalid request", [{ field: "code", problem: "has expired: ask for a new one (PUT /me/contact)" }]);
    const given = Buffer.from(await codeHash(userId, field, waiting, code));
    const names = { "#pending": pendingName };
    if (!timingSafeEqual(given, Buffer.from(pending.codeHash))) {
      // Counted on the code it was tried against; a new code meanwhile starts again.
      try {
        await deps.ddb.send(
          new UpdateCommand({
            TableName: deps.contactsTable,
            Key: { userId },
            UpdateExpression: "SET #pending.wrongCodes = #pending.wrongCodes + :one",
            ConditionExpression: "#pending.codeHash = :hash",
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: { ":one": 1, ":hash": pending.codeHash },
          }),
        );
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
      }
      const left = MAX_WRONG_CODES - pending.wrongCodes - 1;
      return rejected(400, "invalid request", [
        {
          field: "code",
          problem: left > 0 ? `does not match (${left} tries left)` : "does not match, and was the last try: ask for a new one",
        },
      ]);
    }
    try {
      const result = await deps.ddb.send(
        new UpdateCommand({
          TableName: deps.contactsTable,
          Key: { userId },
          UpdateExpression: "REMOVE #pending",
          // Still the code that was checked: a new address meanwhile needs its own.
          ConditionExpression: "#pending.codeHash = :hash",
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: { ":hash": pending.codeHash },
          ReturnValues: "ALL_NEW",
        }),
      );
      return respond(200, view(result.Attributes));
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return rejected(409, "conflict", [{ field: "code", problem: "the address changed meanwhile: use the newest code" }]);
    }
  }

  /** POST /me/contact/verify { channel, code }. */
  async function verify(userId: string, body: Record<string, unknown>): Promise<HttpAnswer> {
    const problems = unknownKeys(body, ["channel", "code"]);
    const field = fieldOfChannel(body.channel);
    if (!field)
      problems.push({
        field: "channel",
        problem: `must be one of: ${Object.values(FIELDS)
          .map((f) => f.channel)
          .join(", ")}`,
      });
    if (typeof body.code !== "string" || !/^\d{6}$/.test(body.code))
      problems.push({ field: "code", problem: "must be the 6 digits you were sent" });
    if (problems.length) return rejected(400, "invalid request", problems);
    return check(userId, field!, body.code as string);
  }

  /** The e-mail's link: its user, address and code, or why not. */
  async function openLink(token: string) {
    const opened = openClaims(purposeKey(await deps.getSecret(), "tidings/contact-link/v1"), token);
    if (!opened.ok) return opened;
    const claims = opened.claims as { u?: unknown; a?: unknown; k?: unknown };
    if (typeof claims?.u !== "string" || typeof claims.a !== "string" || typeof claims.k !== "string")
      return { ok: false as const, status: 400 as const, reason: "token claims are incomplete" };
    return { ok: true as const, userId: claims.u, address: claims.a, code: claims.k };
  }

  return {
    get: async (userId: string) => respond(200, view(await contactOf(userId))),
    put,
    verify,
    openLink,
    /** Confirms the e-mail address a link was sent to (while it is still the one waiting). */
    confirmLink: (link: { userId: string; address: string; code: string }) => check(link.userId, "email", link.code, link.address),
  };
}

export type SelfContact = ReturnType<typeof makeSelfContact>;
