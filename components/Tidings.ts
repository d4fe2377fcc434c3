import type * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { parseTidingsConfig, PRODUCER_TYPE_PATTERN, type TidingsConfig } from "../runtime/config";
import { createTidingsStack, type TidingsStackInputs } from "./compose";
import { type NotificationTypeSettings, nodesOf, type PerUserLimit, setNodes, type TidingsComponentOptions, TidingsError } from "./common";
import { GRANTS, type GrantTarget, grantRoutes, recordTypes } from "./grants";
import { NotificationChannel } from "./NotificationChannel";
import type { ChannelProvider } from "./providers";

/** Claims a user token must carry. */
export interface TokenClaims {
  /** @default "tidings" */
  issuer?: string;
  /** @default "tidings" */
  audience?: string;
}

/**
 * One channel of `tidings:channels` (the same keys and rules as stack config; see README).
 * @example { provider: "ses", from: "notify@example.com", ratePerSecond: 14 }
 */
export interface TidingsChannelSettings {
  /** @default true */
  enabled?: boolean;
  /** `ses`, `sns`, `webhook`, `websocket` for the built-in channels, or `lambda` (with functionArn) on any. */
  provider?: string;
  fallback?: string;
  /** @default 3 */
  failoverAfter?: number;
  ratePerSecond?: number;
  /** 2–1000. @default 2 */
  maxConcurrency?: number;
  /** @default 10 */
  batchSize?: number;
  /** @default 5 */
  maxReceiveCount?: number;
  /** @default 30 */
  workerTimeoutSeconds?: number;
  perUser?: PerUserLimit;
  from?: string;
  configurationSet?: string;
  smsType?: string;
  senderId?: string;
  apnsPlatformApplicationArn?: string;
  fcmPlatformApplicationArn?: string;
  functionArn?: string;
}

/**
 * A channel of your own next to the configured ones: a NotificationChannel sharing the stack's bus,
 * tables, key and alerts topic.
 * @example { provider: { type: "lambda", functionArn: "arn:aws:lambda:eu-west-1:123456789012:function:pager" }, ratePerSecond: 1 }
 */
export interface ExtraChannelArgs {
  provider: ChannelProvider;
  fallback?: ChannelProvider;
  /** @default 3 */
  failoverAfter?: number;
  ratePerSecond?: number;
  /** @default 2 */
  maxConcurrency?: number;
  /** Messages per worker invocation (1–10). @default 10 */
  batchSize?: number;
  /** Receives before a message moves to the DLQ. @default 5 */
  maxReceiveCount?: number;
  /** @default 30 */
  workerTimeoutSeconds?: number;
  perUser?: PerUserLimit;
}

/**
 * The whole default stack's settings, shaped like the `tidings:` stack config (README: "Deploying with
 * `pulumi up`"), plus channels of your own and their templates.
 */
/** `tidings:kms`. */
export interface TidingsKmsSettings {
  /**
   * IAM roles or users that administer the key and cannot read data with it; whoever runs `pulumi up` must be one.
   * @default [the principal running pulumi up]
   */
  adminArns?: string[];
}

export interface TidingsArgs {
  /** HS256 key (≥ 32 characters) that signs user tokens: pass a secret. */
  tokenSigningSecret: pulumi.Input<string>;
  /** WebSocket stage name. @default "dev" */
  stage?: string;
  auth?: TokenClaims;
  /** Set the account-wide API Gateway CloudWatch Logs role. @default false */
  apiGatewayCloudWatchRole?: boolean;
  /** E-mail subscribed to the DLQ alarms' topic. */
  alertEmail?: string;
  /** @default 14 */
  logRetentionDays?: number;
  /** @default 24 */
  connectionTtlHours?: number;
  /** @default 90 */
  logTtlDays?: number;
  /** Deletion protection on the tables with personal data. @default true */
  deletionProtection?: boolean;
  /** `tidings:kms`: the stack key's administrators, who cannot read data with it. */
  kms?: TidingsKmsSettings;
  /** `tidings:channels`. */
  channels: Record<string, TidingsChannelSettings>;
  /** `tidings:notificationTypes`. */
  notificationTypes: Record<string, NotificationTypeSettings>;
  /** Channels of your own, by channel name; notification types may name them. */
  extraChannels?: Record<string, ExtraChannelArgs>;
  /**
   * Folders of `<type>/<channel>.json` templates added to the default ones (relative to your program).
   * @example extraTemplatesDirs: ["./templates"]
   */
  extraTemplatesDirs?: string[];
}

/** Queue URLs of one channel. */
export interface TidingsChannelOutputs {
  queueUrl: string;
  deadLetterQueueUrl: string;
  ruleDeadLetterQueueUrl: string;
}

/** Physical names of the stack's tables. */
export interface TidingsTableNames {
  connections: string;
  contacts: string;
  settings: string;
  notificationLog: string;
  politeness: string;
}

/** TypeScript-only options: channels and providers built from code. */
export interface TidingsOptions extends TidingsComponentOptions {
  addChannels?: TidingsStackInputs["addChannels"];
  customProviders?: TidingsStackInputs["customProviders"];
}

type Built = ReturnType<typeof createTidingsStack>;

/**
 * The whole default Tidings stack as one resource (the same composition as `createTidingsStack`, which
 * it runs), for Pulumi programs in any language. Children keep the names of the default stack.
 *
 * @example
 * // Python
 * tidings = tidings.Tidings("tidings", token_signing_secret=config.require_secret("signingSecret"),
 *     channels={"websocket": {}, "email": {"from": "notify@example.com"}},
 *     notification_types={"order.shipped": {}})
 */
export class Tidings extends pulumi.ComponentResource {
  readonly websocketUrl: pulumi.Output<string>;
  readonly managementEndpoint: pulumi.Output<string>;
  readonly notificationsEndpoint: pulumi.Output<string>;
  readonly eventBusName: pulumi.Output<string>;
  readonly alertsTopicArn: pulumi.Output<string>;
  readonly templatesBucket: pulumi.Output<string>;
  readonly tables: pulumi.Output<TidingsTableNames>;
  readonly channels: pulumi.Output<Record<string, TidingsChannelOutputs>>;

  /** Every component and resource of the stack (TypeScript). */
  get stack(): Built {
    return nodesOf<{ stack: Built }>(this).stack;
  }

  /**
   * IAM mode: lets `role` call `POST /notifications`, `GET` and `DELETE /notifications/{eventId}` (an inline policy
   * allowing `execute-api:Invoke` on exactly those routes). With `types`, the role may send only those
   * (exact names or `prefix.*`; a critical type by its name): IAM cannot see the body, so the grant also
   * records them where the notification service reads them (403 naming the type otherwise).
   * @example tidings.grantSend(ordersRole, { types: ["order.*"] });
   */
  grantSend(role: aws.iam.Role, options: { types?: string[] } = {}): void {
    grantRoutes(this.grantTarget(), role, "send", GRANTS.send);
    if (options.types) {
      const config = nodesOf<{ config: TidingsConfig }>(this).config;
      for (const type of options.types) {
        if (!PRODUCER_TYPE_PATTERN.test(type) || (!type.endsWith(".*") && !config.notificationTypes[type])) {
          throw new TidingsError(`grantSend: "${type}" is not a notification type of this stack or a prefix.* (order.*)`);
        }
      }
      recordTypes(this.grantTarget(), role, options.types);
    }
  }

  /** IAM mode: lets `role` write and read users' contacts (`PUT` and `GET /users/{userId}/contact`). */
  grantContacts(role: aws.iam.Role): void {
    grantRoutes(this.grantTarget(), role, "contacts", GRANTS.contacts);
  }

  /** IAM mode: lets `role` erase users (`DELETE /users/{userId}`). */
  grantErase(role: aws.iam.Role): void {
    grantRoutes(this.grantTarget(), role, "erase", GRANTS.erase);
  }

  private grantTarget(): GrantTarget {
    const { api, templates } = this.stack;
    return { executionArn: api.api.executionArn, stageName: api.stage.name, templatesBucket: templates.bucketName, parent: this };
  }

  constructor(name: string, args: TidingsArgs, opts?: TidingsOptions) {
    super("tidings:index:Tidings", name, {}, opts);
    const { tokenSigningSecret, extraChannels, extraTemplatesDirs, ...raw } = args;
    const config = parseTidingsConfig(raw as Record<string, unknown>, { channelsAddedInCode: true });
    // The arrow functions below need the component itself as their children's parent.
    // biome-ignore lint/complexity/noUselessThisAlias: passed on as `parent`, not used for `this`.
    const parent = this;
    const built = createTidingsStack({
      config,
      tokenSigningSecret,
      extraTemplatesDirs,
      customProviders: opts?.customProviders,
      parent,
      addChannels: (shared) => [
        ...Object.entries(extraChannels ?? {}).map(
          ([channel, extra]) =>
            new NotificationChannel(
              channel,
              {
                ...shared,
                channel,
                provider: extra.provider,
                fallback: extra.fallback,
                failoverAfter: extra.failoverAfter,
                ratePerSecond: extra.ratePerSecond,
                maxConcurrency: extra.maxConcurrency,
                batch: { size: extra.batchSize },
                dlq: { maxReceiveCount: extra.maxReceiveCount },
                workerTimeoutSeconds: extra.workerTimeoutSeconds,
                perUser: extra.perUser,
              },
              { parent },
            ),
        ),
        ...(opts?.addChannels?.(shared) ?? []),
      ],
    });
    setNodes(this, { stack: built, config });
    const out = built.outputs;
    this.websocketUrl = out.websocketUrl;
    this.managementEndpoint = out.managementEndpoint;
    this.notificationsEndpoint = out.notificationsEndpoint;
    this.eventBusName = out.eventBusName;
    this.alertsTopicArn = out.alertsTopicArn;
    this.templatesBucket = out.templatesBucket;
    this.tables = pulumi.output(out.tables);
    this.channels = pulumi.output(
      Object.fromEntries(
        Object.entries(built.channels).map(([channel, c]) => [
          channel,
          { queueUrl: c.queue.url, deadLetterQueueUrl: c.deadLetterQueue.url, ruleDeadLetterQueueUrl: c.ruleDeadLetterQueue.url },
        ]),
      ),
    );
    this.registerOutputs({
      websocketUrl: this.websocketUrl,
      managementEndpoint: this.managementEndpoint,
      notificationsEndpoint: this.notificationsEndpoint,
      eventBusName: this.eventBusName,
      alertsTopicArn: this.alertsTopicArn,
      templatesBucket: this.templatesBucket,
      tables: this.tables,
      channels: this.channels,
    });
  }
}
