/**
 * Escalation (issue 21 §6): a type's `escalation` sends the inbox at once and its louder channels only
 * if the user has not read the notification by `afterSeconds`. The worker, with its clock set, on the
 * local DynamoDB: held (`delayed`, `until` the escalation's time) before then; after, sent when the inbox
 * row is unread, `skipped` (reason `read`) when it was opened or clicked. The config refuses an
 * escalation without an inbox, to the websocket channel, or to a channel the type does not reach. In
 * the local mode, an unread notification escalates to e-mail once its time comes, and "mark all read"
 * (one write of the read mark) still stops a waiting escalation.
 */
import { expect } from "chai";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { type LocalAws, startLocalAws } from "../local/aws";
import { readStackFile } from "../local/stackConfig";
import { parseTidingsConfig, TidingsConfigError } from "../runtime/config";
import type { ChannelDelivery } from "../runtime/contracts";
import { makeNotificationLog, type NotificationLog } from "../runtime/notificationLog";
import type { StatusCallback } from "../runtime/statusCallbacks";
import { makeChannelWorker } from "../runtime/worker";
import { acceptDeliveries, deliveryStatus, sqsEventOf } from "../testing";
import { localCaller, startQuiet } from "./helpers/localTidings";
import { until } from "./helpers/sockets";

const TABLE = "escalation-log";
const ESCALATE_AT = Date.parse("2026-12-07T12:15:00.000Z");

describe("escalation: the inbox first, then louder channels", function () {
  this.timeout(60_000);

  describe("the worker of an escalated channel (clock set, local DynamoDB)", () => {
    let aws: LocalAws;
    let log: NotificationLog;
    let clock = 0;
    const sent: string[] = [];
    const requeued: number[] = [];
    const decisions: Record<string, unknown>[] = [];
    const callbacks: StatusCallback[] = [];

    before(async () => {
      aws = await startLocalAws();
      aws.applyEnv();
      await aws.createTables({ notificationLog: TABLE });
      const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } });
      log = makeNotificationLog({ ddb, table: TABLE });
    });
    after(async () => aws?.stop());

    const worker = () =>
      makeChannelWorker({
        channel: "email",
        primary: {
          name: "spy",
          send: async (d) => {
            sent.push(d.eventId);
            return { outcome: "sent" };
          },
        },
        log,
        requeue: async (_body, delaySeconds) => void requeued.push(delaySeconds),
        statusCallbacks: async (callback) => void callbacks.push(callback),
        now: () => clock,
        logger: (decision) => void decisions.push(decision),
      });
    const delivery = (eventId: string, channel: string): ChannelDelivery => ({
      eventId,
      userId: "ada",
      type: "incident.opened",
      channel,
      kind: "feedback",
      content: { text: "The checkout is down." },
      address: channel === "email" ? { email: "ada@example.com" } : {},
      createdAt: new Date(ESCALATE_AT - 900_000).toISOString(),
      ...(channel === "email" ? { escalateAt: new Date(ESCALATE_AT).toISOString() } : {}),
    });

    it("holds it until the escalation's time: delayed, until then, back on the queue for the time left", async () => {
      await acceptDeliveries(TABLE, [delivery("e-held", "websocket"), delivery("e-held", "email")]);
      clock = ESCALATE_AT - 120_000;
      expect(await worker()(sqsEventOf([delivery("e-held", "email")]))).to.deep.equal({ batchItemFailures: [] });
      expect(requeued).to.deep.equal([120]);
      expect(sent).to.deep.equal([]);
      expect(await log.get("e-held", "email")).to.include({ status: "delayed", reason: "escalation", until: "2026-12-07T12:15:00.000Z" });
    });

    it("sends it once its time has come and the inbox is unread", async () => {
      clock = ESCALATE_AT + 1_000;
      expect(await worker()(sqsEventOf([delivery("e-held", "email")], 2))).to.deep.equal({ batchItemFailures: [] });
      expect(sent).to.deep.equal(["e-held"]);
      expect((await deliveryStatus(TABLE, "e-held", "email")).status).to.equal("sent");
    });

    it("ends it skipped (reason read) when the inbox row was opened or clicked first, and tells the producer", async () => {
      for (const [eventId, read] of [
        ["e-opened", "opened"],
        ["e-clicked", "clicked"],
      ] as const) {
        await acceptDeliveries(TABLE, [delivery(eventId, "websocket"), delivery(eventId, "email")]);
        await log.setStatus(eventId, "websocket", "sent");
        await log.advance(eventId, "websocket", read);
      }
      clock = ESCALATE_AT + 1_000;
      const event = sqsEventOf([delivery("e-opened", "email"), delivery("e-clicked", "email")]);
      expect(await worker()(event)).to.deep.equal({ batchItemFailures: [] });
      expect(sent).to.deep.equal(["e-held"]);
      for (const eventId of ["e-opened", "e-clicked"]) {
        expect(await deliveryStatus(TABLE, eventId, "email")).to.deep.equal({ status: "skipped", reason: "read" });
      }
      expect(callbacks.map((c) => [c.eventId, c.status, c.reason])).to.deep.include.members([
        ["e-opened", "skipped", "read"],
        ["e-clicked", "skipped", "read"],
      ]);
      expect(decisions.filter((d) => d.outcome === "skipped").map((d) => d.eventId)).to.have.members(["e-opened", "e-clicked"]);
    });
  });

  describe("config", () => {
    const parse = (escalation: unknown, channels?: string[]) => {
      const raw = readStackFile();
      raw.notificationTypes["order.shipped"].escalation = escalation;
      if (channels) raw.notificationTypes["order.shipped"].channels = channels;
      return () => parseTidingsConfig(raw);
    };
    const problems = (escalation: unknown, channels?: string[]) => {
      try {
        parse(escalation, channels)();
      } catch (error) {
        if (error instanceof TidingsConfigError) return error.message;
        throw error;
      }
      return "";
    };

    it("takes afterSeconds and channels of the type", () => {
      const config = parse({ afterSeconds: 900, channels: ["email", "sms"] })();
      expect(config.notificationTypes["order.shipped"].escalation).to.deep.equal({ afterSeconds: 900, channels: ["email", "sms"] });
    });

    it("refuses each mistake naming its key", () => {
      expect(problems({ afterSeconds: 0, channels: ["email"] })).to.include(
        "tidings:notificationTypes.order.shipped.escalation.afterSeconds",
      );
      expect(problems({ afterSeconds: 60, channels: [] })).to.include("tidings:notificationTypes.order.shipped.escalation.channels");
      expect(problems({ afterSeconds: 60, channels: ["websocket"] })).to.include(
        "tidings:notificationTypes.order.shipped.escalation.channels.0: websocket gets it at once",
      );
      expect(problems({ afterSeconds: 60, channels: ["push"] }, ["websocket", "email"])).to.include(
        'tidings:notificationTypes.order.shipped.escalation.channels.0: "push" is not one of the type\'s channels (websocket, email)',
      );
      expect(problems({ afterSeconds: 60, channels: ["email"] }, ["email", "sms"])).to.include(
        "tidings:notificationTypes.order.shipped.escalation: the type must reach the websocket channel",
      );
    });
  });

  describe("in the local mode", () => {
    it("sends the inbox at once, holds the e-mail (delayed, until), and sends it when its time comes unread", async () => {
      const tidings = await startQuiet({
        editConfig: (raw) => {
          raw.notificationTypes["order.shipped"].escalation = { afterSeconds: 1, channels: ["email"] };
        },
      });
      try {
        const { eventId } = await (await localCaller(tidings)).ship("alice", ["websocket", "email"]);
        await until(async () => (await tidings.log.get(eventId, "email"))?.status === "sent", 30_000, "the e-mail escalated");
        const websocket = await tidings.log.get(eventId, "websocket");
        const email = await tidings.log.get(eventId, "email");
        // The inbox went first; the e-mail not before its escalation time.
        expect(Date.parse(email!.updatedAt)).to.be.at.least(Date.parse(email!.createdAt) + 1_000);
        expect(websocket!.status).to.be.oneOf(["sent", "opened"]);
      } finally {
        await tidings.stop();
      }
    });

    it("ends the held e-mail skipped (read) after the user marks all read", async () => {
      const tidings = await startQuiet({
        editConfig: (raw) => {
          raw.notificationTypes["order.shipped"].escalation = { afterSeconds: 4, channels: ["email"] };
        },
      });
      try {
        const caller = await localCaller(tidings);
        const { eventId } = await caller.ship("alice", ["websocket", "email"]);
        await until(async () => (await tidings.log.get(eventId, "websocket"))?.status === "sent", 10_000, "the inbox got it");
        const token = await tidings.signToken("alice");
        const read = await fetch(`${tidings.endpoints.api}/me/notifications/read`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ all: true }),
        });
        expect(read.status).to.equal(200);
        expect(await tidings.log.get(eventId, "websocket")).to.include({ status: "opened" });
        await until(async () => (await tidings.log.get(eventId, "email"))?.status === "skipped", 30_000, "the escalation ended");
        expect(await tidings.log.get(eventId, "email")).to.include({ reason: "read" });
      } finally {
        await tidings.stop();
      }
    });
  });
});
