/**
 * Quiet hours in the local mode, over HTTP: the user sets a zone and a window in their preferences; an
 * e-mail of a non-critical type waits (`delayed`, with `until` the window's end) while the WebSocket
 * gets it at once; a critical type is never held; a bad zone or time is a 400 naming the field.
 */
import { expect } from "chai";
import type { LocalTidings } from "../local/tidings";
import { producerScopes, startQuiet } from "./helpers/localTidings";
import { until } from "./helpers/sockets";

const hhmm = (ms: number) => new Date(ms).toISOString().slice(11, 16);

describe("quiet hours (local mode, over HTTP)", function () {
  this.timeout(60_000);
  let tidings: LocalTidings;
  let producer: string;
  let alice: string;

  before(async () => {
    tidings = await startQuiet();
    producer = await tidings.signToken("svc", { scope: producerScopes(tidings) });
    alice = await tidings.signToken("alice");
  });
  after(async () => tidings?.stop());

  const preferences = async (body: unknown) => {
    const response = await fetch(`${tidings.endpoints.api}/me/preferences`, {
      method: "PUT",
      headers: { authorization: `Bearer ${alice}` },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as any };
  };
  const send = async (body: Record<string, unknown>) =>
    (await (
      await fetch(tidings.endpoints.notifications, {
        method: "POST",
        headers: { authorization: `Bearer ${producer}` },
        body: JSON.stringify(body),
      })
    ).json()) as { eventId: string; channels: Record<string, string> };

  it("holds a non-critical e-mail until the window ends, sends the WebSocket at once, and never holds a critical one", async () => {
    const now = Date.now();
    const window = { start: hhmm(now - 3_600_000), end: hhmm(now + 3_600_000) };
    const set = await preferences({ timeZone: "UTC", quietHours: window });
    expect(set.status).to.equal(200);
    expect(set.body).to.include({ timeZone: "UTC" });
    expect(set.body.quietHours).to.deep.equal(window);

    const shipped = await send({
      userId: "alice",
      type: "order.shipped",
      channels: ["websocket", "email"],
      data: { orderId: "Q-1", carrier: "DHL", trackingUrl: "https://t.example.com/Q-1" },
    });
    await until(async () => (await tidings.log.get(shipped.eventId, "email"))?.status === "delayed", 20_000, "the e-mail held");
    await until(async () => (await tidings.log.get(shipped.eventId, "websocket"))?.status === "sent", 20_000, "the feed at once");
    const status = (await (
      await fetch(`${tidings.endpoints.notifications}/${shipped.eventId}`, { headers: { authorization: `Bearer ${producer}` } })
    ).json()) as any;
    expect(status.channels.email).to.include({ status: "delayed", reason: "quiet hours" });
    expect(status.channels.email.until).to.match(new RegExp(`T${window.end}:00\\.000Z$`));
    expect(Date.parse(status.channels.email.until) - now).to.be.within(3_500_000, 3_700_000);

    const alert = await send({
      userId: "alice",
      type: "security.alert",
      channels: ["email"],
      data: { event: "new sign-in", location: "Berlin", time: "09:00" },
    });
    await until(async () => (await tidings.log.get(alert.eventId, "email"))?.status === "sent", 20_000, "the critical e-mail sent");

    expect((await preferences({ quietHours: null })).body.quietHours).to.equal(undefined);
  });

  it("refuses a zone that is not IANA and a time that is not HH:MM, naming each field, and stores nothing", async () => {
    const refused = await preferences({ timeZone: "Mars/Olympus_Mons", quietHours: { start: "25:00", end: "7am" } });
    expect(refused.status).to.equal(400);
    expect(refused.body.problems.map((p: { field: string }) => p.field).sort()).to.deep.equal([
      "quietHours.end",
      "quietHours.start",
      "timeZone",
    ]);
    const withoutZone = await fetch(`${tidings.endpoints.api}/me/preferences`, {
      method: "PUT",
      headers: { authorization: `Bearer ${await tidings.signToken("bob")}` },
      body: JSON.stringify({ quietHours: { start: "22:00", end: "07:00" } }),
    });
    expect(withoutZone.status).to.equal(400);
    expect(((await withoutZone.json()) as any).problems.map((p: { field: string }) => p.field)).to.deep.equal(["timeZone"]);
    const stored = (await (
      await fetch(`${tidings.endpoints.api}/me/preferences`, { headers: { authorization: `Bearer ${alice}` } })
    ).json()) as any;
    expect(stored.timeZone).to.equal("UTC");
    expect(stored.quietHours).to.equal(undefined);
  });
});
