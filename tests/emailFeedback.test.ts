/**
 * SES bounces and complaints (issue 21 §7): the graph's configuration set, topic (only SES, for this
 * configuration set, may publish; KMS), event destination and handler (the contacts table only); the
 * handler as `pulumi up` ships it, fed SES's event records through SNS, on the local DynamoDB; and the
 * local mode's `POST /dev/ses/bounce`: a suppressed address ends `skipped: suppressed`, a new one is
 * mailed again, and the contact shows why.
 */
import { expect } from "chai";
import * as pulumi from "@pulumi/pulumi";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { type LocalAws, startLocalAws } from "../local/aws";
import { readStackFile } from "../local/stackConfig";
import type { LocalTidings } from "../local/tidings";
import { parseTidingsConfig } from "../runtime/config";
import type { SnsEvent } from "../runtime/emailFeedback";
import { createTidingsStack } from "../stack";
import { type MockedResource, ofType, outputValue, settle, useMocks } from "../testing";
import { type LocalCaller, localCaller, startQuiet } from "./helpers/localTidings";
import { loadShipped } from "./helpers/shipped";
import { until } from "./helpers/sockets";

const sesRecord = (message: object): SnsEvent => ({ Records: [{ Sns: { Message: JSON.stringify(message) } }] });
const mailOf = (userId: string) => ({ headers: [{ name: "X-Tidings-User", value: encodeURIComponent(userId) }] });

describe("SES bounces and complaints", function () {
  this.timeout(120_000);

  describe("the stack's email feedback (Pulumi mocks) and its shipped handler", () => {
    let resources: MockedResource[];
    let tidings: ReturnType<typeof createTidingsStack>;
    let aws: LocalAws;
    let ddb: DynamoDBDocumentClient;
    let contacts: string;

    before(async () => {
      resources = useMocks();
      tidings = createTidingsStack({
        config: parseTidingsConfig(readStackFile()),
        tokenSigningSecret: pulumi.secret("email-feedback-test-signing-secret-0123456789"),
      });
      await settle();
      aws = await startLocalAws();
      aws.applyEnv();
      const tables = await outputValue(tidings.outputs.tables);
      await aws.createTables(tables);
      contacts = tables.contacts;
      ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } });
    });
    after(async () => aws?.stop());

    it("creates the configuration set the email worker sends through, with an event destination for bounces and complaints", () => {
      const [set] = ofType(resources, "aws:sesv2/configurationSet:ConfigurationSet");
      expect(set.inputs.configurationSetName).to.equal("tidings-dev-email");
      const [destination] = ofType(resources, "aws:sesv2/configurationSetEventDestination:ConfigurationSetEventDestination");
      expect(destination.inputs.configurationSetName).to.equal("tidings-dev-email");
      expect(destination.inputs.eventDestination.matchingEventTypes).to.have.members(["BOUNCE", "COMPLAINT"]);
      const topic = resources.find((r) => r.type === "aws:sns/topic:Topic" && r.name === "email-feedback-topic")!;
      expect(destination.inputs.eventDestination.snsDestination.topicArn).to.equal(topic.state.arn);
      expect(topic.inputs.kmsMasterKeyId).to.match(/^arn:aws:kms:/);
      const worker = resources.find((r) => r.type === "aws:iam/role:Role" && r.name === "email-worker-role")!;
      expect(JSON.stringify(worker.inputs.inlinePolicies)).to.include(set.state.arn);
    });

    it("lets only SES publish to the topic, for this account's configuration set, and only the topic invoke the handler", () => {
      const policy = JSON.parse(
        ofType(resources, "aws:sns/topicPolicy:TopicPolicy").find((p) => p.name === "email-feedback-topic-policy")!.inputs.policy,
      );
      expect(policy.Statement).to.have.length(1);
      expect(policy.Statement[0]).to.deep.include({ Effect: "Allow", Principal: { Service: "ses.amazonaws.com" }, Action: "sns:Publish" });
      expect(policy.Statement[0].Condition).to.deep.equal({
        StringEquals: { "aws:SourceAccount": "123456789012" },
        ArnLike: { "aws:SourceArn": "arn:aws:ses:us-east-1:123456789012:configuration-set/tidings-dev-email" },
      });
      const permission = ofType(resources, "aws:lambda/permission:Permission").find((p) => p.name === "email-feedback-invoke")!;
      expect(permission.inputs).to.include({ principal: "sns.amazonaws.com" });
      expect(permission.inputs.sourceArn).to.match(/^arn:aws:sns:us-east-1:123456789012:email-feedback-topic/);
      const subscription = ofType(resources, "aws:sns/topicSubscription:TopicSubscription").find(
        (s) => s.name === "email-feedback-subscription",
      )!;
      expect(subscription.inputs.protocol).to.equal("lambda");
      const role = resources.find((r) => r.type === "aws:iam/role:Role" && r.name === "email-feedback-handler-role")!;
      const statements = JSON.parse(role.inputs.inlinePolicies[0].policy).Statement;
      const actions = statements.flatMap((s: { Action: string[] }) => s.Action).filter((a: string) => !a.startsWith("logs:"));
      expect(actions.sort()).to.deep.equal(["dynamodb:UpdateItem", "kms:Decrypt", "kms:GenerateDataKey"].sort());
    });

    it("records a permanent bounce and a complaint on the contact, ignores a transient bounce and an address changed since", async () => {
      const handler = (await loadShipped(tidings.emailFeedback!.handler)).handler;
      for (const [userId, email] of [
        ["nia", "nia@example.com"],
        ["ola", "ola@example.com"],
        ["pia", "pia@example.com"],
        ["quinn", "quinn.new@example.com"],
      ]) {
        await ddb.send(new PutCommand({ TableName: contacts, Item: { userId, email } }));
      }
      const bounce = (userId: string, address: string, bounceType: string) =>
        sesRecord({
          eventType: "Bounce",
          bounce: {
            bounceType,
            bounceSubType: "NoEmail",
            bouncedRecipients: [{ emailAddress: address }],
            timestamp: "2026-12-07T12:00:00.000Z",
          },
          mail: mailOf(userId),
        });
      expect(await handler(bounce("nia", "nia@example.com", "Permanent"))).to.deep.equal({ recorded: 1 });
      expect(
        await handler(
          sesRecord({
            eventType: "Complaint",
            complaint: {
              complaintFeedbackType: "abuse",
              complainedRecipients: [{ emailAddress: "ola@example.com" }],
              timestamp: "2026-12-07T12:01:00.000Z",
            },
            mail: mailOf("ola"),
          }),
        ),
      ).to.deep.equal({ recorded: 1 });
      expect(await handler(bounce("pia", "pia@example.com", "Transient"))).to.deep.equal({ recorded: 0 });
      expect(await handler(bounce("quinn", "quinn.old@example.com", "Permanent"))).to.deep.equal({ recorded: 0 });
      const contact = async (userId: string) => (await ddb.send(new GetCommand({ TableName: contacts, Key: { userId } }))).Item;
      expect((await contact("nia"))?.emailSuppressed).to.deep.equal({
        address: "nia@example.com",
        reason: "bounce: NoEmail",
        at: "2026-12-07T12:00:00.000Z",
      });
      expect((await contact("ola"))?.emailSuppressed).to.include({ reason: "complaint: abuse" });
      expect((await contact("pia"))?.emailSuppressed).to.equal(undefined);
      expect((await contact("quinn"))?.emailSuppressed).to.equal(undefined);
    });
  });

  describe("in the local mode: POST /dev/ses/bounce", () => {
    let tidings: LocalTidings;
    let admin: string;
    let call: LocalCaller["call"];
    let ship: () => ReturnType<LocalCaller["ship"]>;

    before(async () => {
      tidings = await startQuiet();
      const caller = await localCaller(tidings);
      ({ admin, call } = caller);
      ship = () => caller.ship("bob", ["websocket", "email"]);
    });
    after(async () => tidings?.stop());

    it("suppresses a bounced address: later e-mails end skipped: suppressed, the contact says why, a new address is mailed again", async () => {
      const first = await ship();
      await until(async () => (await tidings.log.get(first.eventId, "email"))?.status === "sent", 20_000, "the first e-mail");
      const bounced = await call("/dev/ses/bounce", { email: "bob@example.com", type: "Permanent" });
      expect(bounced).to.deep.equal({ status: 200, body: { email: "bob@example.com", type: "Permanent", recorded: true } });

      const second = await ship();
      expect(second.channels).to.deep.equal({ websocket: "queued", email: "skipped: suppressed" });
      const contact = await call("/users/bob/contact", undefined, admin, "GET");
      expect(contact.body.emailSuppressed).to.include({ reason: "bounce: General" });

      expect((await call("/users/bob/contact", { email: "bob.new@example.com" }, admin, "PUT")).status).to.equal(200);
      const third = await ship();
      expect(third.channels).to.deep.equal({ websocket: "queued", email: "queued" });
      expect((await call("/users/bob/contact", undefined, admin, "GET")).body.emailSuppressed).to.equal(undefined);
    });

    it("suppresses on a complaint too", async () => {
      await call("/users/bob/contact", { email: "bob.complains@example.com" }, admin, "PUT");
      const sent = await ship();
      await until(async () => (await tidings.log.get(sent.eventId, "email"))?.status === "sent", 20_000, "the e-mail");
      expect((await call("/dev/ses/bounce", { email: "bob.complains@example.com", type: "Complaint" })).body.recorded).to.equal(true);
      expect((await ship()).channels.email).to.equal("skipped: suppressed");
    });

    it("answers 400 naming a bad email or type, and 404 for an address no mail went to", async () => {
      const bad = await call("/dev/ses/bounce", { email: "not-an-address", type: "Soft" });
      expect(bad.status).to.equal(400);
      expect(bad.body.problems.map((p: { field: string }) => p.field)).to.deep.equal(["email", "type"]);
      const unknown = await call("/dev/ses/bounce", { email: "nobody@example.com", type: "Permanent" });
      expect(unknown.status).to.equal(404);
      expect(unknown.body.problems[0].field).to.equal("email");
    });
  });
});
