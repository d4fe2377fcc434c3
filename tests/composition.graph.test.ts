/**
 * One description of a channel: what a NotificationChannel of the stack describes (the data `tidings
 * dev` runs locally) is what `configChannels` derives from the same config for `npm start`, for every
 * channel of the repository's stack; and a channel added in code is described with its own provider,
 * queue settings and address, which the local mode runs.
 */
import { expect } from "chai";
import * as pulumi from "@pulumi/pulumi";
import { type ComposedStack, observeCompositions } from "../components/compose";
import { NotificationChannel } from "../components";
import { composedLocally } from "../local/dev";
import { readStackFile } from "../local/stackConfig";
import { startLocalTidings } from "../local/tidings";
import { parseTidingsConfig } from "../runtime/config";
import { configChannels } from "../runtime/system";
import { createTidingsStack } from "../stack";
import { settle, useMocks } from "../testing";
import { until } from "./helpers/sockets";

/** A description as data: functions (an inline provider's `create`) named, not compared by identity. */
const asData = (value: unknown) => JSON.parse(JSON.stringify(value, (_key, v) => (typeof v === "function" ? `[function ${v.name}]` : v)));

describe("a composition described as data (Pulumi mocks)", function () {
  this.timeout(120_000);
  let composed: ComposedStack[];
  let stopObserving: () => void;

  beforeEach(() => {
    useMocks();
    composed = [];
    stopObserving = observeCompositions((stack) => composed.push(stack));
  });
  afterEach(() => stopObserving());

  it("describes each config channel in the stack exactly as configChannels does from config", async () => {
    const config = parseTidingsConfig(readStackFile());
    createTidingsStack({ config, tokenSigningSecret: pulumi.secret("composition-test-signing-secret-0123456789") });
    await settle();
    expect(composed).to.have.length(1);
    const local = await composedLocally(composed[0]);
    const fromConfig = configChannels(config);
    expect(Object.keys(local.channels)).to.deep.equal(Object.keys(fromConfig));
    expect(Object.keys(local.channels)).to.include.members(["websocket", "email", "sms", "slack"]);
    for (const name of Object.keys(fromConfig)) {
      expect(asData(local.channels[name]), name).to.deep.equal(asData(fromConfig[name]));
    }
  });

  it("describes a channel added in code, and the local mode runs it: a type reaching it is delivered by its inline provider", async () => {
    const raw = readStackFile();
    raw.notificationTypes["deploy.finished"] = { channels: ["pager"] };
    const config = parseTidingsConfig(raw, { channelsAddedInCode: true });
    const paged: string[] = [];
    createTidingsStack({
      config,
      tokenSigningSecret: pulumi.secret("composition-test-signing-secret-0123456789"),
      addChannels: (shared) => [
        new NotificationChannel("pager", {
          ...shared,
          channel: "pager",
          provider: {
            type: "inline",
            name: "pager",
            statements: () => [],
            create: () => ({
              name: "pager",
              send: async (delivery) => {
                paged.push(`${delivery.userId}: ${delivery.content.text} (${delivery.address.pagerId})`);
                return { outcome: "sent" };
              },
            }),
          },
          address: { pagerId: { type: "string", pattern: "^P[0-9]{3}$" } },
          dlq: { maxReceiveCount: 7 },
          needsTemplates: false,
        }),
      ],
    });
    await settle();
    const local = await composedLocally(composed[0]);
    const pager = local.channels.pager;
    expect(pager.worker.provider).to.have.property("name", "pager");
    expect(pager.queue.maxReceiveCount).to.equal(7);
    expect(pager.address).to.deep.equal({ pagerId: { type: "string", pattern: "^P[0-9]{3}$" } });
    expect(pager.needsTemplates).to.equal(false);

    const tidings = await startLocalTidings({ composition: local, apiPort: 0, wsPort: 0, sesPort: 0, stateFile: false, logger: () => {} });
    try {
      const producer = await tidings.signToken("svc-deploys", { scope: tidings.config.auth.scopes.send });
      const admin = await tidings.signToken("svc-accounts", { scope: tidings.config.auth.scopes.contactsWrite });
      const put = (body: unknown) =>
        fetch(`${tidings.endpoints.api}/users/bob/contact`, {
          method: "PUT",
          headers: { authorization: `Bearer ${admin}` },
          body: JSON.stringify(body),
        });
      const refused = await put({ email: "bob@example.com", external_channels: { pager: { pagerId: "X1" } } });
      expect(refused.status).to.equal(400);
      expect(JSON.stringify(await refused.json())).to.include("external_channels.pager.pagerId");
      expect((await put({ email: "bob@example.com", external_channels: { pager: { pagerId: "P042" } } })).status).to.equal(200);
      const sent = await fetch(tidings.endpoints.notifications, {
        method: "POST",
        headers: { authorization: `Bearer ${producer}` },
        body: JSON.stringify({ userId: "bob", type: "deploy.finished", message: "Deployed." }),
      });
      expect(sent.status).to.equal(202);
      await until(() => paged.length > 0, 30_000, "the pager provider was called");
      expect(paged).to.deep.equal(["bob: Deployed. (P042)"]);
    } finally {
      await tidings.stop();
    }
  });
});
