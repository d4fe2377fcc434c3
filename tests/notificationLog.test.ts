import { expect } from "chai";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { type LocalAws, startLocalAws } from "../local/aws";
import { makeNotificationLog } from "../runtime/notificationLog";

describe("notification log (dynalite)", () => {
  let aws: LocalAws;
  let ddb: DynamoDBDocumentClient;
  before(async () => {
    aws = await startLocalAws();
    aws.applyEnv();
    await aws.createTables({ notificationLog: "log-test" });
    ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}));
  });
  after(async () => {
    ddb.destroy();
    await aws.stop();
  });

  it("creates a row once and answers 'exists' for the same eventId and channel", async () => {
    const log = makeNotificationLog({ ddb, table: "log-test", now: () => Date.parse("2026-11-23T10:00:00Z"), ttlDays: 1 });
    const entry = { eventId: "e1", channel: "email", userId: "u1", type: "order.shipped", status: "created" as const };
    expect(await log.create(entry)).to.equal("created");
    expect(await log.create({ ...entry, status: "error" })).to.equal("exists");
    expect(await log.create({ ...entry, channel: "sms" })).to.equal("created");
    const row = await log.get("e1", "email");
    expect(row).to.include({ status: "created", userId: "u1", attempts: 0, createdAt: "2026-11-23T10:00:00.000Z" });
    expect(row!.ttl).to.equal(Date.parse("2026-11-24T10:00:00Z") / 1000);
  });

  it("moves status on, counting attempts and recording provider details", async () => {
    const log = makeNotificationLog({ ddb, table: "log-test" });
    await log.create({ eventId: "e2", channel: "sms", userId: "u2", type: "t", status: "created" });
    await log.setStatus("e2", "sms", "pending");
    await log.setStatus("e2", "sms", "pending", { reason: "throttled", countAttempt: true });
    await log.setStatus("e2", "sms", "sent", { provider: "sns", providerMessageId: "m-1", countAttempt: true });
    expect(await log.get("e2", "sms")).to.include({
      status: "sent",
      provider: "sns",
      providerMessageId: "m-1",
      attempts: 2,
      reason: "throttled",
    });
    expect(await log.get("e2", "email")).to.equal(undefined);
  });
});
