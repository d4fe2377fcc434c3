/**
 * asyncapi.yaml against the official parser and against the TypeScript contracts.
 *
 * Each message's schema is checked both ways against a sample typed with the contract's own type,
 * every optional field filled in (`Required<T>`, so the compiler refuses a sample that misses a field
 * the type has, or names one it has not): the schema accepts the sample, and the schema's properties
 * are exactly the sample's keys. A field added to a contract then fails here until the file says so.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { Parser } from "@asyncapi/parser";
import type { SelfContactUpdate, SelfContactView, VerifyCodeRequest } from "../runtime/selfContact";
import type { TopicSendStatus } from "../runtime/statusApi";
import Ajv from "ajv";
import addFormats from "ajv-formats";
import { expect } from "chai";
import {
  type ArchiveRequest,
  type ChannelDelivery,
  type ChatMessageRequest,
  type ContactUpdate,
  DELIVERY_STATUS,
  type DeviceRegistration,
  ERROR_FRAME_CODES,
  type ErrorFrame,
  type MarkReadRequest,
  type NotificationFrame,
  type NotificationRequest,
  type PreferencesChange,
  type ReadFrame,
  type UnreadCount,
} from "../runtime/contracts";
import type { ChatFrame } from "../runtime/chat";
import type { FeedEntry } from "../runtime/feed";
import type { Preferences } from "../runtime/preferences";
import type { LambdaProviderAnswer, LambdaProviderRequest } from "../runtime/providers/lambda";
import type { ChannelStatus, NotificationStatus } from "../runtime/statusApi";
import type { StatusCallback } from "../runtime/statusCallbacks";

const FILE = path.join(__dirname, "..", "asyncapi.yaml");
const AT = "2026-12-07T10:00:00.000Z";

const delivery: Required<ChannelDelivery> = {
  eventId: "e-1",
  userId: "alice",
  type: "order.shipped",
  channel: "email",
  kind: "actionable",
  content: { subject: "Shipped", text: "Your order shipped", html: "<p>Your order shipped</p>" },
  callback: "https://shop.example.com/orders/1",
  link: "https://api.example.com/t/abc",
  progress: 50,
  address: { email: "alice@example.com" },
  createdAt: AT,
  critical: true,
  unsubscribe: "https://api.example.com/u/abc",
  quietHours: { start: "22:00", end: "07:00", timeZone: "Europe/Berlin" },
  escalateAt: "2026-12-07T10:15:00.000Z",
  group: { key: "export:42", id: "g-abc", renotify: true },
};
const channelStatus: Required<ChannelStatus> = {
  status: "delayed",
  updatedAt: AT,
  reason: "quiet hours",
  attempts: 1,
  provider: "ses",
  until: AT,
  digestId: "dg-abc-1",
};
const feedEntry: Required<FeedEntry> = {
  eventId: "e-1",
  type: "order.shipped",
  kind: "actionable",
  content: { subject: "s", text: "t", html: "<p>t</p>" },
  callback: "https://shop.example.com/orders/1",
  link: "https://api.example.com/t/abc",
  progress: 10,
  createdAt: AT,
  readAt: AT,
  archivedAt: AT,
  groupKey: "export:42",
  updatedAt: AT,
};
type Frame<K extends NotificationFrame["type"]> = Required<Extract<NotificationFrame, { type: K }>>;

/** Message name → samples of its payload (one per variant of a union), each with every field the contract has. */
const SAMPLES: Record<string, object[]> = {
  NotificationRequest: [
    {
      eventId: "e-1",
      userId: "alice",
      type: "order.shipped",
      channels: ["email"],
      template: "order.shipped",
      data: { orderId: "A-1" },
      message: "hello",
      callback: "https://shop.example.com/orders/1",
      progress: 10,
      sendAt: "2027-01-15T09:00:00+01:00",
      locale: "de-AT",
      groupKey: "export:42",
      renotify: true,
      // The schema declares both; the service takes one of userId and topic (400 naming topic otherwise).
      topic: "release.notes",
    } satisfies Required<NotificationRequest>,
  ],
  ChannelDelivery: [delivery],
  NotificationFrame: [
    {
      type: "notification",
      id: "e-1",
      message: "m",
      callback: "https://shop.example.com",
      link: "https://api.example.com/t/abc",
    } satisfies Frame<"notification">,
  ],
  FeedbackFrame: [{ type: "feedback", id: "e-1", message: "m", progress: 40 } satisfies Frame<"feedback">],
  UpdateFrame: [
    {
      type: "update",
      id: "g-abc",
      groupKey: "export:42",
      eventId: "e-2",
      message: "m",
      progress: 60,
      renotify: true,
    } satisfies Frame<"update">,
  ],
  ErrorFrame: ERROR_FRAME_CODES.map((error) => ({ type: "error", error, message: "m" }) satisfies ErrorFrame),
  SendMessage: [
    { action: "sendmessage", message: "hello" } satisfies ChatMessageRequest,
    { action: "sendmessage", data: "hello" } satisfies ChatMessageRequest,
  ],
  ChatFrame: [{ type: "message", room: "ops", from: "alice", message: "hello" } satisfies Required<ChatFrame>],
  ReadFrame: [{ type: "read", eventIds: [], upTo: AT, unreadCount: 0 } satisfies Required<ReadFrame>],
  NotificationStatus: [
    {
      eventId: "e-1",
      userId: "alice",
      type: "order.shipped",
      createdAt: AT,
      channels: { email: channelStatus },
      status: "failed",
      sendAt: AT,
      reason: "no channel can reach the user",
    } satisfies Required<NotificationStatus>,
  ],
  StatusCallback: [
    {
      eventId: "e-1",
      userId: "alice",
      type: "order.shipped",
      channel: "email",
      status: "sent",
      at: AT,
      reason: "r",
      provider: "ses",
      producer: "svc-orders",
    } satisfies Required<StatusCallback>,
  ],
  LambdaProviderRequest: [{ version: 1, delivery } satisfies Required<LambdaProviderRequest>],
  LambdaProviderAnswer: [
    { outcome: "sent", providerMessageId: "m-1" },
    { outcome: "retryable", reason: "busy" },
    { outcome: "permanent", reason: "opted out at carrier", optedOut: true },
  ] satisfies Required<LambdaProviderAnswer>[],
  FeedPage: [{ items: [feedEntry], unreadCount: 1, nextCursor: "c" }],
  UnreadCount: [{ unreadCount: 3 } satisfies Required<UnreadCount>],
  MarkRead: [{ eventIds: ["e-1"] }, { all: true }] satisfies MarkReadRequest[],
  TopicSubscribe: [{ userIds: ["ada", "bob"] }],
  TopicSendStatus: [
    {
      eventId: "launch-1",
      topic: "release.notes",
      type: "order.shipped",
      createdAt: AT,
      recipients: 3,
      sent: 1,
      skipped: 1,
      failed: 0,
      pending: 1,
    } satisfies Required<TopicSendStatus>,
  ],
  TopicSubscribed: [{ topic: "release.notes", added: 2 }],
  TopicSubscribers: [{ topic: "release.notes", userIds: ["ada"], nextCursor: "YWRh" }],
  SelfContact: [
    {
      email: { address: "ada@example.com", verified: true },
      phone: { address: "+15555550123", verified: false, expiresAt: AT },
    } satisfies Required<SelfContactView>,
  ],
  SelfContactUpdate: [{ email: "ada@example.com", phone: null } satisfies Required<SelfContactUpdate>],
  VerifyCode: [{ channel: "sms", code: "042917" } satisfies Required<VerifyCodeRequest>],
  Archive: [{ eventIds: ["e-1"] } satisfies Required<ArchiveRequest>],
  Preferences: [
    {
      channels: { email: true },
      types: { "order.shipped": { critical: false, defaultOptIn: true, channels: { email: true } } },
      timeZone: "Europe/Berlin",
      quietHours: { start: "22:00", end: "07:00" },
      locale: "de-AT",
    } satisfies Required<Preferences>,
  ],
  PreferencesUpdate: [
    {
      channels: { sms: false },
      types: { "marketing.digest": { email: true } },
      timeZone: "Europe/Berlin",
      quietHours: { start: "22:00", end: "07:00" },
      locale: "de-AT",
    } satisfies Required<PreferencesChange>,
  ],
  Device: [{ platform: "apns", token: "a".repeat(64) } satisfies Required<DeviceRegistration>],
  Contact: [
    {
      email: "alice@example.com",
      phone: "+15555550100",
      external_channels: { slack: { webhookUrl: "https://hooks.slack.com/services/T/B/x" } },
    } satisfies Required<ContactUpdate>,
  ],
};

describe("asyncapi.yaml", () => {
  let document: Awaited<ReturnType<Parser["parse"]>>["document"];
  let messages: Record<string, { payload?: Record<string, unknown> }>;

  before(async () => {
    const parsed = await new Parser().parse(fs.readFileSync(FILE, "utf8"));
    const errors = parsed.diagnostics.filter((d) => d.severity === 0).map((d) => `${d.path.join(".")}: ${d.message}`);
    expect(errors, "the official AsyncAPI parser's errors").to.deep.equal([]);
    document = parsed.document;
    messages = (document!.json() as { components: { messages: typeof messages } }).components.messages;
  });

  it("parses with the official AsyncAPI parser: no errors, no warnings", async () => {
    const { diagnostics } = await new Parser().parse(fs.readFileSync(FILE, "utf8"));
    expect(diagnostics.filter((d) => d.severity <= 1).map((d) => `${d.path.join(".")}: ${d.message}`)).to.deep.equal([]);
  });

  it("has a checked sample for every message it declares", () => {
    expect(Object.keys(messages).sort()).to.deep.equal(Object.keys(SAMPLES).sort());
  });

  for (const [name, samples] of Object.entries(SAMPLES)) {
    it(`${name}: accepts the contract's samples and declares exactly their fields`, () => {
      const payload = messages[name].payload!;
      const ajv = new Ajv({ strict: false, allErrors: true });
      addFormats(ajv);
      const validate = ajv.compile(payload);
      const variants = (payload.oneOf as Record<string, unknown>[] | undefined) ?? [payload];
      for (const sample of samples) {
        expect(validate(sample), `${JSON.stringify(sample)}: ${ajv.errorsText(validate.errors)}`).to.equal(true);
        // The variant whose properties the sample fills: its declared fields are the sample's keys.
        const fields = Object.keys(sample).sort();
        const declared = variants.map((v) => Object.keys((v.properties as object) ?? {}).sort());
        expect(declared, `${name} declares ${JSON.stringify(declared)}`).to.deep.include(fields);
      }
    });
  }

  it("names every delivery status the log has, in the status schema", () => {
    const status = (messages.NotificationStatus.payload as any).properties.channels.additionalProperties.properties.status;
    expect([...status.enum].sort()).to.deep.equal(Object.values(DELIVERY_STATUS).sort());
  });

  it("refuses a request body with a field the contract does not have", () => {
    const ajv = new Ajv({ strict: false });
    addFormats(ajv);
    const validate = ajv.compile(messages.NotificationRequest.payload!);
    expect(validate({ userId: "alice", type: "order.shipped", priority: "high" })).to.equal(false);
  });
});
