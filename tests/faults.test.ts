/**
 * Faults on purpose in the local mode (issue 22), as the README walks through them: a failing e-mail
 * provider, the notification dead-lettered with its reason, the DLQ alarm, the fault cleared, a
 * redrive, the notification sent.
 */
import { expect } from "chai";
import type { LocalTidings } from "../local/tidings";
import { producerScopes, startQuiet } from "./helpers/localTidings";
import { until } from "./helpers/sockets";

describe("POST /dev/faults: provoke a failure, watch it, recover (npm start)", function () {
  this.timeout(60_000);
  let tidings: LocalTidings;
  let producer: string;
  before(async () => {
    tidings = await startQuiet({ visibilityTimeoutSeconds: 1, editConfig: (raw) => (raw.channels.email.maxReceiveCount = 2) });
    producer = await tidings.signToken("svc", { scope: producerScopes(tidings) });
  });
  after(() => tidings?.stop());

  const call = async (method: string, path: string, body?: unknown, token?: string) => {
    const response = await fetch(`${tidings.endpoints.api}${path}`, {
      method,
      headers: token ? { authorization: `Bearer ${token}` } : {},
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as any };
  };
  const emailState = async () => (await call("GET", "/ops/state")).body.channels.find((c: { name: string }) => c.name === "email");
  const send = async () =>
    (
      await call(
        "POST",
        "/notifications",
        {
          userId: "alice",
          type: "order.shipped",
          channels: ["email"],
          data: { orderId: "F-1", carrier: "DHL", trackingUrl: "https://t.example.com/F-1" },
        },
        producer,
      )
    ).body.eventId as string;

  it("refuses a fault it cannot apply, naming each field", async () => {
    const refused = await call("POST", "/dev/faults", { channel: "fax", mode: "sometimes", rate: 2, extra: 1 });
    expect(refused.status).to.equal(400);
    expect(refused.body.problems.map((p: { field: string }) => p.field).sort()).to.deep.equal(["channel", "extra", "mode", "rate"]);
  });

  it("dead-letters an e-mail whose provider keeps failing, raises the DLQ alarm, and a redrive after the fault is cleared sends it", async () => {
    expect((await call("POST", "/dev/faults", { channel: "email", mode: "retryable" })).status).to.equal(200);
    expect((await call("GET", "/dev/faults")).body.faults).to.deep.equal([{ channel: "email", mode: "retryable", rate: 1 }]);
    expect(await emailState()).to.include({ fault: "retryable", alarm: "OK" });

    const eventId = await send();
    await until(async () => (await tidings.log.get(eventId, "email"))?.status === "dead-lettered", 20_000, "dead-lettered");
    const status = await call("GET", `/notifications/${eventId}`, undefined, producer);
    expect(status.body.channels.email.status).to.equal("dead-lettered");
    expect(status.body.channels.email.reason).to.equal("injected retryable fault (POST /dev/faults) (moved to the DLQ after 2 tries)");
    await until(async () => (await emailState()).alarm === "ALARM", 10_000, "the DLQ alarm");

    expect((await call("DELETE", "/dev/faults")).body.faults).to.deep.equal([]);
    expect((await call("POST", "/ops/redrive", { channel: "email", dlq: "queue" })).body.moved).to.equal(1);
    await until(async () => (await tidings.log.get(eventId, "email"))?.status === "sent", 20_000, "sent after the redrive");
    expect((await call("GET", `/notifications/${eventId}`, undefined, producer)).body.channels.email.reason).to.equal(undefined);
    await until(async () => (await emailState()).alarm === "OK", 10_000, "the alarm back to OK");
  });

  it("shows one notification's timeline and what it sent, and redrives that notification alone", async () => {
    await call("POST", "/dev/faults", { channel: "email", mode: "retryable" });
    const [first, second] = [await send(), await send()];
    for (const eventId of [first, second]) {
      await until(async () => (await tidings.log.get(eventId, "email"))?.status === "dead-lettered", 20_000, "dead-lettered");
    }
    await call("DELETE", "/dev/faults");
    // The log says dead-lettered on the last failed try; SQS moves the message at its next receive.
    await until(async () => (await emailState()).deadLetterDepth === 2, 20_000, "both in the DLQ");

    const detail = await call("GET", `/ops/notifications/${first}`);
    expect(detail.status).to.equal(200);
    expect(detail.body).to.deep.include({ eventId: first, userId: "alice", type: "order.shipped" });
    expect(detail.body.channels.email).to.include({ status: "dead-lettered", tries: 2 });
    expect(detail.body.sent.email).to.deep.include({ to: "alice@example.com" });
    expect(detail.body.sent.email.content.text).to.include("F-1");
    const steps = detail.body.timeline.map((s: { component: string; outcome: string }) => `${s.component} ${s.outcome}`);
    expect(steps[0]).to.equal("notify queued");
    expect(steps).to.include.members(["worker retry", "local-sqs dead-lettered"]);
    expect((await call("GET", "/ops/notifications/no-such-notification")).status).to.equal(404);

    const one = await call("POST", "/ops/redrive", { channel: "email", dlq: "queue", eventId: first });
    expect(one.body).to.include({ moved: 1 });
    await until(async () => (await tidings.log.get(first, "email"))?.status === "sent", 20_000, "the one redriven sent");
    expect((await tidings.log.get(second, "email"))?.status).to.equal("dead-lettered");
    expect((await call("POST", "/ops/redrive", { channel: "email", dlq: "rule", eventId: second })).status).to.equal(400);
    expect((await call("POST", "/ops/redrive", { channel: "email", dlq: "queue" })).body.moved).to.equal(1);
    await until(async () => (await tidings.log.get(second, "email"))?.status === "sent", 20_000, "the other sent after all");
  });

  it("a permanent fault ends the delivery in error at once, with its reason", async () => {
    await call("POST", "/dev/faults", { channel: "email", mode: "permanent" });
    try {
      const eventId = await send();
      await until(async () => (await tidings.log.get(eventId, "email"))?.status === "error", 10_000, "error");
      expect((await tidings.log.get(eventId, "email"))?.reason).to.equal("injected permanent fault (POST /dev/faults)");
    } finally {
      await call("DELETE", "/dev/faults");
    }
  });
});
