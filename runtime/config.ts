/**
 * The stack configuration (namespace `tidings`), typed and validated in one place. `index.ts` reads it
 * from Pulumi config, the local mode from `Pulumi.dev.yaml`: both go through `parseTidingsConfig`, so a
 * wrong key fails early with a message naming it, wherever it is read.
 */
import { z } from "zod";

export const CHANNEL_NAME_PATTERN = /^[a-z][a-z0-9-]{0,30}$/;
export const TYPE_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** Providers each built-in channel knows, primary and fallback alike. */
export const PROVIDERS_BY_CHANNEL = {
  websocket: ["websocket"],
  email: ["ses"],
  sms: ["sns"],
  slack: ["webhook"],
  push: ["sns"],
} as const;

export class TidingsConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid Tidings config:\n  - ${problems.join("\n  - ")}`);
    this.name = "TidingsConfigError";
  }
}

const positiveInt = (max: number) => z.number().int().min(1).max(max);

function channelSchema() {
  return z.strictObject({
    enabled: z.boolean().default(true),
    provider: z.string().optional(),
    /** Provider used after `failoverAfter` retryable failures of the primary for one message. */
    fallback: z.string().optional(),
    failoverAfter: positiveInt(100).default(3),
    /** Sends per second across all workers of the channel (token bucket). */
    ratePerSecond: z.number().positive().max(10_000).optional(),
    /** Lambda event source mapping maximumConcurrency: AWS accepts 2–1000. */
    maxConcurrency: z.number().int().min(2).max(1000).default(2),
    batchSize: positiveInt(10).default(10),
    /** Receives before a message moves to the channel's DLQ. */
    maxReceiveCount: positiveInt(1000).default(5),
    workerTimeoutSeconds: positiveInt(900).default(30),
    perUser: z.strictObject({ limit: positiveInt(1_000_000), windowSeconds: positiveInt(86_400) }).optional(),
    /** email: verified SES sender. */
    from: z.email().optional(),
    configurationSet: z.string().optional(),
    /** sms: SNS SMS type. */
    smsType: z.enum(["Transactional", "Promotional"]).optional(),
    senderId: z
      .string()
      .regex(/^[A-Za-z0-9]{1,11}$/)
      .optional(),
    /** push: SNS platform applications. */
    apnsPlatformApplicationArn: z.string().startsWith("arn:").optional(),
    fcmPlatformApplicationArn: z.string().startsWith("arn:").optional(),
  });
}

function authSchema() {
  return z.strictObject({
    issuer: z.string().min(1),
    audience: z.string().min(1),
    /** Scope (in the token's `scope` or `scp` claim) a producer token must carry. @default "notifications:send" */
    producerScope: z
      .string()
      .regex(/^[\x21-\x7e]{1,128}$/)
      .default("notifications:send"),
    /**
     * An identity provider's JWKS URL (Cognito, Auth0, Okta): tokens signed RS256 or ES256 with its keys
     * are accepted besides HS256 ones. @example https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc/.well-known/jwks.json
     */
    jwksUrl: z.url({ protocol: /^https?$/ }).optional(),
    /** Seconds the authorizer keeps the signing key before reading it again (rotation). @default 300 */
    keyCacheSeconds: z.number().int().min(0).max(86_400).default(300),
    /** Oldest token accepted, by its `iat`; when set, tokens without `iat` are refused. */
    maxTokenAgeSeconds: positiveInt(31 * 86_400).optional(),
  });
}

function websocketSchema() {
  return z.strictObject({
    /** Open connections one user may hold; the next `$connect` is refused (429). @default 10 */
    maxConnectionsPerUser: positiveInt(1000).default(10),
    sendMessage: z
      .strictObject({
        /** The `sendmessage` route (user-to-room chat). Off unless switched on. @default false */
        enabled: z.boolean().default(false),
        /** Scope a token needs to send. @default "chat:send" */
        scope: z
          .string()
          .regex(/^[\x21-\x7e]{1,128}$/)
          .default("chat:send"),
        /** Frames one connection may send per minute; over it gets a `rate_limited` error frame. @default 20 */
        perMinute: positiveInt(6000).default(20),
      })
      .default({ enabled: false, scope: "chat:send", perMinute: 20 }),
  });
}

function typeSchema() {
  return z.strictObject({
    /** Channels this type may use; default: every enabled channel. */
    channels: z.array(z.string().regex(CHANNEL_NAME_PATTERN)).optional(),
    /** false: users must opt in to this type. */
    defaultOptIn: z.boolean().default(true),
    /**
     * Security notices and the like: skip the per-user politeness delay and cannot be opted out of
     * (a user's "no" in settings is ignored for this type). Keep it for what a user must not miss.
     * @default false
     */
    critical: z.boolean().default(false),
    /**
     * Templates a request of this type may name in `template`; a request naming any other is refused,
     * so a type cannot borrow another type's content (and dodge its consent). @default [the type's own]
     * @example templates: ["order.shipped", "order.shipped.gift"]
     */
    templates: z.array(z.string().regex(TYPE_NAME_PATTERN)).optional(),
  });
}

/** Operations (issue 11): dashboard, alarm thresholds, reconciler, status callbacks. */
function operationsSchema() {
  return {
    /** The CloudWatch dashboard (components/Dashboard.ts). */
    dashboard: z.strictObject({ enabled: z.boolean().default(true) }).prefault({}),
    /** Alarm thresholds; every alarm notifies the alerts topic. */
    alarms: z
      .strictObject({
        /** Seconds the oldest message of a channel queue may wait: far below the 4-day retention. */
        queueAgeSeconds: positiveInt(1_209_600).default(900),
        /** Worker errors (invocations that threw or timed out) per 5 minutes that alarm. */
        workerErrors: positiveInt(1_000_000).default(1),
        /** Worker throttles per 5 minutes that alarm. */
        workerThrottles: positiveInt(1_000_000).default(1),
        /** Failed rule invocations (EventBridge could not reach the queue) per 5 minutes that alarm. */
        ruleFailedInvocations: positiveInt(1_000_000).default(1),
      })
      .prefault({}),
    /** The scheduled reconciler (runtime/reconciler.ts). */
    reconciler: z
      .strictObject({
        enabled: z.boolean().default(true),
        /** EventBridge Scheduler-style rate or cron expression. */
        schedule: z
          .string()
          .regex(/^(rate|cron)\(.+\)$/, 'an EventBridge schedule expression, e.g. "rate(5 minutes)"')
          .default("rate(5 minutes)"),
        /** Minutes a created/pending row may sit untouched before it counts as stuck. */
        stuckAfterMinutes: positiveInt(1440).default(15),
        /** Puts of one stuck row before it is marked error. */
        maxReputs: positiveInt(100).default(3),
      })
      .prefault({}),
    /**
     * Status callbacks: a signed POST to the producer's https endpoint when a channel reaches a final
     * status. The HMAC secret lives in Secrets Manager (`secretArn`), never in config.
     */
    statusCallbacks: z
      .strictObject({
        url: z.url({ protocol: /^https$/ }),
        secretArn: z.string().startsWith("arn:"),
        maxReceiveCount: positiveInt(1000).default(8),
      })
      .optional(),
  };
}

function configSchema() {
  return z.strictObject({
    /** WebSocket stage name. */
    stage: z
      .string()
      .regex(/^[A-Za-z0-9_-]{1,64}$/)
      .default("dev"),
    auth: authSchema().default({
      issuer: "tidings",
      audience: "tidings",
      producerScope: "notifications:send",
      keyCacheSeconds: 300,
    }),
    /** WebSocket `sendmessage` (room chat between users) and the `$connect` cap. */
    websocket: websocketSchema().default({ maxConnectionsPerUser: 10, sendMessage: { enabled: false, scope: "chat:send", perMinute: 20 } }),
    /**
     * Deletion protection on the tables holding personal data (contacts, settings, notification log):
     * `pulumi destroy` or a replacement cannot drop them while it is on. @default true
     */
    deletionProtection: z.boolean().default(true),
    /**
     * The IAM principal ARN that administers the KMS key (rotation, policy, deletion); key use is granted
     * per function. @default the account root (`arn:aws:iam::<account>:root`), which delegates to IAM
     * @example kmsAdminArn: arn:aws:iam::123456789012:role/platform-admins
     */
    kmsAdminArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:iam::\d{12}:(root|role\/.+|user\/.+)$/, "must be an IAM role, user or root ARN")
      .optional(),
    /** Pulumi secret (`pulumi config set --secret tidings:tokenSigningSecret`), read separately. */
    tokenSigningSecret: z.string().min(32).optional(),
    /**
     * Sets the account-wide API Gateway CloudWatch Logs role, which WebSocket stage logging needs. On an
     * account where it is not set yet, `pulumi up` fails without it; it replaces any role set before.
     */
    apiGatewayCloudWatchRole: z.boolean().default(false),
    /** Optional e-mail subscribed to the alerts topic. */
    alertEmail: z.email().optional(),
    logRetentionDays: z.union([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365].map((d) => z.literal(d)) as any).default(14),
    connectionTtlHours: positiveInt(24 * 30).default(24),
    /** Days a notification-log row is kept. */
    logTtlDays: positiveInt(3650).default(90),
    /** The in-app feed (websocket notifications stored per user). */
    feed: z.strictObject({ ttlDays: positiveInt(3650).default(90) }).default({ ttlDays: 90 }),
    /** Push device tokens a user may register; the oldest is evicted beyond this. */
    devices: z.strictObject({ maxPerUser: positiveInt(100).default(5) }).default({ maxPerUser: 5 }),
    /**
     * Click tracking: actionable notifications carry a signed `link` (`GET /t/<token>`) valid this many
     * days; `openPixel` adds a 1×1 image to e-mail HTML that records `opened`.
     */
    tracking: z
      .strictObject({ linkTtlDays: positiveInt(365).default(30), openPixel: z.boolean().default(false) })
      .default({ linkTtlDays: 30, openPixel: false }),
    ...operationsSchema(),
    channels: z.record(z.string().regex(CHANNEL_NAME_PATTERN, "channel names are lower-case words"), channelSchema()),
    notificationTypes: z.record(z.string().regex(TYPE_NAME_PATTERN, "type names match ^[a-z0-9][a-z0-9._-]{0,63}$"), typeSchema()),
  });
}

export type ChannelConfig = z.infer<ReturnType<typeof channelSchema>> & { provider: string };
/** A notification type as parsed (critical defaults to false; code building types by hand may omit it). */
export type NotificationTypeConfig = Omit<z.infer<ReturnType<typeof typeSchema>>, "critical"> & { critical?: boolean };
export type TidingsConfig = Omit<z.infer<ReturnType<typeof configSchema>>, "channels" | "logRetentionDays" | "notificationTypes"> & {
  channels: Record<string, ChannelConfig>;
  notificationTypes: Record<string, NotificationTypeConfig>;
  logRetentionDays: number;
};

/**
 * Validates raw config (keys without the `tidings:` prefix). Throws TidingsConfigError listing every
 * problem as `tidings:<path>: <what is wrong>`.
 */
export function parseTidingsConfig(raw: Record<string, unknown>): TidingsConfig {
  const parsed = configSchema().safeParse(raw);
  if (!parsed.success) {
    throw new TidingsConfigError(
      parsed.error.issues.map((issue) => {
        const path = issue.path.map(String);
        if (issue.code === "unrecognized_keys") {
          return issue.keys.map((k) => `tidings:${[...path, k].join(".")}: unknown key`).join("; ");
        }
        const message = issue.code === "invalid_key" ? issue.issues.map((inner) => inner.message).join("; ") : issue.message;
        return `tidings:${path.join(".")}: ${message}`;
      }),
    );
  }
  const config = parsed.data as unknown as TidingsConfig;
  const problems: string[] = [];
  for (const [name, channel] of Object.entries(config.channels)) {
    const known = (PROVIDERS_BY_CHANNEL as Record<string, readonly string[]>)[name];
    if (known) {
      channel.provider ??= known[0];
      for (const key of ["provider", "fallback"] as const) {
        const value = channel[key];
        if (value !== undefined && !known.includes(value)) {
          problems.push(`tidings:channels.${name}.${key}: "${value}" is not a provider of ${name} (one of: ${known.join(", ")})`);
        }
      }
    } else if (!channel.provider) {
      problems.push(`tidings:channels.${name}.provider: required for a channel Tidings does not ship`);
    }
    if (name === "email" && channel.enabled && !channel.from) {
      problems.push(`tidings:channels.email.from: required: the verified SES sender address`);
    }
  }
  for (const [type, def] of Object.entries(config.notificationTypes)) {
    if (def.critical && !def.defaultOptIn) {
      problems.push(`tidings:notificationTypes.${type}: a critical type cannot ask for opt-in (defaultOptIn: false)`);
    }
    for (const channel of def.channels ?? []) {
      if (!config.channels[channel]) {
        problems.push(`tidings:notificationTypes.${type}.channels: "${channel}" is not a configured channel`);
      }
    }
  }
  if (problems.length) throw new TidingsConfigError(problems);
  return config;
}

/** Templates a request of `type` may name: the configured list, else the type's own. */
export function allowedTemplates(type: string, def: Pick<NotificationTypeConfig, "templates"> | undefined): string[] {
  return def?.templates ?? [type];
}

/** Names of the channels switched on, in config order. */
export function enabledChannels(config: TidingsConfig): string[] {
  return Object.entries(config.channels)
    .filter(([, c]) => c.enabled)
    .map(([name]) => name);
}
