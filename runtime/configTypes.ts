/**
 * The parsed config's types, written out rather than inferred from the schemas (runtime/configSchema.ts),
 * so the package's declarations do not import zod: a consumer compiles them with Pulumi's TypeScript
 * template settings (no skipLibCheck, no esModuleInterop), which zod's own declarations need. The schema
 * module fails to compile when the two drift apart.
 */
import type { ProviderConfig } from "./providers/table";

/** A channel's name: it names queues, rules and functions, so it stays short and plain. */
export const CHANNEL_NAME_PATTERN = /^[a-z][a-z0-9-]{0,30}$/;
/** A notification type's name (and so its templates' folder). */
export const TYPE_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** A web origin: https (or http on this machine), a host, an optional port, nothing else. */
export const ORIGIN_PATTERN = /^(https:\/\/[a-z0-9.-]+|http:\/\/(localhost|127\.0\.0\.1))(:\d{1,5})?$/;
/** What `tidings:producers` lists: a type's name, or a prefix ending in `.*`. */
export const PRODUCER_TYPE_PATTERN = /^([a-z0-9][a-z0-9._-]{0,63}|[a-z0-9][a-z0-9._-]{0,61}\.\*)$/;

/**
 * One channel (`tidings:channels.<name>`) as parsed, defaults filled in. The provider settings (`from`,
 * `smsType`, …) are ProviderConfig's: channelProviderConfig hands each provider its own.
 */
export interface ChannelConfig
  extends Pick<
    ProviderConfig,
    "from" | "configurationSet" | "smsType" | "senderId" | "apnsPlatformApplicationArn" | "fcmPlatformApplicationArn" | "functionArn"
  > {
  /** @default true */
  enabled: boolean;
  /** false: the channel sends no rendered content, so types need no template for it. @default true */
  needsTemplates?: boolean;
  /** The per-user address this channel delivers to (contacts' `external_channels.<name>`), field by field. */
  address?: Record<string, { type: "https-url" | "string"; hosts?: string[]; pattern?: string; maxLength?: number; secret?: boolean }>;
  /** The provider that sends (PROVIDERS_BY_CHANNEL, or `lambda`). @default the channel's first in PROVIDERS_BY_CHANNEL */
  provider: string;
  /** Provider used after `failoverAfter` retryable failures of the primary for one message. */
  fallback?: string;
  /** @default 3 */
  failoverAfter: number;
  /** Sends per second across all workers of the channel (token bucket). */
  ratePerSecond?: number;
  /** Lambda event source mapping maximumConcurrency (2–1000). @default 2 */
  maxConcurrency: number;
  /** @default 10 */
  batchSize: number;
  /** Receives before a message moves to the channel's DLQ. @default 5 */
  maxReceiveCount: number;
  /** @default 30 */
  workerTimeoutSeconds: number;
  /** At most `limit` messages per user per `windowSeconds` on this channel; later ones wait. */
  perUser?: { limit: number; windowSeconds: number };
}

/** A notification type (`tidings:notificationTypes.<type>`) as parsed. */
export interface NotificationTypeConfig {
  /** Channels this type may use; default: every enabled channel. */
  channels?: string[];
  /** false: users must opt in to this type. @default true */
  defaultOptIn: boolean;
  /**
   * Security notices and the like: no politeness delay, and no opting out. Parsed config always has it;
   * code building types by hand may leave it out.
   * @default false
   */
  critical?: boolean;
  /** Templates a request of this type may name in `template`. @default [the type's own] */
  templates?: string[];
  /** Requests carry a literal `message`, never a template: no template files needed. @default false */
  messageOnly?: boolean;
  /** The inbox first: `channels` get it only if it is unread in the inbox after `afterSeconds`. @default none */
  escalation?: { afterSeconds: number; channels: string[] };
  /** Collected for `windowSeconds` per user (and `key`'s value), then one delivery per channel but websocket. @default none */
  digest?: { windowSeconds: number; key?: string };
}

/** The stack configuration (namespace `tidings`) as parseTidingsConfig returns it, defaults filled in. */
export interface TidingsConfig {
  /** WebSocket stage name. @default "dev" */
  stage: string;
  /** `iam` (SigV4) or `jwt` (an identity provider's tokens with the routes' scopes). @default "iam" */
  producerAuth: "iam" | "jwt";
  auth: {
    issuer: string;
    audience: string;
    /** The scope each producer route needs. @default { send: "notifications:send", contactsWrite: "contacts:write", contactsRead: "contacts:read", erase: "users:erase" } */
    scopes: { send: string; contactsWrite: string; contactsRead: string; erase: string; topicsWrite: string };
    /** An identity provider's JWKS URL: RS256/ES256 tokens signed with its keys are accepted too. */
    jwksUrl?: string;
    /** @default 300 */
    keyCacheSeconds: number;
    /** Oldest token accepted, by its `iat`. */
    maxTokenAgeSeconds?: number;
  };
  /** The types each producer may send (exact names or `prefix.*`). @default every producer, every type */
  producers?: Record<string, string[]>;
  websocket: {
    /** @default 10 */
    maxConnectionsPerUser: number;
    /** @default { enabled: false, scope: "chat:send", perMinute: 20 } */
    sendMessage: { enabled: boolean; scope: string; perMinute: number };
  };
  /** Deletion protection on the tables holding personal data. @default true */
  deletionProtection: boolean;
  /** The IAM roles or users administering the KMS key, who cannot read data with it. @default the principal running `pulumi up` */
  kms: { adminArns?: string[] };
  /** Read separately, as a Pulumi secret. */
  tokenSigningSecret?: string;
  /** @default false */
  apiGatewayCloudWatchRole: boolean;
  alertEmail?: string;
  /** One of CloudWatch Logs' retention periods. @default 14 */
  logRetentionDays: number;
  /** @default 24 */
  connectionTtlHours: number;
  /** Days a notification-log item is kept. @default 90 */
  logTtlDays: number;
  feed: { ttlDays: number };
  /** The end-user API: the origins of the web app that may call it from a browser. */
  userApi: { allowOrigins: string[] };
  devices: { maxPerUser: number };
  tracking: { linkTtlDays: number; openPixel: boolean };
  dashboard: { enabled: boolean };
  alarms: { queueAgeSeconds: number; workerErrors: number; workerThrottles: number; ruleFailedInvocations: number };
  reconciler: { enabled: boolean; schedule: string; stuckAfterMinutes: number; maxReputs: number; lookBackHours: number };
  /** Scheduled notifications (`sendAt`, cancel). */
  scheduling: { enabled: boolean };
  topics: { enabled: boolean };
  /**
   * SES bounces and complaints suppress the address. `createConfigurationSet` is set by parsing: the
   * email channel names no configuration set of its own, so the stack creates `tidings-<stage>-email`.
   */
  emailFeedback: { enabled: boolean; createConfigurationSet?: boolean };
  statusCallbacks?: { url: string; secretArn: string; maxReceiveCount: number };
  channels: Record<string, ChannelConfig>;
  notificationTypes: Record<string, NotificationTypeConfig>;
}
