/**
 * The producer API as `pulumi up` would ship it (serialized InlineFunction), against dynalite, fauxqs S3
 * and the local EventBridge bus: what it puts on the bus, what it logs, and what it refuses.
 */
import { createHash, randomBytes } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import type { ChannelDelivery, LogEntry } from "../runtime/contracts";
import { makeNotificationLog } from "../runtime/notificationLog";
import { makeHttpApiHandler, makeNotificationService } from "../runtime/notify";
import { slackMessage } from "../runtime/providers/slack";
import { type ShippedService, startShippedService } from "./hostile/shippedService";

/**
 * The digest the contract promises (SHA-256, base64url, of the delivery as JSON with keys sorted at every
 * level), computed here independently of runtime/deliveryDigest.ts: JSON.stringify with a replacer that
 * rebuilds every object with its keys in order.
 */
function digestOf(delivery: unknown): string {
  const sorted = JSON.stringify(delivery, (_key, value) =>
    value && typeof value === "object" && !Array.isArray(value)
      ? Object.fromEntries(
          Object.keys(value)
            .sort()
            .map((k) => [k, value[k]]),
        )
      : value,
  );
  return createHash("sha256").update(sorted, "utf8").digest("base64url");
}

const SLACK_URL = "https://hooks.slack.com/services/T0001/B0001/secretsecret123";
const ORDER = { orderId: "A-1001", carrier: "UPS", trackingUrl: "https://track.example.com/A-1001?x=1&y=2" };

describe("notification service (shipped code, local servers)", function () {
  this.timeout(60_000);
  let service: ShippedService;
  let serial = 0;
  const newUser = () => `user-${Date.now()}-${serial++}`;
  const newEventId = () => `evt-${Date.now()}-${serial++}`;

  // The shipped code logs its decisions on stdout; keep the test report readable.
  const consoleLog = console.log;
  before(async () => {
    console.log = () => {};
    service = await startShippedService();
  });
  after(async () => {
    console.log = consoleLog;
    await service?.stop();
  });

  async function fullContact(userId: string) {
    await service.putContact({
      userId,
      email: "ada@example.com",
      phone: "+14155550123",
      external_channels: { slack: { webhookUrl: SLACK_URL } },
    });
  }
  const logRow = (eventId: string, channel: string) =>
    makeNotificationLog({ ddb: service.ddb, table: service.names.log }).get(eventId, channel) as Promise<LogEntry | undefined>;
  const eventsFor = (eventId: string) => service.events.filter((e) => (e.detail as any).eventId === eventId);

  /** Runs `work` and returns the console lines it printed (the decision log). */
  async function captureLog<T>(work: () => Promise<T>): Promise<{ result: T; lines: string[] }> {
    const lines: string[] = [];
    const original = console.log;
    console.log = (...args: unknown[]) => void lines.push(args.map(String).join(" "));
    try {
      return { result: await work(), lines };
    } finally {
      console.log = original;
    }
  }

  it("puts exactly one event per enabled channel of the type on the bus and logs each as created (a worker's claim makes it pending)", async () => {
    const userId = newUser();
    await fullContact(userId);
    const eventId = newEventId();
    const { result: answer, lines } = await captureLog(() =>
      service.post({ eventId, userId, type: "order.shipped", data: ORDER, callback: "https://shop.example.com/orders/A-1001" }),
    );

    expect(answer.status).to.equal(202);
    expect(answer.headers["content-type"]).to.match(/^application\/json/);
    // push is disabled in Pulumi.dev.yaml: the type allows it, the stack does not run it.
    expect(answer.body).to.deep.equal({ eventId, channels: { websocket: "queued", email: "queued", sms: "queued", slack: "queued" } });

    const events = eventsFor(eventId);
    expect(events.map((e) => e["detail-type"]).sort()).to.deep.equal([
      "notification.email",
      "notification.slack",
      "notification.sms",
      "notification.websocket",
    ]);
    for (const event of events) expect(event.source).to.equal("tidings");
    const detail = (channel: string) =>
      events.find((e) => e["detail-type"] === `notification.${channel}`)!.detail as unknown as ChannelDelivery;

    expect(detail("email")).to.deep.include({
      eventId,
      userId,
      type: "order.shipped",
      channel: "email",
      kind: "actionable",
      callback: "https://shop.example.com/orders/A-1001",
      address: { email: "ada@example.com" },
    });
    expect(detail("email").content.subject).to.equal("Your order A-1001 is on its way");
    expect(detail("email").content.text).to.include("https://track.example.com/A-1001?x=1&y=2");
    expect(detail("email").content.html).to.include("&amp;").and.not.include("?x=1&y=2");
    expect(detail("sms").address).to.deep.equal({ phone: "+14155550123" });
    expect(detail("slack").address).to.deep.equal({ webhookUrl: SLACK_URL });
    expect(detail("websocket").address).to.deep.equal({});
    expect(detail("websocket").content.text).to.equal("Order A-1001 has shipped with UPS.");
    expect(Date.parse(detail("sms").createdAt)).to.be.closeTo(Date.now(), 60_000);

    for (const channel of ["websocket", "email", "sms", "slack"]) {
      // `created` until a worker claims it: the service writes nothing after the put (3 round trips).
      expect(await logRow(eventId, channel), channel).to.include({ status: "created", userId, type: "order.shipped" });
    }
    expect(await logRow(eventId, "push")).to.equal(undefined);

    // One decision line per channel, and the webhook URL (a secret) in none of them.
    const decisions = lines.map((line) => JSON.parse(line));
    expect(
      decisions
        .filter((d) => d.outcome === "queued")
        .map((d) => d.channel)
        .sort(),
    ).to.deep.equal(["email", "slack", "sms", "websocket"]);
    expect(lines.join("\n")).to.not.include("secretsecret123").and.not.include("hooks.slack.com");
  });

  it("assigns an eventId when the producer gives none, and decodes base64 bodies", async () => {
    const userId = newUser();
    await fullContact(userId);
    const answer = await service.post(
      { userId, type: "job.progress", data: { jobName: "export", status: "half way" }, progress: 50 },
      { base64: true },
    );
    expect(answer.status).to.equal(202);
    expect(answer.body.eventId).to.match(/^[0-9a-f-]{36}$/);
    expect(answer.body.channels).to.deep.equal({ websocket: "queued" });
    const [event] = eventsFor(answer.body.eventId);
    expect(event.detail).to.deep.include({ kind: "feedback", progress: 50, content: { text: "export: half way" } });
  });

  it("puts nothing new for the same eventId once workers have it: every channel answers duplicate", async () => {
    const userId = newUser();
    await fullContact(userId);
    const eventId = newEventId();
    const request = { eventId, userId, type: "order.shipped", data: ORDER };
    expect((await service.post(request)).status).to.equal(202);
    // The channel workers claim their rows (no worker runs in this test: claim as they do).
    const log = makeNotificationLog({ ddb: service.ddb, table: service.names.log });
    for (const channel of ["websocket", "email", "sms", "slack"])
      expect((await log.claim(eventId, channel, 30)).result).to.equal("claimed");
    const before = service.events.length;

    const again = await service.post(request);
    expect(again.status).to.equal(202);
    expect(again.body.channels).to.deep.equal({ websocket: "duplicate", email: "duplicate", sms: "duplicate", slack: "duplicate" });
    expect(service.events.length).to.equal(before);
    expect(eventsFor(eventId)).to.have.length(4);
  });

  it("puts a channel whose log row was created but never put (a crash between create and put)", async () => {
    const userId = newUser();
    await fullContact(userId);
    const eventId = newEventId();
    // What a crash right after log.create leaves behind.
    await makeNotificationLog({ ddb: service.ddb, table: service.names.log }).create({
      eventId,
      channel: "email",
      userId,
      type: "order.shipped",
      status: "created",
    });

    const answer = await service.post({ eventId, userId, type: "order.shipped", data: ORDER, channels: ["email", "sms"] });
    expect(answer.status).to.equal(202);
    expect(answer.body.channels).to.deep.equal({ email: "queued", sms: "queued" });
    expect(
      eventsFor(eventId)
        .map((e) => e["detail-type"])
        .sort(),
    ).to.deep.equal(["notification.email", "notification.sms"]);
    expect(await logRow(eventId, "email")).to.include({ status: "created" });
  });

  it("puts a row again while no worker has claimed it (the put may not have happened); a claimed row answers duplicate", async () => {
    const userId = newUser();
    await fullContact(userId);
    const eventId = newEventId();
    const request = { eventId, userId, type: "order.shipped", data: ORDER, channels: ["email", "sms"] };
    expect((await service.post(request)).status).to.equal(202);
    await makeNotificationLog({ ddb: service.ddb, table: service.names.log }).claim(eventId, "sms", 30);
    const again = await service.post(request);
    expect(again.body.channels).to.deep.equal({ email: "queued", sms: "duplicate" });
    expect(eventsFor(eventId).map((e) => e["detail-type"])).to.deep.equal(["notification.email", "notification.sms", "notification.email"]);
  });

  it("skips an opted-out channel, logs it unsubscribed, and honours per-type settings over per-channel ones", async () => {
    const userId = newUser();
    await fullContact(userId);
    await service.putSettings({
      userId,
      channels: { sms: false, email: true },
      types: { "order.shipped": { email: false, sms: true, slack: false } },
    });
    const eventId = newEventId();
    const answer = await service.post({ eventId, userId, type: "order.shipped", data: ORDER });

    expect(answer.status).to.equal(202);
    expect(answer.body.channels).to.deep.equal({
      websocket: "queued",
      email: "skipped: opted out",
      sms: "queued",
      slack: "skipped: opted out",
    });
    expect(
      eventsFor(eventId)
        .map((e) => e["detail-type"])
        .sort(),
    ).to.deep.equal(["notification.sms", "notification.websocket"]);
    expect(await logRow(eventId, "email")).to.include({ status: "unsubscribed" });
    expect(await logRow(eventId, "slack")).to.include({ status: "unsubscribed" });

    // marketing.digest is opt-in (defaultOptIn: false): nothing goes out until the user says yes,
    // for the type or for the channel in general.
    const reader = newUser();
    await fullContact(reader);
    const digest = { userId: reader, type: "marketing.digest", data: { headline: "This week", items: [] } };
    const optIn = await service.post({ ...digest, eventId: newEventId() });
    expect(optIn.body.channels).to.deep.equal({ email: "skipped: opted out" });
    await service.putSettings({ userId: reader, types: { "marketing.digest": { email: true } } });
    const digestId = newEventId();
    expect((await service.post({ ...digest, eventId: digestId })).body.channels).to.deep.equal({ email: "queued" });
    expect((eventsFor(digestId)[0].detail as any).content.text).to.include("Nothing new this week.");
  });

  it("reports a missing or invalid address per channel and answers 422 when no channel can reach the user", async () => {
    const userId = newUser();
    await service.putContact({
      userId,
      email: "not-an-email",
      phone: "+14155550199",
      external_channels: { slack: { webhookUrl: "https://evil.example.com/services/T/B/x" } },
    });
    const eventId = newEventId();
    const { result: answer, lines } = await captureLog(() => service.post({ eventId, userId, type: "order.shipped", data: ORDER }));
    expect(answer.status).to.equal(202);
    expect(answer.body.channels).to.deep.equal({
      websocket: "queued",
      email: "invalid_address: email is not a valid e-mail address",
      sms: "queued",
      slack: "invalid_address: external_channels.slack.webhookUrl must be a URL on hooks.slack.com",
    });
    expect(eventsFor(eventId)).to.have.length(2);
    expect(lines.join("\n")).to.not.include("evil.example.com").and.not.include("not-an-email");

    const nobody = newUser();
    const unreachable = await service.post({
      eventId: newEventId(),
      userId: nobody,
      type: "marketing.digest",
      data: { headline: "h", items: [] },
    });
    // marketing.digest is opt-in: the user has opted out by default, which is a 202, not an error.
    expect(unreachable.status).to.equal(202);
    const emailOnly = await service.post({
      eventId: newEventId(),
      userId: nobody,
      type: "security.alert",
      channels: ["email", "sms"],
      data: { event: "sign-in", location: "Lisbon", time: "10:00" },
    });
    expect(emailOnly.status).to.equal(422);
    expect(emailOnly.body.problems).to.deep.equal([
      { field: "contact.email", problem: "email: contact has no email" },
      { field: "contact.phone", problem: "sms: contact has no phone" },
    ]);
  });

  it("answers 422 naming a missing template or every missing variable, and puts nothing for any channel", async () => {
    const userId = newUser();
    await fullContact(userId);
    const before = service.events.length;

    const eventId = newEventId();
    const missingVariables = await service.post({ eventId, userId, type: "order.shipped", data: { orderId: "A-1" } });
    expect(missingVariables.status).to.equal(422);
    expect(missingVariables.body.problems).to.deep.equal([
      { field: "data.carrier", problem: "is missing: the order.shipped template uses it on websocket, email, sms, slack" },
      { field: "data.trackingUrl", problem: "is missing: the order.shipped template uses it on email, sms, slack" },
    ]);

    const missingTemplate = await service.post({
      eventId: newEventId(),
      userId,
      type: "order.shipped",
      template: "order.cancelled",
      data: ORDER,
      channels: ["email", "sms"],
    });
    // A type may use only the templates its config allows (default: its own).
    expect(missingTemplate.status).to.equal(400);
    expect(missingTemplate.body.problems).to.deep.equal([
      { field: "template", problem: "order.cancelled is not a template type order.shipped may use (allowed: order.shipped)" },
    ]);
    expect(service.events.length).to.equal(before);

    // Nothing was logged either: the corrected request with the same eventId goes through.
    const fixed = await service.post({ eventId, userId, type: "order.shipped", data: ORDER });
    expect(fixed.status).to.equal(202);
    expect(Object.values(fixed.body.channels)).to.deep.equal(["queued", "queued", "queued", "queued"]);
  });

  it("delivers the channels a type has templates for and skips the others with skipped: no template; none at all is 422", async () => {
    const userId = newUser();
    await fullContact(userId);
    const key = "templates/security.alert/sms.json";
    const kept = await service.s3.send(new GetObjectCommand({ Bucket: service.names.bucket, Key: key }));
    const body = await kept.Body!.transformToString();
    await service.s3.send(new DeleteObjectCommand({ Bucket: service.names.bucket, Key: key }));
    try {
      const data = { event: "New sign-in", location: "Oslo", time: "10:00" };
      const eventId = newEventId();
      const answer = await service.post({ eventId, userId, type: "security.alert", data, channels: ["websocket", "sms"] });
      expect(answer.status, JSON.stringify(answer.body)).to.equal(202);
      expect(answer.body.channels).to.deep.equal({ websocket: "queued", sms: "skipped: no template" });
      expect(eventsFor(eventId).map((e) => e["detail-type"])).to.deep.equal(["notification.websocket"]);
      const none = await service.post({ userId, type: "security.alert", data, channels: ["sms"] });
      expect(none.status).to.equal(422);
      expect(none.body.problems).to.deep.equal([{ field: "type", problem: `no template for type security.alert on channel sms (${key})` }]);
    } finally {
      await service.s3.send(new PutObjectCommand({ Bucket: service.names.bucket, Key: key, Body: body }));
    }
  });

  it("answers 400 naming the problem for 20 different invalid requests, and puts nothing", async () => {
    const userId = newUser();
    await fullContact(userId);
    const ok = { userId, type: "order.shipped", data: ORDER };
    const cases: [string, unknown, string][] = [
      ["no body", undefined, "body"],
      ["not JSON", "{userId:", "body"],
      ["an array", [ok], "body"],
      ["missing userId", { type: "order.shipped" }, "userId"],
      ["missing type", { userId }, "type"],
      ["unknown type", { ...ok, type: "order.lost" }, "type"],
      ["type with capitals", { ...ok, type: "Order.Shipped" }, "type"],
      ["unknown field", { ...ok, priority: "high" }, "priority"],
      ["eventId with spaces", { ...ok, eventId: "a b" }, "eventId"],
      ["eventId too long", { ...ok, eventId: "x".repeat(129) }, "eventId"],
      ["userId with a NUL", { ...ok, userId: "a\u0000b" }, "userId"],
      ["userId with an RTL override", { ...ok, userId: "abc\u202Egpj.exe" }, "userId"],
      ["disabled channel", { ...ok, channels: ["push"] }, "channels[0]"],
      ["channel the type does not allow", { ...ok, type: "job.progress", channels: ["email"] }, "channels[0]"],
      ["channel twice", { ...ok, channels: ["email", "email"] }, "channels"],
      ["http callback", { ...ok, callback: "http://shop.example.com/x" }, "callback"],
      ["progress over 100", { ...ok, progress: 101 }, "progress"],
      ["data not an object", { ...ok, data: "orderId=1" }, "data"],
      ["message over 4 KB", { ...ok, message: "x".repeat(4097) }, "message"],
      ["data nested six deep", { ...ok, data: { a: { b: { c: { d: { e: { f: 1 } } } } } } }, "data.a.b.c.d.e"],
    ];
    const before = service.events.length;
    for (const [label, body, field] of cases) {
      const answer = await service.post(body as any);
      expect(answer.status, label).to.equal(400);
      expect(answer.body.error, label).to.equal("invalid request");
      expect(
        answer.body.problems.map((p: any) => p.field),
        label,
      ).to.include(field);
    }
    expect(service.events.length).to.equal(before);
  });

  it("answers 413 for a body over 256 KB", async () => {
    const answer = await service.post({ userId: "u", type: "order.shipped", message: "x".repeat(256 * 1024) });
    expect(answer.status).to.equal(413);
    expect(answer.body.problems[0].field).to.equal("body");
  });

  it("answers 422 naming data when every channel's rendering together outgrows the one log item, and writes and puts nothing", async () => {
    // Templates that render 100 KB of random variables (25 of 4 KB) twice: about 200 KB per channel,
    // under an event's 256 KB. The log keeps each delivery deflated, and random text deflates to about
    // 3/4 of its size (the two copies are too far apart to match), so three channels outgrow the 400 KB item.
    const notes = Array.from({ length: 25 }, (_, i) => `{{n${i}}}`).join("");
    const bigTemplates = {
      "email.json": { subject: "News", text: notes, html: `<p>${notes}</p>` },
      "websocket.json": { text: `${notes} ${notes}` },
      "slack.json": { text: `${notes} ${notes}` },
    };
    for (const [file, template] of Object.entries(bigTemplates))
      await service.s3.send(
        new PutObjectCommand({ Bucket: service.names.bucket, Key: `templates/bulky.digest/${file}`, Body: JSON.stringify(template) }),
      );
    // The runtime service, for a type of its own that the shipped stack's config does not declare.
    const post = makeHttpApiHandler(
      makeNotificationService({
        ddb: service.ddb,
        s3: service.s3,
        events: new EventBridgeClient({ endpoint: service.bus.endpoint }),
        tables: { contacts: service.names.contacts, settings: service.names.settings, log: service.names.log },
        templatesBucket: service.names.bucket,
        busName: service.names.bus,
        enabledChannels: ["websocket", "email", "slack"],
        types: { ...service.config.notificationTypes, "bulky.digest": { channels: ["websocket", "email", "slack"], defaultOptIn: true } },
        logger: () => {},
      }),
    );
    const send = async (body: unknown) => {
      const result = await post({ body: JSON.stringify(body) });
      await service.bus.idle();
      return { status: result.statusCode, body: JSON.parse(result.body!) };
    };
    const userId = newUser();
    await fullContact(userId);
    const eventId = newEventId();
    const data = Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`n${i}`, randomBytes(3000).toString("base64url")]));
    const fits = await send({ eventId: newEventId(), userId, type: "bulky.digest", data, channels: ["email"] });
    expect(fits.status, JSON.stringify(fits.body)).to.equal(202);
    const before = service.events.length;
    const answer = await send({ eventId, userId, type: "bulky.digest", data });
    expect(answer.status, JSON.stringify(answer.body)).to.equal(422);
    expect(answer.body).to.deep.include({ error: "cannot render the notification", eventId });
    expect(answer.body.problems).to.have.length(1);
    expect(answer.body.problems[0].field).to.equal("data");
    expect(answer.body.problems[0].problem).to.match(
      /^renders \d+ bytes on 3 channels in all, as the log keeps them \(deflated\); one notification may hold at most \d+$/,
    );
    expect(service.events.length, "nothing put on the bus").to.equal(before);
    for (const channel of Object.keys(bigTemplates))
      expect(await logRow(eventId, channel.replace(".json", "")), channel).to.equal(undefined);
  });

  describe("security (issue 9)", () => {
    it("refuses a type borrowing another type's template: the consent bypass of order.shipped + marketing.digest", async () => {
      const userId = newUser();
      await fullContact(userId);
      const before = service.events.length;
      const answer = await service.post({
        userId,
        type: "order.shipped",
        template: "marketing.digest",
        data: { ...ORDER, headline: "Sale" },
      });
      expect(answer.status).to.equal(400);
      expect(answer.body.problems).to.deep.equal([
        { field: "template", problem: "marketing.digest is not a template type order.shipped may use (allowed: order.shipped)" },
      ]);
      expect(service.events.length).to.equal(before);
    });

    it("binds an eventId to its notification: another user or other content is a 409 and takes nothing; the same request stays 202 duplicate", async () => {
      const [ann, ben] = [newUser(), newUser()];
      await fullContact(ann);
      await fullContact(ben);
      const eventId = newEventId();
      const first = await service.post({ eventId, userId: ann, type: "order.shipped", data: ORDER, channels: ["email"] });
      expect(first.status).to.equal(202);
      const conflict = { error: "eventId already used for a different notification", eventId };
      const otherUser = await service.post({ eventId, userId: ben, type: "order.shipped", data: ORDER, channels: ["email"] });
      expect([otherUser.status, otherUser.body]).to.deep.equal([409, conflict]);
      // Other content, and a channel set that would create a new row before meeting the old one.
      const otherContent = await service.post({
        eventId,
        userId: ann,
        type: "order.shipped",
        data: { ...ORDER, carrier: "DHL" },
        channels: ["sms", "email"],
      });
      expect([otherContent.status, otherContent.body]).to.deep.equal([409, conflict]);
      expect(await logRow(eventId, "sms"), "the row the refused request created is taken back").to.equal(undefined);
      // The same request again is a retry: 202 (put again while no worker has claimed the row yet, the
      // very delivery the row recorded, so its digest still matches).
      const retry = await service.post({ eventId, userId: ann, type: "order.shipped", data: ORDER, channels: ["email"] });
      expect(retry.status).to.equal(202);
      expect(["queued", "duplicate"]).to.include(retry.body.channels.email);
      const events = eventsFor(eventId);
      expect(events.length).to.be.within(1, 2);
      for (const e of events) expect(e.detail).to.deep.equal(events[0].detail);
      expect(events[0].detail).to.deep.include({ userId: ann });
      expect((await logRow(eventId, "email"))?.digest).to.equal(digestOf(events[0].detail));
    });

    it("records each delivery's digest on its log row", async () => {
      const userId = newUser();
      await fullContact(userId);
      const eventId = newEventId();
      await service.post({ eventId, userId, type: "order.shipped", data: ORDER, channels: ["email"] });
      const row = await logRow(eventId, "email");
      expect(row?.digest).to.equal(digestOf(eventsFor(eventId)[0].detail));
    });

    it("refuses a javascript: (or relative) URL in a variable used as href, naming the field", async () => {
      const userId = newUser();
      await fullContact(userId);
      for (const trackingUrl of [
        "javascript:alert(document.cookie)",
        " JavaScript:alert(1)",
        "data:text/html,<script>1</script>",
        "/relative",
      ]) {
        const answer = await service.post({ userId, type: "order.shipped", data: { ...ORDER, trackingUrl }, channels: ["email"] });
        expect(answer.status, trackingUrl).to.equal(422);
        expect(answer.body.problems.map((p: { field: string }) => p.field)).to.deep.equal(["data.trackingUrl"]);
      }
      const mailto = await service.post({
        userId,
        type: "order.shipped",
        data: { ...ORDER, trackingUrl: "mailto:help@example.com" },
        channels: ["email"],
      });
      expect(mailto.status).to.equal(202);
    });

    it("escapes Slack text from data: no <!channel>, <!here>, <@U…> or spoofed <url|label> reaches Slack", async () => {
      const userId = newUser();
      await fullContact(userId);
      const eventId = newEventId();
      const carrier = "<!channel> <!here> <!everyone> <@U024BE7LH> <https://evil.example|Your bank> & co";
      const answer = await service.post({ eventId, userId, type: "order.shipped", data: { ...ORDER, carrier }, channels: ["slack"] });
      expect(answer.status).to.equal(202);
      const text = (eventsFor(eventId)[0].detail as any).content.text as string;
      expect(text).to.include(
        "&lt;!channel&gt; &lt;!here&gt; &lt;!everyone&gt; &lt;@U024BE7LH&gt; &lt;https://evil.example|Your bank&gt; &amp; co",
      );
      expect(text).not.to.match(/<!|<@|<https:\/\/evil/);
      // The template's own link stays a link, its URL escaped as Slack expects.
      expect(text).to.include("<https://track.example.com/A-1001?x=1&amp;y=2|Track it>");
      const literal = newEventId();
      await service.post({ eventId: literal, userId, type: "order.shipped", message: "<!channel> hi", channels: ["slack"] });
      expect((eventsFor(literal)[0].detail as any).content.text).to.equal("&lt;!channel&gt; hi");
      // A | in a URL a Slack link is made of would end the URL and start a label of the producer's own.
      const spoof = await service.post({
        userId,
        type: "order.shipped",
        data: { ...ORDER, trackingUrl: "https://evil.example/|Your bank" },
        channels: ["slack"],
      });
      expect(spoof.status).to.equal(422);
      expect(spoof.body.problems).to.deep.equal([
        { field: "data.trackingUrl", problem: "is used as a Slack link: it must not contain | (write it %7C)" },
      ]);
    });

    it("makes the callback's Slack link out of the callback alone: its | and <> cannot add a label or markup", () => {
      const message = slackMessage({
        eventId: "e",
        userId: "u",
        type: "order.shipped",
        channel: "slack",
        kind: "actionable",
        content: { text: "Shipped" },
        callback: "https://evil.example/a>b|Your bank",
        address: { webhookUrl: "https://hooks.slack.com/services/x" },
        createdAt: "2026-12-07T00:00:00.000Z",
      });
      expect(message.text).to.equal("Shipped <https://evil.example/a&gt;b%7CYour bank|Open>");
    });

    it("refuses an SMS that renders over 1,600 characters, naming the field", async () => {
      const userId = newUser();
      await fullContact(userId);
      const long = await service.post({ userId, type: "order.shipped", data: { ...ORDER, carrier: "C".repeat(1600) }, channels: ["sms"] });
      expect(long.status).to.equal(422);
      expect(long.body.problems).to.deep.equal([
        { field: "data", problem: "renders 1672 characters of SMS text; SMS allows at most 1600" },
      ]);
      const message = await service.post({ userId, type: "order.shipped", message: "m".repeat(1601), channels: ["sms"] });
      expect(message.status).to.equal(422);
      expect(message.body.problems[0]).to.include({ field: "message" });
    });

    it("refuses bidi and invisible format characters in every text field, naming it", async () => {
      const userId = newUser();
      await fullContact(userId);
      for (const [body, field] of [
        [{ userId, type: "order.shipped", message: "Your code \u202Eexe.txt" }, "message"],
        [{ userId, type: "order.shipped", data: { ...ORDER, carrier: "D\u2066HL" } }, "data.carrier"],
        [{ userId, type: "order.shipped", data: { ...ORDER, items: [{ name: "x\u200F" }] } }, "data.items[0].name"],
        [{ userId: "ali\u200Ece", type: "order.shipped", data: ORDER }, "userId"],
        [{ userId, type: "order.shipped", data: ORDER, callback: "https://shop.example.com/\u202A" }, "callback"],
        // The Arabic letter mark, a zero-width space, a word joiner, a BOM, tag characters, NEL.
        [{ userId, type: "order.shipped", message: "pay\u061Cpal" }, "message"],
        [{ userId, type: "order.shipped", data: { ...ORDER, carrier: "pay\u200Bpal" } }, "data.carrier"],
        [{ userId, type: "order.shipped", data: { ...ORDER, carrier: "pay\u2060pal" } }, "data.carrier"],
        [{ userId, type: "order.shipped", data: { ...ORDER, carrier: "\uFEFFpaypal" } }, "data.carrier"],
        [{ userId, type: "order.shipped", data: { ...ORDER, carrier: "ok\u{E0069}\u{E0067}\u{E006E}" } }, "data.carrier"],
        [{ userId, type: "order.shipped", message: "line\u0085break" }, "message"],
      ] as const) {
        const answer = await service.post(body as object);
        expect(answer.status, field).to.equal(400);
        expect(
          answer.body.problems.map((p: { field: string }) => p.field),
          field,
        ).to.include(field);
      }
      // Joiners stay: emoji sequences and scripts need them.
      const family = await service.post({
        userId,
        type: "order.shipped",
        message: "Welcome 👨\u200D👩\u200D👧, مرحبا\u200Cبك",
        channels: ["websocket"],
      });
      expect(family.status, JSON.stringify(family.body)).to.equal(202);
    });

    it("refuses a callback naming this machine outside the local mode, and one that is not ASCII, naming the field (400, not 500)", async () => {
      const userId = newUser();
      await fullContact(userId);
      for (const callback of [
        "http://localhost:8080/done",
        "https://127.0.0.1/done",
        "https://[::1]/done",
        "https://shop.example.com/ü",
        "https://shöp.example.com/",
      ]) {
        const answer = await service.post({ userId, type: "order.shipped", data: ORDER, callback });
        expect(answer.status, callback).to.equal(400);
        expect(
          answer.body.problems.map((p: { field: string }) => p.field),
          callback,
        ).to.deep.equal(["callback"]);
      }
      const encoded = await service.post({
        userId,
        type: "order.shipped",
        data: ORDER,
        callback: "https://xn--shp-sna.example.com/%C3%BC",
      });
      expect(encoded.status).to.equal(202);
    });

    it("limits an IAM producer to the types its grant recorded (grantSend's record in the templates bucket), 403 naming the type", async () => {
      const userId = newUser();
      await fullContact(userId);
      const billing = "arn:aws:iam::123456789012:role/billing";
      const key = `producers/${createHash("sha256").update(billing).digest("hex")}.json`;
      await service.s3.send(new PutObjectCommand({ Bucket: service.names.bucket, Key: key, Body: JSON.stringify({ types: ["job.*"] }) }));
      const asBilling = async (body: object) => {
        const answer = await service.handler({
          body: JSON.stringify(body),
          requestContext: { authorizer: { iam: { userArn: "arn:aws:sts::123456789012:assumed-role/billing/lambda-1" } } },
        });
        return { status: answer.statusCode, body: JSON.parse(answer.body!) };
      };
      const refused = await asBilling({ userId, type: "order.shipped", data: ORDER });
      expect(refused.status).to.equal(403);
      expect(refused.body.problems).to.deep.equal([{ field: "type", problem: `producer ${billing} may not send type order.shipped` }]);
      const allowed = await asBilling({ userId, type: "job.progress", message: "50%", progress: 50 });
      expect(allowed.status, JSON.stringify(allowed.body)).to.equal(202);
    });

    it("delivers a critical type to a user who switched it off, and asks opt-in of the type whose template is used", async () => {
      const userId = newUser();
      await fullContact(userId);
      await service.putSettings({ userId, types: { "security.alert": { email: false } }, channels: { email: false } });
      const eventId = newEventId();
      const answer = await service.post({
        eventId,
        userId,
        type: "security.alert",
        data: { event: "New sign-in", location: "Berlin", time: "09:12" },
        channels: ["email"],
      });
      expect(answer.body.channels).to.deep.equal({ email: "queued" });
      expect((eventsFor(eventId)[0].detail as any).critical).to.equal(true);
    });
  });
});

describe("notification service against a bus that fails entries (runtime, local servers)", function () {
  this.timeout(60_000);
  let service: ShippedService;
  let failingBus: Server;
  let calls: { entries: any[] }[] = [];
  let failDetailType = "";

  before(async () => {
    service = await startShippedService();
    // A PutEvents endpoint that fails the entries of one detail-type, as EventBridge does under throttling.
    failingBus = createServer((request, response) => {
      let raw = "";
      request.on("data", (chunk) => (raw += chunk));
      request.on("end", () => {
        const entries = JSON.parse(raw).Entries as any[];
        calls.push({ entries });
        const results = entries.map((e, i) =>
          e.DetailType === failDetailType
            ? { ErrorCode: "ThrottlingException", ErrorMessage: "Rate exceeded" }
            : { EventId: `e-${calls.length}-${i}` },
        );
        const body = JSON.stringify({ FailedEntryCount: results.filter((r) => "ErrorCode" in r).length, Entries: results });
        response.writeHead(200, { "content-type": "application/x-amz-json-1.1" });
        response.end(body);
      });
    });
    await new Promise<void>((resolve) => failingBus.listen(0, "127.0.0.1", resolve));
  });
  after(async () => {
    await new Promise<void>((resolve) => failingBus?.close(() => resolve()));
    await service?.stop();
  });

  function runtimeService(endpoint: string, enabledChannels: string[], types = service.config.notificationTypes) {
    const events = new EventBridgeClient({ endpoint });
    return makeHttpApiHandler(
      makeNotificationService({
        ddb: service.ddb,
        s3: service.s3,
        events,
        tables: { contacts: service.names.contacts, settings: service.names.settings, log: service.names.log },
        templatesBucket: service.names.bucket,
        busName: service.names.bus,
        enabledChannels,
        types,
        logger: () => {},
      }),
    );
  }

  it("answers 503 for failed entries, keeps their rows created, and a retry puts those but no row a worker has claimed", async () => {
    const userId = `u-fail-${Date.now()}`;
    await service.putContact({ userId, email: "ada@example.com", phone: "+14155550123" });
    const eventId = `evt-fail-${Date.now()}`;
    const body = JSON.stringify({ eventId, userId, type: "security.alert", data: { event: "sign-in", location: "Lisbon", time: "10:00" } });
    failDetailType = "notification.sms";
    const failing = runtimeService(`http://127.0.0.1:${(failingBus.address() as AddressInfo).port}`, ["websocket", "email", "sms"]);

    const first = await failing({ body });
    expect(first.statusCode).to.equal(503);
    const answer = JSON.parse(first.body!);
    expect(answer).to.deep.include({ retryable: true, eventId, channels: { websocket: "queued", email: "queued" } });
    expect(answer.failed).to.deep.equal([{ channel: "sms", reason: "ThrottlingException: Rate exceeded" }]);
    expect(first.headers!["retry-after"]).to.equal("1");
    const log = makeNotificationLog({ ddb: service.ddb, table: service.names.log });
    expect(await log.get(eventId, "sms")).to.include({ status: "created" });
    // The workers have the channels that reached the bus by the time the producer retries.
    expect((await log.claim(eventId, "websocket", 30)).result).to.equal("claimed");
    expect((await log.claim(eventId, "email", 30)).result).to.equal("claimed");

    const retry = await runtimeService(service.bus.endpoint, ["websocket", "email", "sms"])({ body });
    await service.bus.idle();
    expect(retry.statusCode).to.equal(202);
    expect(JSON.parse(retry.body!).channels).to.deep.equal({ websocket: "duplicate", email: "duplicate", sms: "queued" });
    expect(service.events.filter((e) => (e.detail as any).eventId === eventId).map((e) => e["detail-type"])).to.deep.equal([
      "notification.sms",
    ]);
    expect(await log.get(eventId, "sms")).to.include({ status: "created" });
  });

  it("puts at most 10 entries per PutEvents call, the calls at once", async () => {
    calls = [];
    failDetailType = "";
    const channels = Array.from({ length: 12 }, (_, i) => `custom-${i}`);
    const handler = runtimeService(`http://127.0.0.1:${(failingBus.address() as AddressInfo).port}`, channels, {
      "ops.broadcast": { defaultOptIn: true },
    });
    const result = await handler({
      body: JSON.stringify({ userId: "ops", type: "ops.broadcast", message: "Maintenance at 22:00\nExpect a short outage." }),
    });
    expect(result.statusCode).to.equal(202);
    calls.sort((a, b) => b.entries.length - a.entries.length); // both calls are in flight together
    expect(calls.map((c) => c.entries.length)).to.deep.equal([10, 2]);
    const detail = JSON.parse(calls[0].entries[0].Detail);
    expect(detail.content).to.deep.equal({ text: "Maintenance at 22:00\nExpect a short outage.", subject: "Maintenance at 22:00" });
    expect(calls[0].entries[0]).to.include({ Source: "tidings", DetailType: "notification.custom-0", EventBusName: service.names.bus });
  });

  it("answers 500 without details when a table is unreachable, and never throws", async () => {
    const broken = makeHttpApiHandler(
      makeNotificationService({
        ddb: service.ddb,
        s3: service.s3,
        events: new EventBridgeClient({ endpoint: service.bus.endpoint }),
        tables: { contacts: "no-such-table", settings: "no-such-table", log: "no-such-table" },
        templatesBucket: service.names.bucket,
        busName: service.names.bus,
        enabledChannels: ["websocket"],
        types: { "order.shipped": { defaultOptIn: true } },
        logger: () => {},
      }),
    );
    const result = await broken({ body: JSON.stringify({ userId: "u", type: "order.shipped", message: "hi" }) });
    expect(result.statusCode).to.equal(500);
    expect(result.body).to.not.include("no-such-table");
    const invalidUtf8 = await broken({ body: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString("base64"), isBase64Encoded: true });
    expect(invalidUtf8.statusCode).to.equal(400);
    expect(JSON.parse(invalidUtf8.body!).problems).to.deep.equal([{ field: "body", problem: "is not UTF-8 text" }]);
  });
});
