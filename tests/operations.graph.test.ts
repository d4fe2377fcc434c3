/**
 * Operations in the stack (issue 11), under Pulumi mocks: the status route, the per-channel alarms, the
 * dashboard (every widget's metrics name this stack's resources), the reconciler's schedule and the
 * scoped IAM of the new functions.
 */
import { expect } from "chai";
import * as pulumi from "@pulumi/pulumi";
import { readStackFile } from "../local/stackConfig";
import { parseTidingsConfig } from "../runtime/config";
import { METRICS_NAMESPACE } from "../runtime/metrics";
import { TidingsError } from "../components/common";
import { Operations } from "../components/Operations";
import { Reconciler } from "../components/Reconciler";
import { StatusCallbacks } from "../components/StatusCallbacks";
import { createTidingsStack } from "../stack";
import { type MockedResource, ofType, settle, useMocks, outputValue as outputOf } from "../testing";

const SECRET = "local-test-signing-secret-0123456789abcdef";

async function buildStack(edit?: (raw: Record<string, any>) => void) {
  const resources = useMocks();
  const raw = readStackFile();
  edit?.(raw);
  const stack = createTidingsStack({ config: parseTidingsConfig(raw), tokenSigningSecret: pulumi.secret(SECRET) });
  await settle();
  return { stack, resources: [...resources] };
}

const policyOf = (resources: MockedResource[], roleName: string) =>
  JSON.parse(resources.find((r) => r.type === "aws:iam/role:Role" && r.name === roleName)!.inputs.inlinePolicies[0].policy);

describe("operations in the stack (Pulumi mocks)", function () {
  this.timeout(120_000);
  let dev: Awaited<ReturnType<typeof buildStack>>;
  /** One build with every operations setting changed from its default. */
  let custom: Awaited<ReturnType<typeof buildStack>>;
  let names: {
    queues: Set<string>;
    rules: Set<string>;
    bus: string;
    functions: Set<string>;
    channels: string[];
    alerts: string;
    log: string;
  };
  before(async () => {
    dev = await buildStack();
    custom = await buildStack((raw) => {
      raw.alarms = { queueAgeSeconds: 600, workerErrors: 3 };
      raw.reconciler = { schedule: "rate(10 minutes)", stuckAfterMinutes: 30 };
      raw.dashboard = { enabled: false };
    });
    const channels = Object.values(dev.stack.channels);
    names = {
      queues: new Set(ofType(dev.resources, "aws:sqs/queue:Queue").map((q) => q.state.name)),
      rules: new Set(await Promise.all(channels.map((c) => outputOf(c.rule.name)))),
      bus: await outputOf(dev.stack.bus.name),
      functions: new Set(ofType(dev.resources, "aws:lambda/function:Function").map((f) => f.state.name)),
      channels: channels.map((c) => c.channel),
      alerts: await outputOf(dev.stack.alertsTopic.arn),
      log: await outputOf(dev.stack.notificationLogTable.arn),
    };
  });

  it("adds GET /notifications/{eventId} with the producer route's auth, served by a function that may only read the log", () => {
    const routes = ofType(dev.resources, "aws:apigatewayv2/route:Route").filter((r) => /notifications/.test(r.inputs.routeKey));
    const get = routes.find((r) => r.inputs.routeKey === "GET /notifications/{eventId}")!;
    const postRoute = routes.find((r) => r.inputs.routeKey === "POST /notifications")!;
    expect(get, "status route").to.exist;
    expect(get.inputs.authorizationType).to.equal(postRoute.inputs.authorizationType);
    const statements = policyOf(dev.resources, "producer-api-status-role").Statement;
    const data = statements.filter((s: any) => s.Action.some((a: string) => a.startsWith("dynamodb:")));
    // A notification's rows (Query); a topic send's item, its pages and its recipients' items (GetItem, BatchGetItem).
    expect(data).to.deep.equal([
      { Effect: "Allow", Action: ["dynamodb:Query", "dynamodb:GetItem", "dynamodb:BatchGetItem"], Resource: [names.log] },
    ]);
    const permission = ofType(dev.resources, "aws:lambda/permission:Permission").find((p) => p.name === "producer-api-status-invoke")!;
    expect(permission.inputs.sourceArn).to.match(/\/\*\/GET\/notifications\/\*$/);
  });

  it("alarms per channel on queue age, worker errors and throttles, and rule FailedInvocations, all to the alerts topic, thresholds from config", async () => {
    const { resources } = custom;
    const alarms = ofType(resources, "aws:cloudwatch/metricAlarm:MetricAlarm");
    const channels = Object.keys(dev.stack.channels);
    for (const channel of channels) {
      const mine = alarms.filter((a) => a.name.startsWith(`${channel}-alarms-`));
      const by = (metric: string) => mine.find((a) => a.inputs.metricName === metric)!;
      expect(by("ApproximateAgeOfOldestMessage").inputs.threshold, channel).to.equal(600);
      expect(names.queues.has(by("ApproximateAgeOfOldestMessage").inputs.dimensions.QueueName)).to.equal(true);
      expect(by("Errors").inputs.threshold).to.equal(3);
      expect(names.functions.has(by("Errors").inputs.dimensions.FunctionName)).to.equal(true);
      expect(by("Throttles").inputs.threshold).to.equal(1);
      expect(by("FailedInvocations").inputs.dimensions).to.deep.equal({
        EventBusName: names.bus,
        RuleName: await outputOf(dev.stack.channels[channel].rule.name),
      });
    }
    // Every alarm of the stack tells the alerts topic, on ALARM and on OK.
    for (const alarm of alarms) {
      expect(alarm.inputs.alarmActions, alarm.name).to.deep.equal([names.alerts]);
      expect(alarm.inputs.okActions, alarm.name).to.deep.equal([names.alerts]);
    }
    // The default queue-age threshold is far below the queues' 4-day retention.
    const defaults = ofType(dev.resources, "aws:cloudwatch/metricAlarm:MetricAlarm").filter(
      (a) => a.inputs.metricName === "ApproximateAgeOfOldestMessage",
    );
    expect(defaults.map((a) => a.inputs.threshold)).to.deep.equal(channels.map(() => 900));
  });

  it("builds a dashboard whose every widget's metrics name this stack's queues, rules, bus and channels", async () => {
    const dashboards = ofType(dev.resources, "aws:cloudwatch/dashboard:Dashboard");
    expect(dashboards).to.have.length(1);
    const body = JSON.parse(dashboards[0].inputs.dashboardBody);
    const titles = new Set<string>();
    let metrics = 0;
    for (const widget of body.widgets) {
      titles.add(widget.properties.title);
      expect(widget.properties.region).to.equal("us-east-1");
      for (const row of widget.properties.metrics) {
        if (typeof row[0] !== "string") {
          expect(row[0].expression, widget.properties.title).to.match(/^100 \* (opened|clicked) \/ sent$/);
          continue;
        }
        metrics++;
        const [namespace, , ...rest] = row;
        const dims: Record<string, string> = {};
        for (let i = 0; i + 1 < rest.length && typeof rest[i] === "string"; i += 2) dims[rest[i]] = rest[i + 1];
        if (namespace === "AWS/SQS")
          expect(names.queues.has(dims.QueueName), `${widget.properties.title}: ${dims.QueueName}`).to.equal(true);
        else if (namespace === "AWS/Events") {
          expect(dims.EventBusName).to.equal(names.bus);
          expect(names.rules.has(dims.RuleName), dims.RuleName).to.equal(true);
        } else if (namespace === METRICS_NAMESPACE) expect(names.channels).to.include(dims.channel);
        else expect.fail(`unexpected namespace ${namespace} in ${widget.properties.title}`);
        if (dims.channel) expect(widget.properties.title.startsWith(`${dims.channel}: `), widget.properties.title).to.equal(true);
      }
    }
    expect(metrics).to.be.greaterThan(names.channels.length * 10);
    for (const channel of names.channels) {
      for (const what of ["bus rule", "queue", "dead letters", "deliveries", "delivery latency (ms)", "open and click rates (%)"]) {
        expect(titles.has(`${channel}: ${what}`), `${channel}: ${what}`).to.equal(true);
      }
    }
    const latency = body.widgets.find((w: any) => w.properties.title.endsWith("delivery latency (ms)"));
    expect(latency.properties.metrics.map((m: any[]) => m[m.length - 1].stat)).to.deep.equal(["p50", "p99"]);
  });

  it("leaves the dashboard out when config switches it off", () => {
    expect(ofType(custom.resources, "aws:cloudwatch/dashboard:Dashboard")).to.have.length(0);
    expect(parseTidingsConfig({ ...readStackFile(), reconciler: { enabled: false } }).reconciler.enabled).to.equal(false);
  });

  it("schedules the reconciler, lets only that schedule invoke it, and scopes its role to the log table, the bus and the key", async () => {
    const { resources } = custom;
    const schedule = ofType(resources, "aws:cloudwatch/eventRule:EventRule").find((r) => r.name === "reconciler-schedule")!;
    expect(schedule.inputs.scheduleExpression).to.equal("rate(10 minutes)");
    const fn = ofType(resources, "aws:lambda/function:Function").find((f) => f.name === "reconciler")!;
    const target = ofType(resources, "aws:cloudwatch/eventTarget:EventTarget").find((t) => t.name === "reconciler-target")!;
    expect(target.inputs.arn).to.equal(fn.state.arn);
    const permission = ofType(resources, "aws:lambda/permission:Permission").find((p) => p.name === "reconciler-invoke")!;
    expect(permission.inputs.principal).to.equal("events.amazonaws.com");
    expect(permission.inputs.sourceArn).to.equal(schedule.state.arn);
    const statements = policyOf(resources, "reconciler-role").Statement.filter((s: any) => !s.Action[0].startsWith("logs:"));
    expect(statements.map((s: any) => s.Action)).to.deep.equal([
      ["dynamodb:Query"],
      ["dynamodb:BatchGetItem", "dynamodb:UpdateItem"],
      ["events:PutEvents"],
      ["kms:Decrypt", "kms:GenerateDataKey"],
    ]);
    // No Scan: a run reads the index for its look-back window, not the table. The index holds the keys
    // and the unfinished set only, so workers' updates of the item's content do not copy it there.
    const logTable = ofType(resources, "aws:dynamodb/table:Table").find((t) => t.name === "notification-log")!;
    expect(logTable.inputs.globalSecondaryIndexes.find((i: { name: string }) => i.name === "byCreatedDay")).to.deep.equal({
      name: "byCreatedDay",
      keySchemas: [
        { attributeName: "createdDayShard", keyType: "HASH" },
        { attributeName: "createdAt", keyType: "RANGE" },
      ],
      projectionType: "INCLUDE",
      nonKeyAttributes: ["unfinishedChannels"],
    });
    // No index copies the whole item (the unread byUser one did, on every write).
    expect(logTable.inputs.globalSecondaryIndexes.map((i: { projectionType: string }) => i.projectionType)).not.to.include("ALL");
    expect(statements[0].Resource).to.deep.equal([`${names.log}/index/byCreatedDay`]);
    expect(statements[1].Resource).to.deep.equal([names.log]);
    expect(statements[2].Resource).to.deep.equal([await outputOf(dev.stack.bus.arn)]);
  });

  it("a Reconciler built directly refuses a look-back its reputs do not fit in", async () => {
    const { stack } = dev;
    const args = {
      notificationLogTable: stack.notificationLogTable,
      bus: stack.bus,
      kmsKeyArn: "arn:aws:kms:eu-west-1:123456789012:key/k",
      alertsTopicArn: "arn:aws:sns:eu-west-1:123456789012:alerts",
    };
    // 15 min × (3 + 1) × 2 = 2 h.
    expect(() => new Reconciler("short-window", { ...args, lookBackHours: 1 })).to.throw(
      TidingsError,
      /lookBackHours \(1\) must be at least 2/,
    );
    expect(() => new Reconciler("wide-window", { ...args, lookBackHours: 2 })).to.not.throw();
    await settle(); // these register now, not in the next test's mocks
  });

  it("refuses alarm and reconciler settings that cannot work, naming the key", () => {
    const raw = readStackFile();
    expect(() => parseTidingsConfig({ ...raw, alarms: { queueAgeSeconds: 0 } })).to.throw(/tidings:alarms\.queueAgeSeconds/);
    expect(() => parseTidingsConfig({ ...raw, reconciler: { schedule: "every 5 minutes" } })).to.throw(/tidings:reconciler\.schedule/);
    expect(() => parseTidingsConfig({ ...raw, dashboard: { on: true } })).to.throw(/tidings:dashboard\.on: unknown key/);
    // 30 min × (4 + 1) × 2 = 5 h: a 4-hour window could lose a stuck row before its last reput.
    expect(() => parseTidingsConfig({ ...raw, reconciler: { stuckAfterMinutes: 30, maxReputs: 4, lookBackHours: 4 } })).to.throw(
      /tidings:reconciler\.lookBackHours: at least 5 .*got 4/,
    );
    expect(
      parseTidingsConfig({ ...raw, reconciler: { stuckAfterMinutes: 30, maxReputs: 4, lookBackHours: 5 } }).reconciler.lookBackHours,
    ).to.equal(5);
  });
});

describe("Operations and StatusCallbacks hand their transforms to their child components", () => {
  it("changes each child's resources through the parent's transform option", async () => {
    const resources = useMocks();
    const ref = (name: string) => ({ name, arn: `arn:aws:test:eu-west-1:123456789012:${name}` });
    new Operations(
      "ops",
      {
        channels: [
          {
            channel: "email",
            queue: { name: "email-q" },
            deadLetterQueue: { name: "email-dlq" },
            ruleDeadLetterQueue: { name: "email-rule-dlq" },
            rule: { name: "email-rule" },
            worker: { name: "email-worker" },
          },
        ],
        bus: ref("bus"),
        notificationLogTable: ref("log"),
        kmsKeyArn: "arn:aws:kms:eu-west-1:123456789012:key/k",
        alertsTopicArn: "arn:aws:sns:eu-west-1:123456789012:alerts",
      },
      {
        transform: {
          alarms: { queueAge: { evaluationPeriods: 7 } },
          dashboard: { dashboard: (args) => void Object.assign(args, { dashboardName: "ops-renamed" }) },
          reconciler: { schedule: { scheduleExpression: "rate(30 minutes)" } },
        },
      },
    );
    new StatusCallbacks(
      "callbacks",
      {
        url: "https://shop.example.com/hooks/tidings",
        secretArn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:s",
        kmsKeyArn: "arn:aws:kms:eu-west-1:123456789012:key/k",
        alertsTopicArn: "arn:aws:sns:eu-west-1:123456789012:alerts",
      },
      { transform: { alarm: { alarm: { evaluationPeriods: 3 } } } },
    );
    await settle();
    const alarms = ofType(resources, "aws:cloudwatch/metricAlarm:MetricAlarm");
    const queueAge = alarms.filter((a) => a.name.startsWith("email-alarms") && a.inputs.metricName === "ApproximateAgeOfOldestMessage");
    expect(queueAge).to.have.length(1);
    expect(queueAge[0].inputs.evaluationPeriods).to.equal(7);
    expect(ofType(resources, "aws:cloudwatch/dashboard:Dashboard")[0].inputs.dashboardName).to.equal("ops-renamed");
    expect(
      ofType(resources, "aws:cloudwatch/eventRule:EventRule").find((r) => r.name === "reconciler-schedule")?.inputs.scheduleExpression,
    ).to.equal("rate(30 minutes)");
    const callbacksAlarm = alarms.find((a) => a.name === "callbacks-dlq-alarm");
    expect(callbacksAlarm?.inputs.evaluationPeriods).to.equal(3);
  });
});
