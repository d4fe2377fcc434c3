/**
 * Addresses for any channel (issue 23): a channel declares the per-user address it delivers to; the
 * contacts routes check it by that schema, the worker gets it as `address`, a user without one is
 * skipped with no address, and secret fields are masked when read back. Slack is one case of it.
 */
import { expect } from "chai";
import type { LocalTidings } from "../local/tidings";
import type { ChannelDelivery } from "../runtime/contracts";
import { producerScopes, startQuiet } from "./helpers/localTidings";
import { until } from "./helpers/sockets";

const TEAMS_FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:teams-sender";

describe("per-user addresses for a channel added to the stack (npm start)", function () {
  this.timeout(60_000);
  let tidings: LocalTidings;
  const delivered: ChannelDelivery[] = [];
  let producer: string;

  before(async () => {
    tidings = await startQuiet({
      editConfig: (raw) => {
        raw.channels.teams = {
          provider: "lambda",
          functionArn: TEAMS_FUNCTION,
          address: { webhookUrl: { type: "https-url", hosts: ["*.webhook.office.com"], secret: true } },
        };
        raw.notificationTypes["deploy.finished"] = { channels: ["teams"], messageOnly: true };
      },
      lambdaHandlers: {
        [TEAMS_FUNCTION]: async (request: { delivery: ChannelDelivery }) => {
          delivered.push(request.delivery);
          return { outcome: "sent" };
        },
      },
    });
    producer = await tidings.signToken("svc", { scope: producerScopes(tidings) });
  });
  after(() => tidings?.stop());

  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${tidings.endpoints.api}${path}`, {
      method,
      headers: { authorization: `Bearer ${producer}` },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as any };
  };

  it("checks external_channels.teams by the channel's schema, naming the field; refuses a channel that keeps no addresses", async () => {
    for (const [webhookUrl, problem] of [
      ["http://acme.webhook.office.com/x", "must be an https URL"],
      ["https://evil.example.com/x", "must be a URL on *.webhook.office.com"],
      ["https://webhook.office.com.evil.example/x", "must be a URL on *.webhook.office.com"],
    ]) {
      const answer = await call("PUT", "/users/tess/contact", { external_channels: { teams: { webhookUrl } } });
      expect(answer.status, webhookUrl).to.equal(400);
      expect(answer.body.problems, webhookUrl).to.deep.equal([{ field: "external_channels.teams.webhookUrl", problem }]);
    }
    const extra = await call("PUT", "/users/tess/contact", {
      external_channels: { teams: { webhookUrl: "https://a.webhook.office.com/x", channel: "x" } },
    });
    expect(extra.body.problems).to.deep.equal([{ field: "external_channels.teams.channel", problem: "is not a field of this address" }]);
    const unknown = await call("PUT", "/users/tess/contact", { external_channels: { discord: { webhookUrl: "https://discord.com/x" } } });
    expect(unknown.status).to.equal(400);
    expect(unknown.body.problems[0]).to.deep.include({ field: "external_channels.discord" });
    expect(unknown.body.problems[0].problem).to.match(/one of: slack, teams/);
  });

  it("delivers to each user's own address, masks it when read; a user without one is not reached (422 naming the field)", async () => {
    const webhookUrl = "https://acme.webhook.office.com/webhookb2/abc/IncomingWebhook/def/secret-9XyZ";
    expect((await call("PUT", "/users/tess/contact", { external_channels: { teams: { webhookUrl } } })).status).to.equal(200);
    const read = await call("GET", "/users/tess/contact");
    expect(read.body.external_channels).to.deep.equal({ teams: { webhookUrl: "https://acme.webhook.office.com/…9XyZ" } });

    const sent = await call("POST", "/notifications", { userId: "tess", type: "deploy.finished", message: "api v42 is live" });
    expect(sent.status).to.equal(202);
    expect(sent.body.channels).to.deep.equal({ teams: "queued" });
    await until(() => delivered.some((d) => d.eventId === sent.body.eventId), 10_000, "the teams worker's delivery");
    expect(delivered.find((d) => d.eventId === sent.body.eventId)!.address).to.deep.equal({ webhookUrl });

    const nobody = await call("POST", "/notifications", { userId: "nobody-on-teams", type: "deploy.finished", message: "hi" });
    expect(nobody.status).to.equal(422);
    expect(nobody.body.problems).to.deep.equal([
      { field: "contact.external_channels.teams.webhookUrl", problem: "teams: contact has no external_channels.teams.webhookUrl" },
    ]);
  });
});
