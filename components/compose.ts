/**
 * The Tidings composition: every component of the default stack, wired from the validated config. The
 * `Tidings` component runs it with itself as parent; the program (`index.ts`, through stack.ts) runs it
 * at the stack's root.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { emailFeedbackOf, enabledChannels, TidingsConfigError, type TidingsConfig, typeChannelProblems } from "../runtime/config";
import { channelAddresses, type WorkerSettings } from "../runtime/system";
import { missingTemplates, missingTemplatesMessage } from "../runtime/templateFiles";
import { type ChannelAddressField, policyDocument, TidingsError } from "./common";
import { ConnectionsTable } from "./ConnectionsTable";
import { ContactsTable } from "./ContactsTable";
import { EmailFeedback } from "./EmailFeedback";
import { EncryptionKey } from "./EncryptionKey";
import { FeedTable } from "./FeedTable";
import { NotificationApi } from "./NotificationApi";
import { NotificationChannel, type NotificationChannelArgs } from "./NotificationChannel";
import { NotificationLogTable } from "./NotificationLogTable";
import { Operations } from "./Operations";
import { PolitenessTable } from "./PolitenessTable";
import { TopicsTable } from "./TopicsTable";
import { type ChannelProvider, providerFromConfig } from "./providers";
import { SettingsTable } from "./SettingsTable";
import { StatusCallbacks } from "./StatusCallbacks";
import { TemplatesBucket } from "./TemplatesBucket";
import { UserApi } from "./UserApi";
import { UserDataRoutes } from "./UserDataRoutes";
import { WebSocketApi } from "./WebSocketApi";

export interface TidingsStackInputs {
  config: TidingsConfig;
  /** HS256 signing secret for user tokens: a Pulumi secret. */
  tokenSigningSecret: pulumi.Input<string>;
  /**
   * Channels of your own, next to the ones in config: each is one `new NotificationChannel(...)`
   * spread over `shared` (bus, tables, key, alerts topic). The producer API accepts their names.
   *
   * @example
   * addChannels: (shared) => [
   *   new NotificationChannel("pager", { ...shared, channel: "pager", provider: { type: "lambda", functionArn }, ratePerSecond: 1 }),
   * ]
   */
  addChannels?: (shared: SharedChannelArgs) => NotificationChannel[];
  /**
   * Providers Tidings does not ship, by the provider name used in `tidings:channels` config.
   * @example customProviders: { pager: { type: "inline", name: "pager", statements: () => [...], create: () => makePager(...) } }
   */
  customProviders?: Record<string, ChannelProvider>;
  /**
   * Folders of templates added to the default ones (`<type>/<channel>.json`): the templates of a channel
   * or type your stack adds. A file at the same path replaces the default template.
   * @example extraTemplatesDirs: [path.join(__dirname, "templates")]
   */
  extraTemplatesDirs?: string[];
  /** The component every top-level resource belongs to (the `Tidings` component passes itself). */
  parent?: pulumi.Resource;
}

/** What every channel of a stack shares: spread it into `NotificationChannelArgs`. */
export type SharedChannelArgs = Pick<
  NotificationChannelArgs,
  | "bus"
  | "notificationLogTable"
  | "politenessTable"
  | "kmsKeyArn"
  | "alertsTopicArn"
  | "logRetentionDays"
  | "logTtlDays"
  | "statusCallbacksQueue"
>;

/** A stack as composed: its validated config, its templates' folders and every channel it built (config's and code's). */
export interface ComposedStack {
  config: TidingsConfig;
  extraTemplatesDirs: string[];
  channels: Record<string, NotificationChannel>;
}

let observer: ((stack: ComposedStack) => void) | undefined;

/**
 * Tells `observe` of each stack composed from now on: `tidings dev` runs a program under mocks and then
 * runs locally what it composed. Returns the function that stops observing.
 */
export function observeCompositions(observe: (stack: ComposedStack) => void): () => void {
  observer = observe;
  return () => {
    if (observer === observe) observer = undefined;
  };
}

export function createTidingsStack(inputs: TidingsStackInputs) {
  const { config, tokenSigningSecret, addChannels, customProviders, extraTemplatesDirs, parent } = inputs;
  const opts = { parent };
  const key = new EncryptionKey("tidings", { adminArns: config.kms.adminArns }, opts);
  const kmsKeyArn = key.arn;

  const connectionsTable = new ConnectionsTable("connections", { kmsKeyArn }, opts);
  // The tables holding personal data cannot be dropped by a destroy or a replacement while protected.
  const { deletionProtection } = config;
  const contactsTable = new ContactsTable("contacts", { kmsKeyArn, deletionProtection }, opts);
  const settingsTable = new SettingsTable("settings", { kmsKeyArn, deletionProtection }, opts);
  const notificationLogTable = new NotificationLogTable("notification-log", { kmsKeyArn, deletionProtection }, opts);
  const politenessTable = new PolitenessTable("politeness", { kmsKeyArn }, opts);
  const topicsTable = config.topics.enabled ? new TopicsTable("topics", { kmsKeyArn }, opts) : undefined;
  const feedTable = new FeedTable("feed", { kmsKeyArn }, opts);

  const alertsTopic = new aws.sns.Topic("alerts", { kmsMasterKeyId: kmsKeyArn }, opts);
  if (config.alertEmail) {
    new aws.sns.TopicSubscription("alerts-email", { topic: alertsTopic.arn, protocol: "email", endpoint: config.alertEmail }, opts);
  }
  const bus = new aws.cloudwatch.EventBus("notifications", { kmsKeyIdentifier: kmsKeyArn }, opts);

  // WebSocket stage logging needs the account's API Gateway CloudWatch role; set it only when asked.
  const apiGatewayAccount = config.apiGatewayCloudWatchRole ? createApiGatewayLogsRole(parent) : undefined;
  const websocket = new WebSocketApi(
    "websocket",
    {
      connectionsTable,
      kmsKeyArn,
      tokenSigningSecret,
      auth: config.auth,
      maxConnectionsPerUser: config.websocket.maxConnectionsPerUser,
      chat: config.websocket.sendMessage,
      stage: config.stage,
      connectionTtlHours: config.connectionTtlHours,
      logRetentionDays: config.logRetentionDays,
    },
    // Added to the stage's own dependsOn (its routes), not instead of it.
    {
      parent,
      transform: apiGatewayAccount
        ? {
            stage: (_args, stageOpts) => {
              stageOpts.dependsOn = [apiGatewayAccount];
            },
          }
        : undefined,
    },
  );

  // Status callbacks to the producer (optional): one queue every decider puts final statuses on.
  const statusCallbacks = config.statusCallbacks
    ? new StatusCallbacks("status-callbacks", {
        ...config.statusCallbacks,
        kmsKeyArn,
        alertsTopicArn: alertsTopic.arn,
        logRetentionDays: config.logRetentionDays,
      })
    : undefined;
  const statusCallbacksQueue = statusCallbacks?.queue;

  const shared: SharedChannelArgs = {
    statusCallbacksQueue,
    bus,
    notificationLogTable,
    politenessTable,
    kmsKeyArn,
    alertsTopicArn: alertsTopic.arn,
    logRetentionDays: config.logRetentionDays,
    logTtlDays: config.logTtlDays,
  };
  const channels: Record<string, NotificationChannel> = {};
  for (const name of enabledChannels(config)) {
    const { failoverAfter, ratePerSecond, maxConcurrency, batchSize, maxReceiveCount, workerTimeoutSeconds, perUser } =
      config.channels[name];
    const sources = {
      websocket: { api: websocket, connectionsTable },
      feed: { table: feedTable, ttlDays: config.feed.ttlDays },
      contactsTable,
      customProviders,
    };
    channels[name] = new NotificationChannel(
      name,
      {
        ...shared,
        channel: name,
        provider: providerFromConfig(name, config.channels[name], "provider", sources)!,
        fallback: providerFromConfig(name, config.channels[name], "fallback", sources),
        failoverAfter,
        ratePerSecond,
        maxConcurrency,
        batch: { size: batchSize },
        dlq: { maxReceiveCount },
        workerTimeoutSeconds,
        perUser,
        needsTemplates: config.channels[name].needsTemplates,
        address: config.channels[name].address,
      },
      opts,
    );
  }
  for (const extra of addChannels?.(shared) ?? []) {
    if (channels[extra.channel]) {
      throw new TidingsError(
        `Channel "${extra.channel}" is already configured in tidings:channels: add it in config or in addChannels, not both.`,
      );
    }
    channels[extra.channel] = extra;
  }
  const typeProblems = typeChannelProblems(
    config,
    Object.keys(channels).filter((name) => !config.channels[name]),
  );
  if (typeProblems.length) throw new TidingsConfigError(typeProblems);

  const templates = new TemplatesBucket("templates", { kmsKeyArn, extraTemplatesDirs }, opts);
  // Every (type, channel) a type can reach has its template: a channel added without one would
  // otherwise fail that type's requests on every channel at run time.
  const missing = missingTemplates(
    {
      types: config.notificationTypes,
      channels: Object.keys(channels),
      channelsWithoutTemplates: Object.entries(channels)
        .filter(([, channel]) => !channel.needsTemplates)
        .map(([name]) => name),
    },
    templates.templates.map((t) => t.key),
  );
  if (missing.length) throw new TidingsError(missingTemplatesMessage(missing));
  observer?.({ config, extraTemplatesDirs: extraTemplatesDirs ?? [], channels });
  // Where each channel that keeps per-user addresses finds them, config's and code's alike.
  const addresses = channelAddresses(channels) as Record<string, Record<string, ChannelAddressField>>;
  // The user's side (issue 10): end-user API (feed, preferences, devices, tracking links).
  const userApi = new UserApi(
    "user-api",
    {
      feedTable,
      contactsTable,
      settingsTable,
      notificationLogTable,
      connectionsTable,
      websocket,
      bus,
      tokenSigningSecretArn: websocket.secret.arn,
      auth: config.auth,
      enabledChannels: Object.keys(channels),
      types: config.notificationTypes,
      maxDevicesPerUser: config.devices.maxPerUser,
      allowOrigins: config.userApi.allowOrigins,
      kmsKeyArn,
      logRetentionDays: config.logRetentionDays,
    },
    opts,
  );
  const api = new NotificationApi(
    "producer-api",
    {
      statusCallbacksQueue,
      bus,
      contactsTable,
      settingsTable,
      notificationLogTable,
      templates,
      enabledChannels: Object.keys(channels),
      types: config.notificationTypes,
      logTtlDays: config.logTtlDays,
      scheduling: config.scheduling.enabled,
      alertsTopicArn: alertsTopic.arn,
      topicsTable,
      stuckAfterMinutes: config.reconciler.stuckAfterMinutes,
      auth:
        config.producerAuth === "jwt"
          ? { type: "jwt", issuer: config.auth.issuer, audience: [config.auth.audience], scopes: config.auth.scopes }
          : { type: "iam" },
      producers: config.producers,
      channelAddresses: addresses,
      kmsKeyArn,
      logRetentionDays: config.logRetentionDays,
      linkTracking: {
        baseUrl: userApi.url,
        signingSecretArn: websocket.secret.arn,
        ttlDays: config.tracking.linkTtlDays,
        openPixel: config.tracking.openPixel,
      },
    },
    opts,
  );
  const userData = new UserDataRoutes(
    "user-data",
    {
      api: api.api,
      authorization: api.authorizer ? { type: "JWT", authorizerId: api.authorizer.id, scopes: config.auth.scopes } : { type: "AWS_IAM" },
      contactsTable,
      settingsTable,
      feedTable,
      connectionsTable,
      notificationLogTable,
      politeness: { table: politenessTable, channels: channelsWithPerUserLimits(channels) },
      channelAddresses: addresses,
      websocket,
      topicsTable,
      kmsKeyArn,
      logRetentionDays: config.logRetentionDays,
    },
    opts,
  );

  // SES bounces and complaints suppress the address (email through SES, tidings:emailFeedback).
  const feedback = emailFeedbackOf(config);
  const emailFeedback =
    feedback && channels.email
      ? new EmailFeedback(
          "email-feedback",
          {
            configurationSetName: feedback.configurationSet,
            createConfigurationSet: feedback.create,
            contactsTable,
            kmsKeyArn,
            logRetentionDays: config.logRetentionDays,
          },
          opts,
        )
      : undefined;

  const operations = new Operations(
    "operations",
    {
      channels: Object.values(channels).map((c) => ({
        channel: c.channel,
        queue: c.queue,
        deadLetterQueue: c.deadLetterQueue,
        ruleDeadLetterQueue: c.ruleDeadLetterQueue,
        rule: c.rule,
        worker: c.worker.function,
      })),
      bus,
      notificationLogTable,
      kmsKeyArn,
      alertsTopicArn: alertsTopic.arn,
      dashboard: config.dashboard,
      alarms: config.alarms,
      reconciler: config.reconciler,
      statusCallbacksQueue,
      logRetentionDays: config.logRetentionDays,
    },
    opts,
  );
  // The service (its scheduled sender, its topic fan-out) puts, the user API puts a verification code's delivery, and the reconciler puts a
  // recorded delivery again: nobody else.
  const putters = [
    api.function.role.arn,
    userApi.function.role.arn,
    ...(api.scheduling ? [api.scheduling.sender.role.arn] : []),
    ...(api.topics ? [api.topics.function.role.arn] : []),
    ...(operations.reconciler ? [operations.reconciler.function.role.arn] : []),
  ];
  const busPolicy = createBusPolicy(bus, putters, opts);

  return {
    operations,
    statusCallbacks,
    emailFeedback,
    key,
    busPolicy,
    bus,
    alertsTopic,
    connectionsTable,
    contactsTable,
    settingsTable,
    notificationLogTable,
    politenessTable,
    websocket,
    templates,
    api,
    feedTable,
    userApi,
    userData,
    channels,
    outputs: {
      websocketUrl: websocket.url,
      managementEndpoint: websocket.managementEndpoint,
      notificationsEndpoint: api.endpoint,
      userApiUrl: userApi.url,
      eventBusName: bus.name,
      alertsTopicArn: alertsTopic.arn,
      tables: {
        connections: connectionsTable.name,
        contacts: contactsTable.name,
        settings: settingsTable.name,
        notificationLog: notificationLogTable.name,
        politeness: politenessTable.name,
        feed: feedTable.name,
        ...(topicsTable ? { topics: topicsTable.name } : {}),
      },
      templatesBucket: templates.bucketName,
      channels: Object.fromEntries(
        Object.entries(channels).map(([name, channel]) => [
          name,
          {
            queueUrl: channel.queue.url,
            queueArn: channel.queue.arn,
            deadLetterQueueUrl: channel.deadLetterQueue.url,
            deadLetterQueueArn: channel.deadLetterQueue.arn,
            ruleDeadLetterQueueUrl: channel.ruleDeadLetterQueue.url,
          },
        ]),
      ),
      // `npm run redrive -- --schedules` hands the fires in this DLQ to the sender.
      ...(api.scheduling
        ? { scheduling: { deadLetterQueueUrl: api.scheduling.deadLetterQueue.url, senderArn: api.scheduling.sender.function.arn } }
        : {}),
    },
  };
}

/**
 * The account-level role API Gateway writes execution and access logs with, scoped to this account's and
 * region's log groups (AWS's managed policy for it grants `*`).
 */
function createApiGatewayLogsRole(parent: pulumi.Resource | undefined): aws.apigateway.Account {
  const region = aws.getRegionOutput({}, { parent }).region;
  const accountId = aws.getCallerIdentityOutput({}, { parent }).accountId;
  const role = new aws.iam.Role(
    "apigateway-cloudwatch",
    {
      assumeRolePolicy: aws.iam.assumeRolePolicyForPrincipal({ Service: "apigateway.amazonaws.com" }),
      inlinePolicies: [
        {
          name: "push-logs",
          policy: policyDocument([
            {
              Action: [
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:DescribeLogGroups",
                "logs:DescribeLogStreams",
                "logs:PutLogEvents",
                "logs:GetLogEvents",
                "logs:FilterLogEvents",
              ],
              Resource: [pulumi.interpolate`arn:aws:logs:${region}:${accountId}:log-group:*`],
            },
          ]),
        },
      ],
    },
    { parent },
  );
  return new aws.apigateway.Account("apigateway-account", { cloudwatchRoleArn: role.arn }, { parent });
}

/**
 * Only the notification service (its scheduled sender, the reconciler) may put events on the bus: an explicit Deny for every other principal,
 * the account's own admins and roles included (a Deny in a resource policy beats any IAM Allow). A
 * direct PutEvents with a made-up address would otherwise reach a worker; workers also check each
 * delivery against its log row (runtime/deliveryDigest.ts), so this is the first of two locks.
 */
function createBusPolicy(bus: aws.cloudwatch.EventBus, putters: pulumi.Input<string>[], opts: pulumi.CustomResourceOptions) {
  return new aws.cloudwatch.EventBusPolicy(
    "notifications-policy",
    {
      eventBusName: bus.name,
      policy: pulumi.all([bus.arn, pulumi.all(putters)]).apply(([busArn, principals]) =>
        JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            {
              Sid: "NotificationServicePuts",
              Effect: "Allow",
              Principal: { AWS: principals },
              Action: "events:PutEvents",
              Resource: busArn,
            },
            {
              Sid: "NobodyElsePuts",
              Effect: "Deny",
              Principal: "*",
              Action: "events:PutEvents",
              Resource: busArn,
              Condition: { ArnNotEquals: { "aws:PrincipalArn": principals } },
            },
          ],
        }),
      ),
    },
    opts,
  );
}

/** The channels (from config or added in code) whose workers count per-user sends in the politeness table. */
function channelsWithPerUserLimits(channels: Record<string, NotificationChannel>): string[] {
  return Object.entries(channels)
    .filter(([, channel]) => (channel.worker.spec?.settings as WorkerSettings | undefined)?.perUser !== undefined)
    .map(([name]) => name);
}
