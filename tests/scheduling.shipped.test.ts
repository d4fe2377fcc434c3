/**
 * Scheduled notifications as `pulumi up` would ship them: the notification service, the scheduled
 * sender and the cancel function built under mocks, each run from its bundle against the local servers
 * (DynamoDB, EventBridge, and the local Scheduler standing in for EventBridge Scheduler). The service's
 * CreateSchedule names the graph's group, role, sender and DLQ; the fire runs the sender's shipped code.
 */
import { expect } from "chai";
import { type LocalScheduler, startLocalScheduler } from "../local/scheduler";
import { makeNotificationLog } from "../runtime/notificationLog";
import type { ScheduledFire } from "../runtime/scheduler";
import { outputValue } from "../testing";
import { startShippedService, type ShippedService } from "./hostile/shippedService";
import { asProducer, loadShipped } from "./helpers/shipped";
import { until } from "./helpers/sockets";

const SLACK_HOOK = "https://hooks.slack.com/services/T0000000/B0000000/abcdefghijklmnopqrstuvwx";

describe("scheduled notifications as shipped (local AWS, the local Scheduler)", function () {
  this.timeout(60_000);
  let service: ShippedService;
  let scheduler: LocalScheduler;
  let cancel: (event: object) => Promise<{ statusCode: number; body?: string }>;
  const fired: ScheduledFire[] = [];
  const deadLettered: string[] = [];
  let names: { group: string; role: string; sender: string; dlq: string };
  let sender: (fire: ScheduledFire) => Promise<{ outcome: string }>;

  before(async () => {
    service = await startShippedService();
    const scheduling = service.api.scheduling!;
    names = {
      group: await outputValue(scheduling.group.name),
      role: await outputValue(scheduling.role.arn),
      sender: await outputValue(scheduling.sender.function.arn),
      dlq: await outputValue(scheduling.deadLetterQueue.arn),
    };
    sender = (await loadShipped<ScheduledFire, { outcome: string }>(scheduling.sender)).handler;
    cancel = asProducer((await loadShipped(scheduling.cancel)).handler);
    scheduler = await startLocalScheduler({
      targets: {
        [names.sender]: async (input) => {
          fired.push(input as ScheduledFire);
          return sender(input as ScheduledFire);
        },
      },
      deadLetter: async (arn, body) => void deadLettered.push(`${arn} ${body}`),
    });
    process.env.AWS_ENDPOINT_URL_SCHEDULER = scheduler.endpoint;
  });
  after(async () => {
    await scheduler?.stop();
    await service?.stop();
  });

  const soon = (ms: number) => new Date(Math.ceil((Date.now() + ms) / 1000) * 1000).toISOString();

  it("schedules in the graph's group with its role, sender and DLQ, then the shipped sender sends it", async () => {
    const sendAt = soon(1200);
    const answer = await service.post({ eventId: "shipped-later", userId: "ada", type: "job.progress", message: "ready", sendAt });
    expect(answer.status).to.equal(202);
    expect(answer.body).to.deep.equal({ eventId: "shipped-later", status: "scheduled", sendAt });
    const [pending] = scheduler.pending();
    expect(pending).to.include({ group: names.group, targetArn: names.sender, deadLetterArn: names.dlq });
    expect(JSON.parse(pending.input)).to.deep.equal({ eventId: "shipped-later" });
    expect(service.events).to.have.length(0);
    await until(async () => fired.length === 1, 10_000, "the schedule fired");
    const log = makeNotificationLog({ ddb: service.ddb, table: service.names.log });
    await until(async () => (await log.get("shipped-later", "websocket"))?.status === "created", 10_000, "the channel recorded");
    await until(async () => (await log.notificationOf("shipped-later")).item?.schedule?.status === "sent", 10_000, "the schedule done");
    await service.bus.idle();
    expect(service.events.map((e) => (e.detail as { eventId: string }).eventId)).to.deep.equal(["shipped-later"]);
  });

  it("cancels with the shipped cancel function: the schedule is deleted and nothing is sent", async () => {
    const answer = await service.post({
      eventId: "shipped-cancel",
      userId: "ada",
      type: "job.progress",
      message: "never",
      sendAt: soon(60_000),
    });
    expect(answer.status).to.equal(202);
    const cancelled = await cancel({ pathParameters: { eventId: "shipped-cancel" } });
    expect([cancelled.statusCode, JSON.parse(cancelled.body!)]).to.deep.equal([200, { eventId: "shipped-cancel", status: "cancelled" }]);
    expect(scheduler.pending().map((s) => JSON.parse(s.input).eventId)).to.not.include("shipped-cancel");
    const again = await cancel({ pathParameters: { eventId: "shipped-later" } });
    expect(again.statusCode).to.equal(409);
    expect(JSON.parse(again.body!).error).to.equal("already_sent");
    expect(deadLettered).to.deep.equal([]);
  });

  it("collects a digest type's e-mail and Slack in the shipped service, and the shipped sender sends the digest with count and items", async () => {
    await service.putContact({ userId: "dee", email: "dee@example.com", external_channels: { slack: { webhookUrl: SLACK_HOOK } } });
    const comment = (n: number) =>
      service.post({
        userId: "dee",
        type: "comment.added",
        data: { threadId: "T9", threadTitle: "Launch", author: `a${n}`, excerpt: `c${n}` },
      });
    const answers = [await comment(1), await comment(2)];
    for (const answer of answers) expect(answer.body.channels).to.deep.equal({ websocket: "queued", email: "digested", slack: "digested" });
    const digest = scheduler.pending().find((p) => JSON.parse(p.input).eventId.startsWith("dg-"))!;
    expect(digest).to.include({ group: names.group, targetArn: names.sender, deadLetterArn: names.dlq });
    const digestId = JSON.parse(digest.input).eventId as string;
    const log = makeNotificationLog({ ddb: service.ddb, table: service.names.log });
    expect(await log.get(answers[1].body.eventId, "email")).to.include({ status: "digested", digestId });

    // Its window is 30 s: fire it now, as the Scheduler would then.
    const before = service.events.length;
    expect(await sender({ eventId: digestId })).to.deep.equal({ outcome: "sent" });
    await service.bus.idle();
    const sent = service.events
      .slice(before)
      .map((e) => e.detail as { eventId: string; channel: string; content: { subject?: string; text: string } });
    expect(sent.map((d) => [d.eventId, d.channel]).sort()).to.deep.equal([
      [digestId, "email"],
      [digestId, "slack"],
    ]);
    const email = sent.find((d) => d.channel === "email")!;
    expect(email.content.subject).to.equal("2 new comments");
    expect(email.content.text).to.match(/a1 on Launch: c1\n- a2 on Launch: c2/);
    // Fired again (a retried fire): nothing more.
    expect(await sender({ eventId: digestId })).to.deep.equal({ outcome: "skipped" });
  });

  it("gives the Scheduler's role the sender and the DLQ only, assumable by the Scheduler for this account only; the cancel route needs IAM", async () => {
    const scheduling = service.api.scheduling!;
    const assume = JSON.parse(await outputValue(scheduling.role.assumeRolePolicy));
    expect(assume.Statement).to.deep.equal([
      {
        Effect: "Allow",
        Principal: { Service: "scheduler.amazonaws.com" },
        Action: "sts:AssumeRole",
        Condition: { StringEquals: { "aws:SourceAccount": names.role.split(":")[4] } },
      },
    ]);
    const [inline] = (await outputValue(scheduling.role.inlinePolicies)) as { policy: string }[];
    const statements = JSON.parse(inline.policy).Statement as { Action: string[]; Resource: string[] }[];
    expect(statements.find((st) => st.Action.includes("lambda:InvokeFunction"))?.Resource).to.deep.equal([names.sender]);
    expect(statements.find((st) => st.Action.includes("sqs:SendMessage"))?.Resource).to.deep.equal([names.dlq]);
    expect(statements.flatMap((st) => st.Action).sort()).to.deep.equal([
      "kms:Decrypt",
      "kms:GenerateDataKey",
      "lambda:InvokeFunction",
      "sqs:SendMessage",
    ]);
    expect(await outputValue(scheduling.deadLetterQueue.kmsMasterKeyId)).to.match(/^arn:aws:kms:/);
    expect(await outputValue(scheduling.route.routeKey)).to.equal("DELETE /notifications/{eventId}");
    expect(await outputValue(scheduling.route.authorizationType)).to.equal("AWS_IAM");
    expect(names.group).to.be.a("string").and.not.equal("");
  });
});
