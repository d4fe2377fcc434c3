/**
 * Digests (issue 21 §2). Config: a digest on a critical, escalating or messageOnly type, without
 * scheduling, or on a type that only reaches the inbox, is refused naming the key. In the local mode, with
 * the dev stack's `comment.added` (a digest per `threadId`, its window shortened): every comment reaches
 * the feed at once; e-mail and Slack are `digested` (the 202 says so, the status names the digest), and
 * when the window closes each thread gets one e-mail and one Slack post listing its comments in order,
 * after which every collected comment's channels read `sent` with the digest's id.
 */
import { expect } from "chai";
import type { LocalTidings } from "../local/tidings";
import { readStackFile } from "../local/stackConfig";
import { parseTidingsConfig, TidingsConfigError } from "../runtime/config";
import { localCaller, type LocalCaller, startQuiet } from "./helpers/localTidings";
import { until } from "./helpers/sockets";

describe("digests", function () {
  this.timeout(90_000);

  describe("config", () => {
    const problemsOf = (edit: (raw: Record<string, any>) => void): string[] => {
      const raw = readStackFile();
      edit(raw);
      try {
        parseTidingsConfig(raw);
        return [];
      } catch (error) {
        if (!(error instanceof TidingsConfigError)) throw error;
        return error.message.split("\n").filter((line) => line.includes("digest"));
      }
    };

    it("takes windowSeconds and key", () => {
      expect(parseTidingsConfig(readStackFile()).notificationTypes["comment.added"].digest).to.deep.equal({
        windowSeconds: 30,
        key: "threadId",
      });
    });

    it("refuses each mistake naming its key", () => {
      const at = "tidings:notificationTypes.security.alert.digest";
      expect(problemsOf((raw) => (raw.notificationTypes["security.alert"].digest = { windowSeconds: 60 })).join("\n")).to.include(
        `${at}: a critical type cannot have a digest`,
      );
      expect(
        problemsOf((raw) => {
          raw.notificationTypes["order.shipped"].digest = { windowSeconds: 60 };
          raw.notificationTypes["order.shipped"].escalation = { afterSeconds: 60, channels: ["email"] };
        }).join("\n"),
      ).to.include("tidings:notificationTypes.order.shipped.digest: a type with an escalation cannot have a digest too");
      expect(problemsOf((raw) => (raw.scheduling = { enabled: false })).join("\n")).to.include(
        "tidings:notificationTypes.comment.added.digest: needs tidings:scheduling.enabled",
      );
      expect(problemsOf((raw) => (raw.notificationTypes["job.progress"].digest = { windowSeconds: 60 })).join("\n")).to.include(
        "tidings:notificationTypes.job.progress.digest: the type reaches only websocket",
      );
      expect(problemsOf((raw) => (raw.notificationTypes["comment.added"].digest = { windowSeconds: 0 })).join("\n")).to.include(
        "notificationTypes.comment.added.digest.windowSeconds",
      );
      expect(problemsOf((raw) => (raw.notificationTypes["comment.added"].digest.key = "not a field")).join("\n")).to.include(
        "notificationTypes.comment.added.digest.key",
      );
    });
  });

  describe("in the local mode", () => {
    let tidings: LocalTidings;
    let caller: LocalCaller;

    before(async () => {
      tidings = await startQuiet({
        editConfig: (raw) => {
          raw.notificationTypes["comment.added"].digest.windowSeconds = 2;
        },
      });
      caller = await localCaller(tidings);
    });
    after(async () => tidings?.stop());

    const comment = (n: number, threadId: string) =>
      caller.call("/notifications", {
        userId: "alice",
        type: "comment.added",
        data: { threadId, threadTitle: `Thread ${threadId}`, author: `author-${n}`, excerpt: `comment ${n}` },
      });

    async function mails(subject: RegExp) {
      const store = (await (await fetch(`${tidings.endpoints.sesInbox}/store`)).json()) as { emails: any[] };
      return store.emails.filter((e) => subject.test(e.subject ?? ""));
    }

    it("collects a thread's comments into one e-mail and one Slack post per window; the inbox gets each at once", async () => {
      const slackBefore = tidings.sinks.slack.received.length;
      const first = await comment(1, "T1");
      expect(first.status, JSON.stringify(first.body)).to.equal(202);
      expect(first.body.channels).to.deep.equal({ websocket: "queued", email: "digested", slack: "digested" });
      const rest = [await comment(2, "T1"), await comment(3, "T1"), await comment(4, "T2")];
      const ids = [first, ...rest].map((answer) => answer.body.eventId as string);

      // The inbox got every comment at once.
      for (const eventId of ids) await until(async () => (await tidings.log.get(eventId, "websocket"))?.status === "sent", 10_000, "inbox");
      // While the window is open: digested, naming the digest; one digest per thread.
      const open = await Promise.all(
        ids.map(async (id) => (await caller.call(`/notifications/${id}`, undefined, caller.producer, "GET")).body),
      );
      for (const status of open) expect(status.channels.email).to.deep.include({ status: "digested" });
      const digestOf = open.map((status) => status.channels.email.digestId as string);
      expect(digestOf[0]).to.equal(digestOf[1]).and.to.equal(digestOf[2]);
      expect(digestOf[3]).to.not.equal(digestOf[0]);

      await until(
        async () => (await mails(/^3 new comments$/)).length === 1 && (await mails(/^1 new comments$/)).length === 1,
        30_000,
        "the digests",
      );
      const [t1] = await mails(/^3 new comments$/);
      expect(t1.body.text).to.match(
        /author-1 on Thread T1: comment 1\n- author-2 on Thread T1: comment 2\n- author-3 on Thread T1: comment 3/,
      );
      await until(async () => tidings.sinks.slack.received.length >= slackBefore + 2, 10_000, "the Slack digests");
      const posts = tidings.sinks.slack.received.slice(slackBefore).map((p: any) => JSON.stringify(p.body ?? p));
      expect(posts.filter((p) => p.includes("3 new comments"))).to.have.length(1);

      // Sent: every collected comment's channels read the digest's status, with its id.
      await until(
        async () => {
          const status = (await caller.call(`/notifications/${ids[0]}`, undefined, caller.producer, "GET")).body;
          return status.channels.email.status === "sent" && status.channels.slack.status === "sent";
        },
        10_000,
        "the collected comment reads sent",
      );
      const done = (await caller.call(`/notifications/${ids[1]}`, undefined, caller.producer, "GET")).body;
      expect(done.channels.email).to.deep.include({ status: "sent", digestId: digestOf[1] });
      expect(done.channels.websocket.status).to.be.oneOf(["sent", "opened"]);
      // The digest is a notification of its own: sent on e-mail and Slack.
      const digest = (await caller.call(`/notifications/${digestOf[0]}`, undefined, caller.producer, "GET")).body;
      expect(digest).to.deep.include({ status: "sent", userId: "alice", type: "comment.added" });
      expect(Object.keys(digest.channels).sort()).to.deep.equal(["email", "slack"]);

      // A digest is not the producer's to cancel: its collected notifications go out with it.
      const later0 = await comment(9, "T3");
      const open0 = (await caller.call(`/notifications/${later0.body.eventId}`, undefined, caller.producer, "GET")).body;
      const refused = await caller.call(`/notifications/${open0.channels.email.digestId}`, undefined, caller.producer, "DELETE");
      expect(refused.status).to.equal(409);
      expect(refused.body).to.include({ error: "digest", eventId: open0.channels.email.digestId });

      // The window closed: the next comment opens a new digest.
      const later = await comment(5, "T1");
      const next = (await caller.call(`/notifications/${later.body.eventId}`, undefined, caller.producer, "GET")).body;
      expect(next.channels.email.digestId).to.not.equal(digestOf[0]);
    });
  });
});
