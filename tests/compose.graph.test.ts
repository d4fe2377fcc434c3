/**
 * A platform team's own stack: the default composition from config, plus one channel of its own added
 * with a single `new NotificationChannel(...)` (the README's example, kept true by this test).
 */
import { expect } from "chai";
import * as pulumi from "@pulumi/pulumi";
import { readStackFile } from "../local/stackConfig";
import { NotificationChannel } from "../components";
import * as path from "node:path";
import { parseTidingsConfig, TidingsConfigError } from "../runtime/config";
import { createTidingsStack } from "../stack";
import { ofType, settle, useMocks } from "../testing";
import { asProducer, loadShipped } from "./helpers/shipped";

function configWithoutSms() {
  const raw = readStackFile();
  delete raw.channels.sms;
  for (const type of Object.values<any>(raw.notificationTypes)) {
    if (type.channels) type.channels = type.channels.filter((c: string) => c !== "sms");
  }
  delete raw.notificationTypes["order.shipped"].channels; // every channel, the added one included
  return parseTidingsConfig(raw);
}

describe("composing a channel in your own stack (Pulumi mocks)", function () {
  this.timeout(120_000);

  it("adds an sms channel with one NotificationChannel: its own rule, queue, DLQs, worker, alarms, and the API accepts it", async () => {
    const resources = useMocks();
    const tidings = createTidingsStack({
      config: configWithoutSms(),
      tokenSigningSecret: pulumi.secret("compose-test-signing-secret-0123456789"),
      addChannels: (shared) => [
        new NotificationChannel("sms", {
          ...shared,
          channel: "sms",
          provider: { type: "sns-sms", smsType: "Transactional" },
          ratePerSecond: 1,
          maxConcurrency: 2,
          perUser: { limit: 5, windowSeconds: 3600 },
        }),
      ],
    });
    await settle();

    expect(Object.keys(tidings.channels)).to.include("sms");
    const smsRule = ofType(resources, "aws:cloudwatch/eventRule:EventRule").filter(
      // Scheduled rules (the reconciler's) have no event pattern.
      (r) => r.inputs.eventPattern && JSON.parse(r.inputs.eventPattern)["detail-type"][0] === "notification.sms",
    );
    expect(smsRule).to.have.length(1);
    const smsQueues = ofType(resources, "aws:sqs/queue:Queue").filter((q) => q.name.startsWith("sms"));
    expect(smsQueues.map((q) => q.name).sort()).to.deep.equal(["sms-dlq", "sms-queue", "sms-rule-dlq"]);
    const smsWorkerRole = ofType(resources, "aws:iam/role:Role").find((r) => r.name === "sms-worker-role")!;
    const actions = JSON.parse(smsWorkerRole.inputs.inlinePolicies[0].policy).Statement.flatMap((s: any) => s.Action);
    expect(actions).to.include("sns:Publish");
    // Its two DLQ alarms, and the operations alarms every channel gets (queue age, worker errors and
    // throttles, rule failed invocations).
    expect(
      ofType(resources, "aws:cloudwatch/metricAlarm:MetricAlarm")
        .filter((a) => a.name.startsWith("sms"))
        .map((a) => a.name)
        .sort(),
    ).to.deep.equal([
      "sms-alarms-queue-age",
      "sms-alarms-rule-failed",
      "sms-alarms-worker-errors",
      "sms-alarms-worker-throttles",
      "sms-dlq-alarm",
      "sms-rule-dlq-alarm",
    ]);

    // The producer API knows the added channel: a request naming it passes validation, an unknown one does not.
    const service = await loadShipped(tidings.api.function);
    const answer = await asProducer(service.handler)({
      requestContext: { http: { method: "POST" } },
      body: JSON.stringify({ userId: "u1", type: "order.shipped", channels: ["sms", "fax"], message: "hi", eventId: "bad id!" }),
    } as any);
    expect(answer.statusCode).to.equal(400);
    const problems = JSON.parse(answer.body!)
      .problems.map((p: { field: string; problem: string }) => `${p.field}: ${p.problem}`)
      .join("\n");
    expect(problems).to.match(/^channels\[1\]: is not an enabled channel \(one of: .*\bsms\b/m); // "fax"
    expect(problems).to.not.match(/channels\[0\]/); // "sms" is accepted
    expect(problems).to.match(/^eventId: /m);
  });

  it("refuses a channel added both in config and in code, saying which", async () => {
    useMocks();
    const config = configWithoutSms();
    expect(() =>
      createTidingsStack({
        config,
        tokenSigningSecret: pulumi.secret("compose-test-signing-secret-0123456789"),
        addChannels: (shared) => [new NotificationChannel("email-2", { ...shared, channel: "email", provider: { type: "sns-sms" } })],
      }),
    ).to.throw(/Channel "email" is already configured in tidings:channels/);
    await settle(); // what was declared before the error registers now, not in the next test's mocks
  });

  it("a type may name a channel added in code, whose template comes from the stack's own folder", async () => {
    const resources = useMocks();
    const raw = readStackFile();
    raw.notificationTypes["pager.alert"] = { channels: ["pager", "email"] };
    const config = parseTidingsConfig(raw, { channelsAddedInCode: true });
    const tidings = createTidingsStack({
      config,
      tokenSigningSecret: pulumi.secret("compose-test-signing-secret-0123456789"),
      extraTemplatesDirs: [path.join(__dirname, "fixtures", "templates")],
      addChannels: (shared) => [
        new NotificationChannel("pager", {
          ...shared,
          channel: "pager",
          provider: { type: "lambda", functionArn: "arn:aws:lambda:us-east-1:123456789012:function:pager" },
        }),
      ],
    });
    await settle();
    expect(Object.keys(tidings.channels)).to.include("pager");
    const objects = ofType(resources, "aws:s3/bucketObjectv2:BucketObjectv2").map((o) => o.inputs.key);
    expect(objects).to.include.members(["templates/pager.alert/pager.json", "templates/pager.alert/email.json"]);
    expect(objects).to.include("templates/order.shipped/email.json"); // the default templates stay

    // Without the channel in code, the type's reference is an error naming it.
    useMocks();
    expect(() => createTidingsStack({ config, tokenSigningSecret: pulumi.secret("compose-test-signing-secret-0123456789") })).to.throw(
      TidingsConfigError,
      /tidings:notificationTypes\.pager\.alert\.channels: "pager" is not a configured channel/,
    );
    await settle(); // what was declared before the error registers now, not in the next test's mocks
  });
});
