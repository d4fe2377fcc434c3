import { expect } from "chai";
import * as aws from "@pulumi/aws";
import { EncryptionKey } from "../components/EncryptionKey";
import { NotificationChannel, type NotificationChannelArgs } from "../components/NotificationChannel";
import { NotificationLogTable } from "../components/NotificationLogTable";
import { PolitenessTable } from "../components/PolitenessTable";
import {
  type ChannelProvider,
  providerFromConfig,
  type ProviderSources,
  resolveProvider,
  SMS_PUBLISH_STATEMENT,
} from "../components/providers";
import { applyTransform, TidingsError } from "../components/common";
import { parseTidingsConfig } from "../runtime/config";
import { ACCOUNT, type MockedResource, ofType, REGION, settle, useMocks, outputValue } from "../testing";

const ALERTS = `arn:aws:sns:${REGION}:${ACCOUNT}:tidings-alerts`;

interface Stack {
  resources: MockedResource[];
  key: EncryptionKey;
  bus: aws.cloudwatch.EventBus;
  log: NotificationLogTable;
  politeness: PolitenessTable;
}

function baseStack(): Stack {
  const resources = useMocks();
  const key = new EncryptionKey("tidings");
  return {
    resources,
    key,
    bus: new aws.cloudwatch.EventBus("bus", {}),
    log: new NotificationLogTable("log", { kmsKeyArn: key.arn }),
    politeness: new PolitenessTable("politeness", { kmsKeyArn: key.arn }),
  };
}

/** Lambda functions register after their code is serialized and bundled: wait for every worker, not just a tick. */
async function settleWorkers(resources: MockedResource[], names: string[]): Promise<void> {
  for (let i = 0; i < 300; i++) {
    await settle();
    const registered = names.every((n) => resources.some((r) => r.name === n && r.type === "aws:lambda/function:Function"));
    if (registered && names.every((n) => resources.some((r) => r.name === n.replace(/-worker$/, "-mapping")))) return;
  }
  throw new Error(`workers never registered: ${names.join(", ")}`);
}

function channelArgs(
  stack: Stack,
  channel: string,
  provider: ChannelProvider,
  extra: Partial<NotificationChannelArgs> = {},
): NotificationChannelArgs {
  return {
    channel,
    bus: stack.bus,
    provider,
    notificationLogTable: stack.log,
    politenessTable: stack.politeness,
    kmsKeyArn: stack.key.arn,
    alertsTopicArn: ALERTS,
    ...extra,
  };
}

/** Components and their main resource share a name (InlineFunction/Function, DlqAlarm/MetricAlarm): prefer the AWS resource. */
const named = (resources: MockedResource[], name: string) => {
  const found = resources.find((r) => r.name === name && r.type.startsWith("aws:")) ?? resources.find((r) => r.name === name);
  if (!found) throw new Error(`no resource named ${name}; have ${resources.map((r) => r.name).join(", ")}`);
  return found;
};

function policyStatements(resources: MockedResource[], roleName: string): { Action: string[]; Resource: string[] }[] {
  const role = named(resources, roleName);
  return role.inputs.inlinePolicies.flatMap((p: { policy: string }) => JSON.parse(p.policy).Statement);
}

describe("NotificationChannel resource graph", () => {
  let stack: Stack;
  let email: NotificationChannel;
  let _sms: NotificationChannel;

  before(async () => {
    stack = baseStack();
    email = new NotificationChannel(
      "email",
      channelArgs(
        stack,
        "email",
        { type: "ses", from: "notify@example.com", identityArns: [`arn:aws:ses:${REGION}:${ACCOUNT}:identity/example.com`] },
        {
          perUser: { limit: 10, windowSeconds: 3600 },
          maxConcurrency: 5,
          batch: { size: 5 },
          workerTimeoutSeconds: 20,
        },
      ),
    );
    _sms = new NotificationChannel("sms", channelArgs(stack, "sms", { type: "sns-sms", senderId: "Tidings" }));
    await settleWorkers(stack.resources, ["email-worker", "sms-worker"]);
  });

  it("creates the queue, both DLQs, rule, target, worker, mapping and two alarms per channel", () => {
    for (const name of ["email", "sms"]) {
      for (const child of [`${name}-queue`, `${name}-dlq`, `${name}-rule-dlq`])
        expect(named(stack.resources, child).type).to.equal("aws:sqs/queue:Queue");
      expect(named(stack.resources, `${name}-rule`).type).to.equal("aws:cloudwatch/eventRule:EventRule");
      expect(named(stack.resources, `${name}-target`).type).to.equal("aws:cloudwatch/eventTarget:EventTarget");
      expect(named(stack.resources, `${name}-worker`).type).to.equal("aws:lambda/function:Function");
      expect(named(stack.resources, `${name}-mapping`).type).to.equal("aws:lambda/eventSourceMapping:EventSourceMapping");
      expect(named(stack.resources, `${name}-dlq-alarm`).type).to.equal("aws:cloudwatch/metricAlarm:MetricAlarm");
      expect(named(stack.resources, `${name}-rule-dlq-alarm`).type).to.equal("aws:cloudwatch/metricAlarm:MetricAlarm");
    }
    expect(ofType(stack.resources, "tidings:index:NotificationChannel")).to.have.length(2);
    expect(ofType(stack.resources, "tidings:index:DlqAlarm")).to.have.length(4);
    expect(email.alarms).to.have.length(2);
  });

  it("encrypts every queue with the stack key, redrives to the DLQ and keeps visibility above the timeout", async () => {
    const keyArn = await outputValue(stack.key.arn);
    for (const name of ["email-queue", "email-dlq", "email-rule-dlq", "sms-queue"]) {
      expect(named(stack.resources, name).inputs.kmsMasterKeyId, name).to.equal(keyArn);
    }
    const queue = named(stack.resources, "email-queue");
    const dlq = named(stack.resources, "email-dlq");
    expect(JSON.parse(queue.inputs.redrivePolicy)).to.deep.equal({ deadLetterTargetArn: dlq.state.arn, maxReceiveCount: 5 });
    expect(queue.inputs.visibilityTimeoutSeconds).to.equal(120).and.to.be.above(named(stack.resources, "email-worker").inputs.timeout);
    expect(dlq.inputs.messageRetentionSeconds).to.equal(14 * 86_400);
    const redriveAllow = named(stack.resources, "email-dlq-redrive-allow");
    expect(JSON.parse(redriveAllow.inputs.redriveAllowPolicy).sourceQueueArns).to.deep.equal([queue.state.arn]);
  });

  it("routes notification.<channel> from the bus to the queue, with a rule DLQ and a policy tied to the rule", () => {
    const rule = named(stack.resources, "email-rule");
    expect(JSON.parse(rule.inputs.eventPattern)).to.deep.equal({ source: ["tidings"], "detail-type": ["notification.email"] });
    expect(rule.inputs.eventBusName).to.equal(named(stack.resources, "bus").state.name);
    const target = named(stack.resources, "email-target");
    expect(target.inputs.arn).to.equal(named(stack.resources, "email-queue").state.arn);
    expect(target.inputs.deadLetterConfig.arn).to.equal(named(stack.resources, "email-rule-dlq").state.arn);
    expect(target.inputs.retryPolicy.maximumRetryAttempts).to.be.above(0);
    for (const [policyName, queueName] of [
      ["email-queue-policy", "email-queue"],
      ["email-rule-dlq-policy", "email-rule-dlq"],
    ]) {
      const policy = JSON.parse(named(stack.resources, policyName).inputs.policy);
      expect(policy.Statement).to.deep.equal([
        {
          Sid: "RuleSendsEvents",
          Effect: "Allow",
          Principal: { Service: "events.amazonaws.com" },
          Action: "sqs:SendMessage",
          Resource: named(stack.resources, queueName).state.arn,
          Condition: { ArnEquals: { "aws:SourceArn": rule.state.arn } },
        },
      ]);
    }
  });

  it("maps the queue to the worker with partial batch failures and a concurrency cap", () => {
    const mapping = named(stack.resources, "email-mapping");
    expect(mapping.inputs).to.deep.include({
      eventSourceArn: named(stack.resources, "email-queue").state.arn,
      functionName: named(stack.resources, "email-worker").state.arn,
      batchSize: 5,
      functionResponseTypes: ["ReportBatchItemFailures"],
    });
    expect(mapping.inputs.scalingConfig).to.deep.equal({ maximumConcurrency: 5 });
    expect(named(stack.resources, "sms-mapping").inputs.scalingConfig).to.deep.equal({ maximumConcurrency: 2 });
  });

  it("alarms on a DLQ holding one message, to the alerts topic and back to OK", () => {
    for (const [alarmName, queueName] of [
      ["email-dlq-alarm", "email-dlq"],
      ["email-rule-dlq-alarm", "email-rule-dlq"],
    ]) {
      expect(named(stack.resources, alarmName).inputs).to.deep.include({
        namespace: "AWS/SQS",
        metricName: "ApproximateNumberOfMessagesVisible",
        dimensions: { QueueName: named(stack.resources, queueName).state.name },
        statistic: "Maximum",
        period: 60,
        evaluationPeriods: 1,
        threshold: 1,
        comparisonOperator: "GreaterThanOrEqualToThreshold",
        treatMissingData: "notBreaching",
        alarmActions: [ALERTS],
        okActions: [ALERTS],
      });
    }
  });

  it("lets each worker reach only its own queue, the log (and politeness) table, the key and its provider", async () => {
    const keyArn = await outputValue(stack.key.arn);
    const logArn = await outputValue(stack.log.arn);
    const politenessArn = await outputValue(stack.politeness.arn);
    const emailQueue = named(stack.resources, "email-queue").state.arn;
    const smsQueue = named(stack.resources, "sms-queue").state.arn;
    const emailStatements = policyStatements(stack.resources, "email-worker-role");
    const smsStatements = policyStatements(stack.resources, "sms-worker-role");
    const resourcesFor = (statements: { Action: string[]; Resource: string[] }[], prefix: string) =>
      [...new Set(statements.filter((s) => s.Action.some((a) => a.startsWith(prefix))).flatMap((s) => s.Resource))].sort();

    expect(resourcesFor(emailStatements, "sqs:")).to.deep.equal([emailQueue]);
    expect(resourcesFor(smsStatements, "sqs:")).to.deep.equal([smsQueue]);
    expect(resourcesFor(emailStatements, "kms:")).to.deep.equal([keyArn]);
    expect(resourcesFor(emailStatements, "dynamodb:")).to.deep.equal([logArn, politenessArn].sort());
    // No per-user limit on sms: no reason to reach the politeness table.
    expect(resourcesFor(smsStatements, "dynamodb:")).to.deep.equal([logArn]);
    expect(resourcesFor(emailStatements, "ses:")).to.deep.equal([`arn:aws:ses:${REGION}:${ACCOUNT}:identity/example.com`]);
    expect(resourcesFor(emailStatements, "sns:")).to.deep.equal([]);
    expect(smsStatements).to.deep.include({ Effect: "Allow", ...SMS_PUBLISH_STATEMENT });
  });

  it("grants no wildcard action anywhere and no `*` resource except the allow-listed SMS publish", () => {
    const allowListed = JSON.stringify(SMS_PUBLISH_STATEMENT.Action);
    const roles = ofType(stack.resources, "aws:iam/role:Role").filter((r) => r.name.endsWith("-worker-role"));
    expect(roles).to.have.length(2);
    for (const role of roles) {
      for (const statement of policyStatements(stack.resources, role.name)) {
        expect(
          statement.Action.filter((a) => a.includes("*")),
          role.name,
        ).to.deep.equal([]);
        if (statement.Resource.includes("*")) expect(JSON.stringify(statement.Action), role.name).to.equal(allowListed);
      }
    }
  });
});

describe("NotificationChannel with other providers", () => {
  it("a custom channel is one NotificationChannel call with an inline provider (TypeScript)", async () => {
    const stack = baseStack();
    const pagerApi = "arn:aws:execute-api:us-east-1:123456789012:pagerapi/prod/POST/page";
    const pager = new NotificationChannel(
      "pager",
      channelArgs(stack, "pager", {
        type: "inline",
        name: "pager",
        statements: () => [{ Action: ["execute-api:Invoke"], Resource: [pagerApi] }],
        create: () => ({ name: "pager", send: async () => ({ outcome: "sent" as const }) }),
      }),
    );
    await settleWorkers(stack.resources, ["pager-worker"]);
    expect(JSON.parse(named(stack.resources, "pager-rule").inputs.eventPattern)["detail-type"]).to.deep.equal(["notification.pager"]);
    expect(policyStatements(stack.resources, "pager-worker-role")).to.deep.include({
      Effect: "Allow",
      Action: ["execute-api:Invoke"],
      Resource: [pagerApi],
    });
    expect(pager.worker.function).to.be.instanceOf(aws.lambda.Function);
  });

  it("push reaches only the endpoints of its platform applications; slack needs no AWS permission", async () => {
    const stack = baseStack();
    const apns = `arn:aws:sns:${REGION}:${ACCOUNT}:app/APNS/tidings-ios`;
    new NotificationChannel("push", channelArgs(stack, "push", { type: "sns-push", apnsPlatformApplicationArn: apns }));
    new NotificationChannel("slack", channelArgs(stack, "slack", { type: "slack-webhook" }));
    await settleWorkers(stack.resources, ["push-worker", "slack-worker"]);
    const push = policyStatements(stack.resources, "push-worker-role").filter((s) => s.Action.some((a) => a.startsWith("sns:")));
    expect(push).to.deep.equal([
      // CreatePlatformEndpoint takes no resource in AWS's reference: only `*` matches it.
      { Effect: "Allow", Action: ["sns:CreatePlatformEndpoint"], Resource: ["*"] },
      { Effect: "Allow", Action: ["sns:Publish"], Resource: [`arn:aws:sns:${REGION}:${ACCOUNT}:endpoint/APNS/tidings-ios/*`] },
    ]);
    const slackActions = policyStatements(stack.resources, "slack-worker-role").flatMap((s) => s.Action);
    expect(slackActions.filter((a) => !/^(logs|sqs|kms|dynamodb):/.test(a))).to.deep.equal([]);
  });

  it("a fallback's permissions are granted too", async () => {
    const stack = baseStack();
    new NotificationChannel(
      "alerts",
      channelArgs(stack, "alerts", { type: "slack-webhook" }, { fallback: { type: "sns-sms" }, failoverAfter: 2 }),
    );
    await settleWorkers(stack.resources, ["alerts-worker"]);
    expect(policyStatements(stack.resources, "alerts-worker-role")).to.deep.include({ Effect: "Allow", ...SMS_PUBLISH_STATEMENT });
    expect(named(stack.resources, "alerts-worker").inputs.description).to.contain("fallback sns-sms");
  });

  it("refuses impossible settings with a sentence that says what to change", () => {
    const stack = baseStack();
    const spec: ChannelProvider = { type: "slack-webhook" };
    const attempt = (name: string, extra: Partial<NotificationChannelArgs>) => () =>
      new NotificationChannel(name, channelArgs(stack, name, spec, extra));
    expect(attempt("a", { maxConcurrency: 1 })).to.throw(TidingsError, /maxConcurrency is 1, .*Use at least 2/);
    expect(attempt("b", { workerTimeoutSeconds: 60, visibilityTimeoutSeconds: 60 })).to.throw(
      TidingsError,
      /must exceed workerTimeoutSeconds \(60\)/,
    );
    expect(attempt("c", { fallback: spec, failoverAfter: 5, dlq: { maxReceiveCount: 5 } })).to.throw(TidingsError, /below maxReceiveCount/);
    expect(attempt("d", { ratePerSecond: 0.5, maxConcurrency: 10, batch: { size: 10 } })).to.throw(
      TidingsError,
      /Lower batchSize or maxConcurrency/,
    );
    // Named as the caller writes the option.
    expect(attempt("e", { batch: { size: 11 } })).to.throw(TidingsError, /batch\.size must be 1–10, got 11/);
    expect(() => new NotificationChannel("f", channelArgs(stack, "Bad Name", spec))).to.throw(TidingsError, /lower-case word/);
    // The SMS role's Deny on every SNS ARN would block every push publish of the same worker.
    const push: ChannelProvider = { type: "sns-push", apnsPlatformApplicationArn: `arn:aws:sns:${REGION}:${ACCOUNT}:app/APNS/tidings-ios` };
    expect(() => new NotificationChannel("g", channelArgs(stack, "g", { type: "sns-sms" }, { fallback: push, failoverAfter: 2 }))).to.throw(
      TidingsError,
      /sns-sms and sns-push cannot be provider and fallback of one channel/,
    );
  });
});

describe("providers from config: the provider table", () => {
  const config = parseTidingsConfig({
    userApi: { allowOrigins: ["https://app.example.com"] },
    channels: {
      email: { from: "notify@example.com", configurationSet: "tidings" },
      sms: { smsType: "Promotional" },
      slack: {},
      push: { fcmPlatformApplicationArn: `arn:aws:sns:${REGION}:${ACCOUNT}:app/GCM/tidings-android` },
      websocket: {},
      pager: { provider: "pagerduty" },
      oncall: { provider: "lambda", functionArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:oncall` },
    },
    notificationTypes: {},
  });
  const ctx = () => ({ channel: "x", region: valueOfOutput(REGION), accountId: valueOfOutput(ACCOUNT) });
  const resolved = (name: string, provider: ChannelProvider) => resolveProvider(name, "provider", provider, ctx());
  const fromConfig = (name: string, sources: ProviderSources = {}) => providerFromConfig(name, config.channels[name], "provider", sources)!;

  it("maps each built-in channel's config to its provider type and settings", async () => {
    useMocks();
    expect(fromConfig("email")).to.deep.equal({ type: "ses", from: "notify@example.com", configurationSet: "tidings" });
    expect(fromConfig("sms")).to.deep.equal({ type: "sns-sms", smsType: "Promotional" });
    expect(fromConfig("slack")).to.deep.equal({ type: "slack-webhook" });
    expect(fromConfig("push")).to.deep.equal({
      type: "sns-push",
      fcmPlatformApplicationArn: config.channels.push.fcmPlatformApplicationArn,
    });
    expect(fromConfig("oncall")).to.deep.equal({ type: "lambda", functionArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:oncall` });
    const ses = resolved("email", fromConfig("email")).statements;
    expect(await outputValue(ses[0].Resource as any)).to.deep.equal([
      `arn:aws:ses:${REGION}:${ACCOUNT}:identity/example.com`,
      `arn:aws:ses:${REGION}:${ACCOUNT}:identity/notify@example.com`,
      `arn:aws:ses:${REGION}:${ACCOUNT}:configuration-set/tidings`,
    ]);
    const lambda = resolved("oncall", fromConfig("oncall")).statements;
    expect(await outputValue(lambda[0].Resource as any)).to.deep.equal([`arn:aws:lambda:${REGION}:${ACCOUNT}:function:oncall`]);
    expect(lambda[0].Action).to.deep.equal(["lambda:InvokeFunction"]);
  });

  it("scopes the websocket worker to the connections table's index, the API's stage and the feed", async () => {
    const stack = baseStack();
    const pulumi = require("@pulumi/pulumi");
    const tableArn = `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/connections`;
    const feedArn = `arn:aws:dynamodb:${REGION}:${ACCOUNT}:table/feed`;
    const executionArn = `arn:aws:execute-api:${REGION}:${ACCOUNT}:abc123def4`;
    const api = {
      providerFor: (connectionsTable: { name: unknown; arn: unknown }) =>
        ({
          type: "websocket",
          connectionsTable,
          managementEndpoint: pulumi.output("https://abc123def4.execute-api.us-east-1.amazonaws.com/dev"),
          executionArn,
          stage: "dev",
        }) as ChannelProvider,
    };
    const provider = fromConfig("websocket", {
      websocket: { api, connectionsTable: { name: pulumi.output("connections"), arn: tableArn } },
      feed: { table: { name: "feed", arn: feedArn } },
    });
    new NotificationChannel("websocket", channelArgs(stack, "websocket", provider));
    await settleWorkers(stack.resources, ["websocket-worker"]);
    const pairs = policyStatements(stack.resources, "websocket-worker-role").flatMap((s) =>
      s.Resource.filter((r) => r.startsWith(tableArn) || r.startsWith(feedArn) || r.startsWith(executionArn)).flatMap((r) =>
        s.Action.map((a) => `${a} ${r}`),
      ),
    );
    expect(pairs.sort()).to.deep.equal(
      [
        `dynamodb:Query ${tableArn}/index/byUser`,
        `dynamodb:DeleteItem ${tableArn}`,
        `execute-api:ManageConnections ${executionArn}/dev/POST/@connections/*`,
        `dynamodb:PutItem ${feedArn}`,
      ].sort(),
    );
  });

  it("names what is missing: websocket sources, a provider Tidings does not ship, a type's own settings", () => {
    useMocks();
    expect(() => fromConfig("websocket")).to.throw(TidingsError, /pass the WebSocketApi and the connections table/);
    expect(() => fromConfig("pager")).to.throw(TidingsError, /customProviders\["pagerduty"\], or use provider "lambda"/);
    const custom: ChannelProvider = {
      type: "inline",
      name: "pagerduty",
      statements: () => [],
      create: () => ({ name: "pagerduty", send: async () => ({ outcome: "sent" }) }),
    };
    expect(fromConfig("pager", { customProviders: { pagerduty: custom } })).to.equal(custom);
    expect(() => resolved("mail", { type: "ses" })).to.throw(TidingsError, /from: required/);
    expect(() => resolved("push", { type: "sns-push" })).to.throw(TidingsError, /apnsPlatformApplicationArn: required/);
    expect(() => resolved("pager", { type: "lambda" })).to.throw(TidingsError, /functionArn: required/);
    expect(() => resolved("mail", { type: "ses", from: "a@example.com", functionArn: "arn:aws:lambda:::x" })).to.throw(
      TidingsError,
      /functionArn: not a setting of the ses provider/,
    );
    expect(() => resolved("pager", { type: "pagerduty" })).to.throw(TidingsError, /not a provider type \(one of: websocket, ses/);
    expect(() => resolved("pager", { type: "inline", name: "p" })).to.throw(TidingsError, /needs name, statements\(ctx\) and create\(\)/);
  });
});

function valueOfOutput(value: string) {
  return require("@pulumi/pulumi").output(value);
}

describe("transforms: one helper, the same precedence in every component", () => {
  it("a function transform sees the real options and name; its dependsOn adds to the component's own", async () => {
    const stack = baseStack();
    const marker = new aws.sns.Topic("marker", {});
    const seen: { name: string; parent: unknown; dependsOn: unknown }[] = [];
    new NotificationChannel("t", channelArgs(stack, "t", { type: "slack-webhook" }), {
      transform: {
        target: (_args, opts, name) => {
          seen.push({ name, parent: opts.parent, dependsOn: opts.dependsOn });
          opts.dependsOn = [marker];
        },
        queuePolicy: { policy: '{"Version":"2012-10-17","Statement":[]}' },
        queue: (args) => {
          args.messageRetentionSeconds = 1_209_600;
        },
      },
    });
    await settleWorkers(stack.resources, ["t-worker"]);
    expect(seen).to.have.length(1);
    expect(seen[0].name).to.equal("t-target");
    expect(seen[0].parent).to.be.instanceOf(NotificationChannel);
    expect(seen[0].dependsOn).to.have.length(2); // both queue policies, given to the transform
    expect(named(stack.resources, "t-queue").inputs.messageRetentionSeconds).to.equal(1_209_600);
    expect(named(stack.resources, "t-queue-policy").inputs.policy).to.equal('{"Version":"2012-10-17","Statement":[]}');
  });

  it("applyTransform keeps the component's dependsOn when a transform replaces it", () => {
    useMocks();
    const own = new aws.sns.Topic("own", {});
    const theirs = new aws.sns.Topic("theirs", {});
    const [, , opts] = applyTransform<{ a: number }>(
      (_args, o) => {
        o.dependsOn = [theirs];
      },
      "x",
      { a: 1 },
      { dependsOn: [own] },
    );
    expect(opts.dependsOn).to.deep.equal([own, theirs]);
    const [, args] = applyTransform<{ a: number; b?: number }>({ b: 2 }, "x", { a: 1 });
    expect(args).to.deep.equal({ a: 1, b: 2 });
  });
});
