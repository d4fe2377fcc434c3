/**
 * The local ops page (http://127.0.0.1:<api>/ops) in headless Chromium against the real local mode:
 * per-channel counts and a latency sparkline from the metric lines, the rule DLQ depth after a rule
 * target fault, the latest deliveries at every sink, and the redrive button putting the lost event on
 * its way.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { expect } from "chai";
import type { BrowserContext, Page } from "playwright-core";
import type { LocalTidings } from "../local/tidings";
import { type Browser, launchBrowser } from "./helpers/browser";
import { devToken, producerScopes, startQuiet } from "./helpers/localTidings";

const ARTIFACTS = path.join(__dirname, "artifacts");

describe("ops page (headless Chromium)", function () {
  this.timeout(60_000);
  let tidings: LocalTidings;
  let context: BrowserContext;
  let page: Page;
  let browser: Browser;
  let fault = true;

  before(async () => {
    tidings = await startQuiet({
      reconcileIntervalMs: 0,
      wrapRuleTarget: (channel, target) => async (event) => {
        if (fault && channel === "slack") throw new Error("injected rule target fault");
        return target(event);
      },
    });
    browser = await launchBrowser();
    context = browser.context;
    page = context.pages()[0] ?? (await context.newPage());
  });
  after(async () => {
    await browser?.close();
    await tidings?.stop();
  });

  const row = (channel: string) => page.locator(`#channels tr[data-channel="${channel}"]`);
  const cells = async (channel: string) => (await row(channel).locator("td").allTextContents()).map((t) => t.trim());

  it("shows counts, latency, DLQ depths and the latest deliveries per sink; the redrive button puts the rule DLQ's event on its way", async () => {
    const token = await devToken(tidings, "producer", producerScopes(tidings));
    const response = await fetch(tidings.endpoints.notifications, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({
        userId: "alice",
        type: "order.shipped",
        channels: ["email", "sms", "slack"],
        message: "Parcel OPS-7 is on its way",
      }),
    });
    expect(response.status).to.equal(202);
    await tidings.bus.idle();
    fault = false;

    await page.goto(`${tidings.endpoints.api}/ops`);
    // email and sms delivered (sent 1, a sparkline point), slack's event waits in its rule DLQ.
    await page.waitForFunction(
      `(() => { const r = document.querySelector('#channels tr[data-channel="sms"]'); return r && r.children[4].textContent === "1"; })()`,
      undefined,
      { timeout: 20_000 },
    );
    await page.waitForFunction(`document.querySelector('#channels tr[data-channel="email"]')?.children[4].textContent === "1"`, undefined, {
      timeout: 20_000,
    });
    const [, queue, dlq, ruleDlq, sent, failed] = await cells("slack");
    expect([queue, dlq, ruleDlq, sent, failed]).to.deep.equal(["0", "0", "1", "0", "0"]);
    expect(await row("email").locator("svg.spark polyline").count()).to.equal(1);
    expect(Number(await row("email").locator(".latest").textContent())).to.be.greaterThan(0);
    expect(await row("slack").locator("td").nth(3).getAttribute("class")).to.equal("alert");

    const sinks = await page.locator("#deliveries section").evaluateAll((sections) => sections.map((s) => (s as any).dataset.sink));
    expect(sinks).to.deep.equal(["email", "sms", "push", "slack"]);
    expect(await page.locator('section[data-sink="sms"] li').first().textContent()).to.equal("+15555550100: Parcel OPS-7 is on its way");
    expect(await page.locator('section[data-sink="email"] li').first().textContent()).to.contain("alice@example.com");
    expect(await page.locator('section[data-sink="slack"] li').count()).to.equal(0);

    const redrive = row("slack").locator('button[data-dlq="rule"]');
    expect(await redrive.isDisabled()).to.equal(false);
    expect(await row("slack").locator('button[data-dlq="queue"]').isDisabled()).to.equal(true, "nothing in the queue's DLQ");
    await redrive.click();
    await page.waitForFunction(`document.getElementById("message").textContent.includes("Moved 1 message(s) of slack")`, undefined, {
      timeout: 10_000,
    });
    await page.waitForFunction(`document.querySelector('#channels tr[data-channel="slack"]')?.children[4].textContent === "1"`, undefined, {
      timeout: 20_000,
    });
    // The queue empties once the worker deletes the message (a moment after `sent`).
    await page.waitForFunction(
      `[1, 2, 3].every((i) => document.querySelector('#channels tr[data-channel="slack"]')?.children[i].textContent === "0")`,
      undefined,
      { timeout: 10_000 },
    );
    await page.waitForFunction(`document.querySelectorAll('section[data-sink="slack"] li').length === 1`, undefined, { timeout: 5_000 });
    const slackLine = await page.locator('section[data-sink="slack"] li').first().textContent();
    expect(slackLine).to.contain("Parcel OPS-7 is on its way");
    expect(slackLine, "the webhook secret stays hidden").to.not.contain("alice:");

    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, "ops.png"), fullPage: true });
  });

  it("answers a redrive for an unknown channel or DLQ with 400 naming the field", async () => {
    const post = async (body: unknown) => {
      const r = await fetch(`${tidings.endpoints.api}/ops/redrive`, { method: "POST", body: JSON.stringify(body) });
      return { status: r.status, body: (await r.json()) as any };
    };
    const unknown = await post({ channel: "fax", dlq: "queue" });
    expect([unknown.status, unknown.body.problems[0].field]).to.deep.equal([400, "channel"]);
    const dlq = await post({ channel: "email", dlq: "both" });
    expect([dlq.status, dlq.body.problems[0].field]).to.deep.equal([400, "dlq"]);
  });
});
