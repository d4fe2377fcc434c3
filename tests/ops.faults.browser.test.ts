/**
 * The README's "break things on purpose" walk, done on the ops page in headless Chromium: the e-mail
 * fault chosen in the page, a notification sent, the page's notification list showing it dead-lettered
 * with its reason (first, filtered by status), the DLQ alarm, the fault cleared in the page, the DLQ
 * redriven with its button, the notification sent.
 */
import { expect } from "chai";
import type { Page } from "playwright-core";
import type { LocalTidings } from "../local/tidings";
import { type Browser, launchBrowser } from "./helpers/browser";
import { producerScopes, startQuiet } from "./helpers/localTidings";
import { until } from "./helpers/sockets";

describe("ops page: a fault provoked, seen and recovered from (headless Chromium)", function () {
  this.timeout(60_000);
  let tidings: LocalTidings;
  let browser: Browser;
  let page: Page;

  before(async () => {
    tidings = await startQuiet({ visibilityTimeoutSeconds: 1, editConfig: (raw) => (raw.channels.email.maxReceiveCount = 2) });
    browser = await launchBrowser();
    page = browser.context.pages()[0] ?? (await browser.context.newPage());
  });
  after(async () => {
    await browser?.close();
    await tidings?.stop();
  });

  const emailCell = (index: number) => `document.querySelector('#channels tr[data-channel="email"]')?.children[${index}]`;
  /** The e-mail line of a notification in the page's list, once it reads `status` (the list refreshes every second). */
  const listed = (eventId: string, status: string) =>
    page.locator(`#notifications tr[data-event="${eventId}"] [data-channel="email"]`, { hasText: `email: ${status} ` });

  it("shows the e-mail dead-lettered with its reason and the alarm, then sent after the fault is cleared and the DLQ redriven", async () => {
    await page.goto(`${tidings.endpoints.api}/ops`);
    await page.waitForFunction(`${emailCell(10)}?.querySelector("select") !== undefined`, undefined, { timeout: 10_000 });
    await page.locator('select[aria-label="fault for email"]').selectOption("retryable");
    // The page's select posts the fault; the fault list says when it is in place.
    const faults = async () => ((await (await fetch(`${tidings.endpoints.api}/dev/faults`)).json()) as { faults: unknown[] }).faults;
    await until(async () => (await faults()).length === 1, 10_000, "the fault set from the page");
    expect(await faults()).to.deep.equal([{ channel: "email", mode: "retryable", rate: 1 }]);

    const producer = await tidings.signToken("svc", { scope: producerScopes(tidings) });
    const sent = await fetch(tidings.endpoints.notifications, {
      method: "POST",
      headers: { authorization: `Bearer ${producer}` },
      body: JSON.stringify({ userId: "alice", type: "order.shipped", channels: ["email"], message: "Parcel F-9 is on its way" }),
    });
    const { eventId } = (await sent.json()) as { eventId: string };

    // The list, filtered to what is dead-lettered, shows it with its reason and tries; the alarm is on.
    await page.locator('#filters select[name="status"]').selectOption("dead-lettered");
    await listed(eventId, "dead-lettered").waitFor({ timeout: 20_000 });
    expect(await listed(eventId, "dead-lettered").textContent()).to.equal(
      "email: dead-lettered (2) injected retryable fault (POST /dev/faults) (moved to the DLQ after 2 tries)",
    );
    expect(await listed(eventId, "dead-lettered").getAttribute("class")).to.equal("alert");
    await page.waitForFunction(`${emailCell(9)}?.textContent === "ALARM"`, undefined, { timeout: 10_000 });

    // The notification's own view: its timeline, and what it sent where.
    await page.getByRole("button", { name: `Details of ${eventId}` }).click();
    await page.locator(`#detail[data-event="${eventId}"]`).waitFor({ timeout: 10_000 });
    const timeline = await page.locator("#detail-timeline li").allTextContents();
    expect(timeline[0]).to.match(/notify queued/);
    expect(timeline.some((step) => /local-sqs dead-lettered email/.test(step))).to.equal(true);
    expect(await page.locator('#detail-channels tr[data-channel="email"]').textContent()).to.include("alice@example.com");

    // Clear the fault in the page, redrive this notification from its view: sent.
    await page.locator('select[aria-label="fault for email"]').selectOption("none");
    await until(async () => (await faults()).length === 0, 10_000, "the fault cleared from the page");
    await page.locator('#detail-channels tr[data-channel="email"] button').click();
    await page.locator('#filters select[name="status"]').selectOption("sent");
    await listed(eventId, "sent").waitFor({ timeout: 20_000 });
    expect(await listed(eventId, "sent").textContent()).to.equal("email: sent (3)");
    // The last hour: 60 bars of deliveries per minute, an error rate and the latency percentiles.
    const hour = page.locator('#hour tr[data-channel="email"]');
    expect(await hour.locator("svg rect").count()).to.equal(60);
    await page.waitForFunction(`document.querySelector('#hour tr[data-channel="email"] td:nth-child(4)')?.textContent !== "–"`, undefined, {
      timeout: 10_000,
    });
    await page.waitForFunction(`${emailCell(9)}?.textContent === "OK"`, undefined, { timeout: 10_000 });
  });

  it("answers GET /ops/notifications with each channel's status, and a bad filter with 400 naming it", async () => {
    const all = (await (await fetch(`${tidings.endpoints.api}/ops/notifications?channel=email`)).json()) as { items: any[] };
    expect(all.items.length).to.be.greaterThan(0);
    expect(Object.keys(all.items[0].channels.email).sort()).to.include.members(["status", "tries"]);
    const bad = await fetch(`${tidings.endpoints.api}/ops/notifications?status=lost&channel=fax&limit=0&color=red`);
    expect(bad.status).to.equal(400);
    const fields = ((await bad.json()) as { problems: { field: string }[] }).problems.map((p) => p.field).sort();
    expect(fields).to.deep.equal(["channel", "color", "limit", "status"]);
  });
});
