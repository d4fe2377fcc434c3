import { expect } from "chai";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CreateQueueCommand, GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { startLocalAws, type LocalAws } from "../local/aws";
import { startLocalLambda } from "../local/lambdaInvoke";
import { parseRedriveArgs, runRedriveCli } from "../local/redrive-cli";
import { isLocalQueueUrl, redrive, type ChannelQueues } from "../runtime/redrive";

const credentials = { accessKeyId: "local", secretAccessKey: "local" };

describe("redrive (DLQ → source queue)", () => {
  let aws: LocalAws;
  let sqs: SQSClient;
  let tmp: string;
  let pairs = 0;

  before(async () => {
    aws = await startLocalAws();
    sqs = new SQSClient({ region: aws.region, endpoint: aws.endpoints.sqs, credentials });
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "tidings-redrive-"));
  });
  after(async () => {
    sqs.destroy();
    await aws.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  async function queuePair(): Promise<Required<Omit<ChannelQueues, "ruleDeadLetterQueueUrl">>> {
    const name = `redrive-${pairs++}`;
    const arnOf = async (url: string) =>
      (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }))).Attributes!.QueueArn!;
    const deadLetterQueueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `${name}-dlq` }))).QueueUrl!;
    const deadLetterQueueArn = await arnOf(deadLetterQueueUrl);
    const queueUrl = (
      await sqs.send(
        new CreateQueueCommand({
          QueueName: name,
          Attributes: {
            VisibilityTimeout: "1",
            RedrivePolicy: JSON.stringify({ deadLetterTargetArn: deadLetterQueueArn, maxReceiveCount: 1 }),
          },
        }),
      )
    ).QueueUrl!;
    return { queueUrl, queueArn: await arnOf(queueUrl), deadLetterQueueUrl, deadLetterQueueArn };
  }

  /** Puts messages in the DLQ the real way: received once from the queue and never deleted. */
  async function deadLetter(queues: ChannelQueues, bodies: string[]): Promise<void> {
    for (const body of bodies) {
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: queues.queueUrl,
          MessageBody: body,
          MessageAttributes: { channel: { DataType: "String", StringValue: "email" } },
        }),
      );
    }
    let received = 0;
    while (received < bodies.length) {
      const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queues.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
      received += out.Messages?.length ?? 0;
    }
    // After the visibility timeout, the next receive moves them to the DLQ (maxReceiveCount 1).
    await new Promise((r) => setTimeout(r, 1100));
    await sqs.send(new ReceiveMessageCommand({ QueueUrl: queues.queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }));
    expect(await depth(queues.deadLetterQueueUrl)).to.equal(bodies.length, "messages in the DLQ before redrive");
  }

  async function depth(queueUrl: string): Promise<number> {
    const out = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: queueUrl,
        AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
      }),
    );
    return Number(out.Attributes!.ApproximateNumberOfMessages) + Number(out.Attributes!.ApproximateNumberOfMessagesNotVisible);
  }

  /** Receives everything from a queue (deleting nothing) until a receive comes back empty. */
  async function drain(queueUrl: string) {
    const all: { body: string; channel?: string; receiveCount: string; attributes: string[] }[] = [];
    for (;;) {
      const out = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 0,
          VisibilityTimeout: 30,
          MessageAttributeNames: ["All"],
          MessageSystemAttributeNames: ["ApproximateReceiveCount"],
        }),
      );
      if (!out.Messages?.length) return all;
      for (const m of out.Messages) {
        all.push({
          body: m.Body!,
          channel: m.MessageAttributes?.channel?.StringValue,
          attributes: Object.keys(m.MessageAttributes ?? {}),
          receiveCount: m.Attributes!.ApproximateReceiveCount!,
        });
      }
    }
  }

  it("moves every DLQ message back to the source queue, received there once each with its attributes", async () => {
    const queues = await queuePair();
    const bodies = Array.from({ length: 13 }, (_, i) => JSON.stringify({ eventId: `evt-${i}` }));
    await deadLetter(queues, bodies);

    const result = await redrive(sqs, queues);
    expect(result).to.deep.equal({ method: "copy", moved: 13, failed: [] });
    expect(await depth(queues.deadLetterQueueUrl)).to.equal(0);
    const back = await drain(queues.queueUrl);
    expect(back.map((m) => m.body).sort()).to.deep.equal([...bodies].sort());
    expect(back.every((m) => m.channel === "email")).to.equal(true);
    expect(
      back.every((m) => m.receiveCount === "1"),
      "a redriven message starts a fresh receive count",
    ).to.equal(true);
  });

  it("tries a move task unless SQS is local, and falls back to copying when SQS answers unsupported (fauxqs: InvalidAction)", async () => {
    const queues = await queuePair();
    await deadLetter(queues, ["one"]);
    // Asking for a move task outright surfaces the server's answer...
    const error = await redrive(sqs, queues, { method: "move-task" }).catch((e) => e);
    expect(error.name).to.equal("InvalidAction");
    expect(await depth(queues.deadLetterQueueUrl)).to.equal(1);
    // ...and "auto", told this SQS is not local, tries the move task first, then copies.
    expect(await redrive(sqs, queues, { local: false })).to.deep.equal({ method: "copy", moved: 1, failed: [] });
    expect((await drain(queues.queueUrl)).map((m) => m.body)).to.deep.equal(["one"]);
  });

  it("moves nothing from an empty DLQ", async () => {
    const queues = await queuePair();
    expect(await redrive(sqs, queues)).to.deep.equal({ method: "copy", moved: 0, failed: [] });
  });

  it("tells local queue URLs from AWS ones", () => {
    expect(isLocalQueueUrl("http://sqs.us-east-1.localhost:4566/000000000000/q")).to.equal(true);
    expect(isLocalQueueUrl("http://127.0.0.1:9324/000000000000/q")).to.equal(true);
    expect(isLocalQueueUrl("https://sqs.eu-west-1.amazonaws.com/123456789012/q")).to.equal(false);
  });

  describe("npm run redrive CLI", () => {
    it("--local reads the state file and moves the channel's DLQ back", async () => {
      const queues = await queuePair();
      await deadLetter(queues, ["a", "b"]);
      const stateFile = path.join(tmp, "state.json");
      fs.writeFileSync(stateFile, JSON.stringify({ aws: aws.endpoints, channels: { email: { ...queues, ruleDeadLetterQueueUrl: "x" } } }));
      const lines: string[] = [];
      const code = await runRedriveCli(["email", "--local", "--state", stateFile], (line) => lines.push(line));
      expect(code).to.equal(0, lines.join("\n"));
      expect(lines.join("\n")).to.match(/Moved 2 message\(s\) of "email"/);
      expect((await drain(queues.queueUrl)).map((m) => m.body).sort()).to.deep.equal(["a", "b"]);
    });

    it("--rule-dlq sends the rule DLQ's events to the channel queue, without EventBridge's error attributes", async () => {
      const queues = await queuePair();
      const ruleDeadLetterQueueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `rule-dlq-${pairs++}` }))).QueueUrl!;
      const events = ["e1", "e2", "e3"].map((id) => JSON.stringify({ id, source: "tidings", "detail-type": "notification.email" }));
      for (const body of events) {
        await sqs.send(
          new SendMessageCommand({
            QueueUrl: ruleDeadLetterQueueUrl,
            MessageBody: body,
            MessageAttributes: { ERROR_CODE: { DataType: "String", StringValue: "SQS.AccessDenied" } },
          }),
        );
      }
      const stateFile = path.join(tmp, "state-rule.json");
      fs.writeFileSync(stateFile, JSON.stringify({ aws: aws.endpoints, channels: { email: { ...queues, ruleDeadLetterQueueUrl } } }));
      const lines: string[] = [];
      const code = await runRedriveCli(["email", "--rule-dlq", "--local", "--state", stateFile], (line) => lines.push(line));
      expect(code).to.equal(0, lines.join("\n"));
      expect(lines.join("\n")).to.match(/Moved 3 message\(s\) of "email" from .*rule-dlq/);
      expect(await depth(ruleDeadLetterQueueUrl)).to.equal(0);
      expect(await depth(queues.deadLetterQueueUrl)).to.equal(0, "the queue's own DLQ is left alone");
      const back = await drain(queues.queueUrl);
      expect(back.map((m) => m.body).sort()).to.deep.equal([...events].sort());
      expect(back.flatMap((m) => m.attributes)).to.deep.equal([]);
      expect(parseRedriveArgs(["email", "--rule-dlq"])).to.deep.equal({ channel: "email", local: false, ruleDlq: true });
    });

    it("--rule-dlq reads ruleDeadLetterQueueUrl from saved stack outputs (the deployed path)", async () => {
      const queues = await queuePair();
      const ruleDeadLetterQueueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: `rule-dlq-${pairs++}` }))).QueueUrl!;
      await sqs.send(new SendMessageCommand({ QueueUrl: ruleDeadLetterQueueUrl, MessageBody: JSON.stringify({ id: "r1" }) }));
      const outputsFile = path.join(tmp, "outputs-rule.json");
      fs.writeFileSync(outputsFile, JSON.stringify({ channels: { slack: { ...queues, ruleDeadLetterQueueUrl } } }));
      const lines: string[] = [];
      const previous = Object.fromEntries(Object.keys(aws.env).map((key) => [key, process.env[key]]));
      Object.assign(process.env, aws.env);
      try {
        expect(await runRedriveCli(["slack", "--rule-dlq", "--outputs", outputsFile], (line) => lines.push(line))).to.equal(
          0,
          lines.join("\n"),
        );
        fs.writeFileSync(outputsFile, JSON.stringify({ channels: { slack: queues } }));
        expect(await runRedriveCli(["slack", "--rule-dlq", "--outputs", outputsFile], (line) => lines.push(line))).to.equal(1);
      } finally {
        for (const [key, value] of Object.entries(previous)) {
          if (value === undefined) delete process.env[key];
          else process.env[key] = value;
        }
      }
      expect(lines.join("\n")).to.match(/Moved 1 message\(s\) of "slack"/);
      expect(lines.join("\n")).to.match(/has no ruleDeadLetterQueueUrl/);
      expect((await drain(queues.queueUrl)).map((m) => m.body)).to.deep.equal([JSON.stringify({ id: "r1" })]);
    });

    it("--schedules hands each fire in the schedules DLQ to the scheduled sender (Lambda Invoke); one that fails again stays", async () => {
      const dlq = (await sqs.send(new CreateQueueCommand({ QueueName: `schedules-dlq-${pairs++}` }))).QueueUrl!;
      const senderArn = "arn:aws:lambda:us-east-1:123456789012:function:tidings-scheduling-sender-4f2a9c1";
      const fired: unknown[] = [];
      const lambda = await startLocalLambda({
        [senderArn]: async (fire: { eventId?: string }) => {
          if (fire.eventId === "broken") throw new Error("the log table is unreachable");
          fired.push(fire);
          return { outcome: "sent" };
        },
      });
      for (const eventId of ["n-1", "broken"])
        await sqs.send(new SendMessageCommand({ QueueUrl: dlq, MessageBody: JSON.stringify({ eventId }) }));
      const outputsFile = path.join(tmp, "outputs-schedules.json");
      fs.writeFileSync(outputsFile, JSON.stringify({ channels: {}, scheduling: { deadLetterQueueUrl: dlq, senderArn } }));
      const lines: string[] = [];
      const env = { ...aws.env, AWS_ENDPOINT_URL_LAMBDA: lambda.endpoint };
      const previous = Object.fromEntries(Object.keys(env).map((key) => [key, process.env[key]]));
      Object.assign(process.env, env);
      try {
        expect(await runRedriveCli(["--schedules", "--outputs", outputsFile], (line) => lines.push(line))).to.equal(1, lines.join("\n"));
        fs.writeFileSync(outputsFile, JSON.stringify({ channels: {} }));
        expect(await runRedriveCli(["--schedules", "--outputs", outputsFile], (line) => lines.push(line))).to.equal(1);
      } finally {
        await lambda.stop();
        for (const [key, value] of Object.entries(previous)) {
          if (value === undefined) delete process.env[key];
          else process.env[key] = value;
        }
      }
      expect(fired).to.deep.equal([{ eventId: "n-1" }]);
      expect(lines.join("\n")).to.match(/Handed 1 fire\(s\) from the schedules DLQ/);
      expect(lines.join("\n")).to.match(/not handed: .*the sender failed again/);
      expect(lines.join("\n")).to.match(/have no scheduling/);
      expect(parseRedriveArgs(["--schedules", "--local"])).to.deep.equal({ schedules: true, local: true });
      expect(() => parseRedriveArgs(["email", "--schedules"])).to.throw(/--schedules takes no channel/);
    });

    it("reads saved stack outputs with --outputs", async () => {
      const queues = await queuePair();
      await deadLetter(queues, ["c"]);
      const outputsFile = path.join(tmp, "outputs.json");
      fs.writeFileSync(
        outputsFile,
        JSON.stringify({
          websocketUrl: "wss://x",
          channels: { sms: { queueUrl: queues.queueUrl, deadLetterQueueUrl: queues.deadLetterQueueUrl } },
        }),
      );
      const lines: string[] = [];
      const previous = Object.fromEntries(Object.keys(aws.env).map((key) => [key, process.env[key]]));
      Object.assign(process.env, aws.env);
      try {
        const code = await runRedriveCli(["sms", "--outputs", outputsFile], (line) => lines.push(line));
        expect(code).to.equal(0, lines.join("\n"));
      } finally {
        for (const [key, value] of Object.entries(previous)) {
          if (value === undefined) delete process.env[key];
          else process.env[key] = value;
        }
      }
      expect(lines.join("\n")).to.match(/Moved 1 message\(s\) of "sms"/);
    });

    it("names the channels there are when the channel is unknown, and explains a missing state file", async () => {
      const stateFile = path.join(tmp, "state2.json");
      fs.writeFileSync(
        stateFile,
        JSON.stringify({ channels: { email: { queueUrl: "http://127.0.0.1:1/0/q", deadLetterQueueUrl: "http://127.0.0.1:1/0/d" } } }),
      );
      const lines: string[] = [];
      expect(await runRedriveCli(["slack", "--local", "--state", stateFile], (l) => lines.push(l))).to.equal(1);
      expect(lines.join("\n")).to.match(/No channel "slack" in .*state2\.json; channels there: email\./);
      lines.length = 0;
      expect(await runRedriveCli(["email", "--local", "--state", path.join(tmp, "absent.json")], (l) => lines.push(l))).to.equal(1);
      expect(lines.join("\n")).to.match(/start the local mode with `npm start` first/);
    });

    it("rejects bad arguments with the usage line", () => {
      expect(() => parseRedriveArgs([])).to.throw(/exactly one channel name[\s\S]*usage: npm run redrive/);
      expect(() => parseRedriveArgs(["email", "--fast"])).to.throw(/Unknown option --fast/);
      expect(() => parseRedriveArgs(["email", "--stack"])).to.throw(/--stack needs a value/);
      expect(() => parseRedriveArgs(["email", "--local", "--stack", "dev"])).to.throw(/--local reads the local state file/);
      expect(parseRedriveArgs(["email", "--stack", "prod"])).to.deep.equal({ channel: "email", local: false, stack: "prod" });
    });
  });
});
