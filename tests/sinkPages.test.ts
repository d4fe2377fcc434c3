/**
 * A page per local sink (issue 22): SMS, Slack and push list what was sent with recipient, text, time
 * and clickable links (the tracking link among them, which records clicked); Slack as Slack renders it.
 */
import { expect } from "chai";
import type { LocalTidings } from "../local/tidings";
import { slackHtml } from "../local/sinkPages";
import { producerScopes, startQuiet } from "./helpers/localTidings";
import { until } from "./helpers/sockets";

describe("sink pages (npm start)", function () {
  this.timeout(60_000);
  let tidings: LocalTidings;
  before(async () => {
    tidings = await startQuiet();
  });
  after(() => tidings?.stop());

  it("show the SMS and Slack text with a tracking link that records clicked", async () => {
    const producer = await tidings.signToken("svc", { scope: producerScopes(tidings) });
    const answer = await fetch(tidings.endpoints.notifications, {
      method: "POST",
      headers: { authorization: `Bearer ${producer}` },
      body: JSON.stringify({
        userId: "alice",
        type: "order.shipped",
        channels: ["sms", "slack"],
        data: { orderId: "S-9", carrier: "UPS", trackingUrl: "https://track.example.com/S-9" },
        callback: "https://shop.example.com/orders/S-9",
      }),
    });
    const { eventId } = (await answer.json()) as { eventId: string };
    for (const channel of ["sms", "slack"])
      await until(async () => (await tidings.log.get(eventId, channel))?.status === "sent", 15_000, channel);
    for (const [channel, url] of Object.entries(tidings.endpoints.sinkPages).filter(([c]) => c !== "push")) {
      const html = await (await fetch(url)).text();
      expect(html, channel).to.include("S-9");
      const link = new RegExp(`href="(${tidings.endpoints.api}/t/[A-Za-z0-9_-]+)"`).exec(html)?.[1];
      expect(link, `${channel}: a clickable tracking link`).to.be.a("string");
      expect((await fetch(link!, { redirect: "manual" })).status, channel).to.equal(302);
      expect((await tidings.log.get(eventId, channel))?.status, channel).to.equal("clicked");
      const json = (await (await fetch(`${url}?format=json`)).json()) as { messages: { to: string; at: string; text: string }[] };
      const entry = json.messages.find((m) => m.text.includes("S-9"))!;
      expect(entry.to, channel).to.equal(channel === "sms" ? "+15555550100" : "/services/T000/B000/•••");
      expect(Date.parse(entry.at), channel).to.be.a("number").and.not.NaN;
    }
    expect((await fetch(`${tidings.endpoints.api}/sinks/fax`)).status).to.equal(404);
  });

  it("renders Slack's mrkdwn as Slack would, and escapes whatever else the text holds", () => {
    expect(slackHtml("*Order* shipped &amp; <https://t.example.com/1?a=1&amp;b=2|Track it> &lt;script&gt;")).to.equal(
      '<strong>Order</strong> shipped &amp; <a href="https://t.example.com/1?a=1&amp;b=2" rel="noreferrer">Track it</a> &lt;script&gt;',
    );
  });
});
