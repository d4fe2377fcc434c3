// The graph: the stack that `pulumi up` would deploy, built under Pulumi mocks (AWS-format ARNs).
import { strict as assert } from "node:assert";
import { before, describe, it } from "node:test";
import { type MockedResource, ofType, outputValue, settle, useMocks } from "tidings/testing";
import { stackConfig } from "./config";

describe("the stack with a Teams channel added in code", () => {
  let resources: MockedResource[];
  let program: typeof import("../index");

  before(async () => {
    resources = useMocks({ config: stackConfig, secrets: ["tidings:tokenSigningSecret"], project: "teams-channel", stack: "dev" });
    program = require("../index");
    await settle();
  });

  it("gives Teams its own rule, queue, DLQs and worker, beside the config's channels", () => {
    assert.deepEqual(Object.keys(program.tidings.channels).sort(), ["teams", "websocket"]);
    const queues = ofType(resources, "aws:sqs/queue:Queue").map((q) => q.name);
    for (const name of ["teams-queue", "teams-dlq", "teams-rule-dlq"]) assert.ok(queues.includes(name), `${name} in ${queues}`);
    const rule = ofType(resources, "aws:cloudwatch/eventRule:EventRule").find((r) => r.name === "teams-rule");
    assert.deepEqual(JSON.parse(rule?.inputs.eventPattern)["detail-type"], ["notification.teams"]);
  });

  it("lets the Teams worker reach its own queue and the log, and nothing of the other channels", async () => {
    const role = ofType(resources, "aws:iam/role:Role").find((r) => r.name === "teams-worker-role");
    assert.ok(role, "the worker has a role of its own");
    const policy = JSON.parse(role.inputs.inlinePolicies[0].policy);
    const resourcesOf = (statements: { Resource: string | string[] }[]) => statements.flatMap((s) => [s.Resource].flat());
    const granted = resourcesOf(policy.Statement);
    const ownQueue = await outputValue(program.tidings.channels.teams.queue.arn);
    const otherQueue = await outputValue(program.tidings.channels.websocket.queue.arn);
    assert.ok(granted.includes(ownQueue), "its own queue");
    assert.ok(!granted.includes(otherQueue), "not the websocket queue");
    assert.ok(
      granted.every((arn) => arn.startsWith("arn:aws:")),
      `every grant names an ARN: ${granted}`,
    );
  });

  it("keeps a per-user Teams webhook address, and the templates the types that reach Teams need", () => {
    assert.deepEqual(program.tidings.channels.teams.address, {
      webhookUrl: { type: "https-url", hosts: ["*.webhook.office.com"], secret: true },
    });
    const keys = program.tidings.templates.templates.map((t) => t.key);
    assert.ok(keys.includes("templates/deploy.finished/teams.json"), keys.join(", "));
  });
});
