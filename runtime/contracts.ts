/**
 * The public shapes that cross process boundaries: producer request, EventBridge event, SQS-carried
 * delivery, WebSocket frames, provider results and the notification log. One place, imported by the
 * runtime handlers, the components and the local mode. Types and the constants they are made of: no I/O.
 */

/** Built-in channel names. A stack may add its own channel with any name matching CHANNEL_NAME_PATTERN. */
import type { QuietHours } from "./quietHours";

export type BuiltInChannel = "websocket" | "email" | "sms" | "slack" | "push";

/** The inbox's channel: feed items are websocket-channel notifications, logged (and read) on that channel's row. */
export const FEED_CHANNEL = "websocket";

/** EventBridge `source` of every event Tidings puts on its bus. */
export const EVENT_SOURCE = "tidings";

/** EventBridge `detail-type` of a delivery for one channel: `notification.<channel>`. */
export function detailTypeFor(channel: string): string {
  return `notification.${channel}`;
}

/** Body of `POST /notifications`, as sent by a producer. */
export interface NotificationRequest {
  /** Makes retries idempotent; ^[A-Za-z0-9_-]{1,128}$. Assigned by the service when absent. */
  eventId?: string;
  /**
   * The user it is for. Absent (and `topic` given) for a topic send: the service fills it in for each
   * subscriber, so every request the pipeline sees has one.
   */
  userId: string;
  /** Every subscriber of this topic instead of one user (runtime/topics.ts), ^[A-Za-z0-9_.-]{1,128}$. */
  topic?: string;
  /** Notification type, ^[a-z0-9][a-z0-9._-]{0,63}$, declared in stack config. */
  type: string;
  /** Distinct names of enabled channels; default: every channel the type allows. */
  channels?: string[];
  /** Template name to use instead of the type's own. */
  template?: string;
  /** Template variables. */
  data?: Record<string, unknown>;
  /** Literal message: no template needed. */
  message?: string;
  /** https URL the user can act on; makes the notification actionable. */
  callback?: string;
  /** 0–100: progress of long work, for feedback notifications. */
  progress?: number;
  /**
   * When to send it (RFC 3339 with an offset, at most 365 days ahead): the user's settings, preferences
   * and contacts are read then. Absent: now.
   */
  sendAt?: string;
  /** BCP 47 locale of this notification's templates (`<channel>.<locale>.json`); default: the user's. */
  locale?: string;
  /**
   * Progress in place (feedback only): notifications of one producer with the same groupKey, for one
   * user, update one feed item (content, progress, updatedAt), ^[A-Za-z0-9_.:-]{1,128}$.
   */
  groupKey?: string;
  /** With groupKey: this update makes the item unread again (default: it keeps its read state). */
  renotify?: boolean;
}

/** A groupKey: ^[A-Za-z0-9_.:-]{1,128}$. */
export const GROUP_KEY_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;

/** Where one channel delivers to, resolved from the contacts table (websocket needs none). */
export interface ChannelAddress {
  email?: string;
  /** E.164 */
  phone?: string;
  /** Slack incoming-webhook URL: a secret, never logged. */
  webhookUrl?: string;
  deviceTokens?: DeviceToken[];
  /** A channel's own address fields, as its provider's address schema declares them (runtime/addresses.ts). */
  [field: string]: string | DeviceToken[] | undefined;
}

export interface DeviceToken {
  platform: "apns" | "fcm";
  token: string;
}

/** Rendered content of one notification on one channel. */
export interface RenderedContent {
  subject?: string;
  text: string;
  html?: string;
}

/** One notification a digest collected (runtime/digests.ts); its template gets each one's `data` in `items`. */
export interface DigestItem {
  data: Record<string, unknown>;
  /** When it was collected: items are listed in this order. */
  at: string;
  /** The channels it was collected for (the digest goes to all of them). */
  channels: string[];
}

/**
 * `detail` of the EventBridge event (and so the SQS message body's `detail`): everything a channel
 * worker needs, so that it never reads the producer request or the contacts table again.
 */
export interface ChannelDelivery {
  eventId: string;
  userId: string;
  type: string;
  channel: string;
  /** actionable = has a callback; feedback = progress of long work. */
  kind: "actionable" | "feedback";
  content: RenderedContent;
  callback?: string;
  /** Signed tracking URL (`<user API>/t/<token>`) of an actionable notification on this channel. */
  link?: string;
  progress?: number;
  address: ChannelAddress;
  /** ISO-8601 time the service accepted the request. */
  createdAt: string;
  /** The type is critical: the worker skips the per-user politeness delay. */
  critical?: true;
  /**
   * One-click unsubscribe URL (`<user API>/u/<token>`, RFC 8058) of this type on this channel for this
   * user: e-mails of non-critical types carry it as `List-Unsubscribe`.
   */
  unsubscribe?: string;
  /** The user's quiet hours (non-critical, every channel but the WebSocket): the worker holds it until they end. */
  quietHours?: QuietHours;
  /**
   * Progress in place: the feed item this delivery updates (`id`, the same for every update of the
   * producer's `key` for this user), and whether it makes the item unread again.
   */
  group?: { key: string; id: string; renotify?: true };
  /**
   * Escalation (the type's `escalation`): the worker holds it until then, and sends it only if the user has
   * not read the notification in the inbox by then; read, it ends `skipped` (reason `read`).
   */
  escalateAt?: string;
}

/** The EventBridge event as SQS receives it from a rule target. */
export interface DeliveryEvent {
  id: string;
  source: typeof EVENT_SOURCE;
  "detail-type": string;
  time?: string;
  detail: ChannelDelivery;
}

/** Frames sent to WebSocket clients. */
export type NotificationFrame =
  | { type: "notification"; id: string; message: string; callback: string; link?: string }
  | { type: "feedback"; id: string; message: string; progress?: number }
  /** Progress in place: the feed item `id` (one per groupKey) now says this; `renotify`: it is unread again. */
  | { type: "update"; id: string; groupKey: string; eventId: string; message: string; progress?: number; renotify?: true };
/** Error frame codes: `invalid_json`, `missing_action`, `unknown_action` (`$default`); `invalid_message`, `forbidden`, `rate_limited`, `no_room` (`sendmessage`). */
export const ERROR_FRAME_CODES = [
  "invalid_json",
  "missing_action",
  "unknown_action",
  "invalid_message",
  "forbidden",
  "rate_limited",
  "no_room",
] as const;
export type ErrorFrame = {
  type: "error";
  error: (typeof ERROR_FRAME_CODES)[number];
  message: string;
};

/**
 * What a provider can answer about one send: `sent`; `retryable` (SQS delivers the message again, and
 * the fallback provider takes over after `failoverAfter` receives); `permanent` (logged as `error`, not retried).
 */
export const PROVIDER_OUTCOME = { sent: "sent", retryable: "retryable", permanent: "permanent" } as const;
/** Sent to every open connection of a user after a read or archive in the feed (sync across devices). */
/**
 * Read or archived elsewhere: these eventIds, or (after "mark all read", with eventIds empty) every item
 * that arrived up to `upTo`.
 */
export type ReadFrame = { type: "read"; eventIds: string[]; upTo?: string; unreadCount: number };

/** What a provider says about one send. Providers never throw for a delivery problem. */
export type ProviderResult =
  | { outcome: typeof PROVIDER_OUTCOME.sent; providerMessageId?: string }
  | { outcome: typeof PROVIDER_OUTCOME.retryable; reason: string }
  /** `optedOut`: the recipient opted out at the carrier (SMS STOP): the channel ends `skipped`, and the number is recorded. */
  | { outcome: typeof PROVIDER_OUTCOME.permanent; reason: string; optedOut?: true };

/** A delivery provider as the channel worker sees it. Built inside the Lambda from injected clients. */
export interface Provider {
  /** e.g. "ses", "sns-sms", "slack-webhook", "websocket", "sns-push" */
  name: string;
  send(delivery: ChannelDelivery): Promise<ProviderResult>;
}

/**
 * Status of one eventId×channel in the notification log. A row moves created → pending → sent →
 * opened → clicked, or ends as error / unsubscribed, and never goes back from a delivered status.
 */
export const DELIVERY_STATUS = {
  created: "created",
  pending: "pending",
  sent: "sent",
  opened: "opened",
  clicked: "clicked",
  error: "error",
  unsubscribed: "unsubscribed",
  /** Its last try failed and SQS moved it to the channel's DLQ; a redrive makes it pending again. */
  deadLettered: "dead-lettered",
  /** Held (`until`): for the user's quiet hours, or until an escalation's time comes. */
  delayed: "delayed",
  /** Not sent, for good, with the reason: `read` (an escalation the user read in the inbox first). */
  skipped: "skipped",
  /** Collected into a digest (`digestId`) still open; once the digest is sent, it reads as the digest's status. */
  digested: "digested",
} as const;
export type DeliveryStatus = (typeof DELIVERY_STATUS)[keyof typeof DELIVERY_STATUS];

/** The statuses that mean the user already got the notification on this channel (the one list), in the order a row moves through them. */
export const DELIVERED_STATUSES: readonly DeliveryStatus[] = [DELIVERY_STATUS.sent, DELIVERY_STATUS.opened, DELIVERY_STATUS.clicked];

/** True for a status in DELIVERED_STATUSES (the user already got it on this channel). */
export function isDelivered(status: string | undefined): boolean {
  return DELIVERED_STATUSES.some((delivered) => delivered === status);
}

/**
 * One channel's entry in the notification log: the notification's fields with the channel's record
 * (runtime/notificationLog.ts keeps one item per notification; rows of the earlier layout read the same).
 */
export interface LogEntry {
  eventId: string;
  channel: string;
  userId: string;
  type: string;
  status: DeliveryStatus;
  createdAt: string;
  updatedAt: string;
  provider?: string;
  providerMessageId?: string;
  reason?: string;
  /** `delayed`: when it is sent (ISO-8601), the end of the user's quiet hours. */
  until?: string;
  attempts?: number;
  /** Epoch ms until which a worker holds the right to send (claim before send). */
  claimedUntil?: number;
  /** The event detail as put on the bus, so a lost event can be put again (runtime/reconciler.ts). */
  delivery?: ChannelDelivery;
  /** SHA-256 of `delivery` (runtime/deliveryDigest.ts): a worker sends only what matches it. */
  digest?: string;
  /** `digested`: the notification (its eventId) of the digest this one was collected into. */
  digestId?: string;
  /** SHA-256 of the producer's request without eventId: a reused eventId must match it. */
  requestDigest?: string;
  /** Who sent it (runtime/producers.ts); absent in items written before producers owned their eventIds. */
  producer?: string;
  /** Where its tracking links go (the producer's callback), kept after the deliveries are done. */
  callback?: string;
  /** Times the reconciler put this row's event on the bus again. */
  reputs?: number;
  /** When the user first read it (feed) or opened it (e-mail pixel). */
  openedAt?: string;
  /** When the user first followed its tracking link. */
  clickedAt?: string;
  ttl?: number;
}

/** One thing wrong with a request, in a 400/403/404/413/422 answer's `problems`: the field, and what is wrong with it. */
export interface Problem {
  field: string;
  problem: string;
}

/** `PUT /users/{userId}/contact` (producer API): what is given replaces what is stored; null removes the field. */
export interface ContactUpdate {
  email?: string | null;
  /** E.164 */
  phone?: string | null;
  external_channels?: { slack?: { webhookUrl: string } } | null;
}

/** `POST /me/devices`: a push token of the user's device. */
export interface DeviceRegistration {
  platform: DeviceToken["platform"];
  token: string;
}

/** `POST /me/notifications/read`: 1–100 eventIds of the user's feed, or all of it. */
export type MarkReadRequest = { eventIds: string[] } | { all: true };

/** `POST /me/notifications/archive`: 1–100 eventIds of the user's feed. */
export interface ArchiveRequest {
  eventIds: string[];
}

/** `PUT /me/preferences`: merged into what is stored. */
export interface PreferencesChange {
  /** Channel-wide switches. */
  channels?: Record<string, boolean>;
  /** Per type, per channel. */
  types?: Record<string, Record<string, boolean>>;
  /** IANA time zone, e.g. `Europe/Berlin` (400 naming `timeZone` otherwise). */
  timeZone?: string;
  /** `HH:MM` in `timeZone`; a window may cross midnight; null clears it. */
  quietHours?: { start: string; end: string } | null;
  /** BCP 47 locale of the user's templates, e.g. `de-AT` (then `de`, then the template itself); null clears it. */
  locale?: string | null;
}

/** `GET /me/notifications/count`, and the answer of a read or an archive. */
export interface UnreadCount {
  unreadCount: number;
}

/** A chat frame a client sends (room chat, when it is on). */
export interface ChatMessageRequest {
  action: "sendmessage";
  /** The text (or `data`, as the seeds' clients send it; one of the two). */
  message?: string;
  data?: string;
}

/** Minimal shapes of the Lambda events the handlers take (no @types/aws-lambda dependency). */
export interface SqsRecord {
  messageId: string;
  receiptHandle?: string;
  body: string;
  attributes?: { ApproximateReceiveCount?: string; [k: string]: string | undefined };
  eventSourceARN?: string;
}
export interface SqsEvent {
  Records: SqsRecord[];
}
export interface SqsBatchResponse {
  batchItemFailures: { itemIdentifier: string }[];
}

export interface WebSocketRequestContext {
  connectionId: string;
  routeKey: string;
  domainName?: string;
  stage?: string;
  identity?: { sourceIp?: string };
  /** What the authorizer put in its context. */
  authorizer?: { userId?: string; principalId?: string; [k: string]: unknown };
}
export interface WebSocketEvent {
  requestContext: WebSocketRequestContext;
  body?: string;
  queryStringParameters?: Record<string, string | undefined> | null;
  headers?: Record<string, string | undefined>;
  methodArn?: string;
}
export interface HttpResult {
  statusCode: number;
  headers?: Record<string, string>;
  body?: string;
}
