/**
 * NotificationApi and TemplatesBucket under Pulumi mocks: the route needs auth, the function's role
 * names only the resources the service touches, and the bucket is private, encrypted and versioned.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expect } from "chai";
import * as aws from "@pulumi/aws";
import { TidingsError } from "../components/common";
import { ContactsTable } from "../components/ContactsTable";
import { NotificationApi, type NotificationApiArgs } from "../components/NotificationApi";
import { NotificationLogTable } from "../components/NotificationLogTable";
import { SettingsTable } from "../components/SettingsTable";
import { readTemplates, TemplatesBucket } from "../components/TemplatesBucket";
import { type MockedResource, ofType, settle as settleOnce, useMocks, outputValue } from "../testing";

/** Resources that wait on other resources' outputs (route → authorizer id) need a few more turns. */
async function settle() {
  for (let i = 0; i < 4; i++) await settleOnce();
}

const KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/test";

function build(extra: Partial<NotificationApiArgs> = {}) {
  const resources = useMocks();
  const bus = new aws.cloudwatch.EventBus("bus", {});
  const contactsTable = new ContactsTable("contacts", { kmsKeyArn: KEY_ARN });
  const settingsTable = new SettingsTable("settings", { kmsKeyArn: KEY_ARN });
  const notificationLogTable = new NotificationLogTable("log", { kmsKeyArn: KEY_ARN });
  const templates = new TemplatesBucket("templates", { kmsKeyArn: KEY_ARN });
  const api = new NotificationApi("producer-api", {
    bus,
    contactsTable,
    settingsTable,
    notificationLogTable,
    templates,
    enabledChannels: ["websocket", "email"],
    types: { "order.shipped": { defaultOptIn: true } },
    kmsKeyArn: KEY_ARN,
    ...extra,
  });
  return { resources, api, templates };
}

function servicePolicy(resources: MockedResource[]) {
  const role = resources.find((r) => r.type === "aws:iam/role:Role" && r.name === "producer-api-service-role");
  expect(role, "the service's role").to.exist;
  return JSON.parse(role!.inputs.inlinePolicies[0].policy) as {
    Statement: { Effect: string; Action: string[]; Resource: string[]; Condition?: unknown }[];
  };
}

describe("NotificationApi (Pulumi mocks)", () => {
  it("routes POST /notifications through AWS_IAM by default, as an AWS_PROXY 2.0 integration", async () => {
    const { resources, api } = build();
    await settle();
    const routes = ofType(resources, "aws:apigatewayv2/route:Route");
    const route = routes.find((r) => r.inputs.routeKey === "POST /notifications")!;
    expect(route.inputs).to.include({ routeKey: "POST /notifications", authorizationType: "AWS_IAM" });
    expect(route.inputs.authorizerId).to.equal(undefined);
    // POST and the status route (GET /notifications/{eventId}, NotificationStatusRoute), nothing else.
    expect(routes.map((r) => r.inputs.routeKey).sort()).to.deep.equal([
      "DELETE /notifications/{eventId}",
      "GET /notifications/{eventId}",
      "POST /notifications",
    ]);
    expect(ofType(resources, "aws:apigatewayv2/api:Api")[0].inputs.protocolType).to.equal("HTTP");
    const integration = ofType(resources, "aws:apigatewayv2/integration:Integration").find((i) =>
      /producer-api-service/.test(String(i.inputs.integrationUri)),
    )!;
    expect(integration.inputs).to.include({ integrationType: "AWS_PROXY", payloadFormatVersion: "2.0" });
    expect(integration.inputs.integrationUri).to.match(/producer-api-service/);
    expect(await outputValue(api.endpoint)).to.match(/^https:\/\/.+\.execute-api\.us-east-1\.amazonaws\.com\/notifications$/);
  });

  it("uses a JWT authorizer when asked, and refuses a JWT config without issuer or audience", async () => {
    const { resources } = build({ auth: { type: "jwt", issuer: "https://auth.example.com", audience: ["producers"] } });
    await settle();
    const [authorizer] = ofType(resources, "aws:apigatewayv2/authorizer:Authorizer");
    expect(authorizer.inputs).to.deep.include({
      authorizerType: "JWT",
      identitySources: ["$request.header.Authorization"],
      jwtConfiguration: { issuer: "https://auth.example.com", audiences: ["producers"] },
    });
    const [route] = ofType(resources, "aws:apigatewayv2/route:Route");
    expect(route.inputs.authorizationType).to.equal("JWT");
    expect(route.inputs.authorizerId).to.be.a("string").and.not.equal("");

    expect(() => build({ auth: { type: "jwt", issuer: "", audience: ["x"] } })).to.throw(TidingsError, /auth\.issuer/);
    expect(() => build({ auth: { type: "jwt", issuer: "https://a", audience: [] } })).to.throw(TidingsError, /auth\.audience/);
    expect(() => build({ auth: { type: "none" } as any })).to.throw(TidingsError, /"iam" or "jwt"/);
  });

  it("gives the service a role scoped to the two read tables, the log table, templates/* and producers/*, the key and the bus; no *", async () => {
    const { resources } = build();
    await settle();
    const statements = servicePolicy(resources).Statement;
    const byAction = (action: string) => statements.filter((s) => s.Action.includes(action)).flatMap((s) => s.Resource);

    for (const s of statements) {
      expect(s.Effect).to.equal("Allow");
      for (const action of s.Action) expect(action, "action").to.not.include("*");
      for (const resource of s.Resource) expect(resource, `resource of ${s.Action}`).to.not.equal("*");
    }
    const tableArn = (name: string) => ofType(resources, "aws:dynamodb/table:Table").find((t) => t.name === name)!.state.arn;
    expect(byAction("dynamodb:BatchGetItem").sort()).to.deep.equal([tableArn("contacts"), tableArn("settings")].sort());
    expect(byAction("dynamodb:GetItem")).to.deep.equal([tableArn("log")]);
    expect(byAction("dynamodb:PutItem")).to.deep.equal([tableArn("log")]);
    // UpdateItem only adds a channel a retry names to the notification's item.
    expect(byAction("dynamodb:UpdateItem")).to.deep.equal([tableArn("log")]);
    const bucketArn = ofType(resources, "aws:s3/bucket:Bucket")[0].state.arn;
    // Templates, and the types grantSend recorded for IAM producers: nothing else of the bucket.
    expect(byAction("s3:GetObject")).to.deep.equal([`${bucketArn}/templates/*`, `${bucketArn}/producers/*`]);
    expect(byAction("kms:Decrypt")).to.deep.equal([KEY_ARN]);
    const busArn = ofType(resources, "aws:cloudwatch/eventBus:EventBus")[0].state.arn;
    expect(byAction("events:PutEvents")).to.deep.equal([busArn]);
    // Scheduling: schedules in its own group only, and the Scheduler's role passed to the Scheduler only.
    const group = ofType(resources, "aws:scheduler/scheduleGroup:ScheduleGroup")[0].state;
    expect(byAction("scheduler:CreateSchedule")).to.deep.equal([`${group.arn.replace(":schedule-group/", ":schedule/")}/*`]);
    const schedulerRole = ofType(resources, "aws:iam/role:Role").find((r) => r.name === "producer-api-scheduling-role")!.state.arn;
    const passRole = statements.find((st) => st.Action.includes("iam:PassRole"))!;
    expect(passRole.Resource).to.deep.equal([schedulerRole]);
    expect(passRole.Condition).to.deep.equal({ StringEquals: { "iam:PassedToService": "scheduler.amazonaws.com" } });
    // Nothing else: no Scan/Query/DeleteItem on the log, no writes to contacts or settings.
    const actions = statements.flatMap((s) => s.Action).sort();
    expect(actions).to.deep.equal(
      [
        "dynamodb:BatchGetItem",
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "events:PutEvents",
        "iam:PassRole",
        "kms:Decrypt",
        // The log is written: a customer managed key's data key (runtime/system/spec.ts withKey).
        "kms:GenerateDataKey",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "s3:GetObject",
        "scheduler:CreateSchedule",
      ].sort(),
    );
  });

  it("throttles the $default stage and writes access logs to a KMS-encrypted log group", async () => {
    const { resources } = build({ throttling: { rateLimit: 20, burstLimit: 40 }, logRetentionDays: 30 });
    await settle();
    const [stage] = ofType(resources, "aws:apigatewayv2/stage:Stage");
    expect(stage.inputs).to.include({ name: "$default", autoDeploy: true });
    expect(stage.inputs.defaultRouteSettings).to.include({ throttlingRateLimit: 20, throttlingBurstLimit: 40 });
    const accessLogs = ofType(resources, "aws:cloudwatch/logGroup:LogGroup").find((g) => g.name === "producer-api-access-logs")!;
    expect(accessLogs.inputs).to.include({ kmsKeyId: KEY_ARN, retentionInDays: 30 });
    expect(stage.inputs.accessLogSettings.destinationArn).to.equal(accessLogs.state.arn);
    expect(stage.inputs.accessLogSettings.format).to.not.include("$context.requestBody");

    const permission = ofType(resources, "aws:lambda/permission:Permission").find((p) => p.name === "producer-api-invoke")!;
    expect(permission.inputs).to.include({ principal: "apigateway.amazonaws.com", action: "lambda:InvokeFunction" });
    expect(permission.inputs.sourceArn).to.match(/\/\*\/POST\/notifications$/);
    expect(() => build({ throttling: { rateLimit: 0 } })).to.throw(TidingsError, /throttling/);
  });
});

describe("TemplatesBucket (Pulumi mocks)", () => {
  it("is private, SSE-KMS with the stack key, versioned, and holds every repository template under templates/", async () => {
    const { resources, templates } = build();
    await settle();
    const [bucket] = ofType(resources, "aws:s3/bucket:Bucket");
    const [encryption] = ofType(resources, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration");
    expect(encryption.inputs.rules[0].applyServerSideEncryptionByDefault).to.deep.equal({
      sseAlgorithm: "aws:kms",
      kmsMasterKeyId: KEY_ARN,
    });
    expect(encryption.inputs.bucket).to.equal(bucket.state.id);
    const [block] = ofType(resources, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock");
    expect(block.inputs).to.include({
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    const [versioning] = ofType(resources, "aws:s3/bucketVersioning:BucketVersioning");
    expect(versioning.inputs.versioningConfiguration).to.deep.equal({ status: "Enabled" });

    const objects = ofType(resources, "aws:s3/bucketObjectv2:BucketObjectv2");
    const keys = objects.map((o) => o.inputs.key).sort();
    expect(keys).to.include.members([
      "templates/order.shipped/websocket.json",
      "templates/order.shipped/email.json",
      "templates/order.shipped/sms.json",
      "templates/order.shipped/slack.json",
      "templates/order.shipped/push.json",
      "templates/job.progress/websocket.json",
      "templates/security.alert/websocket.json",
      "templates/security.alert/email.json",
      "templates/security.alert/sms.json",
      "templates/marketing.digest/email.json",
    ]);
    expect(keys).to.have.length(templates.templates.length);
    for (const object of objects) {
      expect(object.inputs).to.include({ serverSideEncryption: "aws:kms", kmsKeyId: KEY_ARN, contentType: "application/json" });
      const file = path.join(__dirname, "..", object.inputs.key);
      expect(object.inputs.content).to.equal(fs.readFileSync(file, "utf8"));
    }
  });

  it("refuses a templates folder with a broken or misplaced template, naming each", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tidings-templates-"));
    try {
      fs.mkdirSync(path.join(dir, "order.shipped"));
      fs.writeFileSync(path.join(dir, "order.shipped", "email.json"), JSON.stringify({ subject: "x" }));
      fs.writeFileSync(path.join(dir, "order.shipped", "sms.json"), JSON.stringify({ text: "{{#open}} never closed" }));
      fs.writeFileSync(path.join(dir, "order.shipped", "slack.json"), JSON.stringify({ text: "{{> partial}}" }));
      fs.writeFileSync(path.join(dir, "order.shipped", "Email.txt"), "x");
      fs.mkdirSync(path.join(dir, "Bad Type"));
      let message = "";
      try {
        readTemplates(dir);
      } catch (error) {
        expect(error).to.be.instanceOf(TidingsError);
        message = (error as Error).message;
      }
      expect(message).to.include("order.shipped/email.json").and.include("text");
      expect(message).to.include("order.shipped/sms.json").and.include("Unclosed section");
      expect(message).to.include("order.shipped/slack.json").and.include("partials");
      expect(message).to.include("order.shipped/Email.txt");
      expect(message).to.include("Bad Type/");
      expect(() => readTemplates(path.join(dir, "nope"))).to.throw(TidingsError, /is not a folder/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
