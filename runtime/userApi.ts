/**
 * The end-user API: what a signed-in user (the same Bearer tokens as the WebSocket) does with their own
 * notifications, preferences and devices, plus the public tracking-link route.
 *
 *   GET    /me/notifications?limit=&cursor=&unread=true&archived=true   the feed, newest first
 *   GET    /me/notifications/count                                      { unreadCount }
 *   POST   /me/notifications/read      { eventIds: [...] } | { all: true } → { unreadCount } (+ upTo for all)
 *   POST   /me/notifications/archive   { eventIds: [...] }                 → { unreadCount }
 *   GET    /me/preferences, PUT /me/preferences
 *   POST   /me/devices { platform, token }, DELETE /me/devices/{token}
 *   GET    /t/{token}                   signed tracking link: records clicked (302) or opened (pixel)
 *   GET    /u/{token}                   one-click unsubscribe: a page with a button; changes nothing
 *   POST   /u/{token}                   `List-Unsubscribe=One-Click` (RFC 8058): that type off on that channel
 *   GET    /me/contact, PUT /me/contact, POST /me/contact/verify, GET|POST /v/{token}
 *                                       the user's own e-mail and phone, verified by a code (runtime/selfContact.ts)
 *
 * Every rejected request (400 naming the field, 401, 404, 413) writes nothing. After a read or an
 * archive, every open connection of the user gets `{ type: "read", eventIds, unreadCount }`; after "mark all
 * read", `{ type: "read", eventIds: [], upTo, unreadCount }`: every item that arrived up to `upTo` is read.
 */
import type { TokenVerifier } from "./authorizer";
import type { NotificationTypeConfig } from "./config";
import { DELIVERY_STATUS, FEED_CHANNEL, type Problem, type ReadFrame } from "./contracts";
import type { DeviceRegistry } from "./devices";
import { decodeCursor, type Feed, type Listing } from "./feed";
import {
  describeError,
  type HttpAnswer,
  type HttpRequestEvent,
  header,
  methodOf,
  parseJsonBody,
  parseQuery,
  pathSegments,
  rejected,
  respond,
  unknownKeys,
} from "./http";
import { type DecisionLogger, logDecision, OUTCOME, type OutcomeOf } from "./log";
import type { NotificationLog } from "./notificationLog";
import { applyPreferences, describePreferences, makePreferencesStore } from "./preferences";
import type { SelfContact } from "./selfContact";
import { PIXEL_GIF_BASE64, verifyLinkToken, verifyUnsubscribeToken } from "./tracking";
import { isDeviceToken, NOTIFICATION_ID_PATTERN } from "./validate";
import { type DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";

/** Most eventIds one read or archive request may name. */
export const MAX_EVENT_IDS = 100;
/** @default page size of GET /me/notifications */
export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

export interface UserApiDeps {
  verify: TokenVerifier;
  feed: Feed;
  log: NotificationLog;
  ddb: DynamoDBDocumentClient;
  /** The settings table (preferences). */
  settingsTable: string;
  /** The contacts table: an unsubscribe link of an erased user (no address left) changes nothing. */
  contactsTable: string;
  devices: DeviceRegistry;
  /** The key tracking links are signed with (the token-signing secret). */
  getLinkKey: () => Promise<Uint8Array>;
  enabledChannels: string[];
  types: Record<string, NotificationTypeConfig>;
  /** Self-service contact details. @default off: /me/contact and /v/{token} answer 404 */
  selfContact?: SelfContact;
  /** Posts a frame to every open connection of a user (runtime/deliver.ts makeUserDelivery). */
  notifyUser?: (userId: string, frame: ReadFrame) => Promise<unknown>;
  logger?: DecisionLogger;
  now?: () => number;
}

export type UserApiHandler = (event: HttpRequestEvent) => Promise<HttpAnswer>;

const notFound = (field: string, problem: string) => rejected(404, "not found", [{ field, problem }]);

/**
 * How far back "mark all read" looks for items whose escalation may still be pending: the longest
 * escalation of any type, plus an hour for a queue's backlog and retries. Undefined: no type escalates.
 */
function escalationHorizonSeconds(types: Record<string, NotificationTypeConfig>): number | undefined {
  const longest = Math.max(...Object.values(types).map((type) => type.escalation?.afterSeconds ?? -1));
  return longest < 0 ? undefined : longest + 3600;
}

export function makeUserApi(deps: UserApiDeps): UserApiHandler {
  const logger = deps.logger ?? logDecision;
  const preferences = makePreferencesStore({ ddb: deps.ddb, table: deps.settingsTable });
  const context = { enabledChannels: deps.enabledChannels, types: deps.types };
  const now = deps.now ?? Date.now;
  const escalationHorizon = escalationHorizonSeconds(deps.types);

  async function authenticate(event: HttpRequestEvent): Promise<{ ok: true; userId: string } | { ok: false; answer: HttpAnswer }> {
    const match = /^Bearer ([^\s]+)$/i.exec(header(event, "authorization") ?? "");
    const check = await deps.verify(match?.[1]);
    if (check.ok) return check;
    return {
      ok: false,
      answer: rejected(401, "unauthorized", [{ field: "authorization", problem: `needs a valid Bearer token (${check.reason})` }], {
        "www-authenticate": "Bearer",
      }),
    };
  }

  /** `eventIds`: 1–MAX_EVENT_IDS distinct eventIds. */
  function eventIdsOf(body: Record<string, unknown>, problems: Problem[]): string[] {
    const ids = body.eventIds;
    if (!Array.isArray(ids)) {
      problems.push({ field: "eventIds", problem: "is required: a list of eventIds" });
      return [];
    }
    if (ids.length === 0 || ids.length > MAX_EVENT_IDS) {
      problems.push({ field: "eventIds", problem: `must hold 1–${MAX_EVENT_IDS} eventIds` });
      return [];
    }
    ids.forEach((id, i) => {
      if (typeof id !== "string" || !NOTIFICATION_ID_PATTERN.test(id)) {
        problems.push({ field: `eventIds[${i}]`, problem: "must be the eventId of a notification in the feed" });
      }
    });
    return [...new Set(ids as string[])];
  }

  async function afterChange(userId: string, eventIds: string[], action: OutcomeOf<"user-api">, upTo?: string): Promise<HttpAnswer> {
    const unreadCount = await deps.feed.unreadCount(userId);
    logger({ component: "user-api", outcome: action, userId, count: eventIds.length, unreadCount, ...(upTo ? { upTo } : {}) });
    if (deps.notifyUser && (eventIds.length || upTo)) {
      try {
        await deps.notifyUser(userId, { type: "read", eventIds, ...(upTo ? { upTo } : {}), unreadCount });
      } catch (error) {
        // The change is stored; other devices see it on their next read of the feed.
        logger({ component: "user-api", outcome: OUTCOME["user-api"].syncFailed, userId, reason: describeError(error) });
      }
    }
    return respond(200, { unreadCount, ...(upTo ? { upTo } : {}) });
  }

  async function listNotifications(userId: string, event: HttpRequestEvent): Promise<HttpAnswer> {
    const query = parseQuery(event, ["limit", "cursor", "unread", "archived"]);
    if (!query.ok) return query.answer;
    const { limit: rawLimit, cursor: rawCursor, unread, archived } = query.values;
    const problems: Problem[] = [];
    let limit = DEFAULT_PAGE_SIZE;
    if (rawLimit !== undefined) {
      limit = /^\d{1,3}$/.test(rawLimit) ? Number(rawLimit) : Number.NaN;
      if (!(limit >= 1 && limit <= MAX_PAGE_SIZE))
        problems.push({ field: "query.limit", problem: `must be a whole number 1–${MAX_PAGE_SIZE}` });
    }
    for (const [name, value] of [
      ["unread", unread],
      ["archived", archived],
    ] as const) {
      if (value !== undefined && value !== "true" && value !== "false")
        problems.push({ field: `query.${name}`, problem: "must be true or false" });
    }
    if (unread === "true" && archived === "true") problems.push({ field: "query.archived", problem: "archived items are never unread" });
    const listing: Listing = unread === "true" ? "unread" : archived === "true" ? "archived" : "inbox";
    let cursor: Record<string, unknown> | undefined;
    if (rawCursor !== undefined) {
      cursor = decodeCursor(rawCursor, userId, listing);
      if (!cursor) problems.push({ field: "query.cursor", problem: "is not a cursor of this listing (use nextCursor as given)" });
    }
    if (problems.length) return rejected(400, "invalid request", problems);
    return respond(200, await deps.feed.list(userId, { limit, cursor, listing }));
  }

  async function markRead(userId: string, event: HttpRequestEvent): Promise<HttpAnswer> {
    const body = parseJsonBody(event);
    if (!body.ok) return body.answer;
    const problems = unknownKeys(body.value, ["eventIds", "all"]);
    let eventIds: string[] = [];
    if (body.value.all !== undefined) {
      if (body.value.all !== true) problems.push({ field: "all", problem: "must be true (or send eventIds)" });
      if (body.value.eventIds !== undefined) problems.push({ field: "eventIds", problem: "give eventIds or all, not both" });
    } else eventIds = eventIdsOf(body.value, problems);
    if (problems.length) return rejected(400, "invalid request", problems);
    if (body.value.all === true) return markAllRead(userId);
    const missing = await deps.feed.missing(userId, eventIds);
    if (missing.length)
      return notFound(`eventIds[${(body.value.eventIds as string[]).indexOf(missing[0])}]`, `no notification ${missing[0]} in your feed`);
    const { logIds } = await deps.feed.markRead(userId, eventIds);
    // Reading is opening: the log row moves to `opened` (never backwards from clicked); a grouped item's
    // row is its newest update's.
    await Promise.all(logIds.map((eventId) => deps.log.advance(eventId, FEED_CHANNEL, DELIVERY_STATUS.opened)));
    return afterChange(userId, eventIds, OUTCOME["user-api"].read);
  }

  /**
   * One write (the read mark), whatever the feed holds. Log rows are not each moved to `opened`, except
   * where an escalation may still be waiting on them: the unread items of escalating types that arrived
   * within the escalation horizon, so that reading them all still stops their escalation.
   */
  async function markAllRead(userId: string): Promise<HttpAnswer> {
    const since = escalationHorizon === undefined ? undefined : new Date(now() - escalationHorizon * 1000).toISOString();
    const pending = since === undefined ? [] : await deps.feed.unreadSince(userId, since);
    const upTo = await deps.feed.markAllRead(userId);
    const escalating = pending.filter((item) => deps.types[item.type]?.escalation);
    await Promise.all(escalating.map((item) => deps.log.advance(item.logId, FEED_CHANNEL, DELIVERY_STATUS.opened)));
    return afterChange(userId, [], OUTCOME["user-api"].read, upTo);
  }

  async function archive(userId: string, event: HttpRequestEvent): Promise<HttpAnswer> {
    const body = parseJsonBody(event);
    if (!body.ok) return body.answer;
    const problems = unknownKeys(body.value, ["eventIds"]);
    const eventIds = eventIdsOf(body.value, problems);
    if (problems.length) return rejected(400, "invalid request", problems);
    const missing = await deps.feed.missing(userId, eventIds);
    if (missing.length)
      return notFound(`eventIds[${(body.value.eventIds as string[]).indexOf(missing[0])}]`, `no notification ${missing[0]} in your feed`);
    await deps.feed.archive(userId, eventIds);
    return afterChange(userId, eventIds, OUTCOME["user-api"].archived);
  }

  async function putPreferences(userId: string, event: HttpRequestEvent): Promise<HttpAnswer> {
    const body = parseJsonBody(event);
    if (!body.ok) return body.answer;
    const stored = await preferences.get(userId);
    const update = applyPreferences(userId, stored, body.value, context);
    if (!update.ok) return rejected(400, "invalid request", update.problems);
    await preferences.put(update.settings);
    logger({ component: "user-api", outcome: OUTCOME["user-api"].preferences, userId });
    return respond(200, describePreferences(update.settings, context));
  }

  async function addDevice(userId: string, event: HttpRequestEvent): Promise<HttpAnswer> {
    const body = parseJsonBody(event);
    if (!body.ok) return body.answer;
    const problems = unknownKeys(body.value, ["platform", "token"]);
    const { platform, token } = body.value;
    if (platform !== "apns" && platform !== "fcm") problems.push({ field: "platform", problem: 'must be "apns" or "fcm"' });
    else if (!isDeviceToken(platform, token)) {
      problems.push({
        field: "token",
        problem: platform === "apns" ? "must be 64 hex characters" : "must be 100–4096 characters of A-Z a-z 0-9 _ : -",
      });
    }
    if (problems.length) return rejected(400, "invalid request", problems);
    const { devices, evicted } = await deps.devices.register(userId, { platform: platform as "apns" | "fcm", token: token as string });
    logger({
      component: "user-api",
      outcome: OUTCOME["user-api"].deviceRegistered,
      userId,
      devices: devices.length,
      evicted: evicted.length,
    });
    return respond(201, { devices: devices.map(({ platform, addedAt }) => ({ platform, addedAt })), evicted: evicted.length });
  }

  async function removeDevice(userId: string, token: string): Promise<HttpAnswer> {
    if (token.length > 4096 || !/^[A-Za-z0-9_:-]+$/.test(token)) {
      return rejected(400, "invalid request", [{ field: "path.token", problem: "is not a device token (A-Z a-z 0-9 _ : -)" }]);
    }
    const removed = await deps.devices.remove(userId, token);
    if (removed === "missing") return notFound("path.token", "no such device is registered");
    logger({ component: "user-api", outcome: OUTCOME["user-api"].deviceRemoved, userId });
    return respond(204);
  }

  async function track(token: string): Promise<HttpAnswer> {
    const check = await verifyLinkToken(token, { getKey: deps.getLinkKey, now: deps.now });
    if (!check.ok) {
      logger({ component: "tracking", outcome: OUTCOME.tracking.refused, reason: check.reason });
      return rejected(check.status, check.status === 404 ? "not found" : "invalid request", [
        { field: "path.token", problem: check.reason },
      ]);
    }
    const { e: eventId, c: channel, a } = check.claims;
    // The notification as the log keeps it: gone (its user erased, or expired) is an unknown link.
    const entry = await deps.log.get(eventId, channel);
    const callback = entry?.callback ?? entry?.delivery?.callback;
    if (!entry || (a === "c" && !callback)) {
      logger({ component: "tracking", outcome: OUTCOME.tracking.refused, eventId, channel, reason: "no such notification" });
      return rejected(404, "not found", [{ field: "path.token", problem: "no such notification (erased or expired)" }]);
    }
    const status = a === "c" ? DELIVERY_STATUS.clicked : DELIVERY_STATUS.opened;
    const result = await deps.log.advance(eventId, channel, status);
    logger({ component: "tracking", outcome: status, eventId, userId: entry.userId, channel, reason: result });
    if (a === "o") {
      return {
        statusCode: 200,
        headers: { "content-type": "image/gif", "cache-control": "no-store" },
        body: PIXEL_GIF_BASE64,
        isBase64Encoded: true,
      };
    }
    return respond(302, undefined, { location: callback as string, "referrer-policy": "no-referrer" });
  }

  /** An HTML answer of the unsubscribe pages (mail clients and people read them, not programs). */
  const page = (statusCode: number, title: string, body: string): HttpAnswer => ({
    statusCode,
    headers: { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", "referrer-policy": "no-referrer" },
    body: `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${title}</title></head><body style="font:16px system-ui,sans-serif;max-width:32rem;margin:3rem auto">${body}</body></html>`,
  });
  const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

  /**
   * `GET /u/{token}` shows a button and changes nothing (mail scanners fetch links); `POST` with
   * `List-Unsubscribe=One-Click` turns the link's type off on its channel for its user (RFC 8058).
   */
  async function unsubscribe(token: string, event: HttpRequestEvent, method: string): Promise<HttpAnswer> {
    const check = await verifyUnsubscribeToken(token, deps.getLinkKey);
    if (!check.ok) {
      logger({ component: "user-api", outcome: OUTCOME["user-api"].unsubscribeRefused, reason: check.reason });
      return rejected(check.status, check.status === 404 ? "not found" : "invalid request", [
        { field: "path.token", problem: check.reason },
      ]);
    }
    const { u: userId, t: type, c: channel } = check.claims;
    const what = `${escapeHtml(type)} notifications by ${escapeHtml(channel)}`;
    if (method === "GET") {
      return page(
        200,
        "Unsubscribe",
        `<h1>Unsubscribe</h1><p>Stop ${what}?</p><form method="post"><input type="hidden" name="List-Unsubscribe" value="One-Click"><button type="submit">Unsubscribe</button></form>`,
      );
    }
    const raw = event.isBase64Encoded ? Buffer.from(event.body ?? "", "base64").toString("utf8") : (event.body ?? "");
    if (raw.trim() !== "List-Unsubscribe=One-Click")
      return rejected(400, "invalid request", [{ field: "body", problem: "must be List-Unsubscribe=One-Click (RFC 8058)" }]);
    // An erased user has nothing to unsubscribe: writing their opt-out would leave a settings row behind the erasure.
    const contact = await deps.ddb.send(new GetCommand({ TableName: deps.contactsTable, Key: { userId }, ConsistentRead: true }));
    if (!contact.Item) return rejected(404, "not found", [{ field: "path.token", problem: "no such user any more (erased)" }]);
    // The preferences' own rules: a type and channel the stack still has, and never a critical type.
    const update = applyPreferences(userId, await preferences.get(userId), { types: { [type]: { [channel]: false } } }, context);
    if (!update.ok)
      return rejected(404, "not found", [{ field: "path.token", problem: `${type} on ${channel} cannot be switched off here` }]);
    await preferences.put(update.settings);
    logger({ component: "user-api", outcome: OUTCOME["user-api"].unsubscribed, userId, channel, reason: type });
    return page(200, "Unsubscribed", `<h1>Unsubscribed</h1><p>You will no longer get ${what}.</p>`);
  }

  /**
   * `GET /v/{token}` (the verification e-mail's link) shows a button and changes nothing (mail scanners
   * fetch links); `POST` confirms the address, while it is still the one waiting for that code.
   */
  async function confirmAddress(self: SelfContact, token: string, method: string): Promise<HttpAnswer> {
    const link = await self.openLink(token);
    if (!link.ok)
      return rejected(link.status, link.status === 404 ? "not found" : "invalid request", [{ field: "path.token", problem: link.reason }]);
    const address = escapeHtml(link.address);
    if (method === "GET")
      return page(
        200,
        "Confirm your address",
        `<h1>Confirm your address</h1><p>Use ${address} for your notifications?</p><form method="post"><button type="submit">Confirm</button></form>`,
      );
    const answer = await self.confirmLink(link);
    logger({ component: "user-api", outcome: OUTCOME["user-api"].contact, userId: link.userId, status: answer.statusCode, reason: "v" });
    if (answer.statusCode === 200)
      return page(200, "Address confirmed", `<h1>Confirmed</h1><p>Notifications can now reach ${address}.</p>`);
    const problem = (JSON.parse(answer.body ?? "{}") as { problems?: Problem[] }).problems?.[0]?.problem ?? "it cannot be confirmed";
    return page(answer.statusCode, "Not confirmed", `<h1>Not confirmed</h1><p>${escapeHtml(problem)}.</p>`);
  }

  async function route(event: HttpRequestEvent): Promise<HttpAnswer> {
    const method = methodOf(event);
    const segments = pathSegments(event);
    if (!segments) return rejected(400, "invalid request", [{ field: "path", problem: "is not URL-encoded correctly" }]);
    const path = segments.join("/");
    const allow = (methods: string[]) =>
      rejected(405, "method not allowed", [{ field: "method", problem: `${method} is not allowed here (${methods.join(", ")})` }], {
        allow: methods.join(", "),
      });

    if (segments[0] === "t" && segments.length === 2) {
      if (method !== "GET") return allow(["GET"]);
      const query = parseQuery(event, []);
      if (!query.ok) return query.answer;
      return track(segments[1]);
    }
    if (segments[0] === "u" && segments.length === 2) {
      if (method !== "GET" && method !== "POST") return allow(["GET", "POST"]);
      const query = parseQuery(event, []);
      if (!query.ok) return query.answer;
      return unsubscribe(segments[1], event, method);
    }
    if (segments[0] === "v" && segments.length === 2 && deps.selfContact) {
      if (method !== "GET" && method !== "POST") return allow(["GET", "POST"]);
      const query = parseQuery(event, []);
      if (!query.ok) return query.answer;
      return confirmAddress(deps.selfContact, segments[1], method);
    }
    if (segments[0] !== "me") return notFound("path", `/${path} is not a route of this API`);

    const auth = await authenticate(event);
    if (!auth.ok) return auth.answer;
    const { userId } = auth;
    const noQuery = () => parseQuery(event, []);

    switch (path) {
      case "me/notifications":
        if (method !== "GET") return allow(["GET"]);
        return listNotifications(userId, event);
      case "me/notifications/count": {
        if (method !== "GET") return allow(["GET"]);
        const query = noQuery();
        if (!query.ok) return query.answer;
        return respond(200, { unreadCount: await deps.feed.unreadCount(userId) });
      }
      case "me/notifications/read":
      case "me/notifications/archive": {
        if (method !== "POST") return allow(["POST"]);
        const query = noQuery();
        if (!query.ok) return query.answer;
        return path.endsWith("read") ? markRead(userId, event) : archive(userId, event);
      }
      case "me/preferences": {
        if (method !== "GET" && method !== "PUT") return allow(["GET", "PUT"]);
        const query = noQuery();
        if (!query.ok) return query.answer;
        if (method === "GET") return respond(200, describePreferences(await preferences.get(userId), context));
        return putPreferences(userId, event);
      }
      case "me/contact":
      case "me/contact/verify": {
        const self = deps.selfContact;
        if (!self) break;
        const methods = path === "me/contact" ? ["GET", "PUT"] : ["POST"];
        if (!methods.includes(method)) return allow(methods);
        const query = noQuery();
        if (!query.ok) return query.answer;
        if (method === "GET") return self.get(userId);
        const body = parseJsonBody(event);
        if (!body.ok) return body.answer;
        const answer = await (method === "PUT" ? self.put(userId, body.value) : self.verify(userId, body.value));
        logger({ component: "user-api", outcome: OUTCOME["user-api"].contact, userId, status: answer.statusCode, reason: path });
        return answer;
      }
      case "me/devices": {
        if (method !== "POST") return allow(["POST"]);
        const query = noQuery();
        if (!query.ok) return query.answer;
        return addDevice(userId, event);
      }
    }
    if (segments.length === 3 && segments[1] === "devices") {
      if (method !== "DELETE") return allow(["DELETE"]);
      const query = noQuery();
      if (!query.ok) return query.answer;
      return removeDevice(userId, segments[2]);
    }
    return notFound("path", `/${path} is not a route of this API`);
  }

  return async (event) => {
    try {
      return await route(event);
    } catch (error) {
      logger({ component: "user-api", outcome: OUTCOME["user-api"].error, reason: describeError(error) });
      return respond(500, { error: "internal error" });
    }
  };
}
