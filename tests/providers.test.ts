import { expect } from "chai";
import { SESv2Client } from "@aws-sdk/client-sesv2";
import { SNSClient } from "@aws-sdk/client-sns";
import { type LocalAws, startLocalAws } from "../local/aws";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { makeDeviceRegistry } from "../runtime/devices";
import { type SlackSink, type SnsSink, startSlackSink, startSnsSink } from "../local/sinks";
import type { ChannelDelivery } from "../runtime/contracts";
import { makeSesProvider } from "../runtime/providers/email";
import { classifyError, safeReason } from "../runtime/providers/errors";
import { makeSnsPushProvider } from "../runtime/providers/push";
import { makeSlackProvider } from "../runtime/providers/slack";
import { makeSnsSmsProvider } from "../runtime/providers/sms";

const credentials = { accessKeyId: "local", secretAccessKey: "local" };

function delivery(overrides: Partial<ChannelDelivery> = {}): ChannelDelivery {
  return {
    eventId: `evt-${Math.random().toString(36).slice(2)}`,
    userId: "u-1",
    type: "order.shipped",
    channel: "email",
    kind: "actionable",
    content: { subject: "Your order shipped", text: "Order 42 is on its way.", html: "<p>Order 42 is on its way.</p>" },
    callback: "https://shop.example.com/orders/42",
    address: {},
    createdAt: "2026-11-23T10:00:00.000Z",
    ...overrides,
  };
}

describe("providers against local servers", () => {
  let aws: LocalAws;
  let snsSink: SnsSink;
  let slackSink: SlackSink;
  let sns: SNSClient;

  before(async () => {
    aws = await startLocalAws();
    snsSink = await startSnsSink();
    slackSink = await startSlackSink({ rejectUnknownPaths: true });
    // One attempt per call, so each injected failure is seen by the provider, not absorbed by SDK retries.
    sns = new SNSClient({ region: aws.region, endpoint: snsSink.endpoint, credentials, maxAttempts: 1 });
  });
  after(async () => {
    sns.destroy();
    await Promise.all([snsSink.stop(), slackSink.stop(), aws.stop()]);
  });

  describe("SES e-mail (aws-ses-v2-local)", () => {
    it("sends subject, text with the callback link and html; the mail is in the server's store", async () => {
      const ses = new SESv2Client({ region: aws.region, endpoint: aws.endpoints.ses, credentials });
      const provider = makeSesProvider({ ses, from: "notify@tidings.example" });
      const to = `ada-${Date.now()}@example.com`;
      const result = await provider.send(delivery({ address: { email: to } }));
      expect(result.outcome).to.equal("sent");
      const store = (await (await fetch(`${aws.endpoints.ses}/store`)).json()) as { emails: any[] };
      const mails = store.emails.filter((m) => m.destination.to.includes(to));
      expect(mails).to.have.length(1);
      expect(mails[0]).to.include({ from: "notify@tidings.example", subject: "Your order shipped" });
      expect(mails[0].body.text).to.equal("Order 42 is on its way.\n\nhttps://shop.example.com/orders/42");
      expect(mails[0].body.html).to.equal("<p>Order 42 is on its way.</p>");
      expect(result).to.have.property("providerMessageId", mails[0].messageId);
      ses.destroy();
    });

    it("is a permanent failure without an address, and retryable when SES cannot be reached", async () => {
      const down = new SESv2Client({ region: aws.region, endpoint: "http://127.0.0.1:9", credentials, maxAttempts: 1 });
      const provider = makeSesProvider({ ses: down, from: "notify@tidings.example" });
      expect(await provider.send(delivery())).to.deep.equal({ outcome: "permanent", reason: "no e-mail address for this user" });
      const result = await provider.send(delivery({ address: { email: "a@example.com" } }));
      expect(result.outcome).to.equal("retryable");
      expect((result as { reason: string }).reason).to.match(/^SES SendEmail: .*ECONNREFUSED/);
      down.destroy();
    });
  });

  describe("SNS SMS (local SNS sink)", () => {
    it("publishes to the phone number with the SMS type and sender id", async () => {
      const provider = makeSnsSmsProvider({ sns, smsType: "Transactional", senderId: "Tidings" });
      const result = await provider.send(delivery({ channel: "sms", address: { phone: "+15555550100" } }));
      expect(result.outcome).to.equal("sent");
      const published = snsSink.received.at(-1)!;
      expect(published).to.include({
        phoneNumber: "+15555550100",
        message: "Order 42 is on its way.\n\nhttps://shop.example.com/orders/42",
      });
      expect(published.attributes).to.deep.equal({ "AWS.SNS.SMS.SMSType": "Transactional", "AWS.SNS.SMS.SenderID": "Tidings" });
      expect(result).to.have.property("providerMessageId", published.messageId);
    });

    it("a number that is not E.164 is a permanent InvalidParameterException; a 500 is retryable", async () => {
      const provider = makeSnsSmsProvider({ sns });
      const before = snsSink.received.length;
      const invalid = await provider.send(delivery({ address: { phone: "555-0100" } }));
      expect(invalid.outcome).to.equal("permanent");
      expect((invalid as { reason: string }).reason).to.contain("InvalidParameterException");
      snsSink.failNext(1, "retryable");
      const busy = await provider.send(delivery({ address: { phone: "+15555550100" } }));
      expect(busy.outcome).to.equal("retryable");
      expect(snsSink.received.length).to.equal(before);
    });
  });

  describe("Slack webhook (local Slack sink)", () => {
    it("posts text and blocks with the callback button", async () => {
      const provider = makeSlackProvider({ allowedHosts: ["127.0.0.1"] });
      const webhookUrl = slackSink.webhookUrl("secretpart1");
      const result = await provider.send(delivery({ channel: "slack", address: { webhookUrl } }));
      expect(result).to.deep.equal({ outcome: "sent" });
      const post = slackSink.received.at(-1)!;
      expect(post.path).to.equal("/services/T0LOCAL/B0LOCAL/secretpart1");
      expect(post.body.text).to.contain("Order 42 is on its way.");
      expect(post.body.blocks[1].elements[0]).to.include({ type: "button", url: "https://shop.example.com/orders/42" });
    });

    it("429 and 5xx are retryable, 404 no_service and 410 are permanent, and the URL is never in a reason", async () => {
      const provider = makeSlackProvider({ allowedHosts: ["127.0.0.1"] });
      const webhookUrl = slackSink.webhookUrl("topsecretwebhook");
      const outcomes: string[] = [];
      for (const status of [429, 503, 410] as const) {
        slackSink.failNext(1, status);
        const result = await provider.send(delivery({ address: { webhookUrl } }));
        outcomes.push(`${status}:${result.outcome}`);
        expect(JSON.stringify(result)).not.to.contain("topsecretwebhook");
      }
      const unknown = await provider.send(delivery({ address: { webhookUrl: `${slackSink.url}/services/T/B/neverissued` } }));
      expect(outcomes).to.deep.equal(["429:retryable", "503:retryable", "410:permanent"]);
      expect(unknown).to.deep.equal({ outcome: "permanent", reason: "Slack webhook answered HTTP 404: no_service" });
    });

    it("network failures and timeouts are retryable without leaking the URL; foreign hosts are refused", async () => {
      const refused = await makeSlackProvider({ allowedHosts: ["127.0.0.1"] }).send(
        delivery({ address: { webhookUrl: "http://127.0.0.1:9/services/T/B/leakme" } }),
      );
      expect(refused.outcome).to.equal("retryable");
      expect(JSON.stringify(refused)).not.to.contain("leakme");

      const slowFetch = ((_url: string, init: RequestInit) =>
        new Promise((_resolve, reject) => init.signal!.addEventListener("abort", () => reject(init.signal!.reason)))) as typeof fetch;
      const timedOut = await makeSlackProvider({ fetch: slowFetch, timeoutMs: 20 }).send(
        delivery({ address: { webhookUrl: "https://hooks.slack.com/services/T/B/leakme" } }),
      );
      expect(timedOut.outcome).to.equal("retryable");
      expect((timedOut as { reason: string }).reason)
        .to.contain("TimeoutError")
        .and.not.contain("leakme");

      const foreign = await makeSlackProvider().send(delivery({ address: { webhookUrl: "http://169.254.169.254/latest" } }));
      expect(foreign).to.deep.equal({ outcome: "permanent", reason: "Slack webhook host 169.254.169.254 is not allowed" });
      const plainHttp = await makeSlackProvider().send(delivery({ address: { webhookUrl: "http://hooks.slack.com/services/T/B/X" } }));
      expect(plainHttp).to.deep.equal({ outcome: "permanent", reason: "the Slack webhook URL must use https" });
    });
  });

  describe("SNS push (local SNS sink)", () => {
    const apns = "arn:aws:sns:us-east-1:000000000000:app/APNS/tidings-ios";
    const fcm = "arn:aws:sns:us-east-1:000000000000:app/GCM/tidings-android";

    it("creates one endpoint per token (idempotently) and publishes a JSON message per platform", async () => {
      const provider = makeSnsPushProvider({ sns, platformApplicationArns: { apns, fcm } });
      const deviceTokens = [
        { platform: "apns" as const, token: "ios-token-1" },
        { platform: "fcm" as const, token: "android-token-1" },
      ];
      const first = await provider.send(delivery({ channel: "push", address: { deviceTokens } }));
      const second = await provider.send(delivery({ channel: "push", address: { deviceTokens } }));
      expect(first.outcome).to.equal("sent");
      expect(second.outcome).to.equal("sent");
      const created = [...snsSink.endpoints.values()].filter((e) => e.token.endsWith("-token-1"));
      expect(created.map((e) => e.platformApplicationArn).sort()).to.deep.equal([fcm, apns].sort());
      const published = snsSink.received.filter((m) => created.some((e) => e.endpointArn === m.targetArn));
      expect(published).to.have.length(4);
      const message = JSON.parse(published[0].message);
      expect(published[0].messageStructure).to.equal("json");
      expect(JSON.parse(message.APNS).aps.alert).to.deep.equal({ title: "Your order shipped", body: "Order 42 is on its way." });
      expect(JSON.parse(message.GCM).data.callback).to.equal("https://shop.example.com/orders/42");
    });

    it("a disabled endpoint is permanent for its token only; sent when another device got it", async () => {
      const provider = makeSnsPushProvider({ sns, platformApplicationArns: { apns } });
      snsSink.disableToken("stale-token");
      const onlyStale = await provider.send(delivery({ address: { deviceTokens: [{ platform: "apns", token: "stale-token" }] } }));
      expect(onlyStale.outcome).to.equal("permanent");
      expect((onlyStale as { reason: string }).reason).to.contain("endpoint disabled");

      const mixed = await provider.send(
        delivery({
          address: {
            deviceTokens: [
              { platform: "apns", token: "stale-token" },
              { platform: "apns", token: "fresh-token" },
              { platform: "fcm", token: "no-fcm-app" },
            ],
          },
        }),
      );
      expect(mixed.outcome).to.equal("sent");
    });

    it("removes a token SNS reports disabled from the user's contact, and keeps the others", async () => {
      await aws.createTables({ contacts: "providers-contacts" });
      const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ region: aws.region, endpoint: aws.endpoints.dynamodb, credentials }));
      const devices = makeDeviceRegistry({ ddb, table: "providers-contacts" });
      await devices.register("una", { platform: "apns", token: "dead-token" });
      await devices.register("una", { platform: "apns", token: "live-token" });
      snsSink.disableToken("dead-token");
      const provider = makeSnsPushProvider({ sns, platformApplicationArns: { apns }, onInvalidToken: devices.remove });
      const result = await provider.send(
        delivery({
          userId: "una",
          address: {
            deviceTokens: [
              { platform: "apns", token: "dead-token" },
              { platform: "apns", token: "live-token" },
            ],
          },
        }),
      );
      expect(result.outcome).to.equal("sent");
      expect((await devices.list("una")).map((d) => d.token)).to.deep.equal(["live-token"]);
      ddb.destroy();
    });

    it("is retryable when every device failed and one failure was retryable", async () => {
      const provider = makeSnsPushProvider({ sns, platformApplicationArns: { apns } });
      snsSink.failNext(1, "retryable");
      const result = await provider.send(delivery({ address: { deviceTokens: [{ platform: "apns", token: "t-retry" }] } }));
      expect(result.outcome).to.equal("retryable");
      expect(await provider.send(delivery({ address: {} }))).to.deep.equal({
        outcome: "permanent",
        reason: "no device tokens for this user",
      });
    });
  });

  describe("error classification", () => {
    it("throttling, 5xx, timeouts and $retryable are retryable; validation and other 4xx are permanent", () => {
      const cases: [unknown, string][] = [
        [{ name: "ThrottlingException", $metadata: { httpStatusCode: 400 } }, "retryable"],
        [{ name: "TooManyRequestsException", $metadata: { httpStatusCode: 429 } }, "retryable"],
        [{ name: "SomethingNew", $metadata: { httpStatusCode: 503 } }, "retryable"],
        [{ name: "SomethingNew", $retryable: { throttling: false }, $metadata: { httpStatusCode: 400 } }, "retryable"],
        [{ name: "TimeoutError", message: "The operation was aborted due to timeout" }, "retryable"],
        [Object.assign(new TypeError("fetch failed"), { cause: { code: "ECONNRESET" } }), "retryable"],
        [{ name: "MessageRejected", $fault: "client", $metadata: { httpStatusCode: 400 } }, "permanent"],
        [{ name: "ValidationException", $metadata: { httpStatusCode: 400 } }, "permanent"],
        [{ name: "NotFoundException", $metadata: { httpStatusCode: 404 } }, "permanent"],
        ["a string thrown", "permanent"],
      ];
      expect(cases.map(([error]) => classifyError(error, "test").outcome)).to.deep.equal(cases.map(([, outcome]) => outcome));
    });

    it("reasons name the context and never carry URLs", () => {
      const result = classifyError({ name: "Error", message: "POST https://hooks.slack.com/services/T/B/SECRET failed" }, "Slack");
      expect(result.reason).to.equal("Slack: Error: POST <url> failed");
      expect(safeReason("x".repeat(500))).to.have.length(300);
    });
  });
});
