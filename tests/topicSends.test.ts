/**
 * Sending to a topic (issue 21 §3), in the local mode over HTTP: `POST /notifications` with `topic` answers
 * 202 with the subscriber count, the fan-out sends it to every subscriber with their own preferences (one
 * opted out is skipped), `GET /notifications/{eventId}` counts sent, skipped, failed and pending, the same
 * request again sends nobody twice, and bad combinations are 400s naming the field. On the local DynamoDB,
 * the fan-out moves its cursor page by page, hands the rest to a run of its own, and a run that fails
 * mid-page is re-run from that page.
 */
import { expect } from "chai";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { type LocalAws, startLocalAws } from "../local/aws";
import type { LocalTidings } from "../local/tidings";
import { makeTopicFanOut } from "../runtime/topicFanOut";
import { makeTopicSends, recipientId, type TopicSend } from "../runtime/topicSends";
import { makeTopics } from "../runtime/topics";
import { localCaller, type LocalCaller, startQuiet } from "./helpers/localTidings";
import { until } from "./helpers/sockets";

describe("sending to a topic", function () {
  this.timeout(90_000);

  describe("in the local mode, over HTTP", () => {
    let tidings: LocalTidings;
    let caller: LocalCaller;
    let topicsToken: string;

    before(async () => {
      tidings = await startQuiet();
      caller = await localCaller(tidings);
      topicsToken = await tidings.signToken("svc-news", { scope: tidings.config.auth.scopes.topicsWrite });
    });
    after(async () => tidings?.stop());

    const users = ["alice", "bob", ...Array.from({ length: 118 }, (_, i) => `fan-${String(i).padStart(3, "0")}`)];

    it("sends to every subscriber with their own preferences, counts them, and sends nobody twice", async () => {
      const subscribed = await caller.call("/topics/launch/subscribers", { userIds: users }, topicsToken, "PUT");
      expect(subscribed.body).to.deep.equal({ topic: "launch", added: 120 });
      // Bob has switched job.progress off in the inbox.
      const bob = await tidings.signToken("bob");
      const off = await fetch(`${tidings.endpoints.api}/me/preferences`, {
        method: "PUT",
        headers: { authorization: `Bearer ${bob}` },
        body: JSON.stringify({ types: { "job.progress": { websocket: false } } }),
      });
      expect(off.status).to.equal(200);

      const request = { eventId: "launch-1", topic: "launch", type: "job.progress", message: "We launch at 10" };
      const sent = await caller.call("/notifications", request);
      expect(sent).to.deep.equal({ status: 202, body: { eventId: "launch-1", topic: "launch", recipients: 120 } });

      const status = async () => (await caller.call("/notifications/launch-1", undefined, caller.producer, "GET")).body;
      await until(async () => (await status()).pending === 0, 60_000, "every recipient reached");
      expect(await status()).to.deep.include({ eventId: "launch-1", topic: "launch", recipients: 120, sent: 119, skipped: 1, failed: 0 });
      expect((await tidings.log.get(recipientId("launch-1", "bob"), "websocket"))?.status).to.equal("unsubscribed");

      // Each subscriber's own notification, in their own feed.
      const alice = await tidings.signToken("alice");
      const feed = async () =>
        (
          (await (
            await fetch(`${tidings.endpoints.api}/me/notifications`, { headers: { authorization: `Bearer ${alice}` } })
          ).json()) as any
        ).items;
      expect((await feed()).filter((i: any) => i.content.text === "We launch at 10")).to.have.length(1);

      // The same request again: the same answer, and nobody gets it twice.
      expect(await caller.call("/notifications", request)).to.deep.equal(sent);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      expect((await feed()).filter((i: any) => i.content.text === "We launch at 10")).to.have.length(1);
      expect((await tidings.log.get(recipientId("launch-1", "alice"), "websocket"))?.attempts).to.equal(1);
      expect(await status()).to.deep.include({ recipients: 120, sent: 119, skipped: 1 });
      // The ops page lists the send with the same counts.
      const ops = (await (await fetch(`${tidings.endpoints.api}/ops/state`)).json()) as { topicSends: any[] };
      expect(ops.topicSends.find((t) => t.eventId === "launch-1")).to.deep.include({
        topic: "launch",
        recipients: 120,
        sent: 119,
        skipped: 1,
        failed: 0,
        pending: 0,
      });
      // Another request under the same eventId is a conflict.
      expect((await caller.call("/notifications", { ...request, message: "other" })).status).to.equal(409);

      // Another producer may use the same eventId: its send is its own (eventIds are per producer).
      await caller.call("/topics/small/subscribers", { userIds: ["alice", "bob"] }, topicsToken, "PUT");
      const other = await tidings.signToken("svc-other", { scope: tidings.config.auth.scopes.send });
      const theirs = await caller.call("/notifications", { ...request, topic: "small", message: "Theirs" }, other);
      expect(theirs).to.deep.equal({ status: 202, body: { eventId: "launch-1", topic: "small", recipients: 2 } });
      const theirStatus = async () => (await caller.call("/notifications/launch-1", undefined, other, "GET")).body;
      await until(async () => (await theirStatus()).pending === 0, 20_000, "their send reached its two subscribers");
      expect(await theirStatus()).to.deep.include({ eventId: "launch-1", topic: "small", recipients: 2, sent: 1, skipped: 1 });
      expect(await status()).to.deep.include({ topic: "launch", recipients: 120, sent: 119 });
    });

    it("refuses topic with userId or sendAt, a bad topic, and neither userId nor topic, naming the field", async () => {
      const base = { type: "job.progress", message: "hi" };
      const cases: [Record<string, unknown>, string][] = [
        [{ ...base, topic: "launch", userId: "alice" }, "topic"],
        [{ ...base, topic: "launch", sendAt: new Date(Date.now() + 3_600_000).toISOString() }, "sendAt"],
        [{ ...base, topic: "no spaces" }, "topic"],
        [base, "userId"],
      ];
      for (const [body, field] of cases) {
        const answer = await caller.call("/notifications", body);
        expect(answer.status, JSON.stringify(body)).to.equal(400);
        expect(
          answer.body.problems.map((p: { field: string }) => p.field),
          JSON.stringify(body),
        ).to.include(field);
      }
    });
  });

  describe("the fan-out's cursor (local DynamoDB)", () => {
    let aws: LocalAws;
    let ddb: DynamoDBDocumentClient;

    before(async () => {
      aws = await startLocalAws();
      aws.applyEnv();
      await aws.createTables({ notificationLog: "fanout-log", topics: "fanout-topics" });
      ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } });
    });
    after(async () => aws?.stop());

    it("goes page by page, hands the rest on, and re-runs a failed page from its start", async () => {
      const topics = makeTopics({ ddb, table: "fanout-topics" });
      const sends = makeTopicSends({ ddb, table: "fanout-log" });
      const userIds = Array.from({ length: 250 }, (_, i) => `u-${String(i).padStart(3, "0")}`);
      await topics.subscribe("t", userIds);
      const send = await sends.record({
        eventId: "s-1",
        topic: "t",
        type: "job.progress",
        requestDigest: "d",
        request: { userId: "", topic: "t", type: "job.progress", message: "m" },
        recipients: 250,
      });
      expect(send).to.not.equal("conflict");

      const handed: string[] = [];
      const requeued: string[] = [];
      let failOn: string | undefined = "u-130";
      const fanOut = makeTopicFanOut({
        sends,
        topics,
        send: async (_send: TopicSend, userId: string) => {
          if (userId === failOn) throw new Error("the bus is down");
          handed.push(userId);
          return "sent";
        },
        requeue: async (eventId) => void requeued.push(eventId),
        pagesPerRun: 1,
        logger: () => {},
      });
      const event = { Records: [{ messageId: "m-1", body: JSON.stringify({ eventId: "s-1" }) }] } as any;

      // Run 1: page 1 (100), then the rest is handed on.
      expect(await fanOut(event)).to.deep.equal({ batchItemFailures: [] });
      expect(requeued).to.deep.equal(["s-1"]);
      expect((await sends.get("s-1"))!.cursor).to.equal("u-099");
      // Run 2 fails in page 2: reported for a retry, and the cursor has not moved.
      expect(await fanOut(event)).to.deep.equal({ batchItemFailures: [{ itemIdentifier: "m-1" }] });
      expect((await sends.get("s-1"))!.cursor).to.equal("u-099");
      // Run 3 re-runs page 2 from its start; run 4 takes the last page and ends it.
      failOn = undefined;
      await fanOut(event);
      await fanOut(event);
      const done = (await sends.get("s-1"))!;
      expect(done).to.deep.include({ done: true, pages: 3, reached: 250 });
      expect(await sends.recipients("s-1")).to.deep.equal(userIds);
      // Each page's recipients were handed on once, but for the page that failed (handed again from its start).
      expect(handed.filter((u) => u === "u-000")).to.have.length(1);
      expect(handed.filter((u) => u === "u-100")).to.have.length(2);
      expect(handed.filter((u) => u === "u-249")).to.have.length(1);
      // Done: a late copy of the message does nothing.
      const before = handed.length;
      await fanOut(event);
      expect(handed.length).to.equal(before);
    });
  });
});
