import { expect } from "chai";
import { EventBridgeClient, PutEventsCommand, TestEventPatternCommand } from "@aws-sdk/client-eventbridge";
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { startEventBus, sqsDeadLetter, sqsTarget, type EventBridgeEvent, type LocalEventBus } from "../local/eventBridge";
import { startLocalAws, type LocalAws } from "../local/aws";
import type { Decision } from "../runtime/log";

const credentials = { accessKeyId: "local", secretAccessKey: "local" };

describe("local EventBridge bus", () => {
  let bus: LocalEventBus;
  let client: EventBridgeClient;
  const decisions: Decision[] = [];

  before(async () => {
    bus = await startEventBus({ region: "eu-west-1", retry: { attempts: 2, delayMs: 5 }, logger: (d) => decisions.push(d) });
    client = new EventBridgeClient({ region: "eu-west-1", endpoint: bus.endpoint, credentials });
  });
  after(async () => {
    client.destroy();
    await bus.stop();
  });
  afterEach(() => {
    for (const name of ["email", "sms", "other-bus", "flaky", "broken", "broken-no-dlq"]) {
      bus.removeRule(name, "tidings");
      bus.removeRule(name);
    }
  });

  it("listens on 127.0.0.1", () => {
    expect(bus.endpoint).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it("accepts PutEvents from the SDK and delivers the EventBridge envelope to matching rules only", async () => {
    const email: EventBridgeEvent[] = [];
    const sms: EventBridgeEvent[] = [];
    const otherBus: EventBridgeEvent[] = [];
    bus.addRule({
      name: "email",
      eventBusName: "tidings",
      pattern: { source: ["tidings"], "detail-type": ["notification.email"] },
      target: async (e) => void email.push(e),
    });
    bus.addRule({
      name: "sms",
      eventBusName: "tidings",
      pattern: { "detail-type": ["notification.sms"] },
      target: async (e) => void sms.push(e),
    });
    bus.addRule({ name: "other-bus", pattern: { source: ["tidings"] }, target: async (e) => void otherBus.push(e) });

    const time = new Date("2026-11-22T10:11:12.345Z");
    const out = await client.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: "arn:aws:events:eu-west-1:000000000000:event-bus/tidings",
            Source: "tidings",
            DetailType: "notification.email",
            Detail: JSON.stringify({ eventId: "evt-1", userId: "alice", channel: "email" }),
            Resources: ["arn:x"],
            Time: time,
          },
        ],
      }),
    );
    expect(out.FailedEntryCount).to.equal(0);
    expect(out.Entries).to.have.length(1);
    const eventId = out.Entries![0].EventId!;
    expect(eventId).to.match(/^[0-9a-f-]{36}$/);

    await bus.idle();
    expect(sms).to.deep.equal([]);
    expect(otherBus, "a rule on the default bus does not see events put on another bus").to.deep.equal([]);
    expect(email).to.have.length(1);
    expect(email[0]).to.deep.equal({
      version: "0",
      id: eventId,
      "detail-type": "notification.email",
      source: "tidings",
      account: "000000000000",
      time: "2026-11-22T10:11:12Z",
      region: "eu-west-1",
      resources: ["arn:x"],
      detail: { eventId: "evt-1", userId: "alice", channel: "email" },
    });
    expect(bus.received.map((e) => e.id)).to.include(eventId);
    expect(decisions.find((d) => d.outcome === "queued" && d.eventId === "evt-1")).to.include({
      rule: "email",
      userId: "alice",
      channel: "email",
    });
  });

  it("answers each invalid entry with ErrorCode and ErrorMessage, and still accepts the valid ones", async () => {
    const delivered: EventBridgeEvent[] = [];
    bus.addRule({ name: "email", pattern: { source: ["tidings"] }, target: async (e) => void delivered.push(e) });
    const valid = { Source: "tidings", DetailType: "notification.email", Detail: "{}" };
    const out = await client.send(
      new PutEventsCommand({
        Entries: [
          { DetailType: "x", Detail: "{}" },
          { Source: "tidings", Detail: "{}" },
          { Source: "tidings", DetailType: "x" },
          { Source: "tidings", DetailType: "x", Detail: "{not json" },
          { Source: "tidings", DetailType: "x", Detail: "[1,2]" },
          { Source: "tidings", DetailType: "x", Detail: JSON.stringify({ big: "x".repeat(256 * 1024) }) },
          valid,
        ],
      }),
    );
    expect(out.FailedEntryCount).to.equal(6);
    const entries = out.Entries!;
    expect(entries.slice(0, 3).map((e) => e.ErrorCode)).to.deep.equal(["InvalidArgument", "InvalidArgument", "InvalidArgument"]);
    expect(entries[0].ErrorMessage).to.match(/Source is a required argument/);
    expect(entries[1].ErrorMessage).to.match(/DetailType is a required argument/);
    expect(entries[2].ErrorMessage).to.match(/Detail is a required argument/);
    expect(entries[3]).to.include({ ErrorCode: "MalformedDetail" });
    expect(entries[4]).to.include({ ErrorCode: "MalformedDetail" });
    expect(entries[5].ErrorCode).to.equal("InvalidArgument");
    expect(entries[5].ErrorMessage).to.match(/over the limit of 262144 bytes/);
    expect(entries[6].EventId).to.be.a("string");
    expect(entries[6].ErrorCode).to.equal(undefined);
    await bus.idle();
    expect(delivered.map((e) => e.id)).to.deep.equal([entries[6].EventId]);
  });

  it("rejects a request with more than 10 entries as a ValidationException", async () => {
    const entry = { Source: "tidings", DetailType: "x", Detail: "{}" };
    const error = await client.send(new PutEventsCommand({ Entries: Array(11).fill(entry) })).catch((e) => e);
    expect(error).to.be.instanceOf(Error);
    expect(error.name).to.equal("ValidationException");
    expect(error.$metadata.httpStatusCode).to.equal(400);
  });

  it("answers an unsupported operation with a named error", async () => {
    const response = await fetch(bus.endpoint, {
      method: "POST",
      headers: { "x-amz-target": "AWSEvents.PutRule", "content-type": "application/x-amz-json-1.1" },
      body: "{}",
    });
    expect(response.status).to.equal(400);
    expect(await response.json()).to.deep.include({ __type: "UnknownOperationException" });
  });

  it("implements TestEventPattern with the same matcher", async () => {
    const event = JSON.stringify({ source: "tidings", detail: { attempts: 4 } });
    const yes = await client.send(
      new TestEventPatternCommand({ EventPattern: JSON.stringify({ detail: { attempts: [{ numeric: [">", 3] }] } }), Event: event }),
    );
    const no = await client.send(
      new TestEventPatternCommand({ EventPattern: JSON.stringify({ detail: { attempts: [{ numeric: [">", 4] }] } }), Event: event }),
    );
    expect([yes.Result, no.Result]).to.deep.equal([true, false]);
    const bad = await client
      .send(new TestEventPatternCommand({ EventPattern: JSON.stringify({ source: "tidings" }), Event: event }))
      .catch((e) => e);
    expect(bad.name).to.equal("InvalidEventPatternException");
    expect(bad.message).to.match(/"source" must be an array/);
  });

  it("retries a failing target and succeeds without dead-lettering", async () => {
    let calls = 0;
    const dead: EventBridgeEvent[] = [];
    bus.addRule({
      name: "flaky",
      pattern: { "detail-type": ["flaky"] },
      target: async () => {
        calls++;
        if (calls < 3) throw new Error("queue unavailable");
      },
      deadLetter: async (e) => void dead.push(e),
    });
    await client.send(new PutEventsCommand({ Entries: [{ Source: "tidings", DetailType: "flaky", Detail: "{}" }] }));
    await bus.idle();
    expect(calls).to.equal(3);
    expect(dead).to.deep.equal([]);
  });

  it("sends the event to the rule's dead letter after the last failed attempt", async () => {
    let calls = 0;
    const dead: { event: EventBridgeEvent; error: unknown }[] = [];
    bus.addRule({
      name: "broken",
      pattern: { "detail-type": ["broken"] },
      target: async () => {
        calls++;
        throw new Error("AccessDenied on the queue");
      },
      deadLetter: async (event, error) => void dead.push({ event, error }),
    });
    const out = await client.send(
      new PutEventsCommand({ Entries: [{ Source: "tidings", DetailType: "broken", Detail: '{"eventId":"evt-9"}' }] }),
    );
    await bus.idle();
    expect(calls).to.equal(3, "first attempt + 2 retries");
    expect(dead).to.have.length(1);
    expect(dead[0].event.id).to.equal(out.Entries![0].EventId);
    expect((dead[0].error as Error).message).to.equal("AccessDenied on the queue");
    expect(decisions.filter((d) => d.eventId === "evt-9").map((d) => d.outcome)).to.deep.equal(["retried", "retried", "dead-lettered"]);
  });

  it("refuses an invalid pattern or a duplicate rule name when the rule is added", () => {
    expect(() => bus.addRule({ name: "email", pattern: { source: "tidings" }, target: async () => {} })).to.throw(
      /"source" must be an array/,
    );
    bus.addRule({ name: "email", pattern: { source: ["tidings"] }, target: async () => {} });
    expect(() => bus.addRule({ name: "email", pattern: { source: ["tidings"] }, target: async () => {} })).to.throw(
      /already exists on bus "default"/,
    );
  });

  describe("with SQS targets on fauxqs", () => {
    let aws: LocalAws;
    let sqs: SQSClient;
    before(async () => {
      aws = await startLocalAws();
      sqs = new SQSClient({ region: aws.region, endpoint: aws.endpoints.sqs, credentials });
    });
    after(async () => {
      sqs.destroy();
      await aws.stop();
    });

    it("sqsTarget puts the envelope on the queue; sqsDeadLetter adds the error attributes", async () => {
      const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: "eb-target" }))).QueueUrl!;
      const dlqUrl = (await sqs.send(new CreateQueueCommand({ QueueName: "eb-target-dlq" }))).QueueUrl!;
      bus.addRule({
        name: "email",
        eventBusName: "tidings",
        pattern: { "detail-type": ["notification.email"] },
        target: sqsTarget(sqs, queueUrl),
      });
      const failing = sqsTarget(sqs, queueUrl.replace("eb-target", "no-such-queue"));
      bus.addRule({
        name: "broken",
        eventBusName: "tidings",
        pattern: { "detail-type": ["notification.email"] },
        target: failing,
        deadLetter: sqsDeadLetter(sqs, dlqUrl, { ruleName: "broken" }),
      });

      const out = await client.send(
        new PutEventsCommand({
          Entries: [{ EventBusName: "tidings", Source: "tidings", DetailType: "notification.email", Detail: '{"eventId":"evt-q"}' }],
        }),
      );
      await bus.idle();
      const receive = (url: string) =>
        sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, MessageAttributeNames: ["All"], WaitTimeSeconds: 1 }));
      const queued = (await receive(queueUrl)).Messages ?? [];
      expect(queued).to.have.length(1);
      expect(JSON.parse(queued[0].Body!)).to.include({ id: out.Entries![0].EventId, "detail-type": "notification.email" });
      const dead = (await receive(dlqUrl)).Messages ?? [];
      expect(dead).to.have.length(1);
      expect(JSON.parse(dead[0].Body!).detail).to.deep.equal({ eventId: "evt-q" });
      expect(dead[0].MessageAttributes?.RULE_ARN?.StringValue).to.equal("arn:aws:events:eu-west-1:000000000000:rule/broken");
      expect(dead[0].MessageAttributes?.ERROR_CODE?.StringValue).to.equal("QueueDoesNotExist");
    });

    it("sqsTarget sends events arriving together in batches of at most 10, each message once", async () => {
      const queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: "eb-batched" }))).QueueUrl!;
      const sent: number[] = [];
      const counting = {
        send: (command: any) => {
          sent.push(command.input.Entries?.length ?? 1);
          return sqs.send(command);
        },
      } as unknown as SQSClient;
      const target = sqsTarget(counting, queueUrl);
      const events = Array.from({ length: 23 }, (_, i) => ({ id: `e-${i}`, detail: { n: i } }) as unknown as EventBridgeEvent);
      await Promise.all(events.map((event) => target(event)));
      expect(sent).to.deep.equal([10, 10, 3]);
      const ids: string[] = [];
      for (;;) {
        const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
        if (!out.Messages?.length) break;
        ids.push(...out.Messages.map((m) => JSON.parse(m.Body!).id));
      }
      expect(ids.sort()).to.deep.equal(events.map((e) => e.id).sort());
    });
  });
});
