/**
 * The resource-graph guarantees of the security hardening (issue 9, items 2, 6 and 7), asserted on the
 * whole stack built from Pulumi.dev.yaml under Pulumi mocks.
 */
import { expect } from "chai";
import * as pulumi from "@pulumi/pulumi";
import { NotificationApi } from "../components/NotificationApi";
import { KEY_ADMIN_ACTIONS } from "../components/EncryptionKey";
import { readStackFile } from "../local/stackConfig";
import { parseTidingsConfig } from "../runtime/config";
import { createTidingsStack } from "../stack";
import { type MockedResource, ofType, settle, useMocks } from "../testing";
import { evaluate, type Policy } from "./helpers/iamPolicy";

const SECRET = "security-graph-signing-secret-0123456789ab";
const ADMIN = "arn:aws:iam::123456789012:role/platform-admins";

/** The stack key's policy in a graph. */
const keyPolicyOf = (resources: MockedResource[]): Policy =>
  JSON.parse(resources.find((r) => r.type === "aws:kms/key:Key" && r.name === "tidings")!.inputs.policy);

describe("security guarantees of the resource graph", function () {
  this.timeout(120_000);
  let resources: MockedResource[];
  let stack: ReturnType<typeof createTidingsStack>;

  let defaultKeyPolicy: Policy;

  before(async () => {
    // The default stack first, for its key policy; then the one every test here reads.
    const defaults = useMocks();
    createTidingsStack({ config: parseTidingsConfig(readStackFile()), tokenSigningSecret: pulumi.secret(SECRET) });
    await settle();
    defaultKeyPolicy = keyPolicyOf(defaults);
    resources = useMocks();
    const raw = readStackFile();
    raw.kms = { adminArns: [ADMIN] };
    stack = createTidingsStack({ config: parseTidingsConfig(raw), tokenSigningSecret: pulumi.secret(SECRET) });
    new NotificationApi("jwt-api", {
      bus: stack.bus,
      contactsTable: stack.contactsTable,
      settingsTable: stack.settingsTable,
      notificationLogTable: stack.notificationLogTable,
      templates: stack.templates,
      enabledChannels: ["email"],
      types: { "order.shipped": { defaultOptIn: true } },
      kmsKeyArn: stack.key.arn,
      auth: { type: "jwt", issuer: "https://auth.example.com", audience: ["tidings"] },
    });
    await settle();
  });

  const one = (type: string, name: string) => {
    const found = ofType(resources, type).filter((r) => r.name === name);
    expect(found, `${type} ${name}`).to.have.length(1);
    return found[0];
  };
  const statementsOf = (role: string): any[] =>
    (one("aws:iam/role:Role", role).inputs.inlinePolicies as { policy: string }[]).flatMap((p) => JSON.parse(p.policy).Statement);
  const keyStatements = () => JSON.parse(one("aws:kms/key:Key", "tidings").inputs.policy).Statement as any[];
  const list = (v: unknown): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v as string]);

  it("the bus lets only the notification service's (its scheduled sender's and topic fan-out's, the user API's, the reconciler's) role put events and denies every other principal", () => {
    const policy = JSON.parse(one("aws:cloudwatch/eventBusPolicy:EventBusPolicy", "notifications-policy").inputs.policy);
    const serviceRole = one("aws:iam/role:Role", "producer-api-service-role").state.arn;
    const reconcilerRole = one("aws:iam/role:Role", "reconciler-role").state.arn;
    const scheduledRole = one("aws:iam/role:Role", "producer-api-scheduling-sender-role").state.arn;
    const userApiRole = one("aws:iam/role:Role", "user-api-service-role").state.arn;
    const fanOutRole = one("aws:iam/role:Role", "producer-api-topics-fanout-role").state.arn;
    const busArn = one("aws:cloudwatch/eventBus:EventBus", "notifications").state.arn;
    expect(policy.Statement).to.deep.include({
      Sid: "NotificationServicePuts",
      Effect: "Allow",
      Principal: { AWS: [serviceRole, userApiRole, scheduledRole, fanOutRole, reconcilerRole] },
      Action: "events:PutEvents",
      Resource: busArn,
    });
    expect(policy.Statement).to.deep.include({
      Sid: "NobodyElsePuts",
      Effect: "Deny",
      Principal: "*",
      Action: "events:PutEvents",
      Resource: busArn,
      Condition: { ArnNotEquals: { "aws:PrincipalArn": [serviceRole, userApiRole, scheduledRole, fanOutRole, reconcilerRole] } },
    });
  });

  it("the SMS worker may publish to phone numbers only: topic and endpoint ARNs are denied", () => {
    const statements = statementsOf("sms-worker-role");
    expect(statements).to.deep.include({ Effect: "Allow", Action: ["sns:Publish"], Resource: ["*"] });
    expect(statements).to.deep.include({ Effect: "Deny", Action: ["sns:Publish"], Resource: ["arn:aws:sns:*:*:*"] });
  });

  it("scopes each service principal of the key policy by aws:SourceArn, and gives EventBridge kms:DescribeKey", () => {
    const services = keyStatements().filter((s) => s.Principal.Service);
    expect(services.map((s) => s.Principal.Service).sort()).to.deep.equal(
      ["cloudwatch.amazonaws.com", "events.amazonaws.com", "logs.us-east-1.amazonaws.com", "ses.amazonaws.com", "sns.amazonaws.com"].sort(),
    );
    for (const s of services) {
      expect(s.Condition?.ArnLike?.["aws:SourceArn"], s.Sid).to.exist;
      for (const arn of list(s.Condition.ArnLike["aws:SourceArn"])) expect(arn, s.Sid).to.match(/^arn:aws:[a-z]+:us-east-1:\d{12}:.+/);
    }
    const events = services.find((s) => s.Principal.Service === "events.amazonaws.com");
    expect(events.Action).to.include("kms:DescribeKey");
  });

  it("splits key administration (the configured admin, no data actions) from key use", () => {
    const statements = keyStatements();
    const admin = statements.filter((s) => list(s.Principal.AWS).includes(ADMIN) && s.Sid === "KeyAdministration");
    expect(admin).to.have.length(1);
    expect(admin[0].Action).to.deep.equal(KEY_ADMIN_ACTIONS);
    for (const action of ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*", "kms:*"]) {
      expect(admin[0].Action, action).not.to.include(action);
    }
    expect(statements.flatMap((s) => list(s.Action))).not.to.include("kms:*");
  });

  it("no principal both administers the key and reads data with it: the configured admins, and by default whoever runs pulumi up", () => {
    const key = { action: "", resource: "arn:aws:kms:us-east-1:123456789012:key/k" };
    const ask = (policy: Policy, principal: string, action: string, via?: string) =>
      evaluate([policy], {
        ...key,
        action,
        principal: { AWS: principal },
        context: { "aws:PrincipalArn": principal, ...(via ? { "kms:ViaService": `${via}.us-east-1.amazonaws.com` } : {}) },
      });
    const check = (policy: Policy, admin: string) => {
      const fn = "arn:aws:iam::123456789012:role/email-worker-role-1a2b3c4";
      expect(ask(policy, admin, "kms:PutKeyPolicy")).to.equal("allow");
      expect(ask(policy, fn, "kms:PutKeyPolicy")).to.equal("implicit-deny");
      for (const via of ["dynamodb", "sqs", "sns", "logs", undefined]) {
        expect(ask(policy, admin, "kms:Decrypt", via), `admin Decrypt via ${via}`).to.not.equal("allow");
        expect(ask(policy, admin, "kms:GenerateDataKey", via), `admin GenerateDataKey via ${via}`).to.not.equal("allow");
      }
      // What pulumi up encrypts itself: environment variables and the signing secret it sets.
      expect(ask(policy, admin, "kms:Encrypt", "lambda")).to.equal("allow");
      expect(ask(policy, admin, "kms:GenerateDataKey", "secretsmanager")).to.equal("allow");
      expect(ask(policy, fn, "kms:Decrypt", "dynamodb")).to.equal("allow");
    };
    check(keyPolicyOf(resources), ADMIN);
    // A role given without its path is matched under any path.
    expect(ask(keyPolicyOf(resources), "arn:aws:iam::123456789012:role/team/platform-admins", "kms:Decrypt", "dynamodb")).to.equal(
      "implicit-deny",
    );
    // Without tidings:kms.adminArns: the mocks' caller, whoever runs pulumi up.
    check(defaultKeyPolicy, "arn:aws:iam::123456789012:user/test");
  });

  it("every Lambda role's key use carries kms:ViaService", () => {
    const roles = ofType(resources, "aws:iam/role:Role").filter((r) => r.inputs.inlinePolicies?.length);
    let checked = 0;
    for (const role of roles) {
      // The Scheduler's role uses the key for the schedules' DLQ only: through SQS.
      const assume = role.inputs.assumeRolePolicy;
      const trust = typeof assume === "string" ? JSON.parse(assume) : assume;
      const viaOf = trust.Statement[0].Principal.Service === "scheduler.amazonaws.com" ? "sqs" : "dynamodb";
      for (const s of statementsOf(role.name)) {
        if (!list(s.Action).some((a) => a.startsWith("kms:"))) continue;
        checked++;
        const via = s.Condition?.StringEquals?.["kms:ViaService"];
        expect(list(via), role.name).to.include(`${viaOf}.us-east-1.amazonaws.com`);
      }
    }
    expect(checked).to.be.greaterThan(5);
  });

  it("protects the contacts, settings and log tables from deletion (default on), not the others", () => {
    const tables = ofType(resources, "aws:dynamodb/table:Table");
    const protectedNames = tables.filter((t) => t.inputs.deletionProtectionEnabled).map((t) => t.name);
    expect(protectedNames.sort()).to.deep.equal(["contacts", "notification-log", "settings"]);
  });

  it("scopes politeness writes with dynamodb:LeadingKeys to the worker's channel, and workers cannot create log rows", () => {
    const politenessArn = one("aws:dynamodb/table:Table", "politeness").state.arn;
    const logArn = one("aws:dynamodb/table:Table", "notification-log").state.arn;
    for (const channel of ["email", "sms"]) {
      const statements = statementsOf(`${channel}-worker-role`);
      expect(statements).to.deep.include({
        Effect: "Allow",
        Action: ["dynamodb:UpdateItem"],
        Resource: [politenessArn],
        Condition: { "ForAllValues:StringLike": { "dynamodb:LeadingKeys": [`${channel}#*`] } },
      });
      const onLog = statements.filter((s) => list(s.Resource).includes(logArn)).flatMap((s) => s.Action);
      expect(onLog, channel).not.to.include("dynamodb:PutItem");
    }
  });

  it("user erasure reaches the log only to find a user's items by the keys-only index and delete them", () => {
    const log = one("aws:dynamodb/table:Table", "notification-log");
    const logArn = log.state.arn;
    // Every (action, resource) pair of the role that names the log or one of its indexes.
    const onLog = statementsOf("user-data-service-role").flatMap((s) =>
      list(s.Resource)
        .filter((r: string) => r.startsWith(logArn))
        .flatMap((r: string) => list(s.Action).map((a: string) => `${a} ${r}`)),
    );
    expect(onLog.sort()).to.deep.equal([`dynamodb:BatchWriteItem ${logArn}`, `dynamodb:Query ${logArn}/index/userEventIds`]);
    const index = log.inputs.globalSecondaryIndexes.find((i: { name: string }) => i.name === "userEventIds");
    expect(index).to.deep.include({ projectionType: "KEYS_ONLY" });
  });

  it("in JWT mode the producer route requires the producer scope (route authorization scopes)", () => {
    const route = one("aws:apigatewayv2/route:Route", "jwt-api-notifications");
    expect(route.inputs).to.include({ authorizationType: "JWT" });
    expect(route.inputs.authorizationScopes).to.deep.equal(["notifications:send"]);
  });

  it("has no sendmessage route unless tidings:websocket.sendMessage.enabled", () => {
    const routes = ofType(resources, "aws:apigatewayv2/route:Route").map((r) => r.inputs.routeKey);
    expect(routes).not.to.include("sendmessage");
  });
});
