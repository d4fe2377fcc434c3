/**
 * Part "topics": one notification to a topic of many subscribers through the local mode (issue 21 §3):
 * the service records the send, the fan-out pages the subscribers and sends each through the pipeline, and
 * the websocket worker stores each in its user's feed. Measured: the time from the request to the last
 * delivery, deliveries per second, and every AWS call and unit counted as bench/cost.ts counts them,
 * priced per 1,000 recipients at the same list prices.
 */
import { randomUUID } from "node:crypto";
import type { DecisionLogger } from "../runtime/log";
import { countingLocalOptions, installRecorder, items, noCounts, PRICES } from "./cost";
import { formatNumber, now, type PartResult } from "./lib";

export async function runTopicFanOut(options: { subscribers: number }, progress: (line: string) => void): Promise<PartResult> {
  const { startLocalTidings, invocations } = require("../local/tidings") as typeof import("../local/tidings");
  // Priced per 1,000 recipients: the items divide by this.
  const counts = noCounts(options.subscribers / 1000);
  let recording = false;
  const uninstall = installRecorder(() => (recording ? counts : undefined), invocations);
  let delivered = 0;
  let lastDeliveryAt = 0;
  const eventId = `bench-topic-${randomUUID()}`;
  const logger: DecisionLogger = (decision) => {
    if (recording) counts.logBytes += Buffer.byteLength(JSON.stringify(decision)) + 40;
    if (decision.component === "worker" && decision.outcome === "sent" && String(decision.eventId).startsWith(`${eventId}.`)) {
      delivered++;
      lastDeliveryAt = now();
    }
  };
  const tidings = await startLocalTidings(
    countingLocalOptions({
      logger,
      metrics: { count: () => undefined, latency: () => undefined },
      onInvocation: (_fn, ms) => {
        if (!recording) return;
        counts.invocations++;
        counts.durationMs += ms;
      },
    }),
  );
  try {
    const { scopes } = tidings.config.auth;
    const producer = `Bearer ${await tidings.signToken("bench", { scope: `${scopes.send} ${scopes.topicsWrite}` })}`;
    for (let at = 0; at < options.subscribers; at += 1000) {
      const userIds = Array.from({ length: Math.min(1000, options.subscribers - at) }, (_, i) => `sub-${String(at + i).padStart(6, "0")}`);
      const answer = await fetch(`${tidings.endpoints.api}/topics/bench/subscribers`, {
        method: "PUT",
        headers: { authorization: producer },
        body: JSON.stringify({ userIds }),
      });
      if (answer.status !== 200) throw new Error(`subscribing answered ${answer.status}: ${await answer.text()}`);
    }
    progress(`${formatNumber(options.subscribers)} subscribers; sending`);
    recording = true;
    const started = now();
    const answer = await fetch(tidings.endpoints.notifications, {
      method: "POST",
      headers: { authorization: producer },
      body: JSON.stringify({ eventId, topic: "bench", type: "job.progress", message: "A release is out" }),
    });
    const accepted = (await answer.json()) as { recipients?: number };
    if (answer.status !== 202 || accepted.recipients !== options.subscribers)
      throw new Error(`the send answered ${answer.status}: ${JSON.stringify(accepted)}`);
    const acceptedMs = now() - started;
    for (let report = started; delivered < options.subscribers; ) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      if (now() - lastDeliveryAt > 120_000 && delivered > 0) throw new Error(`stalled at ${delivered} deliveries`);
      if (now() - report > 10_000) {
        report = now();
        progress(`${formatNumber(delivered)} delivered`);
      }
    }
    const lastMs = lastDeliveryAt - started;
    // The last deletes and log lines.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    recording = false;
    const priced = items(counts);
    const total = priced.reduce((sum, r) => sum + r.dollars, 0);
    const calls = [...counts.calls.entries()].sort((a, b) => b[1] - a[1]);
    const per1000 = (n: number) => formatNumber((n * 1000) / options.subscribers, 1);
    return {
      title: `A topic of ${formatNumber(options.subscribers)} subscribers (the feed only)`,
      tables: [
        {
          headers: ["measure", "value"],
          rows: [
            ["202 answered after (ms)", formatNumber(acceptedMs)],
            ["last delivery after (s)", formatNumber(lastMs / 1000, 1)],
            ["deliveries per second", formatNumber(options.subscribers / (lastMs / 1000), 1)],
            ["AWS calls per 1,000 recipients (SQS aside)", per1000([...counts.calls.values()].reduce((a, b) => a + b, 0))],
            ["SQS requests per 1,000 recipients", per1000(counts.sqsRequests)],
            ["DynamoDB write units per 1,000 recipients", per1000(counts.writeUnits + counts.indexWriteUnits)],
            ["DynamoDB read units per 1,000 recipients", per1000(counts.readUnits)],
            [`cost per 1,000 recipients (list prices, ${PRICES.region}, ${PRICES.date})`, `$${formatNumber(total, 4)}`],
          ],
        },
        {
          title: "AWS calls per 1,000 recipients, by command",
          headers: ["command", "calls"],
          rows: calls.map(([command, n]) => [command, per1000(n)]),
        },
        {
          title: "cost per 1,000 recipients, by item",
          headers: ["item", "quantity", "unit", "dollars"],
          rows: priced
            .filter((r) => r.dollars > 0)
            .map((r) => [r.item, formatNumber(r.quantity, 2), r.unit, `$${formatNumber(r.dollars, 5)}`]),
        },
      ],
      notes: [
        `One POST /notifications with topic to ${formatNumber(options.subscribers)} subscribers of type job.progress (websocket only, no open connections: each lands in its user's feed). Time runs from the request to the websocket worker's last "sent".`,
        "The fan-out sends each recipient through the service's pipeline (settings and contact in one BatchGetItem, a conditional log put, a PutEvents entry) and the worker claims, stores and logs it; pages of 100 subscribers, 20 pages a run.",
        "Counted and priced as in part cost (bench/cost.ts): the HTTP API request line counts one per 1,000 recipients, which overstates it by the topic's size; SES and SNS do not apply here.",
      ],
    };
  } finally {
    recording = false;
    await tidings.stop();
    uninstall();
  }
}
