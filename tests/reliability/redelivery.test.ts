/**
 * Redelivery: one delivery processed by two copies at the same moment is sent once. The notification
 * log's claim (a leased conditional write in dynalite) is what decides; these tests prove it at three
 * levels: the claim itself, two concurrent worker invocations, and the whole local system, where SQS
 * hands the same message out again because its visibility timeout ran out mid-send, and where two
 * identical producer requests race.
 */
import { expect } from "chai";
import { randomUUID } from "node:crypto";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { type LocalAws, startLocalAws } from "../../local/aws";
import type { ChannelDelivery, Provider, SqsRecord } from "../../runtime/contracts";
import { makeNotificationLog, type NotificationLog } from "../../runtime/notificationLog";
import { makePolitenessLimiter } from "../../runtime/politeness";
import { makeChannelWorker } from "../../runtime/worker";
import { deliveryDigest } from "../../runtime/deliveryDigest";
import { type Decision, drain, type Harness, instrument, notify, seedContact, sleep, startHarness } from "./harness";

function record(channel: string, eventId: string, receiveCount = 1): SqsRecord {
  const detail: ChannelDelivery = {
    eventId,
    userId: "u-1",
    type: "order.shipped",
    channel,
    kind: "feedback",
    content: { text: "Your order shipped" },
    address: { email: "u-1@example.com" },
    createdAt: "2026-11-23T10:00:00.000Z", // fixed: every copy of one eventId is the same delivery
  };
  return {
    messageId: randomUUID(),
    body: JSON.stringify({ id: randomUUID(), source: "tidings", "detail-type": `notification.${channel}`, detail }),
    attributes: { ApproximateReceiveCount: String(receiveCount) },
  };
}

/** What the notification service records before it puts an event: the row with the delivery's digest. */
async function accept(log: NotificationLog, body: string): Promise<void> {
  const delivery = JSON.parse(body).detail as ChannelDelivery;
  const { eventId, channel, userId, type } = delivery;
  await log.create({ eventId, channel, userId, type, status: "created", delivery, digest: deliveryDigest(delivery) });
}

describe("reliability: redelivery is sent once", function () {
  this.timeout(60_000);

  describe("the notification log's claim (dynalite)", () => {
    let aws: LocalAws;
    let ddb: DynamoDBDocumentClient;
    let clock = Date.parse("2026-11-23T10:00:00Z");
    let log: NotificationLog;
    before(async () => {
      aws = await startLocalAws();
      aws.applyEnv();
      await aws.createTables({ notificationLog: "claim-log", politeness: "claim-politeness" });
      ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}));
      log = makeNotificationLog({ ddb, table: "claim-log", now: () => clock });
    });
    after(async () => {
      ddb.destroy();
      await aws.stop();
    });

    const row = (eventId: string) => ({ eventId, channel: "email", userId: "u-1", type: "order.shipped", status: "created" as const });

    it("lets one claimant in while the lease runs, and the next one after it expires", async () => {
      await log.create(row("c1"));
      expect((await log.claim("c1", "email", 30)).result).to.equal("claimed");
      expect((await log.claim("c1", "email", 30)).result).to.equal("busy");
      clock += 29_000;
      expect((await log.claim("c1", "email", 30)).result).to.equal("busy");
      clock += 1_000;
      expect((await log.claim("c1", "email", 30)).result).to.equal("claimed");
      expect((await log.get("c1", "email")) as any).to.have.property("claimedUntil", clock + 30_000);
    });

    it("keeps the lease through others' status writes; the claimant's release frees it; sent answers 'sent'", async () => {
      await log.create(row("c2"));
      expect((await log.claim("c2", "email", 30)).result).to.equal("claimed");
      // A racing producer request marks the row pending: the send in flight keeps its claim.
      await log.setStatus("c2", "email", "pending");
      expect((await log.claim("c2", "email", 30)).result).to.equal("busy");
      await log.setStatus("c2", "email", "pending", { reason: "throttled", countAttempt: true, releaseClaim: true });
      expect(await log.get("c2", "email")).to.not.have.property("claimedUntil");
      expect((await log.claim("c2", "email", 30)).result).to.equal("claimed");
      await log.setStatus("c2", "email", "sent", { provider: "ses", countAttempt: true, releaseClaim: true });
      expect(await log.get("c2", "email"))
        .to.include({ status: "sent", attempts: 2 })
        .and.not.have.property("claimedUntil");
      expect((await log.claim("c2", "email", 30)).result).to.equal("sent");
    });

    it("gives exactly one 'claimed' to 20 simultaneous claimants", async () => {
      await log.create(row("c3"));
      const results = await Promise.all(Array.from({ length: 20 }, () => log.claim("c3", "email", 30)));
      expect(results.filter((r) => r.result === "claimed")).to.have.length(1);
      expect(results.filter((r) => r.result === "busy")).to.have.length(19);
    });

    it("answers a claim with the row as it was and marks it pending", async () => {
      await log.create(row("c6"));
      await log.setStatus("c6", "email", "pending", { reason: "throttled", countAttempt: true });
      const first = await log.claim("c6", "email", 30);
      expect(first.result).to.equal("claimed");
      expect(first.row).to.include({ status: "pending", attempts: 1, eventId: "c6" });
      const busy = await log.claim("c6", "email", 30);
      expect(busy.result).to.equal("busy");
      expect(busy.row)
        .to.include({ status: "pending", attempts: 1 })
        .and.have.property("claimedUntil", clock + 30_000);
    });

    it("never moves a delivered row back to pending or error (a late producer write loses)", async () => {
      await log.create(row("c4"));
      expect(await log.setStatus("c4", "email", "sent", { provider: "ses" })).to.equal("updated");
      expect(await log.setStatus("c4", "email", "pending")).to.equal("kept");
      expect(await log.setStatus("c4", "email", "error", { reason: "late" })).to.equal("kept");
      expect(await log.get("c4", "email"))
        .to.include({ status: "sent" })
        .and.not.have.property("reason");
      expect(await log.setStatus("c4", "email", "opened")).to.equal("updated");
      expect(await log.setStatus("c4", "email", "pending", { releaseClaim: true, countAttempt: true })).to.equal("kept");
      expect((await log.claim("c4", "email", 30)).result).to.equal("sent");
    });

    it("keeps a worker's `error` when the service's late `pending` arrives; the claimant of a new send may move it", async () => {
      await log.create(row("c5"));
      expect((await log.claim("c5", "email", 30)).result).to.equal("claimed");
      await log.setStatus("c5", "email", "error", { reason: "address rejected", countAttempt: true, releaseClaim: true });
      expect(await log.setStatus("c5", "email", "pending")).to.equal("kept");
      expect(await log.get("c5", "email")).to.include({ status: "error", reason: "address rejected" });
      // A redelivered copy claims the row and its retryable outcome is recorded.
      expect((await log.claim("c5", "email", 30)).result).to.equal("claimed");
      expect(await log.setStatus("c5", "email", "pending", { reason: "throttled", countAttempt: true, releaseClaim: true })).to.equal(
        "updated",
      );
      expect(await log.get("c5", "email")).to.include({ status: "pending", reason: "throttled", attempts: 2 });
    });

    it("refuses a claim without a log row, and a lease that is not positive, naming the problem", async () => {
      const failure = (p: Promise<unknown>) =>
        p.then(
          () => undefined,
          (e: Error) => e.message,
        );
      expect(await failure(log.claim("no-such-event", "email", 30))).to.equal(
        "cannot claim no-such-event/email: the notification log has no row for it",
      );
      expect(await failure(log.claim("c1", "email", 0))).to.equal("claim needs a positive leaseSeconds, got 0");
    });

    it("worker: two concurrent copies of one record send once; the loser is retried and then skipped as a duplicate", async () => {
      let sends = 0;
      const slow: Provider = {
        name: "slow",
        async send() {
          sends++;
          await sleep(300);
          return { outcome: "sent", providerMessageId: `m-${sends}` };
        },
      };
      const decisions: Decision[] = [];
      const worker = makeChannelWorker({
        channel: "email",
        primary: slow,
        log: makeNotificationLog({ ddb, table: "claim-log" }),
        requeue: async () => {
          throw new Error("no requeue expected");
        },
        logger: (d) => void decisions.push(d),
      });
      const eventId = `evt-${randomUUID()}`;
      const first = record("email", eventId, 1);
      await accept(makeNotificationLog({ ddb, table: "claim-log" }), first.body);
      const copy = { ...first, attributes: { ApproximateReceiveCount: "2" } };
      const [a, b] = await Promise.all([worker({ Records: [first] }), worker({ Records: [copy] })]);
      expect(sends).to.equal(1);
      const failures = [...a.batchItemFailures, ...b.batchItemFailures];
      expect(failures, "exactly one copy is told to come back later").to.have.length(1);
      expect(decisions.map((d) => d.outcome).sort()).to.deep.equal(["busy", "sent"]);

      // The loser comes back after its visibility timeout and finds the delivery done.
      const again = await worker({ Records: [{ ...first, attributes: { ApproximateReceiveCount: "3" } }] });
      expect(again.batchItemFailures).to.deep.equal([]);
      expect(sends).to.equal(1);
      expect(decisions.at(-1)).to.include({ outcome: "duplicate", eventId });
      const logged = await makeNotificationLog({ ddb, table: "claim-log" }).get(eventId, "email");
      expect(logged).to.include({ status: "sent", providerMessageId: "m-1", attempts: 1 });
    });

    it("worker: two fresh copies of one delivery (racing producer requests) take one politeness token, not two", async () => {
      const slow: Provider = {
        name: "slow",
        send: async () => {
          await sleep(200);
          return { outcome: "sent" };
        },
      };
      const politeness = makePolitenessLimiter({ ddb, table: "claim-politeness", limit: 2, windowSeconds: 3600 });
      const worker = makeChannelWorker({
        channel: "email",
        primary: slow,
        log: makeNotificationLog({ ddb, table: "claim-log" }),
        politeness,
        requeue: async () => {
          throw new Error("no requeue expected");
        },
        logger: () => {},
      });
      const userId = `polite-${randomUUID()}`;
      const eventId = `evt-${randomUUID()}`;
      const fresh = (id: string) => ({
        ...record("email", id, 1),
        body: record("email", id, 1).body.replace(/"u-1"/g, JSON.stringify(userId)),
      });
      const first = fresh(eventId);
      await accept(makeNotificationLog({ ddb, table: "claim-log" }), first.body);
      await Promise.all([worker({ Records: [first] }), worker({ Records: [{ ...first, messageId: "copy" }] })]);
      // One token was taken for the two copies: one is left for this window.
      expect(await politeness.take("email", userId)).to.deep.equal({ allowed: true });
      expect((await politeness.take("email", userId)).allowed).to.equal(false);
    });

    it("worker: a copy finding an expired lease (its first worker crashed mid-send) sends", async () => {
      let sends = 0;
      const provider: Provider = {
        name: "p",
        send: async () => {
          sends++;
          return { outcome: "sent" };
        },
      };
      const eventId = `evt-${randomUUID()}`;
      const logNow = makeNotificationLog({ ddb, table: "claim-log" });
      await accept(logNow, record("email", eventId, 2).body);
      // The crashed worker's claim, taken 31 s ago with a 30 s lease.
      const crashed = makeNotificationLog({ ddb, table: "claim-log", now: () => Date.now() - 31_000 });
      expect((await crashed.claim(eventId, "email", 30)).result).to.equal("claimed");
      const worker = makeChannelWorker({
        channel: "email",
        primary: provider,
        log: logNow,
        requeue: async () => {},
        logger: () => {},
        claimLeaseSeconds: 30,
      });
      const result = await worker({ Records: [record("email", eventId, 2)] });
      expect(result.batchItemFailures).to.deep.equal([]);
      expect(sends).to.equal(1);
      expect(await logNow.get(eventId, "email")).to.include({ status: "sent" });
    });
  });

  describe("the local system (startLocalTidings, 1 s visibility timeout)", () => {
    let h: Harness;
    const slackSends = new Map<string, number>();
    let slowFirstSendMs = 0;

    before(async () => {
      h = await startHarness({
        visibilityTimeoutSeconds: 1,
        claimLeaseSeconds: 10,
        // Slack's first send of each delivery takes `slowFirstSendMs`: longer than the visibility timeout.
        wrapProvider: (channel, provider) =>
          channel !== "slack"
            ? provider
            : instrument(provider, async (delivery, call) => {
                slackSends.set(delivery.eventId, call);
                if (call === 1) await sleep(slowFirstSendMs);
              }),
      });
      await seedContact(h, "rita", 1);
    });
    after(async () => {
      await h?.stop();
    });

    const postsFor = (eventId: string) => h.tidings.sinks.slack.received.filter((p) => p.body?.text?.includes(eventId)).length;

    it("sends once when SQS hands the message out again while the first worker is still sending", async () => {
      slowFirstSendMs = 2_500;
      const eventId = `redeliver-${randomUUID()}`;
      const answer = await notify(h, {
        eventId,
        userId: "rita",
        type: "order.shipped",
        channels: ["slack"],
        message: `Order ${eventId} shipped`,
      });
      expect(answer.status, JSON.stringify(answer.body)).to.equal(202);
      await drain(h, 20_000);

      const worker = h.decisions.filter((d) => d.component === "worker" && d.eventId === eventId);
      const busy = worker.filter((d) => d.outcome === "busy");
      expect(busy.length, "the message was received again while the first send was in flight").to.be.greaterThan(0);
      expect(Math.max(...busy.map((d) => d.receiveCount))).to.be.greaterThan(1);
      expect(worker.filter((d) => d.outcome === "sent")).to.have.length(1);
      expect(slackSends.get(eventId), "provider calls").to.equal(1);
      expect(postsFor(eventId), "posts at the Slack sink").to.equal(1);
      expect(await h.tidings.log.get(eventId, "slack")).to.include({ status: "sent", attempts: 1 });
    });

    it("sends once when two identical producer requests race, even with both copies in flight together", async () => {
      slowFirstSendMs = 1_500;
      const eventId = `race-${randomUUID()}`;
      const request = { eventId, userId: "rita", type: "order.shipped", channels: ["slack"], message: `Order ${eventId} shipped` };
      const answers = await Promise.all(Array.from({ length: 6 }, () => notify(h, request)));
      for (const answer of answers) expect(answer.status, JSON.stringify(answer.body)).to.equal(202);
      await drain(h, 20_000);

      // Racing requests can all find the row still `created` and each put an event: count them.
      const queued = h.decisions.filter((d) => d.component === "notify" && d.eventId === eventId && d.outcome === "queued").length;
      expect(queued).to.be.at.least(1);
      const worker = h.decisions.filter((d) => d.component === "worker" && d.eventId === eventId);
      expect(worker.filter((d) => d.outcome === "sent")).to.have.length(1);
      expect(slackSends.get(eventId)).to.equal(1);
      expect(postsFor(eventId)).to.equal(1);
      // Every extra copy that reached a worker was turned away, never sent.
      expect(worker.filter((d) => d.outcome === "duplicate" || d.outcome === "busy").length).to.be.at.least(queued - 1);
      console.log(`      ${queued} of 6 racing requests put an event; ${worker.length - 1} extra worker decisions, 1 send`);
    });
  });
});
