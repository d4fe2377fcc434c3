/**
 * The inbox page in headless Chromium against the real local mode (startLocalTidings): notifications
 * sent through the producer API arrive over the WebSocket API, the badge counts unread ones, clicking
 * one marks it read, feedback shows as a progress line, and a dropped connection comes back.
 *
 */
import { expect } from "chai";
import * as fs from "node:fs";
import * as path from "node:path";
import type { BrowserContext, Page } from "playwright-core";
import type { LocalTidings } from "../local/tidings";
import { type Browser, launchBrowser } from "./helpers/browser";
import { devToken, startQuiet } from "./helpers/localTidings";

const ARTIFACTS = path.join(__dirname, "artifacts");

describe("inbox page (headless Chromium)", function () {
  this.timeout(60000);
  let tidings: LocalTidings;
  let context: BrowserContext;
  let page: Page;
  let browser: Browser;
  let producerToken: string;

  before(async () => {
    tidings = await startQuiet();
    producerToken = await devToken(tidings, "producer", "notifications:send");
    browser = await launchBrowser();
    context = browser.context;
    page = context.pages()[0] ?? (await context.newPage());
  });

  after(async () => {
    await browser?.close();
    await tidings?.stop();
  });

  async function notify(body: object): Promise<any> {
    const response = await fetch(tidings.endpoints.notifications, {
      method: "POST",
      headers: { authorization: `Bearer ${producerToken}`, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    expect(response.status, await response.clone().text()).to.be.within(200, 299);
    return response.json();
  }

  const badge = () => page.locator("#badge").textContent();

  it("connects as alice, shows two notifications with badge 2, and clicking one leaves 1 unread", async () => {
    await page.goto(tidings.endpoints.inbox);
    await page.waitForSelector('#status[data-state="open"]');
    expect(await page.locator("#status").textContent()).to.equal("Connected as alice");
    expect(await badge()).to.equal("0");

    await notify({
      userId: "alice",
      type: "order.shipped",
      channels: ["websocket"],
      message: "Order A-1001 shipped",
      callback: "https://shop.example.com/orders/A-1001",
    });
    await notify({
      userId: "alice",
      type: "order.shipped",
      channels: ["websocket"],
      message: "Order A-1002 shipped",
      callback: "https://shop.example.com/orders/A-1002",
    });
    await page.waitForFunction(`document.querySelectorAll("#notifications li").length === 2`, undefined, { timeout: 15000 });
    await page.waitForFunction(`document.querySelector("#badge").textContent === "2"`, undefined, { timeout: 5000 });
    expect(await page.locator("#badge").getAttribute("aria-label")).to.equal("2 unread notifications");

    const items = page.locator("#notifications li");
    const texts = await items.locator(".message").allTextContents();
    expect([...texts].sort()).to.deep.equal(["Order A-1001 shipped", "Order A-1002 shipped"]);
    const links = await items.locator("a").evaluateAll((anchors) => anchors.map((a) => (a as unknown as { href: string }).href).sort());
    // Each Open link is the signed tracking link, which records the click and redirects to the callback.
    const targets = await Promise.all(links.map(async (href) => (await fetch(href, { redirect: "manual" })).headers.get("location")));
    expect(targets.sort()).to.deep.equal(["https://shop.example.com/orders/A-1001", "https://shop.example.com/orders/A-1002"]);

    await items.first().locator(".message").click();
    // The badge is the server's count, from the answer to POST /me/notifications/read.
    await page.waitForFunction(`document.querySelector("#badge").textContent === "1"`, undefined, { timeout: 5000 });
    expect(await items.first().getAttribute("data-read")).to.equal("true");
    expect(await items.nth(1).getAttribute("data-read")).to.equal("false");
    // Clicking a read item again changes nothing.
    await items.first().locator(".message").click();
    expect(await badge()).to.equal("1");

    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, "inbox.png"), fullPage: true });
  });

  it("shows feedback as a progress line announced to screen readers; stored in the feed, it counts as unread", async () => {
    await notify({ userId: "alice", type: "job.progress", channels: ["websocket"], message: "Exporting your data", progress: 40 });
    await page.waitForSelector("#progress:not([hidden])", { timeout: 15000 });
    expect(await page.locator("#progress").getAttribute("aria-live")).to.equal("polite");
    expect(await page.locator("#progress .progress-message").textContent()).to.equal("Exporting your data — 40%");
    expect(await page.locator("#progress progress").evaluate((bar) => (bar as unknown as { value: number }).value)).to.equal(40);
    await page.waitForFunction(`document.querySelector("#badge").textContent === "2"`, undefined, { timeout: 5000 });
  });

  it("shows progress in place: updates of one groupKey are one row whose bar moves, counted once", async () => {
    const rows = () => page.locator("#notifications li").count();
    const before = await rows();
    const unread = Number(await badge());
    for (const progress of [20, 50, 80]) {
      await notify({
        userId: "alice",
        type: "job.progress",
        channels: ["websocket"],
        message: `Importing contacts: ${progress}%`,
        progress,
        groupKey: "import:1",
      });
      await page.waitForFunction(
        `[...document.querySelectorAll("#notifications li progress")].some((bar) => bar.value === ${progress})`,
        undefined,
        { timeout: 15000 },
      );
    }
    expect(await rows()).to.equal(before + 1);
    const row = page.locator("#notifications li", { has: page.locator("progress") });
    expect(await row.count()).to.equal(1);
    expect(await row.locator(".message").textContent()).to.equal("Importing contacts: 80% — 80%");
    await page.waitForFunction(`document.querySelector("#badge").textContent === "${unread + 1}"`, undefined, { timeout: 5000 });
    // Reloaded from the feed, it is still one row with the newest progress.
    await page.reload();
    await page.waitForSelector('#status[data-state="open"]');
    await page.waitForFunction(
      `[...document.querySelectorAll("#notifications li progress")].map((bar) => bar.value).join() === "80"`,
      undefined,
      { timeout: 15000 },
    );
  });

  it("shows the unread and the archived items on their own, from a labelled Show control", async () => {
    await page.locator("#view").selectOption("all");
    for (const message of ["Invoice 7 is ready", "Invoice 8 is ready"]) {
      await notify({ userId: "alice", type: "job.progress", channels: ["websocket"], message });
    }
    const texts = () => page.locator("#notifications li .message").allTextContents();
    await page.waitForFunction(
      `[...document.querySelectorAll("#notifications li .message")].filter((m) => m.textContent.startsWith("Invoice")).length === 2`,
      undefined,
      { timeout: 15000 },
    );
    const seven = page.locator("#notifications li", { hasText: "Invoice 7 is ready" });
    await seven.locator(".archive").click();
    await page.waitForFunction(`![...document.querySelectorAll("#notifications li")].some((li) => li.textContent.includes("Invoice 7"))`);

    await page.getByLabel("Show").selectOption("archived");
    await page.waitForFunction(
      `[...document.querySelectorAll("#notifications li")].some((li) => li.textContent.includes("Invoice 7"))`,
      undefined,
      {
        timeout: 5000,
      },
    );
    expect((await texts()).some((t) => t.startsWith("Invoice 8"))).to.equal(false);
    expect(await page.locator("#notifications li", { hasText: "Invoice 7" }).locator(".archive").count()).to.equal(0);

    await page.getByLabel("Show").selectOption("unread");
    await page.waitForFunction(
      `[...document.querySelectorAll("#notifications li")].some((li) => li.textContent.includes("Invoice 8"))`,
      undefined,
      {
        timeout: 5000,
      },
    );
    expect((await texts()).some((t) => t.startsWith("Invoice 7"))).to.equal(false);
    expect(await page.locator('#notifications li[data-read="true"]').count()).to.equal(0);
    await page.getByLabel("Show").selectOption("all");
  });

  it("has a labelled user field and an accessible status", async () => {
    expect(await page.getByLabel("User").inputValue()).to.equal("alice");
    expect(await page.locator("#status").getAttribute("role")).to.equal("status");
  });

  it("switches user: bob's inbox starts empty and gets only bob's notifications", async () => {
    await page.getByLabel("User").fill("bob");
    await page.getByRole("button", { name: "Connect" }).click();
    await page.waitForSelector('#status[data-state="open"]:has-text("bob")');
    expect(await page.locator("#notifications li").count()).to.equal(0);
    await notify({
      userId: "alice",
      type: "order.shipped",
      channels: ["websocket"],
      message: "for alice",
      callback: "https://shop.example.com/a",
    });
    await notify({
      userId: "bob",
      type: "order.shipped",
      channels: ["websocket"],
      message: "for bob",
      callback: "https://shop.example.com/b",
    });
    await page.waitForFunction(`document.querySelectorAll("#notifications li").length === 1`, undefined, { timeout: 15000 });
    // Give alice's message time to arrive if it wrongly could.
    await page.waitForTimeout(500);
    expect(await page.locator("#notifications li .message").allTextContents()).to.deep.equal(["for bob"]);
    await page.waitForFunction(`document.querySelector("#badge").textContent === "1"`, undefined, { timeout: 5000 });
  });

  it("reconnects after the connection drops", async () => {
    // Cut the page's socket from the server side, as a network drop would.
    const open = tidings.gateway.connections();
    expect(open).to.have.length(1);
    tidings.gateway.dropConnection(open[0]);
    await page.waitForSelector('#status[data-state="reconnecting"]', { timeout: 5000 });
    await page.waitForSelector('#status[data-state="open"]', { timeout: 15000 });
    await notify({
      userId: "bob",
      type: "order.shipped",
      channels: ["websocket"],
      message: "after reconnect",
      callback: "https://shop.example.com/c",
    });
    await page.waitForFunction(`document.querySelectorAll("#notifications li").length === 2`, undefined, { timeout: 15000 });
    await page.waitForFunction(`document.querySelector("#badge").textContent === "2"`, undefined, { timeout: 5000 });
  });

  describe("as a client of the end-user API", () => {
    let second: Page | undefined;
    after(async () => second?.close());

    const badgeOf = (p: Page) => p.locator("#badge").textContent();
    const waitForBadge = (p: Page, value: string) =>
      p.waitForFunction(`document.querySelector("#badge").textContent === ${JSON.stringify(value)}`, undefined, { timeout: 15000 });
    async function sentToFeed(eventId: string) {
      for (let i = 0; i < 100 && (await tidings.log.get(eventId, "websocket"))?.status !== "sent"; i++)
        await new Promise((r) => setTimeout(r, 100));
      expect((await tidings.log.get(eventId, "websocket"))?.status).to.equal("sent");
    }

    it("a notification sent while the page was closed is there when it opens", async () => {
      await page.goto("about:blank");
      const answer = await notify({
        userId: "carol",
        type: "order.shipped",
        channels: ["websocket"],
        message: "sent while closed",
        callback: "https://shop.example.com/x",
      });
      await sentToFeed(answer.eventId);
      await page.goto(`${tidings.endpoints.inbox}?user=carol`);
      await page.waitForSelector('#status[data-state="open"]:has-text("carol")');
      expect(await page.locator("#notifications li .message").allTextContents()).to.deep.equal(["sent while closed"]);
      expect(await badge()).to.equal("1");
      // The Open link is the sealed tracking link, which redirects to the callback.
      expect(await page.locator("#notifications li a").getAttribute("href")).to.match(/\/t\/[A-Za-z0-9_-]+$/);
    });

    it("two pages as the same user: read in one, the badge drops in the other", async () => {
      await notify({
        userId: "carol",
        type: "order.shipped",
        channels: ["websocket"],
        message: "second",
        callback: "https://shop.example.com/y",
      });
      await waitForBadge(page, "2");
      second = await context.newPage();
      await second.goto(`${tidings.endpoints.inbox}?user=carol`);
      await second.waitForSelector('#status[data-state="open"]:has-text("carol")');
      expect(await badgeOf(second)).to.equal("2");

      await page.locator('#notifications li:has-text("second") .message').click();
      await waitForBadge(page, "1");
      await waitForBadge(second, "1");
      expect(await second.locator('#notifications li:has-text("second")').getAttribute("data-read")).to.equal("true");

      await second.getByRole("button", { name: "Mark all read" }).click();
      await waitForBadge(second, "0");
      await waitForBadge(page, "0");

      await second.getByRole("button", { name: "Archive: sent while closed" }).click();
      await page.waitForFunction(`document.querySelectorAll("#notifications li").length === 1`, undefined, { timeout: 15000 });
      expect(await page.locator("#notifications li .message").allTextContents()).to.deep.equal(["second"]);
    });

    it("switching a type off in the preferences panel skips the next notification of that type on that channel", async () => {
      const box = page.getByLabel("job.progress on websocket");
      expect(await box.isChecked()).to.equal(true);
      // security.alert is critical in Pulumi.dev.yaml: its switches cannot be turned off.
      expect(await page.getByLabel("security.alert on websocket").isDisabled()).to.equal(true);
      await box.uncheck();
      await page.waitForSelector('#preferences-status:has-text("Saved")');
      expect(await page.getByLabel("job.progress on websocket").isChecked()).to.equal(false);

      const skipped = await notify({ userId: "carol", type: "job.progress", channels: ["websocket"], message: "not for carol" });
      expect(skipped.channels).to.deep.equal({ websocket: "skipped: opted out" });
      const delivered = await notify({
        userId: "carol",
        type: "order.shipped",
        channels: ["websocket"],
        message: "still on",
        callback: "https://shop.example.com/z",
      });
      await sentToFeed(delivered.eventId);
      await page.waitForFunction(`document.querySelectorAll("#notifications li").length === 2`, undefined, { timeout: 15000 });
      expect(await page.locator("#notifications li .message").allTextContents()).to.deep.equal(["still on", "second"]);

      // The panel reads the server: a reload shows the type still off.
      await page.reload();
      await page.waitForSelector('#status[data-state="open"]:has-text("carol")');
      await page.waitForSelector("#preferences input");
      expect(await page.getByLabel("job.progress on websocket").isChecked()).to.equal(false);
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS, "inbox-feed.png"), fullPage: true });
    });

    it("sets the time zone, quiet hours and language in the panel; a bad zone is refused naming it; empty hours clear them", async () => {
      const carol = await devToken(tidings, "carol");
      const stored = async () =>
        (await (await fetch(`${tidings.endpoints.api}/me/preferences`, { headers: { authorization: `Bearer ${carol}` } })).json()) as any;
      await page.getByLabel("Time zone").fill("Mars/Olympus");
      await page.locator("#when").getByRole("button", { name: "Save" }).click();
      await page.waitForSelector('#preferences-status:has-text("Not saved: timeZone")');

      await page.getByLabel("Time zone").fill("Europe/Berlin");
      await page.getByLabel("Quiet from").fill("22:00");
      await page.getByLabel("until").fill("07:00");
      await page.getByLabel("Language").fill("de-AT");
      await page.locator("#when").getByRole("button", { name: "Save" }).click();
      await page.waitForSelector('#preferences-status:has-text("Saved: time zone")');
      expect(await stored()).to.deep.include({ timeZone: "Europe/Berlin", quietHours: { start: "22:00", end: "07:00" }, locale: "de-AT" });

      // The panel reads the server: after a reload it shows them; emptied hours and language are cleared.
      await page.reload();
      await page.waitForSelector('#status[data-state="open"]:has-text("carol")');
      await page.waitForFunction(`document.querySelector('#when [name="quietStart"]').value === "22:00"`, undefined, { timeout: 10000 });
      await page.getByLabel("Quiet from").fill("");
      await page.getByLabel("Language").fill("");
      await page.locator("#when").getByRole("button", { name: "Save" }).click();
      await page.waitForSelector('#preferences-status:has-text("Saved: time zone")');
      const cleared = await stored();
      expect(cleared.timeZone).to.equal("Europe/Berlin");
      expect(cleared).to.not.have.property("quietHours");
      expect(cleared).to.not.have.property("locale");
    });

    it("enters a phone number in the panel, and verifies it with the SMS code from the keyboard", async () => {
      await page.goto(`${tidings.endpoints.inbox}?user=erin`);
      await page.waitForSelector('#status[data-state="open"]:has-text("erin")');
      await page.getByLabel("Phone").fill("+15555550160");
      await page.locator("#contact").getByRole("button", { name: "Save" }).click();
      await page.waitForSelector('#contact-status:has-text("enter the code sent to your phone")');
      await page.waitForSelector('.contact-state[data-field="phone"]:has-text("waiting for the code")');
      // The code field has the focus, and SMS is chosen.
      expect(await page.evaluate('document.activeElement && document.activeElement.getAttribute("name")')).to.equal("code");
      let code: string | undefined;
      for (let i = 0; i < 100 && !code; i++) {
        const text = tidings.sinks.sns.received.filter((m) => m.phoneNumber === "+15555550160").at(-1)?.message ?? "";
        code = /verification code is (\d{6})/.exec(text)?.[1];
        if (!code) await new Promise((r) => setTimeout(r, 100));
      }
      expect(code, "the SMS code").to.be.a("string");
      await page.keyboard.type("000000" === code ? "111111" : "000000");
      await page.keyboard.press("Enter");
      await page.waitForSelector('#contact-status:has-text("Not verified: code does not match")');
      await page.getByRole("textbox", { name: "Code" }).fill(code!);
      await page.keyboard.press("Enter");
      await page.waitForSelector('.contact-state[data-field="phone"]:has-text("verified")');
      await page.waitForSelector('#contact-status:has-text("Verified")');
      // After a reload the panel reads it back from the server.
      await page.reload();
      await page.waitForFunction(`document.querySelector('#contact [name="phone"]').value === "+15555550160"`, undefined, {
        timeout: 10000,
      });
      expect(await page.locator('.contact-state[data-field="phone"]').textContent()).to.equal("verified");
    });
  });
});
