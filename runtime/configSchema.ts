/**
 * The stack config's schema (namespace `tidings`): every key, its type, bounds and default (from
 * runtime/defaults.ts). runtime/config.ts parses with it and names each problem.
 */
import { z } from "zod";
import {
  CHANNEL_NAME_PATTERN,
  type ChannelConfig,
  type NotificationTypeConfig,
  ORIGIN_PATTERN,
  PRODUCER_TYPE_PATTERN,
  type TidingsConfig,
  TYPE_NAME_PATTERN,
} from "./configTypes";
import { DEFAULTS } from "./defaults";

const positiveInt = (max: number) => z.number().int().min(1).max(max);

function channelSchema() {
  return z.strictObject({
    /** false: the channel is not built (no queue, worker or alarms), and types skip it. */
    enabled: z.boolean().default(DEFAULTS.channel.enabled),
    /** Who sends: one of the channel's shipped providers (ses, sns, webhook…), `lambda`, or a custom provider's name. */
    provider: z.string().optional(),
    /**
     * false: the channel sends no rendered content (its provider builds its own), so the types that reach
     * it need no template for it. @default true
     */
    needsTemplates: z.boolean().optional(),
    /**
     * The per-user address this channel delivers to, kept in contacts' `external_channels.<name>`: each
     * field and its rule (`https-url` on `hosts`, or `string` matching `pattern`); `secret` fields are
     * masked when read back. The worker gets it as `address`.
     * @example address: { webhookUrl: { type: https-url, hosts: ["*.webhook.office.com"], secret: true } }
     */
    address: z
      .record(
        z.string(),
        z.strictObject({
          /** `https-url` (on `hosts`) or `string` (matching `pattern`). */
          type: z.enum(["https-url", "string"]),
          /** https-url: the host names the URL may use, exact or `*.example.com`. */
          hosts: z.array(z.string()).optional(),
          /** A regular expression the value must match. */
          pattern: z.string().optional(),
          /** string: the longest value, in characters. */
          maxLength: positiveInt(2048).optional(),
          /** Masked when read back: the value is a credential (a webhook URL). */
          secret: z.boolean().optional(),
        }),
      )
      .optional(),
    /** Provider used after `failoverAfter` retryable failures of the primary for one message. */
    fallback: z.string().optional(),
    /** Retryable failures of the primary provider, for one message, before the fallback takes it. */
    failoverAfter: positiveInt(100).default(DEFAULTS.channel.failoverAfter),
    /** Sends per second across all workers of the channel (token bucket). */
    ratePerSecond: z.number().positive().max(10_000).optional(),
    /** Lambda event source mapping maximumConcurrency: AWS accepts 2–1000. */
    maxConcurrency: z.number().int().min(2).max(1000).default(DEFAULTS.channel.maxConcurrency),
    /** Messages per worker invocation. */
    batchSize: positiveInt(10).default(DEFAULTS.channel.batchSize),
    /** Receives before a message moves to the channel's DLQ. */
    maxReceiveCount: positiveInt(1000).default(DEFAULTS.channel.maxReceiveCount),
    /** The worker's Lambda timeout; a claim on a delivery lasts as long. */
    workerTimeoutSeconds: positiveInt(900).default(DEFAULTS.channel.workerTimeoutSeconds),
    /** Politeness: at most `limit` sends per user per `windowSeconds`; the rest wait (critical types skip it). */
    perUser: z
      .strictObject({
        /** Sends per user per window. */
        limit: positiveInt(1_000_000),
        /** The window, in seconds. */
        windowSeconds: positiveInt(86_400),
      })
      .optional(),
    /** email: verified SES sender. */
    from: z.email().optional(),
    /** email: the SES configuration set (event publishing, dedicated IPs). */
    configurationSet: z.string().optional(),
    /** sms: SNS SMS type. */
    smsType: z.enum(["Transactional", "Promotional"]).optional(),
    /** sms: the alphanumeric sender id, where the destination country allows one. */
    senderId: z
      .string()
      .regex(/^[A-Za-z0-9]{1,11}$/)
      .optional(),
    /** push: the SNS platform application for Apple devices (APNs). */
    apnsPlatformApplicationArn: z.string().startsWith("arn:").optional(),
    /** push: the SNS platform application for Android devices (FCM). */
    fcmPlatformApplicationArn: z.string().startsWith("arn:").optional(),
    /** provider `lambda`: the function that sends (docs/composing.md, "A provider as a Lambda function"). */
    functionArn: z.string().startsWith("arn:").optional(),
  });
}

/** One OAuth scope name: printable, no spaces. */
const scopeName = () => z.string().regex(/^[\x21-\x7e]{1,128}$/, "one scope name: printable characters, no spaces");

function authSchema() {
  return z.strictObject({
    /** The `iss` every token must carry: this stack's, or your identity provider's issuer URL. */
    issuer: z.string().min(1),
    /** The `aud` every token must carry. */
    audience: z.string().min(1),
    /**
     * The scope (in the token's `scope` or `scp` claim) each producer route needs, by what it allows
     * (README, Security): `send` for POST and GET /notifications, `contactsWrite`, `contactsRead`, `erase`.
     */
    scopes: z
      .strictObject({
        /** `POST /notifications`, `GET /notifications/{eventId}` and its cancel (`DELETE`). */
        send: scopeName().default(DEFAULTS.auth.scopes.send),
        /** `PUT /users/{userId}/contact`. */
        contactsWrite: scopeName().default(DEFAULTS.auth.scopes.contactsWrite),
        /** `GET /users/{userId}/contact`. */
        contactsRead: scopeName().default(DEFAULTS.auth.scopes.contactsRead),
        /** `DELETE /users/{userId}`. */
        erase: scopeName().default(DEFAULTS.auth.scopes.erase),
        /** `PUT`, `GET /topics/{topic}/subscribers` and `DELETE /topics/{topic}/subscribers/{userId}`. */
        topicsWrite: scopeName().default(DEFAULTS.auth.scopes.topicsWrite),
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
    /**
     * true: requests of this type carry a literal `message`, never a template, so it needs no template
     * files (the completeness check skips it). @default false
     */
    messageOnly: z.boolean().optional(),
    /**
     * The inbox first, then louder channels: the feed and the WebSocket get a notification of this type at
     * once; `channels` get it only if the user has not read it in the inbox within `afterSeconds` (a read
     * ends them `skipped`, reason `read`). The type must reach the websocket channel.
     * @example escalation: { afterSeconds: 900, channels: [email, sms] }
     */
    escalation: z
      .strictObject({
        /** Seconds the inbox has before the channels get it (at most 7 days). */
        afterSeconds: positiveInt(604_800),
        /** The channels it escalates to: channels of the type, not websocket. */
        channels: z.array(z.string().regex(CHANNEL_NAME_PATTERN)).min(1),
      })
      .optional(),
    /**
     * Digests: the first notification of this type for a user (and `key`'s value) opens a window of
     * `windowSeconds`; what arrives until it closes is collected, and then each channel but websocket gets
     * one delivery, whose template has `{{count}}` and `{{#items}}…{{/items}}` (each item its notification's
     * `data`). The feed and the WebSocket get every notification at once. Not for critical types; needs
     * `tidings:scheduling.enabled`.
     * @example digest: { windowSeconds: 3600, key: repositoryId }
     */
    digest: z
      .strictObject({
        /** How long a window stays open after its first notification (at most a day). */
        windowSeconds: positiveInt(86_400),
        /** A `data` field: notifications with different values of it go to different digests. @default one digest per user */
        key: z
          .string()
          .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/)
          .optional(),
      })
      .optional(),
  });
}

/** Operations (issue 11): dashboard, alarm thresholds, reconciler, status callbacks. */
function operationsSchema() {
  return {
    /** The CloudWatch dashboard (components/Dashboard.ts). */
    dashboard: z
      .strictObject({
        /** The CloudWatch dashboard of queues, workers, latencies and outcomes. */
        enabled: z.boolean().default(DEFAULTS.dashboard.enabled),
      })
      .prefault({}),
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
    /**
     * Scheduled notifications: `POST /notifications` takes `sendAt` and `DELETE /notifications/{eventId}`
     * cancels; one EventBridge Scheduler schedule per notification wakes the scheduled sender.
     */
    scheduling: z
      .strictObject({
        /** Off: no schedule group, sender or cancel route, and `sendAt` is a 400 naming this key. */
        enabled: z.boolean().default(DEFAULTS.scheduling.enabled),
      })
      .prefault({}),
    /**
     * Topics: subscriber lists (`/topics/{topic}/subscribers`, scope `topics:write`), and `POST /notifications`
     * with `topic`, which a fan-out function sends to every subscriber.
     */
    topics: z
      .strictObject({
        /** Off: no topics table, routes, fan-out queue or function, and `topic` is a 400. */
        enabled: z.boolean().default(DEFAULTS.topics.enabled),
      })
      .prefault({}),
    /**
     * SES bounces and complaints (email through SES): the email channel's configuration set publishes them
     * to an SNS topic whose handler records a permanent bounce or a complaint on the contact; later e-mails
     * to that address end `skipped: suppressed` until a new address is set. Without a `configurationSet`
     * on the email channel, the stack creates `tidings-<stage>-email`.
     */
    emailFeedback: z
      .strictObject({
        /** Off: no configuration set, topic or handler; bounced addresses keep being mailed. */
        enabled: z.boolean().default(DEFAULTS.emailFeedback.enabled),
      })
      .prefault({}),
    /** The scheduled reconciler (runtime/reconciler.ts). */
    reconciler: z
      .strictObject({
        /** The scheduled function that puts stuck deliveries on the bus again and gives up on hopeless ones. */
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
        /** Your https endpoint: a signed POST per channel reaching sent, error, unsubscribed or skipped. */
        url: z.url({ protocol: /^https$/ }),
        /** The Secrets Manager secret whose value signs the callbacks (X-Tidings-Signature). */
        secretArn: z.string().startsWith("arn:"),
        /** Tries of one callback before it moves to the callbacks' DLQ. */
        maxReceiveCount: positiveInt(1000).default(DEFAULTS.statusCallbacks.maxReceiveCount),
      })
      .optional(),
  };
}

export function configSchema() {
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
    /**
     * The types each producer may send, by producer: its token's `client_id` (else `sub`) in JWT mode,
     * its role's ARN (`arn:aws:iam::<account>:role/<name>`) in IAM mode. Exact type names or `prefix.*`;
     * a critical type only by its name. Unset: every producer may send every type.
     * @example producers: { svc-orders: ["order.*"], svc-security: ["security.alert"] }
     */
    producers: z
      .record(
        z.string().min(1).max(2048),
        z.array(z.string().regex(PRODUCER_TYPE_PATTERN, "a type name, or a prefix and .* (order.*)")).min(1).max(200),
      )
      .optional(),
    /** WebSocket `sendmessage` (room chat between users) and the `$connect` cap. */
    websocket: websocketSchema().prefault({}),
    /**
     * Deletion protection on the tables holding personal data (contacts, settings, notification log):
     * `pulumi destroy` or a replacement cannot drop them while it is on. @default true
     */
    deletionProtection: z.boolean().default(DEFAULTS.deletionProtection),
    /** The stack's KMS key. */
    kms: z
      .strictObject({
        /**
         * IAM roles or users that administer the key (policy, rotation, deletion) and cannot read the
         * stack's data with it; whoever runs `pulumi up` must be one. Unset: the principal running it.
         * @example adminArns: [arn:aws:iam::123456789012:role/platform-admins]
         */
        adminArns: z
          .array(z.string().regex(/^arn:aws[a-z-]*:iam::\d{12}:(role|user)\/.+$/, "must be an IAM role or user ARN"))
          .min(1)
          .max(10)
          .optional(),
      })
      .prefault({}),
    /** Pulumi secret (`pulumi config set --secret tidings:tokenSigningSecret`), read separately. */
    tokenSigningSecret: z.string().min(32).optional(),
    /**
     * Sets the account-wide API Gateway CloudWatch Logs role, which WebSocket stage logging needs. On an
     * account where it is not set yet, `pulumi up` fails without it; it replaces any role set before.
     */
    apiGatewayCloudWatchRole: z.boolean().default(DEFAULTS.apiGatewayCloudWatchRole),
    /** Optional e-mail subscribed to the alerts topic. */
    alertEmail: z.email().optional(),
    /** Days the functions' and the APIs' CloudWatch logs are kept (one of CloudWatch's periods). */
    logRetentionDays: z.literal([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365]).default(DEFAULTS.logRetentionDays),
    /** Hours after which a connection's row counts as stale (API Gateway closes connections after 2 hours anyway). */
    connectionTtlHours: positiveInt(24 * 30).default(DEFAULTS.connectionTtlHours),
    /** Days a notification-log row is kept. */
    logTtlDays: positiveInt(3650).default(DEFAULTS.logTtlDays),
    /** The in-app feed (websocket notifications stored per user). */
    feed: z
      .strictObject({
        /** Days a notification stays in a user's feed. */
        ttlDays: positiveInt(3650).default(DEFAULTS.feedTtlDays),
      })
      .prefault({}),
    /** The end-user API (`/me/*`). */
    userApi: z.strictObject(
      {
        /**
         * Origins of your web app that may call the end-user API from a browser (CORS). Required: there
         * is no default of `*`. The local mode serves its own pages and answers only loopback pages.
         * @example allowOrigins: [https://app.example.com]
         */
        allowOrigins: z
          .array(z.string().regex(ORIGIN_PATTERN, "must be an origin like https://app.example.com (no *, no path)"))
          .min(1)
          .max(20),
      },
      {
        // No default of `*`: a missing key says what to set.
        error: (issue) =>
          issue.input === undefined
            ? "is required: { allowOrigins: [the origins of your web app, e.g. https://app.example.com] } (CORS of the end-user API; there is no default of *)"
            : undefined,
      },
    ),
    /** Push device tokens a user may register; the oldest is evicted beyond this. */
    devices: z
      .strictObject({
        /** Push devices one user may register; the oldest is evicted beyond it. */
        maxPerUser: positiveInt(100).default(DEFAULTS.maxDevicesPerUser),
      })
      .prefault({}),
    /**
     * Click tracking: actionable notifications carry a signed `link` (`GET /t/<token>`) valid this many
     * days; `openPixel` adds a 1×1 image to e-mail HTML that records `opened`.
     */
    tracking: z
      .strictObject({
        /** Days a tracking link works. */
        linkTtlDays: positiveInt(365).default(DEFAULTS.tracking.linkTtlDays),
        /** Adds a 1×1 image to e-mail HTML that records `opened`. */
        openPixel: z.boolean().default(DEFAULTS.tracking.openPixel),
      })
      .prefault({}),
    ...operationsSchema(),
    channels: z.record(z.string().regex(CHANNEL_NAME_PATTERN, "channel names are lower-case words"), channelSchema()),
    notificationTypes: z.record(z.string().regex(TYPE_NAME_PATTERN, "type names match ^[a-z0-9][a-z0-9._-]{0,63}$"), typeSchema()),
  });
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
