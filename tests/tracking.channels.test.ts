/**
 * Tracking on every channel (issue 22): the shipped templates of e-mail, SMS and Slack carry the
 * tracking link, so a click on any of them is recorded on that channel, then redirected to the callback.
 */
import { expect } from "chai";
import type { LocalTidings } from "../local/tidings";
import { producerScopes, startQuiet } from "./helpers/localTidings";
import { until } from "./helpers/sockets";

describe("a tracking link on e-mail, SMS and Slack (npm start)", function () {
  this.timeout(60_000);
  let tidings: LocalTidings;
  before(async () => {
    tidings = await startQuiet();
  });
  after(() => tidings?.stop());

  it("each channel's text carries its own link; following it records clicked on that channel and redirects to the callback", async () => {
    const producer = await tidings.signToken("svc", { scope: producerScopes(tidings) });
    const callback = "https://shop.example.com/orders/T-7";
    const answer = await fetch(tidings.endpoints.notifications, {
      method: "POST",
      headers: { authorization: `Bearer ${producer}` },
      body: JSON.stringify({
        userId: "alice",
        type: "order.shipped",
        channels: ["email", "sms", "slack"],
        data: { orderId: "T-7", carrier: "DHL", trackingUrl: "https://track.example.com/T-7" },
        callback,
      }),
    });
    const { eventId } = (await answer.json()) as { eventId: string };
    for (const channel of ["email", "sms", "slack"]) {
      await until(async () => (await tidings.log.get(eventId, channel))?.status === "sent", 15_000, `${channel} sent`);
    }
    const linkIn = (text: string) => new RegExp(`${tidings.endpoints.api}/t/[A-Za-z0-9_-]+`).exec(text)?.[0];
    const sms = tidings.sinks.sns.received.find((m) => m.message.includes("T-7"))!.message;
    const slack = JSON.stringify(tidings.sinks.slack.received.find((m) => JSON.stringify(m.body).includes("T-7"))!.body);
    const store = (await (await fetch(`${tidings.endpoints.sesInbox}/store`)).json()) as { emails: unknown[] };
    const email = JSON.stringify(store.emails.find((m) => JSON.stringify(m).includes("T-7")));
    const links = { sms: linkIn(sms), slack: linkIn(slack), email: linkIn(email) };
    expect(sms.match(/\/t\//g), "one link in the SMS").to.have.length(1);
    for (const [channel, link] of Object.entries(links)) {
      expect(link, `${channel} carries a tracking link`).to.be.a("string");
      const click = await fetch(link!, { redirect: "manual" });
      expect(click.status, channel).to.equal(302);
      expect(click.headers.get("location"), channel).to.equal(callback);
      expect((await tidings.log.get(eventId, channel))?.status, channel).to.equal("clicked");
    }
  });
});
