/**
 * One-click unsubscribe (RFC 8058) in the local mode, as a mail client and a person use it: the e-mail
 * of a non-critical type carries List-Unsubscribe and List-Unsubscribe-Post; GET on the link shows a
 * button and changes nothing; the one-click POST turns that type off on e-mail, so the next one is
 * skipped as opted out; a critical type's e-mail has no such header; a forged token is refused.
 */
import { expect } from "chai";
import { GetCommand } from "@aws-sdk/lib-dynamodb";
import type { LocalTidings } from "../local/tidings";
import { producerScopes, startQuiet } from "./helpers/localTidings";
import { until } from "./helpers/sockets";

interface StoredEmail {
  subject?: string;
  destination: { to: string[] };
  headers?: { name: string; value: string }[];
}

describe("one-click unsubscribe (local mode)", function () {
  this.timeout(60_000);
  let tidings: LocalTidings;
  let producer: string;
  let serial = 0;
  const SHIPPED = { orderId: "U-1", carrier: "DHL", trackingUrl: "https://track.example.com/U-1" };

  before(async () => {
    tidings = await startQuiet();
    producer = await tidings.signToken("svc-orders", { scope: producerScopes(tidings) });
  });
  after(async () => tidings?.stop());

  async function send(userId: string, type: string, extra: Record<string, unknown> = {}) {
    const eventId = `unsub-${Date.now().toString(36)}-${serial++}`;
    const response = await fetch(tidings.endpoints.notifications, {
      method: "POST",
      headers: { authorization: `Bearer ${producer}` },
      body: JSON.stringify({ eventId, userId, type, channels: ["email"], ...extra }),
    });
    return { eventId, status: response.status, body: (await response.json()) as any };
  }
  const emailsTo = async (address: string) => {
    const store = (await (await fetch(`${tidings.aws.endpoints.ses}/store`)).json()) as { emails: StoredEmail[] };
    return store.emails.filter((m) => m.destination.to.includes(address));
  };
  const headerOf = (mail: StoredEmail, name: string) => mail.headers?.find((h) => h.name.toLowerCase() === name.toLowerCase())?.value;

  it("puts List-Unsubscribe on a non-critical e-mail; GET changes nothing, the one-click POST turns the type off on e-mail", async () => {
    const user = `u-${Date.now().toString(36)}`;
    const address = `${user}@example.com`;
    await fetch(`${tidings.endpoints.api}/users/${user}/contact`, {
      method: "PUT",
      headers: { authorization: `Bearer ${await tidings.signToken("svc-orders", { scope: producerScopes(tidings) })}` },
      body: JSON.stringify({ email: address }),
    });
    const first = await send(user, "order.shipped", { data: SHIPPED });
    expect(first.body.channels.email).to.equal("queued");
    await until(async () => (await emailsTo(address)).length === 1, 20_000, "the e-mail");
    const [mail] = await emailsTo(address);
    const listUnsubscribe = headerOf(mail, "List-Unsubscribe");
    expect(listUnsubscribe).to.match(/^<http:\/\/127\.0\.0\.1:\d+\/u\/[A-Za-z0-9_-]+>$/);
    expect(headerOf(mail, "List-Unsubscribe-Post")).to.equal("List-Unsubscribe=One-Click");
    const url = listUnsubscribe!.slice(1, -1);
    // The token is opaque: neither the user nor the type shows through.
    expect(url).to.not.include(user);
    expect(url).to.not.include("order.shipped");

    const userToken = await tidings.signToken(user);
    const preferences = async () =>
      (await (await fetch(`${tidings.endpoints.api}/me/preferences`, { headers: { authorization: `Bearer ${userToken}` } })).json()) as any;
    const before = await preferences();

    const shown = await fetch(url);
    expect(shown.status).to.equal(200);
    expect(shown.headers.get("content-type")).to.match(/^text\/html/);
    const html = await shown.text();
    expect(html).to.include('<form method="post">').and.include('name="List-Unsubscribe" value="One-Click"');
    expect(html).to.include("order.shipped notifications by email");
    expect(await preferences()).to.deep.equal(before);

    const wrongBody = await fetch(url, { method: "POST", body: "unsubscribe=yes" });
    expect(wrongBody.status).to.equal(400);
    expect(((await wrongBody.json()) as any).problems[0].field).to.equal("body");
    expect(await preferences()).to.deep.equal(before);

    const oneClick = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "List-Unsubscribe=One-Click",
    });
    expect(oneClick.status).to.equal(200);
    expect(await oneClick.text()).to.include("You will no longer get order.shipped notifications by email");
    const after = await preferences();
    expect(after).to.not.deep.equal(before);
    expect(JSON.stringify(after)).to.include('"order.shipped"');

    const second = await send(user, "order.shipped", { data: SHIPPED });
    expect(second.body.channels.email).to.equal("skipped: opted out");

    // Erased: the link of an old e-mail changes nothing, and leaves no settings row behind the erasure.
    const eraser = await tidings.signToken("svc-orders", { scope: producerScopes(tidings) });
    expect(
      (await fetch(`${tidings.endpoints.api}/users/${user}`, { method: "DELETE", headers: { authorization: `Bearer ${eraser}` } })).status,
    ).to.equal(200);
    const afterErasure = await fetch(url, { method: "POST", body: "List-Unsubscribe=One-Click" });
    expect(afterErasure.status).to.equal(404);
    const settings = await tidings.clients.ddb.send(new GetCommand({ TableName: tidings.tables.settings, Key: { userId: user } }));
    expect(settings.Item).to.equal(undefined);
  });

  it("sends a critical type's e-mail without List-Unsubscribe", async () => {
    const sent = await send("alice", "security.alert", { data: { event: "new sign-in", location: "Berlin", time: "09:00" } });
    expect([sent.status, sent.body.channels?.email], JSON.stringify(sent.body)).to.deep.equal([202, "queued"]);
    const isAlert = (m: StoredEmail) => m.subject === "Security alert: new sign-in";
    await until(async () => (await emailsTo("alice@example.com")).some(isAlert), 20_000, "the security alert");
    const alert = (await emailsTo("alice@example.com")).find(isAlert)!;
    expect(headerOf(alert, "List-Unsubscribe")).to.equal(undefined);
    expect(headerOf(alert, "List-Unsubscribe-Post")).to.equal(undefined);
  });

  it("refuses a token that is not this stack's (404) or is malformed (400), and changes nothing", async () => {
    const forged = `${tidings.endpoints.api}/u/${"A".repeat(60)}`;
    expect((await fetch(forged, { method: "POST", body: "List-Unsubscribe=One-Click" })).status).to.equal(404);
    expect((await fetch(`${tidings.endpoints.api}/u/not%20a%20token`)).status).to.equal(400);
  });
});
