import { randomBytes } from "node:crypto";
import { expect } from "chai";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, PutCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import { type LocalAws, startLocalAws } from "../local/aws";
import { CHANNEL_NAME_PATTERN } from "../runtime/config";
import type { ChannelDelivery } from "../runtime/contracts";
import {
  createdDayShard,
  makeNotificationLog,
  NOTIFICATION_ITEM,
  type NewLogEntry,
  oversizeNotification,
} from "../runtime/notificationLog";

describe("notification log (dynalite)", () => {
  let aws: LocalAws;
  let ddb: DynamoDBDocumentClient;
  before(async () => {
    aws = await startLocalAws();
    aws.applyEnv();
    await aws.createTables({ notificationLog: "log-test" });
    ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}));
  });
  after(async () => {
    ddb.destroy();
    await aws.stop();
  });

  it("creates a row once and answers 'exists' for the same eventId and channel", async () => {
    const log = makeNotificationLog({ ddb, table: "log-test", now: () => Date.parse("2026-11-23T10:00:00Z"), ttlDays: 1 });
    const entry = { eventId: "e1", channel: "email", userId: "u1", type: "order.shipped", status: "created" as const };
    expect(await log.create(entry)).to.equal("created");
    expect(await log.create({ ...entry, status: "error" })).to.equal("exists");
    expect(await log.create({ ...entry, channel: "sms" })).to.equal("created");
    const row = await log.get("e1", "email");
    expect(row).to.include({ status: "created", userId: "u1", attempts: 0, createdAt: "2026-11-23T10:00:00.000Z" });
    expect(row!.ttl).to.equal(Date.parse("2026-11-24T10:00:00Z") / 1000);
  });

  it("moves status on, counting attempts and recording provider details", async () => {
    const log = makeNotificationLog({ ddb, table: "log-test" });
    await log.create({ eventId: "e2", channel: "sms", userId: "u2", type: "t", status: "created" });
    await log.setStatus("e2", "sms", "pending");
    await log.setStatus("e2", "sms", "pending", { reason: "throttled", countAttempt: true });
    await log.setStatus("e2", "sms", "sent", { provider: "sns", providerMessageId: "m-1", countAttempt: true });
    // The earlier try's reason is gone with the later status.
    expect((await log.get("e2", "sms"))?.reason).to.equal(undefined);
    expect(await log.get("e2", "sms")).to.include({
      status: "sent",
      provider: "sns",
      providerMessageId: "m-1",
      attempts: 2,
    });
    expect(await log.get("e2", "email")).to.equal(undefined);
  });

  /** Every stored item of one eventId, raw. */
  const itemsOf = async (eventId: string) =>
    (
      await ddb.send(
        new QueryCommand({
          TableName: "log-test",
          KeyConditionExpression: "eventId = :e",
          ExpressionAttributeValues: { ":e": eventId },
          ConsistentRead: true,
        }),
      )
    ).Items ?? [];

  const entry = (eventId: string, channel: string, extra: Partial<NewLogEntry> = {}): NewLogEntry => ({
    eventId,
    channel,
    userId: "u3",
    type: "order.shipped",
    status: "created",
    requestDigest: "digest-a",
    ...extra,
  });

  it("keeps one item per notification, under a sort key no channel name can take", async () => {
    expect(CHANNEL_NAME_PATTERN.test(NOTIFICATION_ITEM)).to.equal(false);
    const log = makeNotificationLog({ ddb, table: "log-test" });
    const answers = await log.createAll([
      entry("n1", "email", { digest: "d-email" }),
      entry("n1", "sms"),
      entry("n1", "slack", { status: "unsubscribed", reason: "opted out" }),
    ]);
    expect(answers.map((a) => a.outcome)).to.deep.equal(["created", "created", "created"]);
    const items = await itemsOf("n1");
    expect(items).to.have.length(1);
    expect(items[0]).to.include({ channel: NOTIFICATION_ITEM, userId: "u3", type: "order.shipped", requestDigest: "digest-a" });
    expect(Object.keys(items[0].deliveries).sort()).to.deep.equal(["email", "slack", "sms"]);
    expect([...items[0].unfinishedChannels].sort(), "channels still to deliver").to.deep.equal(["email", "sms"]);
    expect(await log.get("n1", "email")).to.include({
      eventId: "n1",
      channel: "email",
      userId: "u3",
      status: "created",
      digest: "d-email",
    });
    expect((await log.rowsOf("n1")).map((r) => `${r.channel}:${r.status}`).sort()).to.deep.equal([
      "email:created",
      "slack:unsubscribed",
      "sms:created",
    ]);
  });

  it("answers a retry per channel, adds a channel the notification lacks, and a conflict for another user or request digest writes nothing", async () => {
    const log = makeNotificationLog({ ddb, table: "log-test" });
    await log.createAll([entry("n2", "email")]);
    expect(await log.claim("n2", "email", 30)).to.include({ result: "claimed" });
    const retry = await log.createAll([entry("n2", "email"), entry("n2", "sms")]);
    expect(retry[0]).to.deep.include({ outcome: "exists" });
    expect(retry[0].outcome === "exists" && retry[0].existing?.status).to.equal("pending");
    expect(retry[1]).to.deep.equal({ outcome: "created" });
    const before = await itemsOf("n2");
    expect([...before[0].unfinishedChannels].sort()).to.deep.equal(["email", "sms"]);
    const otherUser = await log.createAll([entry("n2", "email", { userId: "u4" }), entry("n2", "push", { userId: "u4" })]);
    const otherContent = await log.createAll([entry("n2", "push", { requestDigest: "digest-b" })]);
    expect([...otherUser, ...otherContent].map((a) => a.outcome)).to.deep.equal(["conflict", "conflict", "conflict"]);
    expect(await itemsOf("n2"), "nothing written").to.deep.equal(before);
  });

  it("keeps the unfinished set in step with each channel's status, which the reconciler reads from the index", async () => {
    let clock = Date.parse("2026-11-20T10:00:00Z");
    const log = makeNotificationLog({ ddb, table: "log-test", now: () => clock });
    const delivery = { eventId: "n3", channel: "email" } as ChannelDelivery;
    await log.createAll([
      entry("n3", "email", { delivery }),
      entry("n3", "sms", { delivery: { ...delivery, channel: "sms" } }),
      entry("n3", "slack"),
    ]);
    await log.claim("n3", "email", 30);
    await log.setStatus("n3", "email", "sent", { provider: "ses", countAttempt: true, releaseClaim: true });
    await log.claim("n3", "slack", 30);
    await log.setStatus("n3", "slack", "error", { reason: "webhook gone", countAttempt: true, releaseClaim: true });
    expect([...(await itemsOf("n3"))[0].unfinishedChannels]).to.deep.equal(["sms"]);
    expect(await log.get("n3", "email"), "the sent content is not kept").to.not.have.property("delivery");

    clock += 60 * 60_000;
    const scanned = async () => {
      const rows = [];
      for await (const page of log.unfinishedBetween(
        new Date(clock - 24 * 3_600_000).toISOString(),
        new Date(clock - 15 * 60_000).toISOString(),
      ))
        rows.push(...page.filter((r) => r.eventId === "n3"));
      return rows;
    };
    const [stuck, ...others] = await scanned();
    expect(others).to.deep.equal([]);
    expect(stuck).to.include({ eventId: "n3", channel: "sms", status: "created", userId: "u3" });
    expect(await log.takeStuck(stuck, "reput")).to.equal(true);
    expect(await log.takeStuck(stuck, "reput"), "seen updatedAt changed").to.equal(false);
    expect(await log.get("n3", "sms")).to.include({ status: "pending", reputs: 1 });
    clock += 60 * 60_000;
    const [again] = await scanned();
    expect(await log.takeStuck(again, "expire", "given up")).to.equal(true);
    expect(await log.get("n3", "sms"))
      .to.include({ status: "error", reason: "given up" })
      .and.not.have.property("delivery");
    expect((await itemsOf("n3"))[0]).to.not.have.property("unfinishedChannels");
    expect(await scanned()).to.deep.equal([]);
  });

  it("lists for the reconciler only unfinished notifications of its window, read from an index that holds their keys and unfinished set", async () => {
    const now = Date.parse("2026-11-26T01:00:00Z");
    const hoursAgo = (hours: number) => now - hours * 3_600_000;
    const createdAt = (hours: number) => makeNotificationLog({ ddb, table: "log-test", now: () => hoursAgo(hours) });
    await createdAt(30).createAll([entry("w-old", "email")]); // before the window
    await createdAt(2).createAll([entry("w-yesterday", "email"), entry("w-yesterday", "sms")]); // 23:00 the day before
    await createdAt(1).createAll([entry("w-done", "email")]);
    const done = createdAt(1);
    await done.claim("w-done", "email", 30);
    await done.setStatus("w-done", "email", "sent", { countAttempt: true, releaseClaim: true });
    await createdAt(0.1).createAll([entry("w-fresh", "email")]); // not yet stuck

    // What the reconciler reads per notification: the keys and the unfinished set, not the content.
    const indexed = await ddb.send(
      new QueryCommand({
        TableName: "log-test",
        IndexName: "byCreatedDay",
        KeyConditionExpression: "createdDayShard = :b",
        ExpressionAttributeValues: { ":b": createdDayShard("w-yesterday", new Date(hoursAgo(2)).toISOString()) },
      }),
    );
    const row = indexed.Items?.find((item) => item.eventId === "w-yesterday");
    expect(Object.keys(row ?? {}).sort()).to.deep.equal(["channel", "createdAt", "createdDayShard", "eventId", "unfinishedChannels"]);

    const fetched: string[] = [];
    // The same client with its send watched (still a DynamoDBDocumentClient, as the paginator requires).
    const counting: DynamoDBDocumentClient = Object.create(ddb, {
      send: {
        value: (command: { input: { RequestItems?: Record<string, { Keys: { eventId: string }[] }> } }) => {
          for (const { Keys } of Object.values(command.input.RequestItems ?? {})) fetched.push(...Keys.map((k) => k.eventId));
          return ddb.send(command as never);
        },
      },
    });
    const log = makeNotificationLog({ ddb: counting, table: "log-test" });
    const listed = [];
    for await (const page of log.unfinishedBetween(new Date(hoursAgo(24)).toISOString(), new Date(now - 15 * 60_000).toISOString()))
      listed.push(...page.filter((r) => r.eventId.startsWith("w-")));
    expect(listed.map((r) => `${r.eventId}:${r.channel}`).sort()).to.deep.equal(["w-yesterday:email", "w-yesterday:sms"]);
    expect(
      fetched.filter((id) => id.startsWith("w-")),
      "only unfinished notifications of the window are read whole",
    ).to.deep.equal(["w-yesterday"]);
  });

  it("erases every item of one user, of both layouts, through the keys-only index, and no one else's", async () => {
    const log = makeNotificationLog({ ddb, table: "log-test" });
    const user = (eventId: string, channel: string) => entry(eventId, channel, { userId: "erased-user" });
    for (let i = 0; i < 30; i++) await log.createAll([user(`x${i}`, "email"), user(`x${i}`, "sms")]); // more than one BatchWriteItem
    await ddb.send(
      new PutCommand({
        TableName: "log-test",
        Item: {
          eventId: "x-old",
          channel: "sms",
          userId: "erased-user",
          type: "t",
          status: "pending",
          createdAt: "2026-11-20T10:00:00.000Z",
        },
      }),
    );
    await log.createAll([entry("x-kept", "email", { userId: "kept-user" })]);

    expect(await log.eraseUser("erased-user")).to.equal(31);
    expect(await itemsOf("x0")).to.deep.equal([]);
    expect(await itemsOf("x29")).to.deep.equal([]);
    expect(await itemsOf("x-old")).to.deep.equal([]);
    expect(await itemsOf("x-kept")).to.have.length(1);
    // What a worker then finds for a delivery still queued: nothing, so it sends nothing.
    expect((await log.claimExisting("x0", "email", 30)).row).to.equal(undefined);
    expect(await log.eraseUser("erased-user")).to.equal(0);
  });

  it("reads and moves on rows of the earlier one-row-per-channel layout (deliveries accepted before an upgrade)", async () => {
    const at = "2026-11-20T10:00:00.000Z";
    const legacy = { eventId: "old1", userId: "u5", type: "order.shipped", createdAt: at, updatedAt: at, attempts: 0, requestDigest: "r" };
    const delivery = { eventId: "old1", channel: "sms" } as ChannelDelivery;
    await ddb.send(new PutCommand({ TableName: "log-test", Item: { ...legacy, channel: "email", status: "created", digest: "d1" } }));
    await ddb.send(new PutCommand({ TableName: "log-test", Item: { ...legacy, channel: "sms", status: "pending", delivery } }));
    const log = makeNotificationLog({ ddb, table: "log-test" });
    expect(await log.get("old1", "email")).to.include({ status: "created", digest: "d1" });
    const claim = await log.claimExisting("old1", "email", 30);
    expect(claim.result).to.equal("claimed");
    expect(claim.row).to.include({ status: "created", digest: "d1" });
    expect((await log.claimExisting("old1", "email", 30)).result).to.equal("busy");
    expect(await log.setStatus("old1", "email", "sent", { provider: "ses", countAttempt: true, releaseClaim: true })).to.equal("updated");
    expect((await log.claimExisting("old1", "email", 30)).result).to.equal("sent");
    expect(await log.advance("old1", "email", "opened")).to.equal("updated");
    expect(await log.advance("old1", "email", "opened")).to.equal("kept");
    expect((await log.rowsOf("old1")).map((r) => `${r.channel}:${r.status}`).sort()).to.deep.equal(["email:opened", "sms:pending"]);
    // The reconciler reads the byCreatedDay index, which holds no row of the earlier layout (README,
    // "Upgrading a deployed stack"); a stuck one can still be taken.
    const listed = [];
    for await (const page of log.unfinishedBetween("2026-11-19T00:00:00.000Z", new Date().toISOString())) listed.push(...page);
    expect(listed.filter((r) => r.eventId === "old1")).to.deep.equal([]);
    const stuck = (await log.rowsOf("old1")).filter((r) => r.status === "pending");
    expect(stuck.map((r) => r.channel)).to.deep.equal(["sms"]);
    expect(await log.takeStuck(stuck[0], "reput")).to.equal(true);
    expect(await log.get("old1", "sms")).to.include({ status: "pending", reputs: 1 });
    expect(await log.setStatus("old1", "push", "sent"), "no row is made up").to.equal("kept");
    expect((await log.claimExisting("old1", "push", 30)).row).to.equal(undefined);
    expect((await itemsOf("old1")).map((i) => i.channel).sort()).to.deep.equal(["email", "sms"]);
  });

  it("measures the item a notification needs against DynamoDB's 400 KB as stored (deliveries deflated), with room for what workers add", () => {
    // Random text deflates to about 3/4 of its size (base64url: 6 bits a character), markup far more.
    const random = (chars: number) =>
      randomBytes(Math.ceil((chars * 3) / 4))
        .toString("base64url")
        .slice(0, chars);
    const content = (text: string) => ({ eventId: "n4", channel: "email", content: { text } }) as unknown as ChannelDelivery;
    const four = (text: string) =>
      ["email", "sms", "slack", "websocket"].map((channel) => entry("n4", channel, { delivery: content(text) }));
    expect(oversizeNotification([entry("n4", "email", { delivery: content(random(100_000)) })])).to.equal(undefined);
    expect(oversizeNotification(four(random(120_000))), "4 × 120 KB of random text fits deflated").to.equal(undefined);
    const over = oversizeNotification(four(random(135_000)));
    expect(over?.bytes).to.be.within(4 * 0.75 * 135_000, 4 * 0.77 * 135_000);
    expect(over?.limit).to.equal(400 * 1024 - 8 * 1024 - 4 * 2 * 1024);
    expect(oversizeNotification(four(`<p>${"<b>row</b> ".repeat(10_000)}</p>`)), "4 × 110 KB of markup fits").to.equal(undefined);
  });

  it("keeps each channel's delivery deflated, reads it back whole, and reads records written before as they are", async () => {
    const log = makeNotificationLog({ ddb, table: "log-test" });
    const rows = Array.from({ length: 200 }, (_, i) => `<tr><td style="padding:8px;color:#333">Item ${i}</td><td>${i}.99</td></tr>`);
    const email = {
      eventId: "n5",
      userId: "u3",
      type: "order.shipped",
      channel: "email",
      kind: "actionable",
      content: { subject: "Your order", text: "Your order has shipped.", html: `<table>${rows.join("")}</table>` },
      callback: "https://shop.example.com/orders/5",
      address: { email: "u3@example.com" },
      createdAt: "2026-11-30T10:00:00.000Z",
    } as ChannelDelivery;
    await log.createAll([entry("n5", "email", { delivery: email }), entry("n5", "sms", { delivery: { ...email, channel: "sms" } })]);
    const [item] = await itemsOf("n5");
    const stored = item.deliveries.email.delivery;
    expect(stored).to.be.instanceOf(Uint8Array);
    expect(stored.byteLength, "a fraction of the delivery's JSON").to.be.below(JSON.stringify(email).length / 5);
    expect((await log.get("n5", "email"))?.delivery).to.deep.equal(email);
    expect((await log.rowsOf("n5")).map((r) => r.delivery?.channel).sort()).to.deep.equal(["email", "sms"]);
    // A record written as a map (before deliveries were deflated) reads back the same.
    await ddb.send(
      new PutCommand({
        TableName: "log-test",
        Item: { ...item, eventId: "n6", deliveries: { email: { ...item.deliveries.email, delivery: email } } },
      }),
    );
    expect((await log.get("n6", "email"))?.delivery).to.deep.equal(email);
    const claimed = await log.claim("n6", "email", 30);
    expect(claimed.result).to.equal("claimed");
    expect(claimed.row?.delivery).to.deep.equal(email);
  });
});
