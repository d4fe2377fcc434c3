/**
 * End-to-end tests of the local mode (issue 4): the whole system started in-process with
 * startLocalTidings on free ports, driven only from the outside (producer API over HTTP, a WebSocket
 * client, SES's /store, the SNS and Slack sinks, the notification log, the local bus's record), one
 * instance per describe.
 */
import { queueDepth } from "../local/opsPage";
import * as http from "node:http";
import { expect } from "chai";
import { randomBytes, randomUUID } from "node:crypto";
import { GetQueueUrlCommand, ListQueuesCommand } from "@aws-sdk/client-sqs";
import type WebSocket from "ws";
import type { LocalTidings } from "../local/tidings";
import { signDevToken } from "../local/tokens";
import { redrive } from "../runtime/redrive";
import { devToken as devTokenOf, startQuiet } from "./helpers/localTidings";
import { frames, openSocket, until, type FrameReader } from "./helpers/sockets";

const ALICE = { userId: "alice", email: "alice@example.com", phone: "+15555550100", slackPath: "/services/T000/B000/alice" };
const CARRIER = "DHL";

/** Test-side view of one running instance: what a producer, a user and an operator can observe. */
function observe(tidings: LocalTidings) {
  const sockets: WebSocket[] = [];

  /** An end user's dev token, or with `scope` a producer's. */
  const devToken = (userId: string, scope?: string) => devTokenOf(tidings, userId, scope);

  async function post(body: unknown, authorization?: string): Promise<{ status: number; body: any }> {
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (authorization !== undefined) headers.authorization = authorization;
    const response = await fetch(tidings.endpoints.notifications, { method: "POST", headers, body: JSON.stringify(body) });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new Error(`POST /notifications answered ${response.status} with non-JSON: ${text.slice(0, 200)}`);
    }
    return { status: response.status, body: parsed };
  }

  /** A connected client of `userId` reading frames in order. */
  async function connect(userId: string): Promise<FrameReader> {
    const ws = await openSocket(`${tidings.endpoints.websocket}/?token=${encodeURIComponent(await devToken(userId))}`);
    sockets.push(ws);
    return frames(ws);
  }

  /** An order.shipped request for alice whose rendered texts all carry a unique order id. */
  function orderShipped(extra: Record<string, unknown> = {}) {
    const orderId = `A-${randomUUID().slice(0, 8)}`;
    const eventId = `e2e-${randomUUID()}`;
    const callback = `https://shop.example.com/orders/${orderId}`;
    const body = {
      eventId,
      userId: ALICE.userId,
      type: "order.shipped",
      data: { orderId, carrier: CARRIER, trackingUrl: `https://track.example.com/${orderId}` },
      callback,
      ...extra,
    };
    return { orderId, eventId, callback, body };
  }

  async function mailsAbout(orderId: string): Promise<any[]> {
    const store = (await (await fetch(`${tidings.endpoints.sesInbox}/store`)).json()) as { emails: any[] };
    return store.emails.filter((mail) => String(mail.subject).includes(orderId));
  }
  const smsAbout = (orderId: string) => tidings.sinks.sns.received.filter((m) => m.message.includes(orderId));
  const slackPostsAbout = (orderId: string) => tidings.sinks.slack.received.filter((p) => JSON.stringify(p.body).includes(orderId));
  const busEventsOf = (eventId: string) => tidings.bus.received.filter((e) => (e.detail as { eventId?: string }).eventId === eventId);

  async function statusOf(eventId: string, channel: string): Promise<string | undefined> {
    return (await tidings.log.get(eventId, channel))?.status;
  }

  /** Waits until each channel is logged `status` (or, given a list, any of them). */
  async function untilStatus(eventId: string, channels: string[], status: string | string[], timeoutMs = 15000): Promise<void> {
    const wanted = Array.isArray(status) ? status : [status];
    await until(
      async () => (await Promise.all(channels.map((c) => statusOf(eventId, c)))).every((s) => s !== undefined && wanted.includes(s)),
      timeoutMs,
      `${channels.join(", ")} of ${eventId} logged ${wanted.join(" or ")}`,
    );
  }

  /** Messages in a queue: visible, in flight and delayed. */
  const depth = (queueUrl: string) => queueDepth(tidings.clients.sqs, queueUrl);

  /** Every channel queue empty and the bus idle: nothing more can be delivered, so counts are final. */
  async function drained(timeoutMs = 15000): Promise<void> {
    await tidings.bus.idle();
    await until(
      async () => (await Promise.all(tidings.channels.map((c) => depth(c.queueUrl)))).every((n) => n === 0),
      timeoutMs,
      "every channel queue empty",
    );
  }

  return {
    devToken,
    post,
    connect,
    orderShipped,
    mailsAbout,
    smsAbout,
    slackPostsAbout,
    busEventsOf,
    statusOf,
    untilStatus,
    depth,
    drained,
    closeSockets: () => {
      for (const ws of sockets) ws.terminate();
    },
  };
}

/**
 * A token signed with the instance's real key whose `exp` passed an hour ago. signToken takes no
 * expiry, so jose's clock (`new Date()`, read synchronously while the claims are set) is moved back
 * two hours for exactly that synchronous part of the call.
 */
async function expiredToken(tidings: LocalTidings, userId: string): Promise<string> {
  const RealDate = Date;
  const shiftMs = 2 * 3600 * 1000;
  class TwoHoursAgo extends RealDate {
    constructor(...args: unknown[]) {
      if (args.length === 0) super(RealDate.now() - shiftMs);
      else super(...(args as [string]));
    }
    static now() {
      return RealDate.now() - shiftMs;
    }
  }
  let signing: Promise<string>;
  globalThis.Date = TwoHoursAgo as DateConstructor;
  try {
    signing = tidings.signToken(userId);
  } finally {
    globalThis.Date = RealDate;
  }
  const token = await signing;
  const exp = JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString()).exp;
  expect(exp, "the token's exp is in the past").to.be.below(Date.now() / 1000 - 3000);
  return token;
}

describe("local mode end to end: every channel enabled", function () {
  this.timeout(30000);
  let tidings: LocalTidings;
  let t: ReturnType<typeof observe>;
  let producer: string;

  before(async () => {
    tidings = await startQuiet();
    t = observe(tidings);
    producer = `Bearer ${await t.devToken("producer", "notifications:send")}`;
  });
  after(async () => {
    t?.closeSockets();
    await tidings?.stop();
  });

  it("delivers an order.shipped request for alice exactly once on websocket, email, sms and slack, and logs each sent", async () => {
    const inbox = await t.connect("alice");
    const { orderId, eventId, callback, body } = t.orderShipped();

    const answer = await t.post(body, producer);
    expect(answer.status).to.equal(202);
    expect(answer.body).to.deep.equal({ eventId, channels: { websocket: "queued", email: "queued", sms: "queued", slack: "queued" } });

    const frame = await inbox.nextJson(10000);
    expect(frame).to.deep.include({
      type: "notification",
      id: eventId,
      message: `Order ${orderId} has shipped with ${CARRIER}.`,
      callback,
    });
    // The sealed tracking link (runtime/tracking.ts) records the click and redirects to the callback.
    expect(frame.link).to.match(new RegExp(`^${tidings.endpoints.api}/t/[A-Za-z0-9_-]+$`));
    await t.untilStatus(eventId, ["websocket", "email", "sms", "slack"], "sent");
    await t.drained();

    const mails = await t.mailsAbout(orderId);
    expect(mails, "mails in SES's store").to.have.length(1);
    expect(mails[0].destination.to).to.deep.equal([ALICE.email]);
    expect(mails[0].subject).to.equal(`Your order ${orderId} is on its way`);
    expect(mails[0].body.text).to.include(`https://track.example.com/${orderId}`);

    const texts = t.smsAbout(orderId);
    expect(texts, "SMS at the SNS sink").to.have.length(1);
    expect(texts[0].phoneNumber).to.equal(ALICE.phone);
    expect(texts[0].message).to.include(`Order ${orderId} shipped (${CARRIER})`);

    const posts = t.slackPostsAbout(orderId);
    expect(posts, "posts at the Slack sink").to.have.length(1);
    expect(posts[0].path).to.equal(ALICE.slackPath);
    expect(posts[0].body.text).to.include(`Order *${orderId}* has shipped`);

    expect(inbox.queued, "frames after the first").to.equal(0);
    expect(
      t
        .busEventsOf(eventId)
        .map((e) => e["detail-type"])
        .sort(),
    ).to.deep.equal(["notification.email", "notification.slack", "notification.sms", "notification.websocket"]);
    for (const channel of ["websocket", "email", "sms", "slack"]) {
      const row = await tidings.log.get(eventId, channel);
      expect(row, channel).to.include({ status: "sent", userId: "alice", type: "order.shipped", attempts: 1 });
    }
  });

  it("delivers a job.progress request with message and progress to the socket as a feedback frame", async () => {
    const inbox = await t.connect("alice");
    const eventId = `e2e-${randomUUID()}`;
    const answer = await t.post({ eventId, userId: "alice", type: "job.progress", message: "Exporting your data", progress: 40 }, producer);
    expect(answer.status).to.equal(202);
    expect(answer.body).to.deep.equal({ eventId, channels: { websocket: "queued" } });
    expect(await inbox.nextJson(10000)).to.deep.equal({ type: "feedback", id: eventId, message: "Exporting your data", progress: 40 });
    await t.untilStatus(eventId, ["websocket"], "sent");
  });

  describe("the producer API refuses unauthenticated calls with 401 naming the reason, and puts nothing on the bus", () => {
    const cases: { title: string; authorization: (tidings: LocalTidings) => Promise<string | undefined>; reason: string }[] = [
      { title: "no Authorization header", authorization: async () => undefined, reason: "missing token" },
      { title: "a Basic instead of a Bearer credential", authorization: async () => "Basic YWxpY2U6c2VjcmV0", reason: "missing token" },
      {
        title: "a token signed with another key (forged)",
        authorization: async (tidings) =>
          `Bearer ${await signDevToken({ secret: randomBytes(48), userId: "alice", ...tidings.config.auth })}`,
        reason: "bad signature",
      },
      {
        title: "an expired token",
        authorization: async (tidings) => `Bearer ${await expiredToken(tidings, "alice")}`,
        reason: "token expired",
      },
    ];
    for (const { title, authorization, reason } of cases) {
      it(`${title}: 401 "${reason}"`, async () => {
        const { eventId, body } = t.orderShipped();
        const busBefore = tidings.bus.received.length;
        const answer = await t.post(body, await authorization(tidings));
        expect(answer.status).to.equal(401);
        expect(answer.body).to.deep.equal({ error: "unauthorized", message: `A valid Bearer token is required (${reason})` });
        await tidings.bus.idle();
        expect(tidings.bus.received.length, "events on the bus").to.equal(busBefore);
        expect(t.busEventsOf(eventId)).to.have.length(0);
        expect(await tidings.log.get(eventId, "email"), "notification log row").to.equal(undefined);
      });
    }
  });

  it("refuses an end user's token on the producer API: 403 naming the missing scope, nothing on the bus", async () => {
    const { eventId, body } = t.orderShipped();
    const busBefore = tidings.bus.received.length;
    const answer = await t.post(body, `Bearer ${await t.devToken("alice")}`);
    expect(answer.status).to.equal(403);
    expect(answer.body).to.include({ error: "forbidden", missingScope: "notifications:send" });
    expect(answer.body.message).to.include('"notifications:send" scope');
    await tidings.bus.idle();
    expect(tidings.bus.received.length, "events on the bus").to.equal(busBefore);
    expect(await tidings.log.get(eventId, "email"), "notification log row").to.equal(undefined);
  });

  it("answers 413 to a body over 256 KB and closes that connection, so a kept-alive client's next request is not read from the unread rest", async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const request = (body: string) =>
      new Promise<{ status: number; connection?: string; text: string }>((resolve, reject) => {
        const req = http.request(
          tidings.endpoints.notifications,
          { method: "POST", agent, headers: { authorization: producer, "content-type": "application/json" } },
          (res) => {
            let text = "";
            res.on("data", (chunk) => (text += chunk));
            res.on("end", () => resolve({ status: res.statusCode!, connection: res.headers.connection, text }));
          },
        );
        req.setTimeout(5000, () => req.destroy(new Error("no answer within 5 s")));
        req.on("error", reject);
        req.end(body);
      });
    try {
      const tooBig = await request(JSON.stringify({ userId: "alice", type: "order.shipped", message: "x".repeat(1024 * 1024) }));
      expect(tooBig.status).to.equal(413);
      expect(tooBig.connection).to.equal("close");
      const next = await request(JSON.stringify({ userId: "alice" }));
      expect(next.status, next.text).to.equal(400);
      expect(JSON.parse(next.text).problems.map((p: { field: string }) => p.field)).to.include("type");
    } finally {
      agent.destroy();
    }
  });

  it("refuses a Host that is not 127.0.0.1, localhost or [::1] (DNS rebinding) on /dev/token and the producer API", async () => {
    const request = (path: string, host: string, body: string, authorization?: string) =>
      new Promise<{ status: number; body: any }>((resolve, reject) => {
        const url = new URL(path, tidings.endpoints.api);
        const req = http.request(
          { host: "127.0.0.1", port: url.port, path, method: "POST", headers: { host, ...(authorization ? { authorization } : {}) } },
          (res) => {
            let text = "";
            res.on("data", (chunk) => (text += chunk));
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
          },
        );
        req.on("error", reject);
        req.end(body);
      });
    for (const host of ["evil.example.com", "evil.example.com:4000", "127.0.0.1.nip.io"]) {
      const token = await request("/dev/token", host, JSON.stringify({ userId: "alice" }));
      expect(token.status, `Host ${host}`).to.equal(403);
      expect(token.body.error).to.equal("forbidden_host");
      const notify = await request("/notifications", host, JSON.stringify(t.orderShipped().body), producer);
      expect(notify.status, `Host ${host}`).to.equal(403);
    }
    for (const host of ["127.0.0.1", `localhost:${new URL(tidings.endpoints.api).port}`, "[::1]:4000"]) {
      expect((await request("/dev/token", host, JSON.stringify({ userId: "alice" }))).status, `Host ${host}`).to.equal(200);
    }
  });

  it("POST /dev/token issues a producer token with scope, an end-user token without, and names a bad scope", async () => {
    const claims = (token: string) => JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());
    expect(claims(await t.devToken("svc-orders", "notifications:send"))).to.include({ sub: "svc-orders", scope: "notifications:send" });
    expect(claims(await t.devToken("alice"))).not.to.have.property("scope");
    const bad = await fetch(tidings.endpoints.devToken, { method: "POST", body: JSON.stringify({ userId: "x", scope: ["a"] }) });
    expect(bad.status).to.equal(400);
    expect(await bad.json()).to.include({ error: "invalid_scope", field: "scope" });
  });

  it("delivers once on each channel when the same eventId is sent twice (the retry answers duplicate)", async () => {
    const inbox = await t.connect("alice");
    const { orderId, eventId, body } = t.orderShipped();
    const first = await t.post(body, producer);
    expect(first.status).to.equal(202);
    // Once a worker has each channel: before that, a row still `created` may never have reached the
    // bus, and a retry puts it again (the worker's claim still sends it once).
    await t.untilStatus(eventId, ["websocket", "email", "sms", "slack"], ["pending", "sent"]);
    const again = await t.post(body, producer);
    expect(again.status).to.equal(202);
    expect(again.body).to.deep.equal({
      eventId,
      channels: { websocket: "duplicate", email: "duplicate", sms: "duplicate", slack: "duplicate" },
    });

    await t.untilStatus(eventId, ["websocket", "email", "sms", "slack"], "sent");
    // And once more after delivery, as a producer retrying late would.
    const late = await t.post(body, producer);
    expect(late.body.channels).to.deep.equal({ websocket: "duplicate", email: "duplicate", sms: "duplicate", slack: "duplicate" });
    await t.drained();

    expect((await inbox.nextJson(10000)).id).to.equal(eventId);
    expect(inbox.queued, "frames after the first").to.equal(0);
    expect(await t.mailsAbout(orderId)).to.have.length(1);
    expect(t.smsAbout(orderId)).to.have.length(1);
    expect(t.slackPostsAbout(orderId)).to.have.length(1);
    expect(t.busEventsOf(eventId), "events put on the bus").to.have.length(4);
  });
});

describe("local mode end to end: sms disabled in config", function () {
  this.timeout(30000);
  let tidings: LocalTidings;
  let t: ReturnType<typeof observe>;
  let producer: string;

  before(async () => {
    tidings = await startQuiet({
      editConfig: (raw) => {
        raw.channels.sms.enabled = false;
      },
    });
    t = observe(tidings);
    producer = `Bearer ${await t.devToken("producer", "notifications:send")}`;
  });
  after(async () => {
    t?.closeSockets();
    await tidings?.stop();
  });

  it("creates no sms queue", async () => {
    expect(tidings.channels.map((c) => c.name)).to.deep.equal(["websocket", "email", "slack"]);
    const listed = await tidings.clients.sqs.send(new ListQueuesCommand({ QueueNamePrefix: "tidings-" }));
    const names = (listed.QueueUrls ?? []).map((url) => url.split("/").pop());
    expect(names).to.include.members(["tidings-email", "tidings-slack", "tidings-websocket"]);
    expect(names.filter((n) => n!.startsWith("tidings-sms"))).to.deep.equal([]);
    let error: unknown;
    await tidings.clients.sqs.send(new GetQueueUrlCommand({ QueueName: "tidings-sms" })).catch((e) => (error = e));
    expect((error as { name?: string })?.name).to.match(/QueueDoesNotExist|NonExistentQueue/);
  });

  it("answers without sms, delivers on the other channels, and nothing reaches the SNS sink", async () => {
    const inbox = await t.connect("alice");
    const { orderId, eventId, body } = t.orderShipped();
    const answer = await t.post(body, producer);
    expect(answer.status).to.equal(202);
    expect(answer.body).to.deep.equal({ eventId, channels: { websocket: "queued", email: "queued", slack: "queued" } });

    expect((await inbox.nextJson(10000)).id).to.equal(eventId);
    await t.untilStatus(eventId, ["websocket", "email", "slack"], "sent");
    await t.drained();
    expect(await t.mailsAbout(orderId)).to.have.length(1);
    expect(t.slackPostsAbout(orderId)).to.have.length(1);
    expect(tidings.sinks.sns.received, "SNS sink").to.deep.equal([]);
    expect(await tidings.log.get(eventId, "sms"), "sms log row").to.equal(undefined);
    expect(t.busEventsOf(eventId).map((e) => e["detail-type"])).to.not.include("notification.sms");
  });

  it("refuses a request naming sms with 400 saying it is not an enabled channel", async () => {
    const { eventId, body } = t.orderShipped({ channels: ["email", "sms"] });
    const answer = await t.post(body, producer);
    expect(answer.status).to.equal(400);
    expect(answer.body.problems).to.deep.include({
      field: "channels[1]",
      problem: "is not an enabled channel (one of: websocket, email, slack)",
    });
    expect(t.busEventsOf(eventId)).to.have.length(0);
    expect(tidings.sinks.sns.received).to.deep.equal([]);
  });
});

describe("local mode end to end: a failing provider dead-letters, and a redrive delivers", function () {
  this.timeout(45000);
  const MAX_RECEIVES = 2;
  let tidings: LocalTidings;
  let t: ReturnType<typeof observe>;
  let producer: string;

  before(async () => {
    tidings = await startQuiet({
      editConfig: (raw) => {
        raw.channels.slack.maxReceiveCount = MAX_RECEIVES;
      },
      visibilityTimeoutSeconds: 1,
    });
    t = observe(tidings);
    producer = `Bearer ${await t.devToken("producer", "notifications:send")}`;
  });
  after(async () => {
    await tidings?.stop();
  });

  /** The sink has no reset: consume its remaining injected failures with posts of our own. */
  async function healSlackSink(): Promise<void> {
    const drainUrl = `${tidings.sinks.slack.url}/services/T0TEST/B0TEST/heal`;
    for (let i = 0; i < 1000; i++) {
      const response = await fetch(drainUrl, { method: "POST", body: JSON.stringify({ text: "heal" }) });
      await response.text();
      if (response.status === 200) break;
    }
    const heal = tidings.sinks.slack.received.findIndex((p) => p.path.endsWith("/heal"));
    expect(heal, "the sink answers 200 again").to.be.at.least(0);
    tidings.sinks.slack.received.splice(heal, 1);
  }

  it(`moves a Slack message failing ${MAX_RECEIVES} times to the slack DLQ, keeps it unsent, and a redrive delivers it exactly once`, async () => {
    const slack = tidings.channels.find((c) => c.name === "slack")!;
    expect(await t.depth(slack.deadLetterQueueUrl), "slack DLQ before").to.equal(0);
    tidings.sinks.slack.failNext(100, "retryable");

    // Slack only: with a 1 s visibility timeout a slow send elsewhere could be redelivered and sent twice.
    const { orderId, eventId, body } = t.orderShipped({ channels: ["slack"] });
    const answer = await t.post(body, producer);
    expect(answer.status).to.equal(202);
    expect(answer.body.channels).to.deep.equal({ slack: "queued" });

    // Retried until SQS dead-letters it.
    await until(async () => (await t.depth(slack.deadLetterQueueUrl)) === 1, 20000, "the message in the slack DLQ");
    expect(await t.depth(slack.queueUrl), "slack queue once dead-lettered").to.equal(0);
    const failed = await tidings.log.get(eventId, "slack");
    // Its end says where it is: dead-lettered, with why, in the log and in the status API.
    expect(failed).to.include({ status: "dead-lettered", attempts: MAX_RECEIVES, provider: "slack-webhook" });
    expect(failed!.reason).to.match(new RegExp(`500.*\\(moved to the DLQ after ${MAX_RECEIVES} tries\\)`));
    const status = (await (
      await fetch(`${tidings.endpoints.notifications}/${eventId}`, { headers: { authorization: producer } })
    ).json()) as any;
    expect(status.channels.slack).to.include({ status: "dead-lettered" });
    expect(t.slackPostsAbout(orderId)).to.have.length(0);

    await healSlackSink();
    const result = await redrive(tidings.clients.sqs, slack, { local: true });
    expect(result).to.deep.equal({ method: "copy", moved: 1, failed: [] });

    await t.untilStatus(eventId, ["slack"], "sent");
    await t.drained();
    expect(await t.depth(slack.deadLetterQueueUrl), "slack DLQ after the redrive").to.equal(0);
    const posts = t.slackPostsAbout(orderId);
    expect(posts, "Slack posts after the redrive").to.have.length(1);
    expect(posts[0].path).to.equal(ALICE.slackPath);
    const sent = await tidings.log.get(eventId, "slack");
    expect(sent).to.include({ status: "sent", attempts: MAX_RECEIVES + 1 });
    // A later status clears the earlier reason.
    expect(sent!.reason).to.equal(undefined);
  });
});
