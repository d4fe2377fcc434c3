/**
 * Operations in the local mode (issue 11): the status API, nothing stuck after a rule-target fault
 * (reconciler, producer retry, `npm run redrive -- <channel> --rule-dlq --local`), and the metric lines
 * the handlers print. One instance; Slack's rule target fails while `fault` is on, as in the issue's
 * reproduction, so its events land in the rule DLQ and their rows stay `created` (no worker ever claims them).
 */
import { queueDepth } from "../local/opsPage";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { randomUUID } from "node:crypto";
import { expect } from "chai";
import { runRedriveCli } from "../local/redrive-cli";
import type { LocalTidings } from "../local/tidings";
import { devToken, producerScopes, startQuiet } from "./helpers/localTidings";
import { until } from "./helpers/sockets";

const STUCK_AFTER_MS = 1500;

describe("operations in the local mode: status API, reconciler, rule-DLQ redrive", function () {
  this.timeout(60_000);
  let tidings: LocalTidings;
  let token: string;
  let fault = false;
  let stateFile: string;

  before(async () => {
    stateFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "tidings-ops-")), "state.json");
    tidings = await startQuiet({
      stateFile,
      stuckAfterMs: STUCK_AFTER_MS,
      reconcileIntervalMs: 0,
      wrapRuleTarget: (channel, target) => async (event) => {
        if (fault && channel === "slack") throw Object.assign(new Error("AccessDenied on the queue (injected)"), { name: "AccessDenied" });
        return target(event);
      },
    });
    token = await devToken(tidings, "producer", producerScopes(tidings));
  });
  after(async () => {
    await tidings?.stop();
    if (stateFile) fs.rmSync(path.dirname(stateFile), { recursive: true, force: true });
  });

  const auth = () => ({ authorization: `Bearer ${token}`, "content-type": "application/json" });
  async function post(eventId: string) {
    const body = {
      eventId,
      userId: "alice",
      type: "order.shipped",
      channels: ["email", "slack"],
      message: `Parcel ${eventId} is on its way`,
    };
    const response = await fetch(tidings.endpoints.notifications, { method: "POST", headers: auth(), body: JSON.stringify(body) });
    return { status: response.status, body: (await response.json()) as any };
  }
  async function status(eventId: string) {
    const response = await fetch(`${tidings.endpoints.notifications}/${encodeURIComponent(eventId)}`, { headers: auth() });
    return { status: response.status, body: (await response.json()) as any };
  }
  const slackPosts = (eventId: string) => tidings.sinks.slack.received.filter((p) => JSON.stringify(p.body).includes(eventId)).length;
  const ruleDlq = () => tidings.channels.find((c) => c.name === "slack")!.ruleDeadLetterQueueUrl;
  const depth = (queueUrl: string) => queueDepth(tidings.clients.sqs, queueUrl);
  /** Sends `count` notifications while Slack's rule target fails; returns their ids once all are in the rule DLQ. */
  async function lostOnTheWay(count: number): Promise<string[]> {
    fault = true;
    const ids = Array.from({ length: count }, () => `ops-${randomUUID()}`);
    for (const id of ids) expect((await post(id)).status).to.equal(202);
    await tidings.bus.idle();
    fault = false;
    await until(async () => (await depth(ruleDlq())) >= count, 10_000, "events in the slack rule DLQ");
    await until(
      async () => (await Promise.all(ids.map((id) => tidings.log.get(id, "email")))).every((r) => r?.status === "sent"),
      15_000,
      "emails sent",
    );
    for (const id of ids) expect((await tidings.log.get(id, "slack"))?.status).to.equal("created");
    return ids;
  }

  it("GET /notifications/{eventId} answers each channel's status; an unknown id is 404, a malformed one 400, no token 401", async () => {
    const [id] = await lostOnTheWay(1);
    const answer = await status(id);
    expect(answer.status).to.equal(200);
    expect(answer.body).to.include({ eventId: id, userId: "alice", type: "order.shipped" });
    expect(answer.body.createdAt).to.be.a("string");
    expect(answer.body.channels.email).to.include({ status: "sent", attempts: 1, provider: "ses" });
    expect(answer.body.channels.email.updatedAt).to.be.a("string");
    expect(answer.body.channels.slack.status).to.equal("created");
    const missingId = `missing-${randomUUID()}`;
    expect(await status(missingId)).to.deep.equal({ status: 404, body: { error: "not found", eventId: missingId } });
    const bad = await status("has space");
    expect(bad.status).to.equal(400);
    expect(bad.body.problems[0].field).to.equal("eventId");
    expect((await fetch(`${tidings.endpoints.notifications}/${id}`)).status).to.equal(401);
    // Leave nothing behind for the next tests.
    expect(await runRedriveCli(["slack", "--rule-dlq", "--local", "--state", stateFile], () => {})).to.equal(0);
    await until(async () => slackPosts(id) === 1, 15_000, "slack delivered after redrive");
  });

  it("after the rule-target fault, the reconciler puts the lost events again: each delivered exactly once, even when the redrive follows", async () => {
    const ids = await lostOnTheWay(4);
    // Within the threshold the reconciler leaves the rows alone. (A producer's retry would put an unclaimed
    // row again at once: tests/notify.shipped.test.ts.)
    expect((await tidings.reconcile()).reput).to.equal(0);
    await new Promise((r) => setTimeout(r, STUCK_AFTER_MS + 100));
    const report = await tidings.reconcile();
    expect(report.reput).to.equal(4);
    await until(async () => ids.every((id) => slackPosts(id) === 1), 20_000, "slack delivered after the reconciler");
    // The sink has the post a moment before the worker records it: wait for the log too.
    await until(
      async () => (await Promise.all(ids.map(async (id) => (await tidings.log.get(id, "slack"))?.status))).every((s) => s === "sent"),
      20_000,
      "slack logged sent after the reconciler",
    );
    for (const id of ids) expect((await status(id)).body.channels.slack.status).to.equal("sent");
    // The original events, redriven late from the rule DLQ, find the rows sent: no second post.
    expect(await runRedriveCli(["slack", "--rule-dlq", "--local", "--state", stateFile], () => {})).to.equal(0);
    await until(async () => (await depth(tidings.channels.find((c) => c.name === "slack")!.queueUrl)) === 0, 15_000, "slack queue drained");
    expect(ids.map(slackPosts)).to.deep.equal([1, 1, 1, 1]);
    expect(await depth(ruleDlq())).to.equal(0);
    expect(tidings.ops.counters("slack").reconciled).to.be.at.least(4);
  });

  it("after the rule-target fault, `npm run redrive -- slack --rule-dlq --local` delivers every event exactly once; the reconciler then finds nothing", async () => {
    const ids = await lostOnTheWay(3);
    const lines: string[] = [];
    expect(await runRedriveCli(["slack", "--rule-dlq", "--local", "--state", stateFile], (l) => lines.push(l))).to.equal(0);
    expect(lines.join("\n")).to.match(/Moved 3 message\(s\) of "slack"/);
    await until(async () => ids.every((id) => slackPosts(id) === 1), 20_000, "slack delivered after the redrive");
    await new Promise((r) => setTimeout(r, STUCK_AFTER_MS + 100));
    const report = await tidings.reconcile();
    expect(report.reput).to.equal(0);
    expect(ids.map(slackPosts)).to.deep.equal([1, 1, 1]);
  });

  it("a producer's retry of a row pending past the threshold puts it again instead of answering duplicate", async () => {
    const [id] = await lostOnTheWay(1);
    await new Promise((r) => setTimeout(r, STUCK_AFTER_MS + 100));
    const retry = await post(id);
    expect(retry.status).to.equal(202);
    expect(retry.body.channels).to.deep.equal({ email: "duplicate", slack: "queued" });
    await until(async () => slackPosts(id) === 1, 15_000, "slack delivered after the retry");
    // Clean the rule DLQ: the late copy is a duplicate for the worker.
    expect(await runRedriveCli(["slack", "--rule-dlq", "--local", "--state", stateFile], () => {})).to.equal(0);
    await until(async () => (await depth(tidings.channels.find((c) => c.name === "slack")!.queueUrl)) === 0, 15_000, "slack queue drained");
    expect(slackPosts(id)).to.equal(1);
  });
});
