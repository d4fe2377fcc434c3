/**
 * The user's side in the local mode, driven over HTTP and a WebSocket only: the stored feed (offline
 * users included), read state synced to open connections, cursor pagination, signed tracking links,
 * preferences the service honours, devices, and the producer's contact routes and erasure.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expect } from "chai";
import { QueryCommand, ScanCommand } from "@aws-sdk/lib-dynamodb";
import type { LocalTidings } from "../local/tidings";
import { producerScopes, startQuiet } from "./helpers/localTidings";
import { frames, openSocket, until } from "./helpers/sockets";

const APNS = (n: number) => n.toString(16).padStart(64, "0");

describe("user routes (local mode, over HTTP)", function () {
  this.timeout(60_000);
  let tidings: LocalTidings;
  let producer: string;
  let serial = 0;
  const newUser = () => `u${Date.now().toString(36)}${serial++}`;

  before(async () => {
    // A type of the test's own, with its template in a folder of the test's own (as a consumer's stack adds one).
    const templatesDir = fs.mkdtempSync(path.join(os.tmpdir(), "tidings-invite-"));
    fs.mkdirSync(path.join(templatesDir, "invite.sent"));
    fs.writeFileSync(
      path.join(templatesDir, "invite.sent", "email.json"),
      JSON.stringify({ subject: "You are invited", text: "Join: {{link}}", html: '<p><a href="{{link}}">Join</a></p>' }),
    );
    tidings = await startQuiet({
      extraTemplatesDirs: [templatesDir],
      editConfig: (raw) => {
        raw.notificationTypes["security.alert"].critical = true;
        raw.devices = { maxPerUser: 2 };
        raw.tracking = { openPixel: true };
        raw.notificationTypes["invite.sent"] = { channels: ["email"] };
      },
    });
    producer = await tidings.signToken("producer", { scope: producerScopes(tidings) });
  });
  after(async () => tidings?.stop());

  async function call(method: string, path: string, options: { token?: string; body?: unknown; raw?: string } = {}) {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    const response = await fetch(`${tidings.endpoints.api}${path}`, {
      method,
      headers,
      body: options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body)),
      redirect: "manual",
    });
    const text = await response.text();
    let body: any;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
    return { status: response.status, body, headers: response.headers };
  }

  async function notify(userId: string, extra: object = {}) {
    const eventId = `e${Date.now().toString(36)}${serial++}`;
    const answer = await call("POST", "/notifications", {
      token: producer,
      body: { eventId, userId, type: "job.progress", message: `hello ${eventId}`, ...extra },
    });
    expect(answer.status, JSON.stringify(answer.body)).to.equal(202);
    return eventId;
  }
  const logRow = (eventId: string, channel = "websocket") => tidings.log.get(eventId, channel);
  const sentOnWebsocket = (eventId: string) => until(async () => (await logRow(eventId))?.status === "sent", 10_000, `${eventId} sent`);

  it("stores a notification for an offline user as sent, and the feed lists it newest first with the unread count", async () => {
    const userId = newUser();
    const token = await tidings.signToken(userId);
    const first = await notify(userId);
    const second = await notify(userId, { callback: "https://app.example.com/jobs/1" });
    await sentOnWebsocket(first);
    await sentOnWebsocket(second);

    const feed = await call("GET", "/me/notifications", { token });
    expect(feed.status).to.equal(200);
    expect(feed.body.unreadCount).to.equal(2);
    expect(feed.body.items.map((i: any) => i.eventId)).to.deep.equal([second, first]);
    expect(feed.body.items[0]).to.include({ type: "job.progress", kind: "actionable", callback: "https://app.example.com/jobs/1" });
    expect(feed.body.items[0].link).to.match(new RegExp(`^${tidings.endpoints.api}/t/`));
    expect(feed.body.items[1]).to.include({ kind: "feedback" }).and.not.have.property("readAt");
    expect(feed.body.items[1].content).to.deep.include({ text: `hello ${first}` });
    expect((await call("GET", "/me/notifications/count", { token })).body).to.deep.equal({ unreadCount: 2 });
  });

  it("pages with a cursor and refuses another user's cursor", async () => {
    const userId = newUser();
    const token = await tidings.signToken(userId);
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push(await notify(userId));
    for (const id of ids) await sentOnWebsocket(id);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await call("GET", `/me/notifications?limit=2${cursor ? `&cursor=${cursor}` : ""}`, { token });
      expect(page.status).to.equal(200);
      expect(page.body.items.length).to.be.at.most(2);
      seen.push(...page.body.items.map((i: any) => i.eventId));
      cursor = page.body.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    expect(seen).to.deep.equal([...ids].reverse());

    const first = await call("GET", "/me/notifications?limit=2", { token });
    const stranger = await tidings.signToken(newUser());
    const refused = await call("GET", `/me/notifications?cursor=${first.body.nextCursor}`, { token: stranger });
    expect(refused.status).to.equal(400);
    expect(refused.body.problems[0].field).to.equal("query.cursor");
    // Well-formed JSON of the right keys whose values DynamoDB would refuse: 400 too, never 500.
    const cursorOf = (key: object) => Buffer.from(JSON.stringify(key)).toString("base64url");
    for (const key of [
      { userId, eventId: "", feedKey: "" },
      { userId, eventId: "x".repeat(2000), feedKey: "k" },
      { userId, eventId: 7, feedKey: "k" },
    ]) {
      const bad = await call("GET", `/me/notifications?cursor=${cursorOf(key)}`, { token });
      expect(bad.status, JSON.stringify(key)).to.equal(400);
      expect(bad.body.problems[0].field).to.equal("query.cursor");
    }
  });

  it("marks read: log opened, unread count drops, every open connection gets the read frame; another user's eventId is 404", async () => {
    const userId = newUser();
    const token = await tidings.signToken(userId);
    const a = await notify(userId);
    const b = await notify(userId);
    await sentOnWebsocket(a);
    await sentOnWebsocket(b);
    const socket = await openSocket(`${tidings.endpoints.websocket}?token=${token}`);
    const reader = frames(socket);
    try {
      const other = await tidings.signToken(newUser());
      const foreign = await call("POST", "/me/notifications/read", { token: other, body: { eventIds: [a] } });
      expect(foreign.status).to.equal(404);
      expect(foreign.body.problems[0].field).to.equal("eventIds[0]");
      expect((await logRow(a))?.status).to.equal("sent");

      const read = await call("POST", "/me/notifications/read", { token, body: { eventIds: [a] } });
      expect(read).to.deep.include({ status: 200, body: { unreadCount: 1 } });
      expect(await reader.nextJson(3000)).to.deep.equal({ type: "read", eventIds: [a], unreadCount: 1 });
      expect(await logRow(a)).to.include({ status: "opened" });

      const unread = await call("GET", "/me/notifications?unread=true", { token });
      expect(unread.body.items.map((i: any) => i.eventId)).to.deep.equal([b]);

      const archived = await call("POST", "/me/notifications/archive", { token, body: { eventIds: [b] } });
      expect(archived.body).to.deep.equal({ unreadCount: 0 });
      expect(await reader.nextJson(3000)).to.deep.equal({ type: "read", eventIds: [b], unreadCount: 0 });
      const listed = await call("GET", "/me/notifications", { token });
      expect(listed.body.items.map((i: any) => i.eventId)).to.deep.equal([a]);
      expect(listed.body.items[0].readAt).to.be.a("string");
      const archive = await call("GET", "/me/notifications?archived=true", { token });
      expect(archive.body.items.map((i: any) => i.eventId)).to.deep.equal([b]);

      const c = await notify(userId);
      expect((await reader.nextJson(5000)).id).to.equal(c); // the live frame, as before
      const all = await call("POST", "/me/notifications/read", { token, body: { all: true } });
      expect(all.body.unreadCount).to.equal(0);
      const upTo = all.body.upTo;
      expect(Date.parse(upTo)).to.be.a("number").and.not.NaN;
      expect(await reader.nextJson(3000)).to.deep.equal({ type: "read", eventIds: [], upTo, unreadCount: 0 });
      const afterAll = await call("GET", "/me/notifications", { token });
      expect(afterAll.body.items.find((i: any) => i.eventId === c)?.readAt).to.equal(upTo);
      // One that arrives after the mark is unread.
      const d = await notify(userId);
      expect((await reader.nextJson(5000)).id).to.equal(d);
      expect((await call("GET", "/me/notifications?unread=true", { token })).body).to.deep.include({ unreadCount: 1 });
      expect((await call("GET", "/me/notifications?unread=true", { token })).body.items.map((i: any) => i.eventId)).to.deep.equal([d]);
    } finally {
      socket.terminate();
    }
  });

  it("a tracking link records clicked and redirects; tampered or forged links redirect nowhere", async () => {
    const userId = newUser();
    const token = await tidings.signToken(userId);
    const eventId = await notify(userId, { callback: "https://app.example.com/jobs/7?x=1" });
    await sentOnWebsocket(eventId);
    const [item] = (await call("GET", "/me/notifications", { token })).body.items;
    const path = new URL(item.link).pathname;

    const click = await call("GET", path);
    expect(click.status).to.equal(302);
    expect(click.headers.get("location")).to.equal("https://app.example.com/jobs/7?x=1");
    expect(await logRow(eventId)).to.include({ status: "clicked" });
    // Reading after a click does not move the status backwards.
    await call("POST", "/me/notifications/read", { token, body: { eventIds: [eventId] } });
    expect(await logRow(eventId)).to.include({ status: "clicked" });

    // A bit flipped anywhere (iv, sealed claims, tag), a token cut short, one of another key: no redirect.
    const sealed = Buffer.from(path.slice(3), "base64url");
    const flipped = (at: number) => {
      const copy = Buffer.from(sealed);
      copy[at] ^= 1;
      return `/t/${copy.toString("base64url")}`;
    };
    const cut = `/t/${sealed.subarray(0, sealed.length - 1).toString("base64url")}`;
    for (const bad of [flipped(0), flipped(20), flipped(sealed.length - 1), cut, "/t/x", `/t/${"A".repeat(600)}`]) {
      const answer = await call("GET", bad);
      expect(answer.status, bad).to.be.oneOf([400, 404]);
      expect(answer.headers.get("location"), bad).to.equal(null);
    }
  });

  it("e-mail templates can use {{link}}, and with openPixel on the HTML carries a pixel that records opened", async () => {
    const userId = newUser();
    await call("PUT", `/users/${userId}/contact`, { token: producer, body: { email: `${userId}@example.com` } });
    const answer = await call("POST", "/notifications", {
      token: producer,
      body: { userId, type: "invite.sent", callback: "https://app.example.com/join/42" },
    });
    expect(answer.status, JSON.stringify(answer.body)).to.equal(202);
    const { eventId } = answer.body;
    await until(async () => (await logRow(eventId, "email"))?.status === "sent", 10_000, "email sent");
    const store = (await (await fetch(`${tidings.endpoints.sesInbox}/store`)).json()) as { emails: any[] };
    const email = JSON.stringify(store.emails.find((e) => JSON.stringify(e).includes(`${userId}@example.com`)));
    const links = [...email.matchAll(/http:\/\/127\.0\.0\.1:\d+\/t\/[A-Za-z0-9_-]+/g)].map((m) => m[0]);
    expect(new Set(links).size).to.equal(2); // the tracking link ({{link}}) and the open pixel
    // The pixel first (a reader opens the mail, then clicks), one after the other.
    // Tokens are opaque: the pixel is the link of the HTML's <img>.
    const pixelLink = /<img src=\\"(http:\/\/127\.0\.0\.1:\d+\/t\/[A-Za-z0-9_-]+)\\"/.exec(email)?.[1];
    expect(pixelLink, "the open pixel's <img>").to.be.a("string");
    const ordered = [pixelLink!, ...new Set(links.filter((l) => l !== pixelLink))];
    const answers: Response[] = [];
    for (const link of ordered) answers.push(await fetch(link, { redirect: "manual" }));
    const pixel = answers.find((r) => r.headers.get("content-type") === "image/gif");
    expect(pixel, "an open pixel").to.not.equal(undefined);
    expect(answers.filter((r) => r.status === 302).map((r) => r.headers.get("location"))).to.include("https://app.example.com/join/42");
    const row = await logRow(eventId, "email");
    expect(row?.status).to.equal("clicked"); // opened, then clicked: forward only
    expect(row?.openedAt).to.be.a("string");
    expect(row?.clickedAt).to.be.a("string");
  });

  it("preferences: lists types with channels, state and critical; a switched-off type is skipped; critical cannot be switched off", async () => {
    const userId = newUser();
    const token = await tidings.signToken(userId);
    const prefs = await call("GET", "/me/preferences", { token });
    expect(prefs.status).to.equal(200);
    expect(prefs.body.types["security.alert"]).to.deep.include({ critical: true });
    expect(prefs.body.types["marketing.digest"]).to.deep.equal({ critical: false, defaultOptIn: false, channels: { email: false } });
    expect(prefs.body.types["job.progress"].channels).to.deep.equal({ websocket: true });

    const off = await call("PUT", "/me/preferences", { token, body: { types: { "job.progress": { websocket: false } } } });
    expect(off.status).to.equal(200);
    expect(off.body.types["job.progress"].channels).to.deep.equal({ websocket: false });
    const skipped = await call("POST", "/notifications", { token: producer, body: { userId, type: "job.progress", message: "x" } });
    expect(skipped.body.channels).to.deep.equal({ websocket: "skipped: opted out" });

    const optIn = await call("PUT", "/me/preferences", { token, body: { types: { "marketing.digest": { email: true } } } });
    expect(optIn.body.types["marketing.digest"].channels).to.deep.equal({ email: true });

    for (const [body, field] of [
      [{ types: { "security.alert": { email: false } } }, "types.security.alert.email"],
      [{ types: { "no.such": { email: true } } }, "types.no.such"],
      [{ channels: { fax: false } }, "channels.fax"],
      [{ types: { "job.progress": { email: true } } }, "types.job.progress.email"],
      [{ channels: { sms: "no" } }, "channels.sms"],
      [{ colour: "blue" }, "colour"],
    ] as const) {
      const answer = await call("PUT", "/me/preferences", { token, body });
      expect(answer.status, field).to.equal(400);
      expect(
        answer.body.problems.map((p: any) => p.field),
        field,
      ).to.include(field);
    }
    // Nothing of the rejected requests was written.
    const after = await call("GET", "/me/preferences", { token });
    expect(after.body.types["security.alert"].channels.email).to.equal(true);
    expect(after.body.channels.sms).to.equal(true);
  });

  it("devices: deduplicated, at most maxPerUser (oldest evicted), removable; contact routes validate like the service", async () => {
    const userId = newUser();
    const token = await tidings.signToken(userId);
    for (const n of [1, 2, 1, 3]) {
      expect((await call("POST", "/me/devices", { token, body: { platform: "apns", token: APNS(n) } })).status).to.equal(201);
    }
    const { body: contact } = await call("GET", `/users/${userId}/contact`, { token: producer });
    const stored = (await tidings.clients.ddb.send(new ScanCommand({ TableName: tidings.tables.contacts }))).Items!.find(
      (i) => i.userId === userId,
    )!;
    expect(stored.device_tokens.map((d: any) => d.token)).to.deep.equal([APNS(1), APNS(3)]);
    expect(contact.devices).to.have.length(2);
    expect((await call("DELETE", `/me/devices/${APNS(1)}`, { token })).status).to.equal(204);
    expect((await call("DELETE", `/me/devices/${APNS(1)}`, { token })).status).to.equal(404);
    const bad = await call("POST", "/me/devices", { token, body: { platform: "apns", token: "nothex" } });
    expect(bad.status).to.equal(400);
    expect(bad.body.problems[0].field).to.equal("token");

    const put = await call("PUT", `/users/${userId}/contact`, {
      token: producer,
      body: { email: "ada@example.com", phone: "+14155550123" },
    });
    expect(put.status).to.equal(200);
    expect(put.body).to.include({ email: "ada@example.com", phone: "+14155550123" });
    for (const [body, field] of [
      [{ email: "not-an-email" }, "email"],
      [{ phone: "0800 123" }, "phone"],
      [{ external_channels: { slack: { webhookUrl: "https://evil.example.com/x" } } }, "external_channels.slack.webhookUrl"],
      [{ external_channels: { teams: {} } }, "external_channels.teams"],
      [{ fax: "1" }, "fax"],
    ] as const) {
      const answer = await call("PUT", `/users/${userId}/contact`, { token: producer, body });
      expect(answer.status, field).to.equal(400);
      expect(answer.body.problems.map((p: any) => p.field)).to.include(field);
    }
    expect((await call("GET", `/users/${userId}/contact`, { token: producer })).body).to.include({ email: "ada@example.com" });
    expect((await call("GET", `/users/${userId}/contact`)).status).to.equal(401);
  });

  it("DELETE /users/{userId} erases contact, settings, feed, connections and the user's notification-log items", async () => {
    const userId = newUser();
    const token = await tidings.signToken(userId);
    await call("PUT", `/users/${userId}/contact`, { token: producer, body: { email: "gone@example.com" } });
    await call("PUT", "/me/preferences", { token, body: { channels: { email: false } } });
    const eventId = await notify(userId);
    await sentOnWebsocket(eventId);
    const socket = await openSocket(`${tidings.endpoints.websocket}?token=${token}`);
    const closed = new Promise((resolve) => socket.once("close", resolve));
    await until(async () => {
      const rows = await tidings.clients.ddb.send(new ScanCommand({ TableName: tidings.tables.connections }));
      return (rows.Items ?? []).some((r) => r.userId === userId);
    });

    const logItems = async (id: string) =>
      (
        await tidings.clients.ddb.send(
          new QueryCommand({
            TableName: tidings.tables.notificationLog,
            KeyConditionExpression: "eventId = :e",
            ExpressionAttributeValues: { ":e": id },
            ConsistentRead: true,
          }),
        )
      ).Items ?? [];
    const othersEventId = await notify(newUser());
    expect(await logItems(eventId)).to.have.length(1);

    const erased = await call("DELETE", `/users/${userId}`, { token: producer });
    expect(erased.status).to.equal(200);
    expect(erased.body.erased).to.deep.equal({ contact: true, settings: true, feedItems: 1, connections: 1 });
    expect(await logItems(eventId), "what was sent to the user").to.deep.equal([]);
    expect(await logItems(othersEventId), "another user's").to.have.length(1);
    await closed;
    expect((await call("GET", `/users/${userId}/contact`, { token: producer })).status).to.equal(404);
    expect((await call("GET", "/me/notifications", { token })).body).to.deep.equal({ items: [], unreadCount: 0 });
    expect((await call("GET", "/me/preferences", { token })).body.channels.email).to.equal(true);
  });

  it("refuses without a token (401), over the size limit (413), and bad query or path (400), writing nothing", async () => {
    const userId = newUser();
    const token = await tidings.signToken(userId);
    for (const [method, path] of [
      ["GET", "/me/notifications"],
      ["GET", "/me/notifications/count"],
      ["POST", "/me/notifications/read"],
      ["PUT", "/me/preferences"],
      ["POST", "/me/devices"],
      ["DELETE", `/me/devices/${APNS(1)}`],
    ]) {
      const body = method === "GET" ? undefined : {};
      const answer = await call(method, path, { body });
      expect(answer.status, path).to.equal(401);
      expect(answer.body.problems[0].field).to.equal("authorization");
      expect((await call(method, path, { token: `${token}x`, body })).status, path).to.equal(401);
    }
    const big = await call("PUT", "/me/preferences", { token, raw: JSON.stringify({ channels: {}, pad: "x".repeat(20_000) }) });
    expect(big.status).to.equal(413);
    expect((await call("GET", "/me/notifications?limit=0", { token })).body.problems[0].field).to.equal("query.limit");
    expect((await call("GET", "/me/notifications?colour=red", { token })).body.problems[0].field).to.equal("query.colour");
    expect((await call("GET", "/users/%E0%A4%A/contact", { token: producer })).status).to.equal(400);
    const stored = await tidings.clients.ddb.send(new ScanCommand({ TableName: tidings.tables.settings }));
    expect((stored.Items ?? []).some((i) => i.userId === userId)).to.equal(false);
  });
});
