/**
 * The stack configuration (namespace `tidings`), typed and validated in one place. `index.ts` reads it
 * from Pulumi config, the local mode from `Pulumi.dev.yaml`: both go through `parseTidingsConfig`, so a
 * wrong key fails early with a message naming it, wherever it is read.
 */
import { z } from "zod";
import { DEFAULTS } from "./defaults";
import { type ProviderConfig, type ProviderType, providerProblems, providerTable } from "./providers/table";

export { DEFAULTS };

export const CHANNEL_NAME_PATTERN = /^[a-z][a-z0-9-]{0,30}$/;
export const TYPE_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/**
 * Provider names each built-in channel accepts in config (primary and fallback alike), and the
 * provider type (runtime/providers/table.ts) each one means. The first is the default. Every channel,
 * built-in or not, may also name `lambda` (with `functionArn`).
 */
export const PROVIDERS_BY_CHANNEL: Record<string, Record<string, ProviderType>> = {
  websocket: { websocket: "websocket" },
  email: { ses: "ses" },
  sms: { sns: "sns-sms" },
  slack: { webhook: "slack-webhook" },
  push: { sns: "sns-push" },
};

/** Config provider names every channel accepts. */
const ANY_CHANNEL_PROVIDERS: Record<string, ProviderType> = { lambda: "lambda" };

/** Config keys a channel's provider settings are read from (the rest are queue and rate settings). */
const PROVIDER_SETTING_KEYS = [
  "from",
  "configurationSet",
  "smsType",
  "senderId",
  "apnsPlatformApplicationArn",
  "fcmPlatformApplicationArn",
  "functionArn",
] as const;

export class TidingsConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid Tidings config:\n  - ${problems.join("\n  - ")}`);
    this.name = "TidingsConfigError";
  }
}

const positiveInt = (max: number) => z.number().int().min(1).max(max);

function channelSchema() {
  return z.strictObject({
    enabled: z.boolean().default(DEFAULTS.channel.enabled),
    provider: z.string().optional(),
    /** Provider used after `failoverAfter` retryable failures of the primary for one message. */
    fallback: z.string().optional(),
    failoverAfter: positiveInt(100).default(DEFAULTS.channel.failoverAfter),
    /** Sends per second across all workers of the channel (token bucket). */
    ratePerSecond: z.number().positive().max(10_000).optional(),
    /** Lambda event source mapping maximumConcurrency: AWS accepts 2–1000. */
    maxConcurrency: z.number().int().min(2).max(1000).default(DEFAULTS.channel.maxConcurrency),
    batchSize: positiveInt(10).default(DEFAULTS.channel.batchSize),
    /** Receives before a message moves to the channel's DLQ. */
    maxReceiveCount: positiveInt(1000).default(DEFAULTS.channel.maxReceiveCount),
    workerTimeoutSeconds: positiveInt(900).default(DEFAULTS.channel.workerTimeoutSeconds),
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
    /** provider `lambda`: the function that sends (see README, "A provider as a Lambda function"). */
    functionArn: z.string().startsWith("arn:").optional(),
  });
}

/** One OAuth scope name: printable, no spaces. */
const scopeName = () => z.string().regex(/^[\x21-\x7e]{1,128}$/, "one scope name: printable characters, no spaces");

function authSchema() {
  return z.strictObject({
    issuer: z.string().min(1),
    audience: z.string().min(1),
    /**
     * The scope (in the token's `scope` or `scp` claim) each producer route needs, by what it allows
     * (README, Security): `send` for POST and GET /notifications, `contactsWrite`, `contactsRead`, `erase`.
     */
    scopes: z
      .strictObject({
        send: scopeName().default(DEFAULTS.auth.scopes.send),
        contactsWrite: scopeName().default(DEFAULTS.auth.scopes.contactsWrite),
        contactsRead: scopeName().default(DEFAULTS.auth.scopes.contactsRead),
        erase: scopeName().default(DEFAULTS.auth.scopes.erase),
      })
      .prefault({}),
    /**
     * An identity provider's JWKS URL (Cognito, Auth0, Okta): tokens signed RS256 or ES256 with its keys
     * are accepted besides HS256 ones. @example https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_abc/.well-known/jwks.json
     */
    jwksUrl: z.url({ protocol: /^https?$/ }).optional(),
    /** Seconds the authorizer keeps the signing key before reading it again (rotation). @default 300 */
    keyCacheSeconds: z.number().int().min(0).max(86_400).default(DEFAULTS.auth.keyCacheSeconds),
    /** Oldest token accepted, by its `iat`; when set, tokens without `iat` are refused. */
    maxTokenAgeSeconds: positiveInt(31 * 86_400).optional(),
  });
}

function websocketSchema() {
  return z.strictObject({
    /** Open connections one user may hold; the next `$connect` is refused (429). @default 10 */
    maxConnectionsPerUser: positiveInt(1000).default(DEFAULTS.websocket.maxConnectionsPerUser),
    sendMessage: z
      .strictObject({
        /** The `sendmessage` route (user-to-room chat). Off unless switched on. @default false */
        enabled: z.boolean().default(DEFAULTS.websocket.chat.enabled),
        /** Scope a token needs to send. @default "chat:send" */
        scope: scopeName().default(DEFAULTS.websocket.chat.scope),
        /** Frames one connection may send per minute; over it gets a `rate_limited` error frame. @default 20 */
        perMinute: positiveInt(6000).default(DEFAULTS.websocket.chat.perMinute),
      })
      .prefault({}),
  });
}

function typeSchema() {
  return z.strictObject({
    /** Channels this type may use; default: every enabled channel. */
    channels: z.array(z.string().regex(CHANNEL_NAME_PATTERN)).optional(),
    /** false: users must opt in to this type. */
    defaultOptIn: z.boolean().default(DEFAULTS.type.defaultOptIn),
    /**
     * Security notices and the like: skip the per-user politeness delay and cannot be opted out of
     * (a user's "no" in settings is ignored for this type). Keep it for what a user must not miss.
     * @default false
     */
    critical: z.boolean().default(DEFAULTS.type.critical),
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
    dashboard: z.strictObject({ enabled: z.boolean().default(DEFAULTS.dashboard.enabled) }).prefault({}),
    /** Alarm thresholds; every alarm notifies the alerts topic. */
    alarms: z
      .strictObject({
        /** Seconds the oldest message of a channel queue may wait: far below the 4-day retention. */
        queueAgeSeconds: positiveInt(1_209_600).default(DEFAULTS.alarms.queueAgeSeconds),
        /** Worker errors (invocations that threw or timed out) per 5 minutes that alarm. */
        workerErrors: positiveInt(1_000_000).default(DEFAULTS.alarms.workerErrors),
        /** Worker throttles per 5 minutes that alarm. */
        workerThrottles: positiveInt(1_000_000).default(DEFAULTS.alarms.workerThrottles),
        /** Failed rule invocations (EventBridge could not reach the queue) per 5 minutes that alarm. */
        ruleFailedInvocations: positiveInt(1_000_000).default(DEFAULTS.alarms.ruleFailedInvocations),
      })
      .prefault({}),
    /** The scheduled reconciler (runtime/reconciler.ts). */
    reconciler: z
      .strictObject({
        enabled: z.boolean().default(DEFAULTS.reconciler.enabled),
        /** EventBridge Scheduler-style rate or cron expression. */
        schedule: z
          .string()
          .regex(/^(rate|cron)\(.+\)$/, 'an EventBridge schedule expression, e.g. "rate(5 minutes)"')
          .default(DEFAULTS.reconciler.schedule),
        /** Minutes a created/pending row may sit untouched before it counts as stuck. */
        stuckAfterMinutes: positiveInt(1440).default(DEFAULTS.reconciler.stuckAfterMinutes),
        /** Puts of one stuck row before it is marked error. */
        maxReputs: positiveInt(100).default(DEFAULTS.reconciler.maxReputs),
        /** Hours back, by creation time, each run looks (components/Reconciler.ts: what it must cover). */
        lookBackHours: positiveInt(24 * 90).default(DEFAULTS.reconciler.lookBackHours),
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
        maxReceiveCount: positiveInt(1000).default(DEFAULTS.statusCallbacks.maxReceiveCount),
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
      .default(DEFAULTS.stage),
    /**
     * How producers authenticate to the producer API: `iam` (SigV4, `execute-api:Invoke` on each route;
     * the grant helpers write those policies) or `jwt` (your identity provider's tokens, `tidings:auth`'s
     * issuer and audience, each route requiring its scope of `tidings:auth.scopes`).
     */
    producerAuth: z.enum(["iam", "jwt"]).default(DEFAULTS.producerAuth),
    auth: authSchema().prefault({ issuer: DEFAULTS.auth.issuer, audience: DEFAULTS.auth.audience }),
    /** WebSocket `sendmessage` (room chat between users) and the `$connect` cap. */
    websocket: websocketSchema().prefault({}),
    /**
     * Deletion protection on the tables holding personal data (contacts, settings, notification log):
     * `pulumi destroy` or a replacement cannot drop them while it is on. @default true
     */
    deletionProtection: z.boolean().default(DEFAULTS.deletionProtection),
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
    apiGatewayCloudWatchRole: z.boolean().default(DEFAULTS.apiGatewayCloudWatchRole),
    /** Optional e-mail subscribed to the alerts topic. */
    alertEmail: z.email().optional(),
    logRetentionDays: z.literal([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365]).default(DEFAULTS.logRetentionDays),
    connectionTtlHours: positiveInt(24 * 30).default(DEFAULTS.connectionTtlHours),
    /** Days a notification-log row is kept. */
    logTtlDays: positiveInt(3650).default(DEFAULTS.logTtlDays),
    /** The in-app feed (websocket notifications stored per user). */
    feed: z.strictObject({ ttlDays: positiveInt(3650).default(DEFAULTS.feedTtlDays) }).prefault({}),
    /** Push device tokens a user may register; the oldest is evicted beyond this. */
    devices: z.strictObject({ maxPerUser: positiveInt(100).default(DEFAULTS.maxDevicesPerUser) }).prefault({}),
    /**
     * Click tracking: actionable notifications carry a signed `link` (`GET /t/<token>`) valid this many
     * days; `openPixel` adds a 1×1 image to e-mail HTML that records `opened`.
     */
    tracking: z
      .strictObject({
        linkTtlDays: positiveInt(365).default(DEFAULTS.tracking.linkTtlDays),
        openPixel: z.boolean().default(DEFAULTS.tracking.openPixel),
      })
      .prefault({}),
    ...operationsSchema(),
    channels: z.record(z.string().regex(CHANNEL_NAME_PATTERN, "channel names are lower-case words"), channelSchema()),
    notificationTypes: z.record(z.string().regex(TYPE_NAME_PATTERN, "type names match ^[a-z0-9][a-z0-9._-]{0,63}$"), typeSchema()),
  });
}

/*
 * The parsed config's types are written out, not inferred from the schemas above, so the package's
 * declarations do not import zod: a consumer compiles them with Pulumi's TypeScript template settings
 * (no skipLibCheck, no esModuleInterop), which zod's own declarations need. `configTypesMatchSchema`
 * below fails to compile when the two drift apart.
 */

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
    scopes: { send: string; contactsWrite: string; contactsRead: string; erase: string };
    /** An identity provider's JWKS URL: RS256/ES256 tokens signed with its keys are accepted too. */
    jwksUrl?: string;
    /** @default 300 */
    keyCacheSeconds: number;
    /** Oldest token accepted, by its `iat`. */
    maxTokenAgeSeconds?: number;
  };
  websocket: {
    /** @default 10 */
    maxConnectionsPerUser: number;
    /** @default { enabled: false, scope: "chat:send", perMinute: 20 } */
    sendMessage: { enabled: boolean; scope: string; perMinute: number };
  };
  /** Deletion protection on the tables holding personal data. @default true */
  deletionProtection: boolean;
  /** The IAM principal administering the KMS key. @default the account root */
  kmsAdminArn?: string;
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
  devices: { maxPerUser: number };
  tracking: { linkTtlDays: number; openPixel: boolean };
  dashboard: { enabled: boolean };
  alarms: { queueAgeSeconds: number; workerErrors: number; workerThrottles: number; ruleFailedInvocations: number };
  reconciler: { enabled: boolean; schedule: string; stuckAfterMinutes: number; maxReputs: number; lookBackHours: number };
  statusCallbacks?: { url: string; secretArn: string; maxReceiveCount: number };
  channels: Record<string, ChannelConfig>;
  notificationTypes: Record<string, NotificationTypeConfig>;
}

/** true when A and B accept exactly the same values. */
type Exactly<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type ParsedConfig = z.output<ReturnType<typeof configSchema>>;
type WrittenOutMatchesSchema = [
  Exactly<
    Omit<TidingsConfig, "channels" | "notificationTypes" | "logRetentionDays">,
    Omit<ParsedConfig, "channels" | "notificationTypes" | "logRetentionDays">
  >,
  Exactly<ChannelConfig, z.output<ReturnType<typeof channelSchema>> & { provider: string }>,
  Exactly<Required<NotificationTypeConfig>["critical"], z.output<ReturnType<typeof typeSchema>>["critical"]>,
  Exactly<Omit<NotificationTypeConfig, "critical">, Omit<z.output<ReturnType<typeof typeSchema>>, "critical">>,
];
/** Compiles only while the written-out types above are the schemas' output. */
const configTypesMatchSchema: WrittenOutMatchesSchema extends [true, true, true, true] ? true : never = true;
void configTypesMatchSchema;

export interface ParseOptions {
  /**
   * Leave notification types naming channels that are not in config for later: the stack checks them
   * once the channels added in code are known (createTidingsStack's addChannels).
   * @default false
   */
  channelsAddedInCode?: boolean;
}

/**
 * Validates raw config (keys without the `tidings:` prefix). Throws TidingsConfigError listing every
 * problem as `tidings:<path>: <what is wrong>`.
 */
export function parseTidingsConfig(raw: Record<string, unknown>, options: ParseOptions = {}): TidingsConfig {
  const auth = raw.auth as Record<string, unknown> | undefined;
  if (auth && typeof auth === "object" && "producerScope" in auth) {
    throw new TidingsConfigError([
      `tidings:auth.producerScope: removed: each producer route has its scope in tidings:auth.scopes; set tidings:auth.scopes.send to "${String(auth.producerScope)}" instead`,
    ]);
  }
  const parsed = configSchema().safeParse(raw);
  if (!parsed.success) throw new TidingsConfigError(parsed.error.issues.map(describeIssue));
  const config = parsed.data as unknown as TidingsConfig;
  const problems: string[] = [];
  for (const [name, channel] of Object.entries(config.channels)) {
    const known = { ...PROVIDERS_BY_CHANNEL[name], ...ANY_CHANNEL_PROVIDERS };
    if (PROVIDERS_BY_CHANNEL[name]) {
      channel.provider ??= Object.keys(PROVIDERS_BY_CHANNEL[name])[0];
      for (const key of ["provider", "fallback"] as const) {
        const value = channel[key];
        if (value !== undefined && !known[value]) {
          problems.push(
            `tidings:channels.${name}.${key}: "${value}" is not a provider of ${name} (one of: ${Object.keys(known).join(", ")})`,
          );
        }
      }
    } else if (!channel.provider) {
      problems.push(
        `tidings:channels.${name}.provider: required for a channel Tidings does not ship (lambda, or a custom provider's name)`,
      );
    }
    if (!channel.enabled) continue;
    for (const key of ["provider", "fallback"] as const) {
      const provider = channelProviderConfig(name, channel, key);
      if (!provider) continue;
      for (const problem of providerProblems(provider)) {
        // Settings of the other provider (primary vs fallback) are not this one's problem.
        if (/: not a setting of the /.test(problem)) continue;
        problems.push(`tidings:channels.${name}.${problem}`);
      }
    }
  }
  for (const [type, def] of Object.entries(config.notificationTypes)) {
    if (def.critical && !def.defaultOptIn) {
      problems.push(`tidings:notificationTypes.${type}: a critical type cannot ask for opt-in (defaultOptIn: false)`);
    }
  }
  const { stuckAfterMinutes, maxReputs, lookBackHours } = config.reconciler;
  const shortestLookBack = minimumLookBackHours(stuckAfterMinutes, maxReputs);
  if (lookBackHours < shortestLookBack) {
    problems.push(
      `tidings:reconciler.lookBackHours: at least ${shortestLookBack} (twice stuckAfterMinutes × (maxReputs + 1)), got ${lookBackHours}`,
    );
  }
  if (!options.channelsAddedInCode) problems.push(...typeChannelProblems(config, []));
  if (problems.length) throw new TidingsConfigError([...new Set(problems)]);
  return config;
}

/**
 * The shortest look-back, in whole hours, that holds a stuck row through all its reputs twice over:
 * each reput waits stuckAfter again before the row counts as stuck, so a row is given up at most
 * stuckAfter × (maxReputs + 1) after it was last touched.
 */
export function minimumLookBackHours(stuckAfterMinutes: number, maxReputs: number): number {
  return Math.ceil((2 * stuckAfterMinutes * (maxReputs + 1)) / 60);
}

/** Types naming a channel that is neither in config nor in `addedInCode`. */
export function typeChannelProblems(config: TidingsConfig, addedInCode: string[]): string[] {
  const problems: string[] = [];
  for (const [type, def] of Object.entries(config.notificationTypes)) {
    for (const channel of def.channels ?? []) {
      if (!config.channels[channel] && !addedInCode.includes(channel)) {
        problems.push(
          `tidings:notificationTypes.${type}.channels: "${channel}" is not a configured channel${addedInCode.length ? ` or one added in code (${addedInCode.join(", ")})` : ""}`,
        );
      }
    }
  }
  return problems;
}

/**
 * The provider a channel's config names, as data for the provider table, or undefined for a name
 * Tidings does not ship (a custom provider the stack passes in code).
 */
export function channelProviderConfig(
  name: string,
  channel: ChannelConfig,
  which: "provider" | "fallback" = "provider",
): ProviderConfig | undefined {
  const providerName = channel[which];
  if (providerName === undefined) return undefined;
  const type = { ...PROVIDERS_BY_CHANNEL[name], ...ANY_CHANNEL_PROVIDERS }[providerName];
  if (!type) return undefined;
  const settings = providerTable()[type].settings;
  const config: ProviderConfig = { type };
  for (const key of PROVIDER_SETTING_KEYS) {
    if (channel[key] !== undefined && settings.includes(key)) (config as unknown as Record<string, unknown>)[key] = channel[key];
  }
  return config;
}

/** One zod issue as `tidings:<path>: <what is wrong>`, always saying what was expected. */
function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String);
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((k) => `tidings:${[...path, k].join(".")}: unknown key`).join("; ");
  }
  let message = issue.code === "invalid_key" ? issue.issues.map((inner) => inner.message).join("; ") : issue.message;
  if (issue.code === "invalid_union") {
    const expected = [...new Set(issue.errors.flat().map((inner) => inner.message.replace(/^Invalid input: /, "")))];
    message = `Invalid input: ${expected.join(" or ") || "none of the allowed forms matched"}`;
  } else if (message === "Invalid input") {
    message = `Invalid input (${issue.code})`;
  }
  return `tidings:${path.join(".")}: ${message}`;
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

/**
 * Every key of the config, dotted, `<name>` standing for a channel's or a type's name (e.g.
 * `channels.<name>.perUser.limit`): what the tests check each of is read somewhere.
 */
export function configKeys(): string[] {
  // biome-ignore lint/suspicious/noExplicitAny: zod's internal definitions, walked for their shape only
  const walk = (schema: any, prefix: string): string[] => {
    const def = schema._zod.def;
    if (["default", "prefault", "optional", "nullable"].includes(def.type)) return walk(def.innerType, prefix);
    if (def.type === "object") return Object.entries(def.shape).flatMap(([key, value]) => walk(value, prefix ? `${prefix}.${key}` : key));
    if (def.type === "record") return walk(def.valueType, `${prefix}.<name>`);
    return [prefix];
  };
  return walk(configSchema(), "");
}

/** The config namespace of every Tidings key. */
export const CONFIG_NAMESPACE = "tidings";

/**
 * The `tidings:` keys of a stack's config (prefix removed, the signing secret left out). A key under a
 * namespace that looks like a misspelling of `tidings` (`tiding:alertEmail`, `Tidings:stage`) is an
 * error naming it: otherwise it would be silently ignored and its default used.
 */
export function tidingsKeys(allConfig: Record<string, unknown>): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [fullKey, value] of Object.entries(allConfig)) {
    const colon = fullKey.indexOf(":");
    const namespace = colon < 0 ? "" : fullKey.slice(0, colon);
    const key = fullKey.slice(colon + 1);
    if (namespace === CONFIG_NAMESPACE) {
      if (key !== "tokenSigningSecret") raw[key] = value;
    } else if (namespace && looksLikeTidings(namespace)) {
      problems.push(`${fullKey}: unknown namespace "${namespace}": did you mean ${CONFIG_NAMESPACE}:${key}?`);
    }
  }
  if (problems.length) throw new TidingsConfigError(problems);
  return raw;
}

/** Same letters as "tidings" but for case, or at most two edits away. */
function looksLikeTidings(namespace: string): boolean {
  const a = namespace.toLowerCase();
  const b = CONFIG_NAMESPACE;
  if (a === b) return true;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length] <= 2;
}
