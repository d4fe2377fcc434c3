/**
 * The operations Lambdas as `pulumi up` would ship them (serialized factories), run against dynalite and
 * the local bus: the status route's function, the reconciler, and the EMF metric lines the shipped
 * worker and producer API print (parsed from what they write to stdout).
 */
import { deliveryDigest } from "../runtime/deliveryDigest";
import { randomUUID } from "node:crypto";
import { expect } from "chai";
import * as aws from "@pulumi/aws";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { NotificationChannel } from "../components/NotificationChannel";
import { NotificationLogTable } from "../components/NotificationLogTable";
import { NotificationStatusRoute } from "../components/NotificationStatusRoute";
import { PolitenessTable } from "../components/PolitenessTable";
import { Reconciler } from "../components/Reconciler";
import { type LocalAws, startLocalAws } from "../local/aws";
import { type EventBridgeEvent, type LocalEventBus, startEventBus } from "../local/eventBridge";
import type { ChannelDelivery, HttpResult, SqsBatchResponse, SqsEvent } from "../runtime/contracts";
import { type EmfLine, makeMetrics, parseEmfLine } from "../runtime/metrics";
import { makeNotificationLog } from "../runtime/notificationLog";
import type { ReconcileReport } from "../runtime/reconciler";
import type { StatusApiEvent } from "../runtime/statusApi";
import { settle, useMocks, outputValue as outputOf } from "../testing";
import { asProducer, loadShipped } from "./helpers/shipped";
import { startShippedService } from "./hostile/shippedService";

/** Runs `work` and returns the EMF lines written to stdout meanwhile (other output passes through). */
async function emfDuring<T>(work: () => Promise<T>): Promise<{ result: T; lines: EmfLine[] }> {
  const lines: EmfLine[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
    const text = String(chunk);
    const parsed = text.split("\n").map(parseEmfLine);
    if (parsed.some(Boolean)) {
      for (const line of parsed) if (line) lines.push(line);
      return true;
    }
    return (write as any).call(process.stdout, chunk, ...rest);
  }) as typeof process.stdout.write;
  try {
    return { result: await work(), lines };
  } finally {
    process.stdout.write = write;
  }
}

const valueOfMetric = (lines: EmfLine[], name: string) =>
  lines.filter((l) => l._aws.CloudWatchMetrics[0].Metrics.some((m) => m.Name === name));

function delivery(channel: string, eventId = `evt-${randomUUID()}`, text = "hello"): ChannelDelivery {
  return {
    eventId,
    userId: "ada",
    type: "order.shipped",
    channel,
    kind: "feedback",
    content: { text },
    address: {},
    createdAt: new Date(Date.now() - 1500).toISOString(),
  };
}

describe("operations Lambdas (shipped code, local servers)", function () {
  this.timeout(90_000);
  let localAws: LocalAws;
  let bus: LocalEventBus;
  let ddb: DynamoDBDocumentClient;
  let logTable: string;
  let busName: string;
  const events: EventBridgeEvent[] = [];
  let status: (event: StatusApiEvent) => Promise<HttpResult>;
  let reconcile: (event: unknown) => Promise<ReconcileReport>;
  let worker: (event: SqsEvent) => Promise<SqsBatchResponse>;

  before(async () => {
    localAws = await startLocalAws();
    localAws.applyEnv();
    bus = await startEventBus();
    process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = bus.endpoint;
    useMocks();
    const kmsKeyArn = "arn:aws:kms:us-east-1:000000000000:key/local";
    const eventBus = new aws.cloudwatch.EventBus("notifications", {});
    const notificationLogTable = new NotificationLogTable("notification-log", { kmsKeyArn });
    const politenessTable = new PolitenessTable("politeness", { kmsKeyArn });
    const route = new NotificationStatusRoute("status", {
      api: { id: "api-id", executionArn: "arn:aws:execute-api:us-east-1:000000000000:api-id" },
      authorizationType: "AWS_IAM",
      notificationLogTable,
      kmsKeyArn,
    });
    const reconciler = new Reconciler("reconciler", {
      notificationLogTable,
      bus: eventBus,
      kmsKeyArn,
      alertsTopicArn: "arn:aws:sns:us-east-1:000000000000:alerts",
      stuckAfterMinutes: 15,
      maxReputs: 2,
    });
    const pager = new NotificationChannel("pager", {
      channel: "pager",
      bus: eventBus,
      notificationLogTable,
      politenessTable,
      kmsKeyArn,
      alertsTopicArn: "arn:aws:sns:us-east-1:000000000000:alerts",
      provider: {
        type: "inline",
        name: "pager",
        statements: () => [],
        create: () => ({
          name: "pager",
          send: async (d) =>
            d.content.text === "fail"
              ? { outcome: "permanent", reason: "no such pager" }
              : d.content.text === "later"
                ? { outcome: "retryable", reason: "busy" }
                : { outcome: "sent" },
        }),
      },
    });
    await settle();
    logTable = await outputOf(notificationLogTable.name);
    busName = await outputOf(eventBus.name);
    await localAws.createTables({ notificationLog: logTable, politeness: await outputOf(politenessTable.name) });
    ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } });
    bus.addRule({ name: "see-all", eventBusName: busName, pattern: { source: ["tidings"] }, target: async (e) => void events.push(e) });
    status = asProducer((await loadShipped(route.function)).handler);
    reconcile = (await loadShipped(reconciler.function)).handler;
    worker = (await loadShipped(pager.worker)).handler;
  });
  after(async () => {
    ddb?.destroy();
    await bus?.stop();
    await localAws?.stop();
  });

  it("status function: 200 with every channel's status, 404 for an unknown id, 400 naming eventId for a malformed one", async () => {
    const log = makeNotificationLog({ ddb, table: logTable });
    const eventId = `evt-${randomUUID()}`;
    await log.create({ eventId, channel: "email", userId: "ada", type: "order.shipped", status: "created" });
    await log.setStatus(eventId, "email", "sent", { provider: "ses", countAttempt: true });
    await log.create({ eventId, channel: "sms", userId: "ada", type: "order.shipped", status: "unsubscribed", reason: "opted out" });
    const ok = await status({ pathParameters: { eventId } });
    expect(ok.statusCode).to.equal(200);
    const body = JSON.parse(ok.body!);
    expect(body).to.include({ eventId, userId: "ada", type: "order.shipped" });
    expect(body.channels.email).to.include({ status: "sent", provider: "ses", attempts: 1 });
    expect(body.channels.sms).to.include({ status: "unsubscribed", reason: "opted out", attempts: 0 });
    expect(Object.keys(body.channels).sort()).to.deep.equal(["email", "sms"]);
    const missing = await status({ pathParameters: { eventId: "nope" } });
    expect([missing.statusCode, JSON.parse(missing.body!)]).to.deep.equal([404, { error: "not found", eventId: "nope" }]);
    const bad = await status({ pathParameters: { eventId: "a/b" } });
    expect(bad.statusCode).to.equal(400);
    expect(JSON.parse(bad.body!).problems[0].field).to.equal("eventId");
  });

  it("reconciler: puts a stuck row's event on the bus again, gives up on one past maxReputs or without content, and prints what it did as EMF", async () => {
    const past = Date.now() - 20 * 60_000;
    const oldLog = makeNotificationLog({ ddb, table: logTable, now: () => past });
    const stuck = delivery("pager");
    await oldLog.create({
      eventId: stuck.eventId,
      channel: "pager",
      userId: "ada",
      type: "order.shipped",
      status: "created",
      delivery: stuck,
    });
    await oldLog.setStatus(stuck.eventId, "pager", "pending");
    const bare = `evt-${randomUUID()}`;
    await oldLog.create({ eventId: bare, channel: "pager", userId: "ada", type: "order.shipped", status: "created" });
    const tired = delivery("pager");
    await oldLog.create({
      eventId: tired.eventId,
      channel: "pager",
      userId: "ada",
      type: "order.shipped",
      status: "created",
      delivery: tired,
    });
    for (let i = 0; i < 2; i++) expect(await oldLog.takeStuck((await oldLog.get(tired.eventId, "pager"))!, "reput")).to.equal(true);
    const fresh = delivery("pager");
    await makeNotificationLog({ ddb, table: logTable }).create({
      eventId: fresh.eventId,
      channel: "pager",
      userId: "ada",
      type: "order.shipped",
      status: "created",
      delivery: fresh,
    });

    const { result, lines } = await emfDuring(() => reconcile({}));
    await bus.idle();
    expect(result).to.include({ reput: 1, expired: 2, putFailed: 0 });
    const put = events.filter((e) => (e.detail as any).eventId === stuck.eventId);
    expect(put).to.have.length(1);
    expect(put[0]["detail-type"]).to.equal("notification.pager");
    expect(put[0].detail).to.deep.equal(stuck);
    expect(events.some((e) => (e.detail as any).eventId === fresh.eventId)).to.equal(false);
    const log = makeNotificationLog({ ddb, table: logTable });
    expect(await log.get(stuck.eventId, "pager")).to.include({ status: "pending", reputs: 1 });
    const expired = await log.get(bare, "pager");
    expect(expired?.status).to.equal("error");
    expect(expired?.reason).to.match(/no content was kept/);
    const given = await log.get(tired.eventId, "pager");
    expect(given).to.include({ status: "error", reason: "still pending after 2 puts by the reconciler" });
    expect(given, "content is dropped once decided").to.not.have.property("delivery");
    expect(await log.get(stuck.eventId, "pager")).to.have.property("delivery");
    expect(events.some((e) => (e.detail as any).eventId === tired.eventId)).to.equal(false);
    expect(valueOfMetric(lines, "reconciled.reput").map((l) => [l.channel, l.type, l["reconciled.reput"]])).to.deep.equal([
      ["pager", "order.shipped", 1],
    ]);
    expect(valueOfMetric(lines, "reconciled.expired")).to.have.length(2);
    // Right after the put the row is fresh again: a second run leaves it alone.
    expect((await reconcile({})).reput).to.equal(0);
  });

  it("worker: prints sent + deliveryLatency, failed, retried and duplicate as EMF lines with channel and type×channel dimensions", async () => {
    const record = (d: ChannelDelivery, id = randomUUID()) => ({
      messageId: id,
      body: JSON.stringify({ id: randomUUID(), source: "tidings", "detail-type": "notification.pager", detail: d }),
      attributes: { ApproximateReceiveCount: "1" },
    });
    const ok = delivery("pager");
    const failing = delivery("pager", undefined, "fail");
    const later = delivery("pager", undefined, "later");
    // The service's record of each (row + digest): workers send only what the log confirms.
    const log = makeNotificationLog({ ddb, table: logTable });
    for (const d of [ok, failing, later]) {
      const { eventId, channel, userId, type } = d;
      await log.create({ eventId, channel, userId, type, status: "created", delivery: d, digest: deliveryDigest(d) });
    }
    const { lines } = await emfDuring(() => worker({ Records: [record(ok), record(failing), record(later)] }));
    const { lines: again } = await emfDuring(() => worker({ Records: [record(ok)] }));
    for (const line of [...lines, ...again]) {
      expect(line._aws.CloudWatchMetrics[0].Namespace).to.equal("Tidings");
      expect(line._aws.CloudWatchMetrics[0].Dimensions).to.deep.equal([["channel"], ["type", "channel"]]);
      expect([line.channel, line.type]).to.deep.equal(["pager", "order.shipped"]);
    }
    expect(valueOfMetric(lines, "sent")).to.have.length(1);
    const latency = valueOfMetric(lines, "deliveryLatency");
    expect(latency).to.have.length(1);
    expect(latency[0]._aws.CloudWatchMetrics[0].Metrics[0].Unit).to.equal("Milliseconds");
    expect(latency[0].deliveryLatency as number).to.be.within(1500, 60_000);
    expect(valueOfMetric(lines, "failed")).to.have.length(1);
    expect(valueOfMetric(lines, "retried")).to.have.length(1);
    expect(valueOfMetric(again, "duplicate")).to.have.length(1);
    expect(valueOfMetric(again, "sent")).to.have.length(0);
  });
});

describe("opened and clicked metrics", function () {
  this.timeout(30_000);
  it("are counted where the log row advances, once per transition, with the row's type", async () => {
    const localAws = await startLocalAws();
    const ddb = DynamoDBDocumentClient.from(
      new DynamoDBClient({
        endpoint: localAws.endpoints.dynamodb,
        region: localAws.region,
        credentials: { accessKeyId: "l", secretAccessKey: "l" },
      }),
    );
    try {
      await localAws.createTables({ notificationLog: "engagement-log" });
      const lines: string[] = [];
      const log = makeNotificationLog({ ddb, table: "engagement-log", metrics: makeMetrics({ write: (l) => lines.push(l) }) });
      const eventId = `evt-${randomUUID()}`;
      await log.create({ eventId, channel: "email", userId: "ada", type: "order.shipped", status: "created" });
      expect(await log.advance(eventId, "email", "opened")).to.equal("kept", "not delivered yet");
      await log.setStatus(eventId, "email", "sent", { releaseClaim: true });
      expect(await log.advance(eventId, "email", "opened")).to.equal("updated");
      expect(await log.advance(eventId, "email", "opened")).to.equal("kept");
      expect(await log.advance(eventId, "email", "clicked")).to.equal("updated");
      const parsed = lines.map((l) => parseEmfLine(l)!);
      expect(parsed.map((l) => [l._aws.CloudWatchMetrics[0].Metrics[0].Name, l.channel, l.type])).to.deep.equal([
        ["opened", "email", "order.shipped"],
        ["clicked", "email", "order.shipped"],
      ]);
    } finally {
      ddb.destroy();
      await localAws.stop();
    }
  });
});

describe("producer API metrics (shipped code)", function () {
  this.timeout(60_000);
  it("prints accepted, queued, skipped.<reason> and duplicate per channel, with no dimension but channel and type", async () => {
    const service = await startShippedService();
    try {
      await service.putContact({ userId: "ada", email: "ada@example.com" });
      await service.putSettings({ userId: "ada", channels: { websocket: false } });
      const body = {
        eventId: `evt-${randomUUID()}`,
        userId: "ada",
        type: "order.shipped",
        channels: ["websocket", "email", "sms"],
        message: "hi",
      };
      const { result, lines } = await emfDuring(() => service.post(body));
      expect(result.status).to.equal(202);
      const names = lines.map((l) => `${l._aws.CloudWatchMetrics[0].Metrics[0].Name}:${l.channel}`).sort();
      expect(names).to.deep.equal(
        [
          "accepted:email",
          "accepted:sms",
          "accepted:websocket",
          "queued:email",
          "skipped.no_address:sms",
          "skipped.opted_out:websocket",
        ].sort(),
      );
      for (const line of lines) {
        const keys = Object.keys(line).filter((k) => k !== "_aws" && !line._aws.CloudWatchMetrics[0].Metrics.some((m) => m.Name === k));
        expect(keys.sort()).to.deep.equal(["channel", "type"]);
      }
      // Once a worker holds the row, a retry is a duplicate (an unclaimed row is put again: see notify.shipped).
      expect((await makeNotificationLog({ ddb: service.ddb, table: service.names.log }).claim(body.eventId, "email", 30)).result).to.equal(
        "claimed",
      );
      const { lines: retry } = await emfDuring(() => service.post(body));
      expect(retry.filter((l) => "duplicate" in l).map((l) => l.channel)).to.deep.equal(["email"]);
    } finally {
      await service.stop();
    }
  });
});
