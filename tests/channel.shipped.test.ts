/**
 * Runs the worker code `pulumi up` would ship (serialized factories) against local servers: fauxqs
 * queues with the channel's redrive settings, dynalite tables, aws-ses-v2-local, and the SNS and Slack
 * sinks. A small poller plays the Lambda event source mapping: receive, invoke, delete what succeeded,
 * make reported failures visible again.
 */
import { expect } from "chai";
import { randomUUID } from "node:crypto";
import * as aws from "@pulumi/aws";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, QueryCommand } from "@aws-sdk/lib-dynamodb";
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { EncryptionKey } from "../components/EncryptionKey";
import { NotificationChannel } from "../components/NotificationChannel";
import { NotificationLogTable } from "../components/NotificationLogTable";
import { PolitenessTable } from "../components/PolitenessTable";
import type { ChannelProvider } from "../components/providers";
import { type LocalLambdaServer, startLocalLambda } from "../local/lambdaInvoke";
import { pollOnce as pollOnceFromQueue } from "../local/sqsPoller";
import type { LambdaProviderRequest } from "../runtime/providers/lambda";
import { FeedTable } from "../components/FeedTable";
import { makeFeed } from "../runtime/feed";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { type LocalAws, startLocalAws } from "../local/aws";
import { type SlackSink, type SnsSink, startSlackSink, startSnsSink } from "../local/sinks";
import { redrivePolicy } from "../runtime/channelQueues";
import type { ChannelDelivery, SqsBatchResponse, SqsEvent } from "../runtime/contracts";
import { deliveryDigest } from "../runtime/deliveryDigest";
import { makeNotificationLog, type NotificationLog } from "../runtime/notificationLog";
import { makeChannelWorker } from "../runtime/worker";
import { loadShipped } from "./helpers/shipped";
import { type MockedResource, settle, useMocks } from "../testing";

type Handler = (event: SqsEvent) => Promise<SqsBatchResponse>;

interface LiveChannel {
  channel: NotificationChannel;
  queueUrl: string;
  handler: Handler;
}

const SENDER = "notify@tidings.example";

function deliveryEvent(channel: string, detail: Partial<ChannelDelivery> & { userId: string }): { eventId: string; body: string } {
  const eventId = detail.eventId ?? `evt-${randomUUID()}`;
  const full: ChannelDelivery = {
    eventId,
    type: "order.shipped",
    channel,
    kind: "actionable",
    content: { subject: "Shipped", text: `Order for ${detail.userId} shipped` },
    callback: "https://shop.example.com/orders/42",
    address: {},
    createdAt: new Date().toISOString(),
    ...detail,
  };
  const body = JSON.stringify({
    version: "0",
    id: randomUUID(),
    source: "tidings",
    "detail-type": `notification.${channel}`,
    time: full.createdAt,
    detail: full,
  });
  return { eventId, body };
}

/** Decision lines the shipped worker prints while `fn` runs (and keeps them off the test output). */
async function decisionsDuring<T>(fn: () => Promise<T>): Promise<{ result: T; decisions: any[] }> {
  const original = console.log;
  const decisions: any[] = [];
  console.log = (line?: unknown) => {
    try {
      decisions.push(JSON.parse(String(line)));
    } catch {
      original(line);
    }
  };
  try {
    return { result: await fn(), decisions };
  } finally {
    console.log = original;
  }
}

describe("channel workers as shipped (local AWS)", function () {
  this.timeout(60_000);
  let localAws: LocalAws;
  let snsSink: SnsSink;
  let slackSink: SlackSink;
  let sqs: SQSClient;
  let ddb: DynamoDBDocumentClient;
  let log: NotificationLog;
  let resources: MockedResource[];
  let politenessTableName: string;
  /** Stand-in for the API Gateway management API: records PostToConnection calls. */
  let management: Server;
  const posted: { connectionId: string; frame: any }[] = [];
  const live: Record<string, LiveChannel> = {};
  /** Lambda Invoke stand-in running the pager channel's provider function, written in TypeScript. */
  let lambda: LocalLambdaServer;
  const PAGER_ARN = "arn:aws:lambda:us-east-1:000000000000:function:pager";
  const pagerAnswers: unknown[] = [];

  before(async () => {
    localAws = await startLocalAws();
    localAws.applyEnv();
    snsSink = await startSnsSink();
    slackSink = await startSlackSink();
    // SMS and push go to the SNS sink (fauxqs has no phone numbers or platform endpoints).
    process.env.AWS_ENDPOINT_URL_SNS = snsSink.endpoint;
    lambda = await startLocalLambda({
      [PAGER_ARN]: async (request: LambdaProviderRequest) => {
        const next = pagerAnswers.shift();
        if (next instanceof Error) throw next;
        return next ?? { outcome: "sent", providerMessageId: `page-${request.delivery.eventId}` };
      },
    });
    process.env.AWS_ENDPOINT_URL_LAMBDA = lambda.endpoint;
    sqs = new SQSClient({});
    ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}));
    management = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const match = /^\/dev\/@connections\/([^/]+)$/.exec(req.url ?? "");
        if (req.method !== "POST" || !match) return res.writeHead(404).end();
        posted.push({ connectionId: decodeURIComponent(match[1]), frame: JSON.parse(Buffer.concat(chunks).toString("utf8")) });
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => management.listen(0, "127.0.0.1", () => resolve()));
    const managementEndpoint = `http://127.0.0.1:${(management.address() as AddressInfo).port}/dev`;

    resources = useMocks();
    const key = new EncryptionKey("tidings");
    const bus = new aws.cloudwatch.EventBus("bus", {});
    const logTable = new NotificationLogTable("log", { kmsKeyArn: key.arn });
    const politenessTable = new PolitenessTable("politeness", { kmsKeyArn: key.arn });
    const connectionsTable = new aws.dynamodb.Table("connections", { attributes: [], hashKey: "connectionId" });
    const feedTable = new FeedTable("feed", { kmsKeyArn: key.arn });
    const common = {
      bus,
      notificationLogTable: logTable,
      politenessTable,
      kmsKeyArn: key.arn,
      alertsTopicArn: "arn:aws:sns:us-east-1:000000000000:alerts",
    };
    const localSlack: ChannelProvider = { type: "slack-webhook", allowedHosts: ["127.0.0.1"] };
    const channels = {
      email: new NotificationChannel("email", {
        ...common,
        channel: "email",
        provider: { type: "ses", from: SENDER, identityArns: ["arn:aws:ses:us-east-1:000000000000:identity/tidings.example"] },
      }),
      sms: new NotificationChannel("sms", { ...common, channel: "sms", provider: { type: "sns-sms", senderId: "Tidings" } }),
      slack: new NotificationChannel("slack", {
        ...common,
        channel: "slack",
        provider: localSlack,
        perUser: { limit: 10, windowSeconds: 3 },
      }),
      alerts: new NotificationChannel("alerts", {
        ...common,
        channel: "alerts",
        provider: localSlack,
        fallback: { type: "sns-sms" },
        failoverAfter: 2,
      }),
      websocket: new NotificationChannel("websocket", {
        ...common,
        channel: "websocket",
        provider: {
          type: "websocket",
          connectionsTable,
          managementEndpoint,
          executionArn: "arn:aws:execute-api:us-east-1:000000000000:local",
          stage: "dev",
        },
      }),
      // A provider written as a Lambda function (any language; TypeScript here), with a Slack fallback.
      pager: new NotificationChannel("pager", {
        ...common,
        channel: "pager",
        provider: { type: "lambda", functionArn: PAGER_ARN },
        fallback: localSlack,
        failoverAfter: 2,
      }),
      // The websocket provider with the in-app feed, as stack.ts wires it.
      inapp: new NotificationChannel("inapp", {
        ...common,
        channel: "inapp",
        provider: {
          type: "websocket",
          connectionsTable,
          managementEndpoint,
          executionArn: "arn:aws:execute-api:us-east-1:000000000000:local",
          stage: "dev",
          feedTable,
        },
      }),
    };
    for (let i = 0; i < 300 && resources.filter((r) => r.type === "aws:lambda/function:Function").length < 7; i++) await settle();

    const physical = (name: string, type: string) => resources.find((r) => r.name === name && r.type === type)!.state.name as string;
    await localAws.createTables({
      notificationLog: physical("log", "aws:dynamodb/table:Table"),
      politeness: physical("politeness", "aws:dynamodb/table:Table"),
      connections: physical("connections", "aws:dynamodb/table:Table"),
      feed: physical("feed", "aws:dynamodb/table:Table"),
    });
    log = makeNotificationLog({ ddb, table: physical("log", "aws:dynamodb/table:Table") });
    politenessTableName = physical("politeness", "aws:dynamodb/table:Table");

    for (const [name, channel] of Object.entries(channels)) {
      // The same queues the component declares, under the names the mocks gave them, with its redrive policy.
      const dlq = await sqs.send(new CreateQueueCommand({ QueueName: physical(`${name}-dlq`, "aws:sqs/queue:Queue") }));
      const dlqArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlq.QueueUrl, AttributeNames: ["QueueArn"] }))).Attributes!
        .QueueArn!;
      const queue = await sqs.send(
        new CreateQueueCommand({
          QueueName: physical(`${name}-queue`, "aws:sqs/queue:Queue"),
          Attributes: {
            RedrivePolicy: redrivePolicy(dlqArn, channel.settings),
            VisibilityTimeout: String(channel.settings.visibilityTimeoutSeconds),
          },
        }),
      );
      const shipped = await loadShipped(channel.worker);
      live[name] = { channel, queueUrl: queue.QueueUrl!, handler: shipped.handler };
    }
  });

  after(async () => {
    sqs?.destroy();
    ddb?.destroy();
    management?.closeAllConnections();
    await Promise.all([
      snsSink?.stop(),
      slackSink?.stop(),
      lambda?.stop(),
      localAws?.stop(),
      new Promise<void>((resolve) => (management ? management.close(() => resolve()) : resolve())),
    ]);
  });

  /** What the notification service does before it puts an event: the log row with the delivery's digest. */
  async function accept(body: string): Promise<void> {
    let delivery: ChannelDelivery | undefined;
    try {
      delivery = JSON.parse(body).detail;
    } catch {}
    if (typeof delivery?.eventId !== "string" || typeof delivery.channel !== "string") return; // a poison body: nothing to accept
    const { eventId, channel, userId, type } = delivery;
    await log.create({ eventId, channel, userId, type, status: "created", delivery, digest: deliveryDigest(delivery) });
  }

  /** Accepts the delivery (as the service would) and puts it on the channel's queue. */
  async function enqueue(name: string, body: string, options: { accepted?: boolean } = {}): Promise<void> {
    if (options.accepted ?? true) await accept(body);
    await sqs.send(new SendMessageCommand({ QueueUrl: live[name].queueUrl, MessageBody: body }));
  }

  /**
   * One poll of the event source mapping (local/sqsPoller.ts), received with no visibility timeout so a
   * reported failure is visible again at once.
   */
  async function pollOnce(name: string): Promise<{ received: number; response: SqsBatchResponse; decisions: any[] }> {
    const { queueUrl, handler } = live[name];
    let response: SqsBatchResponse = { batchItemFailures: [] };
    const { result, decisions } = await decisionsDuring(() =>
      pollOnceFromQueue({
        sqs,
        queueUrl,
        visibilityTimeoutSeconds: 0,
        handler: async (event) => (response = await handler(event)),
      }),
    );
    return { received: result.records.length, response, decisions };
  }

  async function storedMailsTo(address: string): Promise<any[]> {
    const store = (await (await fetch(`${localAws.endpoints.ses}/store`)).json()) as { emails: any[] };
    return store.emails.filter((m) => m.destination.to.includes(address));
  }

  it("delivers e-mail once through SES, logs it sent, and a redelivered copy sends nothing new", async () => {
    const to = `ada-${Date.now()}@example.com`;
    const { eventId, body } = deliveryEvent("email", { userId: "ada", channel: "email", address: { email: to } });
    await enqueue("email", body);
    const first = await pollOnce("email");
    expect(first.response.batchItemFailures).to.deep.equal([]);
    expect(first.decisions.map((d) => d.outcome)).to.deep.equal(["sent"]);
    const mails = await storedMailsTo(to);
    expect(mails).to.have.length(1);
    expect(mails[0]).to.include({ from: SENDER, subject: "Shipped" });
    expect(await log.get(eventId, "email")).to.include({
      status: "sent",
      provider: "ses",
      providerMessageId: mails[0].messageId,
      attempts: 1,
      userId: "ada",
    });

    await enqueue("email", body);
    const again = await pollOnce("email");
    expect(again.decisions.map((d) => d.outcome)).to.deep.equal(["duplicate"]);
    expect(await storedMailsTo(to)).to.have.length(1);
  });

  it("delivers SMS through SNS with its sender id; an invalid number ends `error` without a batch failure", async () => {
    const before = snsSink.received.length;
    const ok = deliveryEvent("sms", { userId: "bob", channel: "sms", address: { phone: "+15555550123" } });
    const bad = deliveryEvent("sms", { userId: "bob", channel: "sms", address: { phone: "555-0123" } });
    await enqueue("sms", ok.body);
    await enqueue("sms", bad.body);
    let failures = 0;
    for (let round = 0; round < 3; round++) failures += (await pollOnce("sms")).response.batchItemFailures.length;
    expect(failures).to.equal(0);
    const sent = snsSink.received.slice(before);
    expect(sent).to.have.length(1);
    expect(sent[0]).to.deep.include({
      phoneNumber: "+15555550123",
      attributes: { "AWS.SNS.SMS.SMSType": "Transactional", "AWS.SNS.SMS.SenderID": "Tidings" },
    });
    expect(await log.get(ok.eventId, "sms")).to.include({ status: "sent", provider: "sns-sms", providerMessageId: sent[0].messageId });
    const failed = await log.get(bad.eventId, "sms");
    expect(failed).to.include({ status: "error", provider: "sns-sms", attempts: 1 });
    expect(failed!.reason).to.contain("InvalidParameterException");
  });

  it("retries a Slack post that failed retryably twice, and ends `sent` with exactly one post", async () => {
    const webhookUrl = slackSink.webhookUrl();
    const { eventId, body } = deliveryEvent("slack", { userId: "cy", channel: "slack", address: { webhookUrl } });
    slackSink.failNext(2, 503);
    await enqueue("slack", body);
    const outcomes: string[] = [];
    for (let round = 0; round < 5 && outcomes.at(-1) !== "sent"; round++) {
      const poll = await pollOnce("slack");
      outcomes.push(...poll.decisions.map((d) => d.outcome));
      if (poll.decisions[0]?.outcome === "retry") expect(poll.response.batchItemFailures).to.have.length(1);
    }
    expect(outcomes).to.deep.equal(["retry", "retry", "sent"]);
    expect(slackSink.received.filter((p) => webhookUrl.endsWith(p.path))).to.have.length(1);
    expect(await log.get(eventId, "slack")).to.include({ status: "sent", provider: "slack-webhook", attempts: 3 });
    // What the worker records (status, reason, provider) never holds the webhook URL; the delivery the
    // service recorded for the reconciler does, in the KMS-encrypted table.
    const { delivery: _recorded, ...recordedByWorker } = (await log.get(eventId, "slack"))!;
    expect(JSON.stringify(recordedByWorker)).not.to.contain(webhookUrl);
    // Three receives, one politeness token: a retry does not count against the user again.
    const counters = await ddb.send(
      new QueryCommand({
        TableName: politenessTableName,
        KeyConditionExpression: "counterKey = :k",
        ExpressionAttributeValues: { ":k": "slack#cy" },
      }),
    );
    expect(counters.Items!.map((i) => i.count)).to.deep.equal([1]);
  });

  it("fails over to the fallback provider after failoverAfter retryable failures of the primary", async () => {
    const webhookUrl = slackSink.webhookUrl();
    const { eventId, body } = deliveryEvent("alerts", { userId: "dee", channel: "alerts", address: { webhookUrl, phone: "+15555550199" } });
    slackSink.failNext(2, 500);
    await enqueue("alerts", body);
    const providers: string[] = [];
    for (let round = 0; round < 5 && !providers.includes("sns-sms"); round++) {
      providers.push(...(await pollOnce("alerts")).decisions.map((d) => `${d.provider}:${d.outcome}`.replace(/:sent$/, "")));
    }
    expect(providers).to.deep.equal(["slack-webhook:retry", "slack-webhook:retry", "sns-sms"]);
    expect(snsSink.received.filter((m) => m.phoneNumber === "+15555550199")).to.have.length(1);
    expect(await log.get(eventId, "alerts")).to.include({ status: "sent", provider: "sns-sms", attempts: 3 });
  });

  it("delays the 11th message of a user in one politeness window, then delivers it", async () => {
    // Start right after a window boundary, so all eleven fall into one 3-second window.
    const windowMs = 3000;
    await new Promise((r) => setTimeout(r, windowMs - (Date.now() % windowMs) + 50));
    const webhookUrl = slackSink.webhookUrl();
    const events = Array.from({ length: 11 }, () => deliveryEvent("slack", { userId: "eve", channel: "slack", address: { webhookUrl } }));
    for (const e of events) await enqueue("slack", e.body);
    const decisions: any[] = [];
    while (decisions.length < 11) {
      const poll = await pollOnce("slack");
      if (poll.received === 0) break;
      expect(poll.response.batchItemFailures).to.deep.equal([]);
      decisions.push(...poll.decisions);
    }
    const posts = () => slackSink.received.filter((p) => webhookUrl.endsWith(p.path)).length;
    expect(decisions.filter((d) => d.outcome === "sent")).to.have.length(10);
    const delayed = decisions.filter((d) => d.outcome === "delayed");
    expect(delayed).to.have.length(1);
    expect(delayed[0].delaySeconds).to.be.within(1, 3);
    expect(posts()).to.equal(10);
    expect(await log.get(delayed[0].eventId, "slack")).to.include({ status: "pending", attempts: 0 });

    // The re-queued copy is invisible until its delay is over, then goes out in the next window.
    expect((await pollOnce("slack")).received).to.equal(0);
    await new Promise((r) => setTimeout(r, delayed[0].delaySeconds * 1000 + 200));
    const later = await pollOnce("slack");
    expect(later.decisions.map((d) => `${d.eventId}:${d.outcome}`)).to.deep.equal([`${delayed[0].eventId}:sent`]);
    expect(posts()).to.equal(11);
  });

  it("reports a poison record in batchItemFailures while the others of its batch are delivered", async () => {
    const webhookUrl = slackSink.webhookUrl();
    const good = [1, 2].map(() => deliveryEvent("slack", { userId: "fay", channel: "slack", address: { webhookUrl } }));
    const wrongChannel = deliveryEvent("email", { userId: "fay", channel: "email", address: { email: "fay@example.com" } });
    for (const g of good) await accept(g.body);
    const event: SqsEvent = {
      Records: [
        { messageId: "m-good-1", body: good[0].body, attributes: { ApproximateReceiveCount: "1" } },
        { messageId: "m-poison", body: "{not json", attributes: { ApproximateReceiveCount: "1" } },
        { messageId: "m-wrong-channel", body: wrongChannel.body, attributes: { ApproximateReceiveCount: "1" } },
        { messageId: "m-good-2", body: good[1].body, attributes: { ApproximateReceiveCount: "1" } },
      ],
    };
    const { result, decisions } = await decisionsDuring(() => live.slack.handler(event));
    expect(result.batchItemFailures).to.deep.equal([{ itemIdentifier: "m-poison" }, { itemIdentifier: "m-wrong-channel" }]);
    expect(decisions).to.have.length(4);
    expect(decisions.find((d) => d.messageId === "m-poison")).to.include({ outcome: "invalid", reason: "body is not JSON" });
    expect(decisions.find((d) => d.messageId === "m-wrong-channel").reason).to.contain('detail-type must be "notification.slack"');
    for (const g of good) expect(await log.get(g.eventId, "slack")).to.include({ status: "sent" });
    expect(slackSink.received.filter((p) => webhookUrl.endsWith(p.path))).to.have.length(2);
  });

  describe("trusts only what the notification log confirms", () => {
    it("refuses, logs and counts an event put on the queue without the service (no log row), and sends nothing", async () => {
      const stranger = "stranger@evil.example";
      const { eventId, body } = deliveryEvent("email", { userId: "mallory", channel: "email", address: { email: stranger } });
      await enqueue("email", body, { accepted: false });
      const poll = await pollOnce("email");
      expect(poll.decisions.map((d) => [d.outcome, d.reason])).to.deep.equal([
        ["refused", "no notification-log row: the service never accepted this delivery"],
      ]);
      expect(poll.response.batchItemFailures, "acknowledged: a forgery is not retried").to.deep.equal([]);
      expect(await storedMailsTo(stranger)).to.have.length(0);
      expect(await log.get(eventId, "email"), "no row is made up for it").to.equal(undefined);
    });

    it("refuses a delivery whose address or content differs from what the service recorded, and never sends it", async () => {
      const genuine = deliveryEvent("email", { userId: "nia", channel: "email", address: { email: "nia@example.com" } });
      await accept(genuine.body);
      const forged = JSON.parse(genuine.body);
      forged.detail.address.email = "stranger@evil.example";
      await enqueue("email", JSON.stringify(forged), { accepted: false });
      const poll = await pollOnce("email");
      expect(poll.decisions.map((d) => [d.outcome, d.reason])).to.deep.equal([
        ["refused", "the delivery differs from what the service recorded (digest mismatch)"],
      ]);
      expect(await storedMailsTo("stranger@evil.example")).to.have.length(0);
      expect(await log.get(genuine.eventId, "email")).to.include({ status: "created", attempts: 0 });
      // The genuine event still goes out.
      await enqueue("email", genuine.body, { accepted: false });
      expect((await pollOnce("email")).decisions.map((d) => d.outcome)).to.deep.equal(["sent"]);
    });

    it("counts a refusal as the `refused` metric, and lets a critical type skip the per-user politeness delay", async () => {
      const counted: string[] = [];
      const sent: string[] = [];
      const worker = makeChannelWorker({
        channel: "slack",
        primary: {
          name: "spy",
          send: async (d) => {
            sent.push(d.eventId);
            return { outcome: "sent" };
          },
        },
        log,
        politeness: { take: async () => ({ allowed: false, retryAfterSeconds: 600 }) }, // the user's budget is spent
        requeue: async () => {},
        metrics: { count: (name: string) => void counted.push(name), latency: () => {} } as any,
        logger: () => {},
      });
      const alert = deliveryEvent("slack", { userId: "ola", channel: "slack", type: "security.alert", critical: true });
      const routine = deliveryEvent("slack", { userId: "ola", channel: "slack" });
      const forged = deliveryEvent("slack", { userId: "ola", channel: "slack" });
      await accept(alert.body);
      await accept(routine.body);
      const records = [alert, routine, forged].map((e, i) => ({
        messageId: `c-${i}`,
        body: e.body,
        attributes: { ApproximateReceiveCount: "1" },
      }));
      expect((await worker({ Records: records })).batchItemFailures).to.deep.equal([]);
      expect(sent).to.deep.equal([alert.eventId]);
      expect(await log.get(routine.eventId, "slack")).to.include({ status: "pending" });
      expect(counted).to.include("refused");
    });
  });

  it("a poison message ends in the channel's DLQ after maxReceiveCount receives", async () => {
    await enqueue("sms", "{not json");
    for (let round = 0; round < live.sms.channel.settings.maxReceiveCount + 1; round++) await pollOnce("sms");
    const dlqName = resources.find((r) => r.name === "sms-dlq" && r.type === "aws:sqs/queue:Queue")!.state.name;
    const dlqUrl = live.sms.queueUrl.replace(/[^/]+$/, dlqName);
    const moved = await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlqUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    expect((moved.Messages ?? []).map((m) => m.Body)).to.deep.equal(["{not json"]);
  });

  it("posts a websocket delivery to the user's open connection; without one it ends `error`", async () => {
    const connectionsName = resources.find((r) => r.name === "connections" && r.type === "aws:dynamodb/table:Table")!.state.name;
    await ddb.send(
      new PutCommand({
        TableName: connectionsName,
        Item: { connectionId: "conn=1", userId: "hal", connectedAt: new Date().toISOString(), ttl: Math.floor(Date.now() / 1000) + 3600 },
      }),
    );
    const online = deliveryEvent("websocket", { userId: "hal", channel: "websocket" });
    const offline = deliveryEvent("websocket", { userId: "ivy", channel: "websocket" });
    await enqueue("websocket", online.body);
    await enqueue("websocket", offline.body);
    let failures = 0;
    for (let round = 0; round < 2; round++) failures += (await pollOnce("websocket")).response.batchItemFailures.length;
    expect(failures).to.equal(0);
    expect(posted).to.deep.equal([
      {
        connectionId: "conn=1",
        frame: {
          type: "notification",
          id: online.eventId,
          message: "Order for hal shipped",
          callback: "https://shop.example.com/orders/42",
        },
      },
    ]);
    expect(await log.get(online.eventId, "websocket")).to.include({ status: "sent", provider: "websocket" });
    expect(await log.get(offline.eventId, "websocket")).to.include({ status: "error", reason: "user has no open connection" });
  });

  it("invokes a lambda provider once per delivery with the JSON contract, and honours its answers", async () => {
    const sent = deliveryEvent("pager", { userId: "cy", channel: "pager" });
    await enqueue("pager", sent.body);
    const first = await pollOnce("pager");
    expect(first.response.batchItemFailures).to.deep.equal([]);
    const call = lambda.invocations.find((i) => (i.payload as LambdaProviderRequest).delivery.eventId === sent.eventId)!;
    expect(call.functionName).to.equal(PAGER_ARN);
    expect(call.payload).to.deep.include({ version: 1 });
    expect((call.payload as LambdaProviderRequest).delivery).to.include({ userId: "cy", channel: "pager", type: "order.shipped" });
    expect(await log.get(sent.eventId, "pager")).to.include({
      status: "sent",
      provider: "lambda",
      providerMessageId: `page-${sent.eventId}`,
    });

    // permanent: logged as error, acknowledged, not retried.
    pagerAnswers.push({ outcome: "permanent", reason: "pager number unknown" });
    const refused = deliveryEvent("pager", { userId: "cy", channel: "pager" });
    await enqueue("pager", refused.body);
    expect((await pollOnce("pager")).response.batchItemFailures).to.deep.equal([]);
    expect(await log.get(refused.eventId, "pager")).to.include({ status: "error", reason: "pager number unknown" });

    // A function error and an off-contract answer are retryable; after failoverAfter (2) the fallback sends.
    pagerAnswers.push(new Error("pager API down"), { ok: true });
    const flaky = deliveryEvent("pager", {
      userId: "cy",
      channel: "pager",
      address: { webhookUrl: slackSink.webhookUrl() },
    });
    await enqueue("pager", flaky.body);
    expect((await pollOnce("pager")).response.batchItemFailures).to.have.length(1);
    expect((await pollOnce("pager")).response.batchItemFailures).to.have.length(1);
    expect((await pollOnce("pager")).response.batchItemFailures).to.deep.equal([]);
    expect(await log.get(flaky.eventId, "pager")).to.include({ status: "sent", provider: "slack-webhook", attempts: 3 });
  });

  it("with the feed: stores every delivery for its user, so an offline user's notification is sent, not an error", async () => {
    const connectionsName = resources.find((r) => r.name === "connections" && r.type === "aws:dynamodb/table:Table")!.state.name;
    await ddb.send(
      new PutCommand({
        TableName: connectionsName,
        Item: { connectionId: "conn=2", userId: "jan", connectedAt: new Date().toISOString(), ttl: Math.floor(Date.now() / 1000) + 3600 },
      }),
    );
    const online = deliveryEvent("inapp", { userId: "jan", channel: "inapp" });
    const offline = deliveryEvent("inapp", { userId: "kit", channel: "inapp" });
    await enqueue("inapp", online.body);
    await enqueue("inapp", offline.body);
    let failures = 0;
    for (let round = 0; round < 2; round++) failures += (await pollOnce("inapp")).response.batchItemFailures.length;
    expect(failures).to.equal(0);
    expect(posted.filter((p) => p.connectionId === "conn=2").map((p) => p.frame.id)).to.deep.equal([online.eventId]);
    expect(await log.get(online.eventId, "inapp")).to.include({ status: "sent" });
    expect(await log.get(offline.eventId, "inapp")).to.include({ status: "sent" });
    const feed = makeFeed({ ddb, table: resources.find((r) => r.name === "feed" && r.type === "aws:dynamodb/table:Table")!.state.name });
    const stored = await feed.get("kit", offline.eventId);
    expect(stored).to.include({ type: "order.shipped", kind: "actionable", callback: "https://shop.example.com/orders/42" });
    expect(stored?.unreadKey).to.be.a("string");
    expect(await feed.unreadCount("kit")).to.equal(1);
    expect(await feed.unreadCount("jan")).to.equal(1);
  });

  it("paces sends with the per-instance token bucket (ratePerSecond)", async () => {
    // A stopped clock: the bucket's waits are recorded, not slept, so the assertion does not depend on load.
    const waits: number[] = [];
    let sends = 0;
    const worker = makeChannelWorker({
      channel: "paced",
      primary: {
        name: "clock",
        send: async () => {
          sends++;
          return { outcome: "sent" };
        },
      },
      log,
      requeue: async () => {},
      ratePerSecond: 5,
      now: () => 1_000_000,
      sleep: async (ms) => void waits.push(Math.round(ms)),
      logger: () => {},
    });
    const records = Array.from({ length: 7 }, (_, i) => ({
      messageId: `p-${i}`,
      body: deliveryEvent("paced", { userId: "gus", channel: "paced" }).body,
      attributes: { ApproximateReceiveCount: "1" },
    }));
    for (const record of records) await accept(record.body);
    const response = await worker({ Records: records });
    expect(response.batchItemFailures).to.deep.equal([]);
    expect(sends).to.equal(7);
    // A bucket of 5 lets five go at once; the 6th waits one token (200 ms), the 7th two (400 ms).
    expect(waits.sort((x, y) => x - y)).to.deep.equal([200, 400]);
  });
});
