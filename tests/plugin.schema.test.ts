/**
 * The multi-language component package (PulumiPlugin.yaml + plugin/): the schema Pulumi infers from the
 * components' TypeScript types, compared with the reviewed snapshot `plugin/schema.json`. A change to a
 * component's args or outputs shows up here first: review the diff, then refresh the snapshot with
 * `UPDATE_SCHEMA=1 npx mocha tests/plugin.schema.test.ts`.
 */
import { expect } from "chai";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { ComponentProvider } from "@pulumi/pulumi/provider/experimental";
import * as components from "../components";
import { NotificationChannel } from "../components";
import { readStackFile } from "../local/stackConfig";
import { componentProvider } from "../plugin/host";
import { PLUGIN_COMPONENTS } from "../plugin/index";
import { parseTidingsConfig } from "../runtime/config";
import { createTidingsStack } from "../stack";
import { type MockedResource, settle, useMocks } from "../testing";

const SNAPSHOT = path.join(__dirname, "..", "plugin", "schema.json");

describe("component package schema (Pulumi analyzer)", function () {
  this.timeout(180_000);
  let schema: any;
  let provider: ComponentProvider;

  before(async () => {
    provider = componentProvider();
    schema = JSON.parse(await provider.getSchema());
  });

  /**
   * Every class components/index.ts exports that is a ComponentResource, except InlineFunction: its
   * handler is a TypeScript function (the code it ships), which no other language can pass.
   */
  const TYPESCRIPT_ONLY = ["InlineFunction"];
  const exportedComponents = Object.entries(components)
    .filter(([, value]) => typeof value === "function" && value.prototype instanceof pulumi.ComponentResource)
    .map(([name]) => name);

  it("has every component components/index.ts exports (InlineFunction aside), with typed inputs and outputs", () => {
    expect(exportedComponents).to.include.members(["NotificationChannel", "FeedTable", "UserApi", "Operations", "InlineFunction"]);
    expect(PLUGIN_COMPONENTS.map((c) => c.name)).to.have.members(exportedComponents.filter((name) => !TYPESCRIPT_ONLY.includes(name)));
    for (const name of exportedComponents.filter((n) => !TYPESCRIPT_ONLY.includes(n))) {
      expect(schema.resources, name).to.have.property(`tidings:index:${name}`);
    }
    for (const component of PLUGIN_COMPONENTS) {
      const resource = schema.resources[`tidings:index:${component.name}`];
      expect(resource, component.name).to.be.an("object");
      expect(resource.isComponent).to.equal(true);
      expect(Object.keys(resource.inputProperties ?? {}), `${component.name} inputs`).to.not.be.empty;
      expect(Object.keys(resource.properties ?? {}), `${component.name} outputs`).to.not.be.empty;
    }
    const channel = schema.resources["tidings:index:NotificationChannel"];
    expect(channel.requiredInputs).to.include.members(["channel", "bus", "provider", "kmsKeyArn"]);
    expect(channel.inputProperties.provider.$ref).to.equal("#/types/tidings:index:ChannelProvider");
    const provider = schema.types["tidings:index:ChannelProvider"];
    expect(Object.keys(provider.properties)).to.include.members(["type", "from", "functionArn", "apnsPlatformApplicationArn"]);
    // TypeScript-only members (an inline provider's functions) do not cross into other languages.
    expect(provider.properties).to.not.have.any.keys("create", "statements");
    expect(schema.resources["tidings:index:Tidings"].requiredInputs).to.include.members([
      "tokenSigningSecret",
      "channels",
      "notificationTypes",
    ]);
  });

  it("matches the reviewed snapshot plugin/schema.json", () => {
    const current = `${JSON.stringify(schema, null, 2)}\n`;
    if (process.env.UPDATE_SCHEMA) fs.writeFileSync(SNAPSHOT, current);
    expect(current, "the inferred schema changed: review it, then UPDATE_SCHEMA=1").to.equal(fs.readFileSync(SNAPSHOT, "utf8"));
  });

  /** Type, name and the inputs that define each resource, in a stable order (URNs and Output ids aside). */
  function graph(resources: MockedResource[], keys: string[]) {
    return resources
      .map((r) => ({
        type: r.type,
        name: r.name,
        ...Object.fromEntries(keys.filter((k) => r.inputs[k] !== undefined).map((k) => [k, r.inputs[k]])),
      }))
      .sort((a, b) => `${a.type} ${a.name}`.localeCompare(`${b.type} ${b.name}`));
  }

  const KEY_INPUTS = [
    "eventPattern",
    "redrivePolicy",
    "batchSize",
    "scalingConfig",
    "visibilityTimeoutSeconds",
    "routeKey",
    "protocolType",
    "metricName",
    "key",
  ];

  async function waitForFunctions(resources: MockedResource[], count: number) {
    for (let i = 0; i < 300 && resources.filter((r) => r.type === "aws:lambda/function:Function").length < count; i++) await settle();
    await settle();
  }

  it("construct() of NotificationChannel builds the graph the TypeScript constructor builds", async () => {
    const inputs = {
      channel: "pager",
      bus: { name: "tidings-bus", arn: "arn:aws:events:us-east-1:123456789012:event-bus/tidings-bus" },
      notificationLogTable: { name: "log", arn: "arn:aws:dynamodb:us-east-1:123456789012:table/log" },
      politenessTable: { name: "politeness", arn: "arn:aws:dynamodb:us-east-1:123456789012:table/politeness" },
      kmsKeyArn: "arn:aws:kms:us-east-1:123456789012:key/1",
      alertsTopicArn: "arn:aws:sns:us-east-1:123456789012:alerts",
      provider: { type: "lambda", functionArn: "arn:aws:lambda:us-east-1:123456789012:function:pager" },
      fallback: { type: "slack-webhook" },
      failoverAfter: 2,
      batch: { size: 5 },
      dlq: { maxReceiveCount: 4 },
      perUser: { limit: 3, windowSeconds: 60 },
    };
    const typescript = useMocks();
    new NotificationChannel("pager", inputs);
    await waitForFunctions(typescript, 1);
    const expected = graph(typescript, KEY_INPUTS);

    const viaProvider = useMocks();
    const constructed = await provider.construct("pager", "tidings:index:NotificationChannel", inputs as any, {});
    await waitForFunctions(viaProvider, 1);
    expect(graph(viaProvider, KEY_INPUTS)).to.deep.equal(expected);
    expect(await new Promise((resolve) => pulumi.output(constructed.urn).apply(resolve))).to.match(
      /tidings:index:NotificationChannel::pager$/,
    );
    expect(Object.keys(constructed.state)).to.include.members(["queueUrl", "deadLetterQueueUrl", "workerArn"]);
    const role = viaProvider.find((r) => r.name === "pager-worker-role")!;
    const statements = JSON.parse(role.inputs.inlinePolicies[0].policy).Statement;
    expect(statements).to.deep.include({
      Effect: "Allow",
      Action: ["lambda:InvokeFunction"],
      Resource: ["arn:aws:lambda:us-east-1:123456789012:function:pager"],
    });
  });

  it("construct() of Tidings builds the default stack createTidingsStack builds, inside one component", async () => {
    const raw = readStackFile();
    const secret = "plugin-test-signing-secret-0123456789";
    const typescript = useMocks();
    createTidingsStack({ config: parseTidingsConfig(raw), tokenSigningSecret: pulumi.secret(secret) });
    await waitForFunctions(typescript, 10);
    const expected = graph(typescript, KEY_INPUTS);

    const viaProvider = useMocks();
    const constructed = await provider.construct("tidings", "tidings:index:Tidings", { ...raw, tokenSigningSecret: secret } as any, {});
    await waitForFunctions(viaProvider, 10);
    const built = graph(viaProvider, KEY_INPUTS);
    expect(built.filter((r) => r.type === "tidings:index:Tidings").map((r) => r.name)).to.deep.equal(["tidings"]);
    expect(built.filter((r) => r.type !== "tidings:index:Tidings")).to.deep.equal(expected);
    expect(Object.keys(constructed.state)).to.include.members(["websocketUrl", "notificationsEndpoint", "channels", "tables"]);
    expect(built.length).to.be.greaterThan(50);
  });
});
