/**
 * Scheduled notifications in the local mode, over HTTP only, as the README's curl examples do: `sendAt`
 * answers 202 scheduled, the status says scheduled until then, the user's contact and preferences are
 * read when it is sent, a cancel before its time means it is never delivered, a cancel after it is a
 * 409, a cancel racing the send is one or the other, and bad times are 400 naming sendAt.
 */
import { DeleteScheduleCommand, SchedulerClient } from "@aws-sdk/client-scheduler";
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expect } from "chai";
import { runRedriveCli } from "../local/redrive-cli";
import type { LocalTidings } from "../local/tidings";
import { producerScopes, startQuiet } from "./helpers/localTidings";
import { until } from "./helpers/sockets";

const SHIPPED = { orderId: "A-1", carrier: "DHL", trackingUrl: "https://track.example.com/A-1" };

describe("scheduled notifications (local mode, over HTTP)", function () {
  this.timeout(60_000);
  let tidings: LocalTidings;
  let producer: string;
  let other: string;
  let serial = 0;
  const newId = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${serial++}`;
  /** A time `ms` from now, written with a +01:00 offset as a producer in Berlin would. */
  const inMs = (ms: number) => {
    const at = new Date(Math.ceil((Date.now() + ms) / 1000) * 1000 + 3_600_000);
    return `${at.toISOString().slice(0, 19)}+01:00`;
  };

  before(async () => {
    tidings = await startQuiet();
    producer = await tidings.signToken("svc-orders", { scope: producerScopes(tidings) });
    other = await tidings.signToken("svc-other", { scope: producerScopes(tidings) });
  });
  after(async () => tidings?.stop());

  async function call(method: string, path: string, body?: unknown, token = producer) {
    const response = await fetch(`${tidings.endpoints.api}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as any };
  }

  const statusOf = async (eventId: string, token = producer) => (await call("GET", `/notifications/${eventId}`, undefined, token)).body;

  it("answers 202 scheduled, says scheduled until then, and sends then with the contact of then", async () => {
    const eventId = newId("later");
    const user = newId("user");
    const sendAt = inMs(1500);
    const accepted = await call("POST", "/notifications", {
      eventId,
      userId: user,
      type: "order.shipped",
      channels: ["email"],
      data: SHIPPED,
      sendAt,
    });
    expect(accepted.status).to.equal(202);
    expect(accepted.body).to.deep.equal({ eventId, status: "scheduled", sendAt });
    const before = await statusOf(eventId);
    expect(before.status).to.equal("scheduled");
    expect(before.sendAt).to.equal(sendAt);
    expect(before.channels).to.deep.equal({});
    // The user had no address when it was accepted; the one given meanwhile is where it goes.
    expect((await call("PUT", `/users/${user}/contact`, { email: `${user}@example.com` })).status).to.equal(200);
    await until(async () => (await statusOf(eventId)).channels?.email?.status === "sent", 20_000, "the scheduled e-mail sent");
    const after = await statusOf(eventId);
    expect(after.status).to.equal("sent");
    expect(Date.parse(after.channels.email.updatedAt)).to.be.at.least(Date.parse(sendAt));
    const inbox = (await (await fetch(`${tidings.aws.endpoints.ses}/store`)).json()) as { emails: { destination: { to: string[] } }[] };
    expect(inbox.emails.filter((m) => m.destination.to.includes(`${user}@example.com`))).to.have.length(1);
  });

  it("reads the preferences of then: a channel switched off meanwhile is skipped", async () => {
    const eventId = newId("prefs");
    const bob = await tidings.signToken("bob");
    const accepted = await call("POST", "/notifications", {
      eventId,
      userId: "bob",
      type: "order.shipped",
      channels: ["email"],
      data: SHIPPED,
      sendAt: inMs(1200),
    });
    expect(accepted.status).to.equal(202);
    const off = await fetch(`${tidings.endpoints.api}/me/preferences`, {
      method: "PUT",
      headers: { authorization: `Bearer ${bob}`, "content-type": "application/json" },
      body: JSON.stringify({ channels: { email: false } }),
    });
    expect(off.status).to.equal(200);
    await until(async () => (await statusOf(eventId)).channels?.email !== undefined, 20_000, "the scheduled notification decided");
    expect((await statusOf(eventId)).channels.email.status).to.equal("unsubscribed");
    await fetch(`${tidings.endpoints.api}/me/preferences`, {
      method: "PUT",
      headers: { authorization: `Bearer ${bob}`, "content-type": "application/json" },
      body: JSON.stringify({ channels: { email: true } }),
    });
  });

  it("cancels before its time (200, again 200), never delivers it, and forgets its schedule", async () => {
    const eventId = newId("cancel");
    await call("POST", "/notifications", {
      eventId,
      userId: "alice",
      type: "job.progress",
      channels: ["websocket"],
      message: "never",
      sendAt: inMs(1500),
    });
    expect(tidings.scheduler!.pending().length).to.be.greaterThan(0);
    const cancelled = await call("DELETE", `/notifications/${eventId}`);
    expect(cancelled).to.deep.equal({ status: 200, body: { eventId, status: "cancelled" } });
    expect(await call("DELETE", `/notifications/${eventId}`)).to.deep.equal({ status: 200, body: { eventId, status: "cancelled" } });
    expect(tidings.scheduler!.pending().map((s) => JSON.parse(s.input).eventId)).to.not.include(eventId);
    await new Promise((resolve) => setTimeout(resolve, 2500));
    const status = await statusOf(eventId);
    expect(status.status).to.equal("cancelled");
    expect(status.channels).to.deep.equal({});
  });

  it("answers 409 already_sent once it was sent, and for a notification sent at once; 404 for an unknown or another producer's", async () => {
    const eventId = newId("sent");
    await call("POST", "/notifications", {
      eventId,
      userId: "alice",
      type: "job.progress",
      channels: ["websocket"],
      message: "soon",
      sendAt: inMs(800),
    });
    await until(async () => (await statusOf(eventId)).status === "sent", 20_000, "sent");
    const late = await call("DELETE", `/notifications/${eventId}`);
    expect(late.status).to.equal(409);
    expect(late.body).to.include({ error: "already_sent", eventId });
    const now = newId("now");
    expect(
      (
        await call("POST", "/notifications", {
          eventId: now,
          userId: "alice",
          type: "job.progress",
          channels: ["websocket"],
          message: "now",
        })
      ).status,
    ).to.equal(202);
    expect((await call("DELETE", `/notifications/${now}`)).body.error).to.equal("already_sent");
    expect(await call("DELETE", `/notifications/${newId("unknown")}`)).to.deep.include({ status: 404 });
    // Another producer's scheduled notification is not this one's to cancel, nor to see.
    const theirs = newId("theirs");
    await call("POST", "/notifications", { eventId: theirs, userId: "alice", type: "job.progress", message: "x", sendAt: inMs(60_000) });
    expect((await call("DELETE", `/notifications/${theirs}`, undefined, other)).status).to.equal(404);
    expect((await statusOf(theirs)).status).to.equal("scheduled");
    expect((await call("DELETE", `/notifications/${theirs}`)).status).to.equal(200);
  });

  it("a cancel racing the send is one or the other: cancelled and never delivered, or 409 and delivered once", async () => {
    const outcomes: string[] = [];
    for (let i = 0; i < 3; i++) {
      const eventId = newId("race");
      const sendAt = inMs(600);
      await call("POST", "/notifications", {
        eventId,
        userId: "alice",
        type: "job.progress",
        channels: ["websocket"],
        message: "race",
        sendAt,
      });
      // Cancel right at its time.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(sendAt) - Date.now())));
      const cancel = await call("DELETE", `/notifications/${eventId}`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const status = await statusOf(eventId);
      if (cancel.status === 200) {
        expect(status.status).to.equal("cancelled");
        expect(status.channels).to.deep.equal({});
      } else {
        expect(cancel.status).to.equal(409);
        await until(async () => (await statusOf(eventId)).channels?.websocket?.status === "sent", 10_000, "the race's send");
      }
      outcomes.push(String(cancel.status));
    }
    expect(outcomes.every((o) => o === "200" || o === "409")).to.equal(true);
  });

  it("refuses a time in the past, more than 365 days ahead, without an offset, or not a date, with 400 naming sendAt; nothing is scheduled", async () => {
    const pending = tidings.scheduler!.pending().length;
    const farAhead = new Date(Date.now() + 366 * 86_400_000).toISOString();
    for (const sendAt of ["2020-01-01T00:00:00Z", farAhead, "2027-01-15T09:00:00", "2027-02-30T09:00:00Z", "tomorrow", 1700000000]) {
      const refused = await call("POST", "/notifications", { userId: "alice", type: "job.progress", message: "x", sendAt });
      expect(refused.status, String(sendAt)).to.equal(400);
      expect(refused.body.problems.map((p: { field: string }) => p.field)).to.deep.equal(["sendAt"]);
    }
    expect(tidings.scheduler!.pending().length).to.equal(pending);
  });

  it("a retry of the same scheduled request answers the same; the eventId with another request is 409", async () => {
    const eventId = newId("retry");
    const request = { eventId, userId: "alice", type: "job.progress", message: "once", sendAt: inMs(60_000) };
    const first = await call("POST", "/notifications", request);
    expect(await call("POST", "/notifications", request)).to.deep.equal(first);
    expect((await call("POST", "/notifications", { ...request, message: "other" })).status).to.equal(409);
    expect((await call("DELETE", `/notifications/${eventId}`)).status).to.equal(200);
  });

  it("the ops page lists what is scheduled, soonest first, and its cancel cancels as the producer would", async () => {
    const first = newId("ops-a");
    const second = newId("ops-b");
    await call("POST", "/notifications", { eventId: second, userId: "bob", type: "job.progress", message: "b", sendAt: inMs(120_000) });
    await call("POST", "/notifications", { eventId: first, userId: "alice", type: "job.progress", message: "a", sendAt: inMs(60_000) });
    const state = async () => (await (await fetch(`${tidings.endpoints.api}/ops/state`)).json()) as { scheduled: any[] };
    const listed = (await state()).scheduled.filter((n) => n.eventId === first || n.eventId === second);
    expect(listed.map((n) => [n.eventId, n.userId, n.type, n.producer])).to.deep.equal([
      [first, "alice", "job.progress", "svc-orders"],
      [second, "bob", "job.progress", "svc-orders"],
    ]);
    const cancel = await fetch(`${tidings.endpoints.api}/ops/cancel`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ notificationId: listed[0].notificationId }),
    });
    expect([cancel.status, await cancel.json()]).to.deep.equal([200, { eventId: first, status: "cancelled" }]);
    expect((await state()).scheduled.map((n) => n.eventId)).to.not.include(first);
    expect((await statusOf(first)).status).to.equal("cancelled");
    const bad = await fetch(`${tidings.endpoints.api}/ops/cancel`, { method: "POST", body: "{}" });
    expect(bad.status).to.equal(400);
    expect(((await bad.json()) as any).problems[0].field).to.equal("notificationId");
    expect((await call("DELETE", `/notifications/${second}`)).status).to.equal(200);
  });

  it("a fire the sender never took waits in the schedules DLQ; the ops page's redrive hands it to the sender, which sends it once", async () => {
    const eventId = newId("lost");
    await call("POST", "/notifications", { eventId, userId: "alice", type: "job.progress", message: "late but sent", sendAt: inMs(1_000) });
    // The schedule is gone (as if the Scheduler's retries had all failed): nothing fires it.
    const schedule = tidings.scheduler!.pending().find((p) => JSON.parse(p.input).eventId === eventId)!;
    await new SchedulerClient({}).send(new DeleteScheduleCommand({ Name: schedule.name, GroupName: schedule.group }));
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, schedule.at - Date.now()) + 500));
    expect((await statusOf(eventId)).status).to.equal("scheduled");
    // What the Scheduler puts in the DLQ then: the schedule's Input. And one that is not a fire at all.
    const dlq = tidings.schedulesDeadLetterQueueUrl!;
    await tidings.clients.sqs.send(new SendMessageCommand({ QueueUrl: dlq, MessageBody: schedule.input }));
    await tidings.clients.sqs.send(new SendMessageCommand({ QueueUrl: dlq, MessageBody: '{"not":"a fire"}' }));
    const opsState = async () => (await (await fetch(`${tidings.endpoints.api}/ops/state`)).json()) as any;
    expect((await opsState()).schedulesDeadLetterDepth).to.equal(2);

    const redrive = async () => {
      const answer = await fetch(`${tidings.endpoints.api}/ops/redrive`, { method: "POST", body: JSON.stringify({ dlq: "schedules" }) });
      expect(answer.status).to.equal(200);
      return (await answer.json()) as { dlq: string; moved: number; failed: { reason: string }[] };
    };
    const first = await redrive();
    expect([first.dlq, first.moved, first.failed.length]).to.deep.equal(["schedules", 1, 1]);
    expect(first.failed[0].reason).to.match(/eventId/);
    expect((await statusOf(eventId)).status).to.equal("sent");
    await until(async () => (await tidings.log.get(eventId, "websocket"))?.status === "sent", 10_000, "sent");

    // The same fire again (redriven twice), this time by `npm run redrive -- --schedules --local`: the
    // sender finds it sent, and sends nothing.
    await tidings.clients.sqs.send(new SendMessageCommand({ QueueUrl: dlq, MessageBody: schedule.input }));
    const stateFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "tidings-state-")), "state.json");
    fs.writeFileSync(stateFile, JSON.stringify({ endpoints: tidings.endpoints }));
    const lines: string[] = [];
    // The message that is not a fire is still there (hidden a while after its failed try): the CLI says so.
    await runRedriveCli(["--schedules", "--local", "--state", stateFile], (line) => lines.push(line));
    expect(lines[0]).to.equal("Handed 1 fire(s) from the schedules DLQ to the scheduled sender.");
    expect((await tidings.log.get(eventId, "websocket"))?.attempts).to.equal(1);
  });
});
