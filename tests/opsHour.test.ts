/**
 * The ops page's last hour per channel (issue 22 §2), from the EMF lines the functions print, by their
 * own timestamps: deliveries in each of the last 60 minutes, the error rate, and p50/p99 latency. The
 * expected values are counted by hand from the lines below.
 */
import { expect } from "chai";
import { makeOpsCollector, percentile } from "../local/opsPage";

const emf = (at: string, channel: string, metrics: Record<string, number>) =>
  JSON.stringify({
    _aws: {
      Timestamp: Date.parse(at),
      CloudWatchMetrics: [
        {
          Namespace: "Tidings",
          Dimensions: [["channel"]],
          Metrics: Object.keys(metrics).map((name) => ({ Name: name, Unit: name === "deliveryLatency" ? "Milliseconds" : "Count" })),
        },
      ],
    },
    channel,
    ...metrics,
  });

describe("the ops page's last hour per channel", () => {
  it("counts deliveries per minute, the error rate and p50/p99 latency over the last 60 minutes only", () => {
    const collector = makeOpsCollector();
    const lines = [
      emf("2026-12-07T11:30:10.000Z", "email", { sent: 1, deliveryLatency: 5000 }), // 61 minutes before: outside
      emf("2026-12-07T12:29:05.000Z", "email", { sent: 1, deliveryLatency: 300 }),
      emf("2026-12-07T12:30:01.000Z", "email", { sent: 1, deliveryLatency: 100 }),
      emf("2026-12-07T12:30:02.000Z", "email", { sent: 1, deliveryLatency: 400 }),
      emf("2026-12-07T12:30:03.000Z", "email", { sent: 1, deliveryLatency: 200 }),
      emf("2026-12-07T12:30:04.000Z", "email", { failed: 1 }),
      emf("2026-12-07T12:30:05.000Z", "email", { retried: 1 }),
      emf("2026-12-07T12:30:06.000Z", "sms", { sent: 1, deliveryLatency: 900 }),
    ];
    for (const line of lines) collector.write(line);
    const hour = collector.hour("email", Date.parse("2026-12-07T12:30:30.000Z"));
    expect(hour.deliveriesPerMinute).to.have.length(60);
    expect(hour.deliveriesPerMinute.slice(-3)).to.deep.equal([0, 1, 3]);
    expect(hour.deliveriesPerMinute.reduce((a, b) => a + b, 0)).to.equal(4);
    expect(hour.errorRate).to.equal(0.2); // 1 failed of 5 ended
    expect(hour.p50).to.equal(200); // of 100, 200, 300, 400: rank 2
    expect(hour.p99).to.equal(400); // rank 4
    expect(collector.hour("push", Date.parse("2026-12-07T12:30:30.000Z"))).to.deep.equal({
      deliveriesPerMinute: Array(60).fill(0),
      errorRate: 0,
      p50: null,
      p99: null,
    });
  });

  it("takes the nearest rank", () => {
    expect(percentile([5, 1, 4, 2, 3], 0.5)).to.equal(3);
    expect(percentile([5, 1, 4, 2, 3], 0.99)).to.equal(5);
    expect(percentile([7], 0.5)).to.equal(7);
    expect(percentile([], 0.5)).to.equal(null);
  });
});
