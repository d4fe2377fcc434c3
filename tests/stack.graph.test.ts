/**
 * The whole stack under Pulumi mocks: what `pulumi up` would create from Pulumi.dev.yaml, and the
 * guarantees that hold for every resource of it, whatever component made it.
 */
import { builtinModules } from "node:module";
import { expect } from "chai";
import * as pulumi from "@pulumi/pulumi";
import { readStackFile } from "../local/stackConfig";
import { bundleModule } from "../components/bundle";
import { inlineFunctions } from "../components/InlineFunction";
import { parseTidingsConfig } from "../runtime/config";
import { createTidingsStack, readStackConfig } from "../stack";
import { type MockedResource, ofType, outputValue, settle, shippedCode, useMocks } from "../testing";
import { loadShipped } from "./helpers/shipped";

const SECRET = "local-test-signing-secret-0123456789abcdef";

async function buildStack(edit?: (raw: Record<string, any>) => void) {
  const resources = useMocks();
  const raw = readStackFile();
  edit?.(raw);
  const stack = createTidingsStack({ config: parseTidingsConfig(raw), tokenSigningSecret: pulumi.secret(SECRET) });
  await settle();
  // A copy: the next build starts a new recording.
  return { stack, resources: [...resources], functions: [...inlineFunctions] };
}

/** Every IAM policy document in the graph, with where it came from. */
function policies(resources: MockedResource[]): { owner: string; doc: any }[] {
  const found: { owner: string; doc: any }[] = [];
  for (const r of resources) {
    if (r.type === "aws:iam/role:Role") {
      for (const p of r.inputs.inlinePolicies ?? []) found.push({ owner: r.name, doc: JSON.parse(p.policy) });
    }
    if (r.type === "aws:iam/rolePolicy:RolePolicy" || r.type === "aws:iam/policy:Policy") {
      found.push({ owner: r.name, doc: JSON.parse(r.inputs.policy) });
    }
  }
  return found;
}

const asList = (v: unknown): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v as string]);

/**
 * The only statements that may name `*`: AWS requires it for these actions (no resource-level
 * permissions), each named here with the reason.
 */
const STAR_ALLOWED: Record<string, string> = {
  "sns:Publish": "publishing an SMS to a phone number has no resource ARN",
  "sns:CreatePlatformEndpoint": "AWS's service authorization reference lists no resource type for it (tests/iam.test.ts)",
};

describe("the whole stack (Pulumi mocks)", function () {
  this.timeout(120_000);
  let dev: Awaited<ReturnType<typeof buildStack>>;
  before(async () => {
    dev = await buildStack();
  });

  it("creates exactly the enabled channels' rule, queues, worker, mapping and alarms", async () => {
    const { resources } = dev;
    // Channel rules match events; the reconciler's rule is a schedule.
    const channelRules = (list: MockedResource[]) =>
      ofType(list, "aws:cloudwatch/eventRule:EventRule").filter((r) => r.inputs.eventPattern);
    const rules = channelRules(resources).map((r) => JSON.parse(r.inputs.eventPattern)["detail-type"][0]);
    expect(rules.sort()).to.deep.equal(["notification.email", "notification.slack", "notification.sms", "notification.websocket"]);
    // The channels' queues; the schedules' DLQ, the topic fan-out's queues and their alarms belong to the stack, not a channel.
    const ofTheStack = (name: string) => name.includes("-scheduling-") || name.includes("-topics-");
    const channelQueues = (list: MockedResource[]) => ofType(list, "aws:sqs/queue:Queue").filter((r) => !ofTheStack(r.name));
    const before = channelQueues(resources).length;
    const mappings = ofType(resources, "aws:lambda/eventSourceMapping:EventSourceMapping").filter((r) => !ofTheStack(r.name)).length;
    // Per channel alarms; the reconciler's one alarm is the stack's, not a channel's.
    const channelAlarms = (list: MockedResource[]) =>
      ofType(list, "aws:cloudwatch/metricAlarm:MetricAlarm").filter((r) => !r.name.startsWith("reconciler") && !ofTheStack(r.name)).length;
    const alarms = channelAlarms(resources);

    const { resources: without } = await buildStack((raw) => (raw.channels.sms.enabled = false));
    const rulesWithout = channelRules(without).map((r) => JSON.parse(r.inputs.eventPattern)["detail-type"][0]);
    expect(rulesWithout).to.not.include("notification.sms");
    expect(rulesWithout).to.have.length(3);
    expect(channelQueues(without).length).to.equal((before / 4) * 3);
    expect(ofType(without, "aws:lambda/eventSourceMapping:EventSourceMapping").filter((r) => !ofTheStack(r.name)).length).to.equal(
      (mappings / 4) * 3,
    );
    expect(channelAlarms(without)).to.equal((alarms / 4) * 3);
    // Templates are data and stay uploaded; no resource of the sms channel itself remains.
    const smsResources = without.filter((r) => /(^|-)sms(-|$)/.test(r.name) && r.type !== "aws:s3/bucketObjectv2:BucketObjectv2");
    expect(smsResources.map((r) => r.name)).to.deep.equal([]);
  });

  it("encrypts every table, queue, topic, bus, secret, bucket and log group with the stack's KMS key", async () => {
    const { resources } = dev;
    const keyArn = ofType(resources, "aws:kms/key:Key")[0].state.arn;
    const check = (type: string, keyOf: (r: MockedResource) => unknown) => {
      const list = ofType(resources, type);
      expect(list, type).to.not.be.empty;
      for (const r of list) expect(keyOf(r), `${type} ${r.name}`).to.equal(keyArn);
    };
    check("aws:dynamodb/table:Table", (r) => r.inputs.serverSideEncryption?.enabled && r.inputs.serverSideEncryption.kmsKeyArn);
    check("aws:sqs/queue:Queue", (r) => r.inputs.kmsMasterKeyId);
    check("aws:sns/topic:Topic", (r) => r.inputs.kmsMasterKeyId);
    check("aws:cloudwatch/eventBus:EventBus", (r) => r.inputs.kmsKeyIdentifier);
    check("aws:cloudwatch/logGroup:LogGroup", (r) => r.inputs.kmsKeyId);
    check("aws:secretsmanager/secret:Secret", (r) => r.inputs.kmsKeyId);
    for (const table of ofType(resources, "aws:dynamodb/table:Table")) {
      expect(table.inputs.pointInTimeRecovery?.enabled, table.name).to.equal(true);
    }
  });

  it("gives every log group a retention period and the WebSocket stage throttling", async () => {
    const { resources } = dev;
    for (const group of ofType(resources, "aws:cloudwatch/logGroup:LogGroup")) {
      expect(group.inputs.retentionInDays, group.name).to.equal(14);
    }
    for (const stage of ofType(resources, "aws:apigatewayv2/stage:Stage")) {
      expect(stage.inputs.defaultRouteSettings?.throttlingRateLimit, stage.name).to.be.greaterThan(0);
      expect(stage.inputs.defaultRouteSettings?.throttlingBurstLimit, stage.name).to.be.greaterThan(0);
    }
  });

  it("gives every queue that receives notifications a DLQ, and every DLQ an alarm at one message", async () => {
    const { resources } = dev;
    const queues = ofType(resources, "aws:sqs/queue:Queue");
    const byArn = new Map(queues.map((q) => [q.state.arn, q]));
    const alarmed = new Set(
      ofType(resources, "aws:cloudwatch/metricAlarm:MetricAlarm")
        .filter((a) => a.inputs.threshold === 1 && a.inputs.metricName === "ApproximateNumberOfMessagesVisible")
        .map((a) => a.inputs.dimensions.QueueName),
    );
    const deadLetterQueues = new Set<string>();
    for (const q of queues.filter((q) => q.inputs.redrivePolicy)) {
      const target = byArn.get(JSON.parse(q.inputs.redrivePolicy).deadLetterTargetArn);
      expect(target, `DLQ of ${q.name}`).to.exist;
      deadLetterQueues.add(target!.state.name);
    }
    // Every target that carries notifications (a queue) has a rule DLQ; the reconciler's schedule target
    // carries none: a missed run is made up by the next one.
    for (const target of ofType(resources, "aws:cloudwatch/eventTarget:EventTarget").filter((t) => t.name !== "reconciler-target")) {
      const dlq = byArn.get(target.inputs.deadLetterConfig?.arn);
      expect(dlq, `rule DLQ of ${target.name}`).to.exist;
      deadLetterQueues.add(dlq!.state.name);
    }
    // The scheduled notifications' DLQ: where a schedule's fire goes after the Scheduler's retries.
    const schedulesDlq = queues.find((q) => q.name === "producer-api-scheduling-dlq");
    expect(schedulesDlq, "the schedules' DLQ").to.exist;
    deadLetterQueues.add(schedulesDlq!.state.name);
    expect(deadLetterQueues.size).to.equal(10); // queue DLQ + rule DLQ for each of 4 channels, the schedules' and the topic fan-out's
    for (const name of deadLetterQueues) expect(alarmed.has(name), `alarm on ${name}`).to.equal(true);
    // Every queue is either a channel queue with a DLQ, or a DLQ.
    for (const q of queues) expect(!!q.inputs.redrivePolicy || deadLetterQueues.has(q.state.name), q.name).to.equal(true);
  });

  it("grants no action or resource `*` outside the allow-list, and no role reaches another channel's queue", async () => {
    const { resources } = dev;
    const all = policies(resources);
    expect(all.length).to.be.greaterThan(5);
    for (const { owner, doc } of all) {
      for (const s of doc.Statement) {
        for (const action of asList(s.Action)) expect(action, `${owner} action`).to.not.match(/^\*$|:\*$/);
        if (asList(s.Resource).includes("*")) {
          for (const action of asList(s.Action)) expect(STAR_ALLOWED, `${owner} grants ${action} on *`).to.have.property(action);
        }
      }
    }
    const queues = ofType(resources, "aws:sqs/queue:Queue").map((q) => q.state.arn as string);
    const channelOf = (text: string) => ["websocket", "email", "sms", "slack"].find((c) => text.includes(`${c}-`) || text.endsWith(c));
    for (const { owner, doc } of all) {
      const reached = doc.Statement.flatMap((s: any) => asList(s.Resource)).filter((arn: string) => queues.includes(arn));
      for (const arn of reached) {
        expect(channelOf(arn), `${owner} reaches ${arn}`).to.equal(channelOf(owner));
      }
    }
  });

  it("keeps the signing secret out of plain inputs: only the secret version holds it, as a Pulumi secret", async () => {
    const { resources } = dev;
    for (const r of resources) {
      if (r.type === "aws:secretsmanager/secretVersion:SecretVersion") continue;
      expect(JSON.stringify(r.inputs), `${r.type} ${r.name}`).to.not.include(SECRET);
    }
  });

  it("sets the account's API Gateway logs role only when asked, scoped to the account's log groups", async () => {
    expect(ofType(dev.resources, "aws:apigateway/account:Account")).to.deep.equal([]);
    const { resources } = await buildStack((raw) => (raw.apiGatewayCloudWatchRole = true));
    const [account] = ofType(resources, "aws:apigateway/account:Account");
    const role = ofType(resources, "aws:iam/role:Role").find((r) => r.name === "apigateway-cloudwatch")!;
    expect(account.inputs.cloudwatchRoleArn).to.equal(role.state.arn);
    const statement = JSON.parse(role.inputs.inlinePolicies[0].policy).Statement[0];
    expect(statement.Resource).to.deep.equal(["arn:aws:logs:us-east-1:123456789012:log-group:*"]);
  });

  it("fails early, naming the key, when stack config has an unknown or wrong key", async () => {
    useMocks();
    pulumi.runtime.setAllConfig(
      {
        "tidings:channels": JSON.stringify({ email: { enabled: true, from: "a@example.com", ratePerSecnd: 3 } }),
        "tidings:notificationTypes": JSON.stringify({ "order.shipped": {} }),
        "tidings:stag": "dev",
        "tidings:tokenSigningSecret": SECRET,
      },
      ["tidings:tokenSigningSecret"],
    );
    expect(() => readStackConfig()).to.throw(/tidings:channels\.email\.ratePerSecnd: unknown key[\s\S]*tidings:stag: unknown key/);
    pulumi.runtime.setAllConfig(
      {
        "tidings:userApi": JSON.stringify({ allowOrigins: ["https://app.example.com"] }),
        "tidings:channels": JSON.stringify({ websocket: {} }),
        "tidings:notificationTypes": JSON.stringify({ "job.progress": {} }),
        "tidings:tokenSigningSecret": SECRET,
      },
      ["tidings:tokenSigningSecret"],
    );
    expect(readStackConfig().config.channels.websocket.provider).to.equal("websocket");
  });

  it("ships every inline Lambda as a module that loads and exports its handler, without the AWS SDK or Pulumi in the archive", async () => {
    expect(dev.functions.length).to.be.greaterThan(8);
    for (const fn of dev.functions) {
      const shipped = await loadShipped(fn);
      expect(shipped.handler, shipped.file).to.be.a("function");
      expect(shipped.text).to.not.include(SECRET);
      // Every package is inlined but the AWS SDK, which the Lambda runtime provides; node's own modules aside.
      const required = [...new Set([...shipped.text.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]))];
      expect(
        required.filter((r) => !/^@(aws-sdk|smithy)\//.test(r) && !builtinModules.includes(r.replace(/^node:/, ""))),
        shipped.file,
      ).to.deep.equal([]);
    }
  });

  it("gives every inline Lambda an archive of one bundled index.js of at most 1 MiB, no node_modules, handler index.<export>", async () => {
    const lambdas = ofType(dev.resources, "aws:lambda/function:Function");
    for (const fn of dev.functions) {
      const shipped = await shippedCode(fn);
      const name = (await outputValue(fn.function.urn)).split("::").pop();
      const resource = lambdas.find((r) => r.name === name);
      expect(resource, "its aws.lambda.Function").to.not.equal(undefined);
      const assets: Record<string, pulumi.asset.Asset> = await resource!.inputs.code.assets;
      expect(Object.keys(assets), resource!.name).to.deep.equal(["index.js"]);
      const text = await (assets["index.js"] as pulumi.asset.StringAsset).text;
      expect(text, `${resource!.name}: the archive holds the bundle shippedCode gives`).to.equal(shipped.text);
      expect(Buffer.byteLength(text), resource!.name).to.be.at.most(1024 * 1024);
      expect(text, resource!.name).to.not.include("node_modules");
      expect(resource!.inputs.handler).to.equal(`index.${shipped.exportName}`);
      expect(shipped.handler).to.equal(resource!.inputs.handler);
      // The module exports what the handler names.
      expect(text).to.match(new RegExp(`exports\\.${shipped.exportName}\\s*=`));
    }
  });

  it("ships the producer API without the SQS client unless status callbacks or topics are on (a client it never uses is not loaded)", async () => {
    const producerBundle = async (functions: typeof dev.functions) => {
      for (const fn of functions) {
        if ((await outputValue(fn.function.urn)).endsWith("::producer-api-service")) return (await shippedCode(fn)).text;
      }
      throw new Error("no producer-api-service function");
    };
    const requiresSqs = (text: string) => /require\("@aws-sdk\/client-sqs[/"]/.test(text);
    // The dev stack has topics: their fan-out is started with an SQS message.
    expect(requiresSqs(await producerBundle(dev.functions)), "topics on").to.equal(true);
    const neither = await buildStack((raw) => (raw.topics = { enabled: false }));
    expect(requiresSqs(await producerBundle(neither.functions)), "status callbacks and topics off").to.equal(false);
    const withCallbacks = await buildStack((raw) => {
      raw.topics = { enabled: false };
      raw.statusCallbacks = {
        url: "https://shop.example.com/hooks/tidings",
        secretArn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:callbacks-AbCdEf",
      };
    });
    expect(requiresSqs(await producerBundle(withCallbacks.functions)), "status callbacks on").to.equal(true);
  });

  it("builds the same bundle, byte for byte, when the stack is evaluated again (pulumi preview shows no diff)", async () => {
    const again = await buildStack();
    const first = await Promise.all(dev.functions.map((fn) => shippedCode(fn)));
    const second = await Promise.all(again.functions.map((fn) => shippedCode(fn)));
    expect(second.length).to.equal(first.length);
    for (const [i, code] of second.entries()) {
      expect(code.serialized === first[i].serialized, `${code.exportName} ${i}: serialized text`).to.equal(true);
      expect(code.text === first[i].text, `${i}: bundle`).to.equal(true);
    }
    // And not from the in-process cache only: esbuild itself gives the same bytes for the same input.
    const fn = dev.functions[0];
    const { serialized } = await shippedCode(fn);
    expect(await bundleModule(`${serialized}\n`, process.cwd())).to.equal(await bundleModule(`${serialized}\n\n`, process.cwd()));
  });
});
