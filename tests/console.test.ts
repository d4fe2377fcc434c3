import { expect } from "chai";
import { formatDecision, formatLogLine, makeConsoleLogger } from "../local/console";

const at = new Date(2026, 10, 22, 10, 15, 2);
const ESC = "\u001b[";

describe("local console lines", () => {
  it("follows a notification's path with a stage label per decision", () => {
    const lines: string[] = [];
    const logger = makeConsoleLogger({ stream: { write: (t: string) => lines.push(t) }, color: false, now: () => at });
    const ids = { eventId: "evt-1", userId: "alice", channel: "email" };
    logger({ component: "notify", outcome: "queued", ...ids });
    logger({ component: "eventbridge", outcome: "queued", ...ids, rule: "tidings-email", attempts: 1 });
    logger({ component: "worker", outcome: "retry", ...ids, provider: "ses", reason: "Throttling", receiveCount: 1 });
    logger({ component: "worker", outcome: "sent", ...ids, provider: "ses", receiveCount: 2 });
    logger({ component: "eventbridge", outcome: "dead-lettered", ...ids, rule: "tidings-email", reason: "queue gone" });
    logger({ component: "notify", outcome: "skipped", ...ids, channel: "sms", reason: "opted out" });
    expect(lines.every((l) => l.endsWith("\n") && !l.includes(ESC))).to.equal(true);
    const stages = lines.map((l) => l.split(/\s{2,}/)[1]);
    expect(stages).to.deep.equal(["accepted", "queued", "retried", "sent", "dead-lettered", "skipped"]);
    expect(lines[0]).to.equal("10:15:02  accepted       email      alice         evt-1\n");
    expect(lines[2]).to.contain("via ses").and.contain("(Throttling)").and.contain("receiveCount=1");
    expect(lines[4]).to.contain("rule=tidings-email").and.contain("(queue gone)");
  });

  it("colours by outcome only when asked (a TTY), green for sent and red for dead-lettered", () => {
    const sent = formatDecision({ component: "worker", outcome: "sent", channel: "sms" }, { color: true, time: at });
    const dead = formatDecision({ component: "eventbridge", outcome: "dead-lettered" }, { color: true, time: at });
    expect(sent).to.contain(`${ESC}32m`); // green
    expect(dead).to.contain(`${ESC}31m`); // red
    const lines: string[] = [];
    makeConsoleLogger({ stream: { write: (t: string) => lines.push(t), isTTY: false } })({ component: "worker", outcome: "sent" });
    expect(lines[0]).not.to.contain(ESC);
  });

  it("reads other components' decisions and JSON log lines, and leaves other text alone", () => {
    expect(
      formatDecision({ component: "websocket-connect", outcome: "connected", userId: "bob", connectionId: "c-1" }, { time: at }),
    ).to.match(/^10:15:02 {2}ws connect connected {2}- +bob +- {2}connectionId=c-1$/);
    const json = JSON.stringify({ time: at.toISOString(), component: "worker", outcome: "failed", eventId: "e", reason: "bad address" });
    expect(formatLogLine(json)).to.match(/failed .*\(bad address\)/);
    expect(formatLogLine("Tidings is running")).to.equal("Tidings is running");
    expect(formatLogLine('{"not":"a decision"}')).to.equal('{"not":"a decision"}');
  });
});
