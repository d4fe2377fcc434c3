import { expect } from "chai";
import { readStackFile } from "../local/stackConfig";
import { enabledChannels, parseTidingsConfig, TidingsConfigError, tidingsKeys } from "../runtime/config";

function problemsOf(raw: Record<string, unknown>): string[] {
  try {
    parseTidingsConfig(raw);
  } catch (error) {
    expect(error).to.be.instanceOf(TidingsConfigError);
    return (error as TidingsConfigError).problems;
  }
  throw new Error("expected the config to be refused");
}

describe("stack config", () => {
  it("accepts Pulumi.dev.yaml and fills defaults", () => {
    const config = parseTidingsConfig(readStackFile());
    expect(enabledChannels(config)).to.deep.equal(["websocket", "email", "sms", "slack"]);
    expect(config.channels.websocket).to.include({ provider: "websocket", batchSize: 10, maxReceiveCount: 5, failoverAfter: 3 });
    expect(config.channels.email.perUser).to.deep.equal({ limit: 10, windowSeconds: 3600 });
    expect(config.notificationTypes["marketing.digest"].defaultOptIn).to.equal(false);
    expect(config.notificationTypes["job.progress"].defaultOptIn).to.equal(true);
  });

  it("names an unknown key with its full path", () => {
    const raw = readStackFile();
    raw.channels.email.fromm = "x@example.com";
    raw.chanels = {};
    const problems = problemsOf(raw);
    expect(problems).to.include("tidings:channels.email.fromm: unknown key");
    expect(problems).to.include("tidings:chanels: unknown key");
  });

  it("names wrong values: types, ranges, providers, missing sender, unknown channels of a type", () => {
    const raw = readStackFile();
    raw.channels.sms.maxConcurrency = 1;
    raw.channels.email.enabled = "yes";
    raw.channels.slack.provider = "ses";
    raw.channels.push.fallback = "carrier-pigeon";
    raw.notificationTypes["order.shipped"].channels.push("fax");
    const problems = problemsOf(raw).join("\n");
    expect(problems).to.match(/tidings:channels\.sms\.maxConcurrency: .*2/);
    expect(problems).to.match(/tidings:channels\.email\.enabled: .*boolean/);
    expect(problems).to.not.match(/channels\.slack\.provider/); // reported after the schema passes
    const second = readStackFile();
    second.channels.slack.provider = "ses";
    second.channels.push.fallback = "carrier-pigeon";
    delete second.channels.email.from;
    second.notificationTypes["order.shipped"].channels.push("fax");
    const all = problemsOf(second).join("\n");
    expect(all).to.include('tidings:channels.slack.provider: "ses" is not a provider of slack (one of: webhook, lambda)');
    expect(all).to.include('tidings:channels.push.fallback: "carrier-pigeon" is not a provider of push');
    expect(all).to.include("tidings:channels.email.from: required");
    expect(all).to.include('tidings:notificationTypes.order.shipped.channels: "fax" is not a configured channel');
  });

  it("refuses a bad channel or type name and a custom channel without a provider", () => {
    const raw = readStackFile();
    raw.channels["Bad Name"] = { enabled: true };
    raw.notificationTypes["-nope"] = {};
    const problems = problemsOf(raw).join("\n");
    expect(problems).to.include("channel names are lower-case words");
    expect(problems).to.include("type names match");
    const custom = readStackFile();
    custom.channels.pager = { enabled: true };
    expect(problemsOf(custom)).to.deep.equal([
      "tidings:channels.pager.provider: required for a channel Tidings does not ship (lambda, or a custom provider's name)",
    ]);
  });

  it("refuses an enabled push channel without a platform application, naming the key", () => {
    const raw = readStackFile();
    raw.channels.push.enabled = true;
    expect(problemsOf(raw)).to.deep.equal([
      "tidings:channels.push.apnsPlatformApplicationArn: required (or fcmPlatformApplicationArn, or both): the SNS platform application push sends through",
    ]);
    raw.channels.push.fcmPlatformApplicationArn = "arn:aws:sns:us-east-1:123456789012:app/GCM/tidings";
    expect(enabledChannels(parseTidingsConfig(raw))).to.include("push");
  });

  it("a lambda provider needs its functionArn, on any channel", () => {
    const raw = readStackFile();
    raw.channels.pager = { provider: "lambda" };
    raw.channels.sms.fallback = "lambda";
    const problems = problemsOf(raw);
    expect(problems).to.include(
      "tidings:channels.pager.functionArn: required: the ARN of the Lambda function that sends (arn:aws:lambda:<region>:<account>:function:<name>)",
    );
    expect(problems.filter((p) => p.startsWith("tidings:channels.sms.functionArn"))).to.have.length(1);
  });

  it("names a key under a misspelt namespace instead of ignoring it", () => {
    expect(() => tidingsKeys({ "tiding:alertEmail": "ops@example.com", "aws:region": "us-east-1" })).to.throw(
      TidingsConfigError,
      /tiding:alertEmail: unknown namespace "tiding": did you mean tidings:alertEmail\?/,
    );
    expect(() => tidingsKeys({ "Tidings:stage": "prod" })).to.throw(TidingsConfigError, /did you mean tidings:stage/);
    expect(tidingsKeys({ "tidings:stage": "prod", "tidings:tokenSigningSecret": "s", "aws:region": "x", "myapp:tier": "1" })).to.deep.equal(
      {
        stage: "prod",
      },
    );
  });

  it("every invalid value says which type or values were expected", () => {
    const raw = readStackFile();
    raw.logRetentionDays = 13;
    raw.connectionTtlHours = "24";
    raw.channels.email.perUser = "10/hour";
    raw.channels.sms.smsType = "Urgent";
    const problems = problemsOf(raw);
    for (const problem of problems) expect(problem, problem).to.not.match(/Invalid input$/);
    const text = problems.join("\n");
    expect(text).to.match(/tidings:logRetentionDays: .*expected one of 1\|3\|5\|7\|14/);
    expect(text).to.match(/tidings:connectionTtlHours: Invalid input: expected number, received string/);
    expect(text).to.match(/tidings:channels\.email\.perUser: Invalid input: expected object, received string/);
    expect(text).to.match(/tidings:channels\.sms\.smsType: .*"Transactional"\|"Promotional"/);
  });
});

describe("stack config: security keys", () => {
  it("defaults: producer scope, key cache, sendmessage off, 10 connections per user, deletion protection on, critical off", () => {
    const config = parseTidingsConfig(readStackFile());
    expect(config.auth).to.include({ keyCacheSeconds: 300 });
    expect(config.auth.scopes).to.deep.equal({
      send: "notifications:send",
      contactsWrite: "contacts:write",
      contactsRead: "contacts:read",
      erase: "users:erase",
      topicsWrite: "topics:write",
    });
    expect(config.producerAuth).to.equal("iam");
    expect(config.auth.maxTokenAgeSeconds).to.equal(undefined);
    expect(config.websocket).to.deep.equal({
      maxConnectionsPerUser: 10,
      sendMessage: { enabled: false, scope: "chat:send", perMinute: 20 },
    });
    expect(config.deletionProtection).to.equal(true);
    expect(config.notificationTypes["order.shipped"].critical).to.equal(false);
    expect(config.notificationTypes["security.alert"].critical).to.equal(true);
  });

  it("refuses a critical type that asks for opt-in, a bad JWKS URL and a bad admin ARN", () => {
    const critical = readStackFile();
    critical.notificationTypes["marketing.digest"].critical = true;
    expect(problemsOf(critical)).to.include(
      "tidings:notificationTypes.marketing.digest: a critical type cannot ask for opt-in (defaultOptIn: false)",
    );
    const raw = readStackFile();
    raw.auth.jwksUrl = "ftp://keys.example.com/jwks.json";
    raw.kms = { adminArns: ["arn:aws:s3:::bucket"] };
    const problems = problemsOf(raw);
    expect(problems.some((p) => p.startsWith("tidings:auth.jwksUrl:"))).to.equal(true);
    expect(problems).to.include("tidings:kms.adminArns.0: must be an IAM role or user ARN");
  });

  it("requires the end-user API's CORS origins (no default of *), each an origin", () => {
    const missing = readStackFile();
    delete missing.userApi;
    expect(problemsOf(missing)).to.include(
      "tidings:userApi: is required: { allowOrigins: [the origins of your web app, e.g. https://app.example.com] } (CORS of the end-user API; there is no default of *)",
    );
    const star = readStackFile();
    star.userApi = { allowOrigins: ["*", "https://app.example.com/path"] };
    expect(problemsOf(star)).to.include.members([
      "tidings:userApi.allowOrigins.0: must be an origin like https://app.example.com (no *, no path)",
      "tidings:userApi.allowOrigins.1: must be an origin like https://app.example.com (no *, no path)",
    ]);
  });

  it("names what replaced a removed key: tidings:kmsAdminArn is tidings:kms.adminArns", () => {
    const raw = readStackFile();
    raw.kmsAdminArn = "arn:aws:iam::123456789012:role/admins";
    expect(problemsOf(raw)).to.deep.equal([
      'tidings:kmsAdminArn: removed: list the key\'s administrators in tidings:kms.adminArns (roles or users; they administer the key and cannot read data with it), e.g. ["arn:aws:iam::123456789012:role/admins"]',
    ]);
  });
});
