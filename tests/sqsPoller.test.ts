import { expect } from "chai";
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { startLocalAws, type LocalAws } from "../local/aws";
import { startSqsPoller, type LambdaSqsRecord, type PollOutcome, type SqsPoller } from "../local/sqsPoller";
import type { SqsEvent } from "../runtime/contracts";
import { until } from "./helpers/sockets";

const credentials = { accessKeyId: "local", secretAccessKey: "local" };

describe("local SQS poller (Lambda event source mapping stand-in)", () => {
  let aws: LocalAws;
  let sqs: SQSClient;
  const pollers: SqsPoller[] = [];
  let queueCount = 0;

  before(async () => {
    aws = await startLocalAws();
    sqs = new SQSClient({ region: aws.region, endpoint: aws.endpoints.sqs, credentials });
  });
  afterEach(async () => {
    await Promise.all(pollers.splice(0).map((p) => p.stop()));
  });
  after(async () => {
    sqs.destroy();
    await aws.stop();
  });

  /** A queue with a DLQ after `maxReceiveCount` receives and a short visibility timeout. */
  async function queueWithDlq(maxReceiveCount = 2, visibilityTimeout = 1) {
    const name = `poller-${queueCount++}`;
    const dlqUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }))).QueueUrl!;
    const dlqArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: dlqUrl, AttributeNames: ["QueueArn"] }))).Attributes!
      .QueueArn!;
    const queueUrl = (
      await sqs.send(
        new CreateQueueCommand({
          QueueName: name,
          Attributes: {
            VisibilityTimeout: String(visibilityTimeout),
            RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount }),
          },
        }),
      )
    ).QueueUrl!;
    const queueArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }))).Attributes!
      .QueueArn!;
    return { queueUrl, dlqUrl, queueArn };
  }

  const send = (queueUrl: string, body: string, attributes?: Record<string, string>) =>
    sqs.send(
      new SendMessageCommand({
        QueueUrl: queueUrl,
        MessageBody: body,
        MessageAttributes:
          attributes && Object.fromEntries(Object.entries(attributes).map(([k, v]) => [k, { DataType: "String", StringValue: v }])),
      }),
    );

  const count = async (queueUrl: string) => {
    const out = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
      }),
    );
    return Number(out.Attributes!.ApproximateNumberOfMessages) + Number(out.Attributes!.ApproximateNumberOfMessagesNotVisible);
  };

  it("hands Lambda-shaped records to the handler and deletes the successful ones", async () => {
    const { queueUrl, queueArn } = await queueWithDlq();
    const sent = await send(queueUrl, '{"hello":"world"}', { origin: "test" });
    const events: SqsEvent[] = [];
    const outcomes: [string, PollOutcome][] = [];
    pollers.push(
      startSqsPoller({
        sqs,
        queueUrl,
        handler: async (event) => {
          events.push(event);
          return { batchItemFailures: [] };
        },
        onOutcome: (record, outcome) => outcomes.push([record.messageId, outcome]),
      }),
    );
    await until(() => outcomes.length === 1, 8000, "the record's outcome");
    const record = events[0].Records[0] as LambdaSqsRecord;
    expect(record.messageId).to.equal(sent.MessageId);
    expect(record.body).to.equal('{"hello":"world"}');
    expect(record.receiptHandle).to.be.a("string").and.not.empty;
    expect(record.attributes.ApproximateReceiveCount).to.equal("1");
    expect(record.attributes.SentTimestamp).to.match(/^\d+$/);
    expect(record.messageAttributes.origin).to.deep.include({ dataType: "String", stringValue: "test" });
    expect(record.eventSource).to.equal("aws:sqs");
    expect(record.eventSourceARN).to.equal(queueArn);
    expect(record.awsRegion).to.equal(aws.region);
    expect(outcomes).to.deep.equal([[sent.MessageId, "done"]]);
    await until(async () => (await count(queueUrl)) === 0, 3000, "the message to be deleted");
  });

  it("leaves batchItemFailures on the queue; they come back after the visibility timeout and reach the DLQ after maxReceiveCount", async () => {
    const { queueUrl, dlqUrl } = await queueWithDlq(2, 1);
    for (const body of ["ok-1", "bad", "ok-2"]) await send(queueUrl, body);
    const receivesByBody = new Map<string, string[]>();
    const outcomes: string[] = [];
    pollers.push(
      startSqsPoller({
        sqs,
        queueUrl,
        batchSize: 10,
        handler: async ({ Records }) => {
          for (const r of Records)
            receivesByBody.set(r.body, [...(receivesByBody.get(r.body) ?? []), r.attributes!.ApproximateReceiveCount!]);
          return { batchItemFailures: Records.filter((r) => r.body === "bad").map((r) => ({ itemIdentifier: r.messageId })) };
        },
        onOutcome: (record, outcome) => outcomes.push(`${record.body}:${outcome}`),
      }),
    );
    await until(() => (receivesByBody.get("bad") ?? []).length === 2, 8000, "the failed message's second receive");
    const dead = await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlqUrl, WaitTimeSeconds: 5, MaxNumberOfMessages: 10 }));
    expect((dead.Messages ?? []).map((m) => m.Body)).to.deep.equal(["bad"]);
    expect(receivesByBody.get("bad")).to.deep.equal(["1", "2"]);
    expect(receivesByBody.get("ok-1")).to.deep.equal(["1"]);
    expect(receivesByBody.get("ok-2")).to.deep.equal(["1"]);
    expect(outcomes.filter((o) => o.startsWith("bad"))).to.deep.equal(["bad:failed", "bad:failed"]);
    expect(await count(queueUrl)).to.equal(0);
  });

  it("treats a thrown handler as a failed batch, and so does an itemIdentifier that is not in the batch", async () => {
    const { queueUrl } = await queueWithDlq(5, 1);
    await send(queueUrl, "first");
    let calls = 0;
    const outcomes: PollOutcome[] = [];
    const errors: string[] = [];
    pollers.push(
      startSqsPoller({
        sqs,
        queueUrl,
        handler: async () => {
          calls++;
          if (calls === 1) throw new Error("worker crashed");
          if (calls === 2) return { batchItemFailures: [{ itemIdentifier: "not-a-message-id" }] };
          return { batchItemFailures: [] };
        },
        onOutcome: (_record, outcome) => outcomes.push(outcome),
        onError: (error) => errors.push(String(error)),
      }),
    );
    await until(() => outcomes.length === 3, 8000, "three attempts");
    expect(outcomes).to.deep.equal(["failed", "failed", "done"]);
    expect(errors[0]).to.match(/handler threw.*worker crashed/);
    expect(errors[1]).to.match(/not-a-message-id/);
  });

  it("runs up to `concurrency` batches at once", async () => {
    const { queueUrl } = await queueWithDlq();
    for (let i = 0; i < 6; i++) await send(queueUrl, `m${i}`);
    let running = 0;
    let mostAtOnce = 0;
    const handled: string[] = [];
    pollers.push(
      startSqsPoller({
        sqs,
        queueUrl,
        batchSize: 1,
        waitTimeSeconds: 0,
        concurrency: 3,
        handler: async ({ Records }) => {
          running++;
          mostAtOnce = Math.max(mostAtOnce, running);
          await new Promise((r) => setTimeout(r, 150));
          running--;
          handled.push(...Records.map((r) => r.body));
          return { batchItemFailures: [] };
        },
      }),
    );
    await until(() => handled.length === 6, 8000, "six messages");
    expect(mostAtOnce).to.equal(3);
    expect([...handled].sort()).to.deep.equal(["m0", "m1", "m2", "m3", "m4", "m5"]);
  });

  it("stop() lets the batch in flight finish and delete its messages", async () => {
    const { queueUrl } = await queueWithDlq();
    await send(queueUrl, "slow");
    let started = false;
    let finished = false;
    const poller = startSqsPoller({
      sqs,
      queueUrl,
      handler: async () => {
        started = true;
        await new Promise((r) => setTimeout(r, 300));
        finished = true;
        return { batchItemFailures: [] };
      },
    });
    await until(() => started, 5000, "the handler to start");
    await poller.stop();
    expect(finished).to.equal(true);
    expect(await count(queueUrl)).to.equal(0);
  });

  it("stop() returns promptly while idle in a long poll", async () => {
    const { queueUrl } = await queueWithDlq();
    const poller = startSqsPoller({ sqs, queueUrl, waitTimeSeconds: 20, handler: async () => ({ batchItemFailures: [] }) });
    await new Promise((r) => setTimeout(r, 100));
    const begin = Date.now();
    await poller.stop();
    expect(Date.now() - begin).to.be.below(2000);
  });

  it("gathers batches above 10 from several receives", async () => {
    const { queueUrl } = await queueWithDlq();
    for (let i = 0; i < 15; i++) await send(queueUrl, `n${i}`);
    const sizes: number[] = [];
    pollers.push(startSqsPoller({ sqs, queueUrl, batchSize: 15, handler: async ({ Records }) => void sizes.push(Records.length) }));
    await until(() => sizes.reduce((a, b) => a + b, 0) === 15, 8000, "fifteen records");
    expect(sizes[0]).to.be.above(10);
    await until(async () => (await count(queueUrl)) === 0, 3000, "all deleted");
  });

  it("rejects bad options with a clear error", () => {
    expect(() => startSqsPoller({ sqs, queueUrl: "", handler: async () => {} })).to.throw(/needs a queueUrl/);
    expect(() => startSqsPoller({ sqs, queueUrl: "x", batchSize: 0, handler: async () => {} })).to.throw(
      /batchSize must be a positive integer, got 0/,
    );
    expect(() => startSqsPoller({ sqs, queueUrl: "x", concurrency: 1.5, handler: async () => {} })).to.throw(/concurrency/);
    expect(() => startSqsPoller({ sqs, queueUrl: "x", waitTimeSeconds: 30, handler: async () => {} })).to.throw(
      /waitTimeSeconds must be 0 to 20/,
    );
  });
});
