/**
 * The multi-language component package (PulumiPlugin.yaml + plugin/): the schema Pulumi infers from the
 * components' TypeScript types, compared with the reviewed snapshot `plugin/schema.json`. A change to a
 * component's args or outputs shows up here first: review the diff, then refresh the snapshot with
 * `UPDATE_SCHEMA=1 npx mocha tests/plugin.schema.test.ts`.
 */
import { expect } from "chai";
import * as fs from "node:fs";
import * as path from "node:path";
import { componentProvider } from "../plugin/host";
import { PLUGIN_COMPONENTS } from "../plugin/index";

const SNAPSHOT = path.join(__dirname, "..", "plugin", "schema.json");

describe("component package schema (Pulumi analyzer)", function () {
  this.timeout(180_000);
  let schema: any;

  before(async () => {
    schema = JSON.parse(await componentProvider().getSchema());
  });

  it("has every exported component, with typed inputs and outputs", () => {
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
});
