import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { channelQueueSettings, type ChannelQueueSettings, redrivePolicy } from "../runtime/channelQueues";
import { CHANNEL_NAME_PATTERN, DEFAULTS } from "../runtime/config";
import type { AddressSchema } from "../runtime/addresses";
import { detailTypeFor, EVENT_SOURCE, type SqsBatchResponse, type SqsEvent } from "../runtime/contracts";
import { type ChannelDescription, type ProviderSpec, type WorkerSettings, workerFunction } from "../runtime/system";
import {
  addressSchemaOf,
  type ChannelAddressField,
  childOf,
  nodesOf,
  type PerUserLimit,
  type ResourceRef,
  setNodes,
  type TidingsComponentOptions,
  TidingsError,
  type Transform,
  type QueueUrlRef,
} from "./common";
import { type Bindings, type Bound, describedFunction } from "./described";
import { DlqAlarm, type DlqAlarmTransform } from "./DlqAlarm";
import type { InlineFunction, InlineFunctionTransform } from "./InlineFunction";
import { type ChannelProvider, providerContext, type ResolvedProvider, resolveProvider } from "./providers";

export interface NotificationChannelArgs {
  /**
   * Channel name: the rule matches `detail-type: notification.<channel>`.
   * @example channel: "email"
   */
  channel: string;
  /** The Tidings event bus the notification service puts deliveries on (an EventBus, or its name and ARN). */
  bus: ResourceRef;
  /**
   * How the worker delivers: a provider as data (see ChannelProvider for each type's settings).
   * @example provider: { type: "ses", from: "notify@example.com" }
   * @example provider: { type: "lambda", functionArn: "arn:aws:lambda:eu-west-1:123456789012:function:pager" }
   */
  provider: ChannelProvider;
  /**
   * Used for a message once the primary has failed it retryably `failoverAfter` times.
   * @example fallback: { type: "lambda", functionArn: backupSender.arn }
   */
  fallback?: ChannelProvider;
  /** Retryable failures of one message before the fallback takes over. @default 3 */
  failoverAfter?: number;
  /** Sends per second across all workers (split evenly over `maxConcurrency`). @default unlimited */
  ratePerSecond?: number;
  /** Concurrent worker instances (event source mapping maximumConcurrency, 2–1000). @default 2 */
  maxConcurrency?: number;
  /**
   * How SQS hands messages to the worker.
   * @example batch: { size: 5 }
   */
  batch?: BatchSettings;
  /**
   * The channel queue's dead-letter queue.
   * @example dlq: { maxReceiveCount: 8 }
   */
  dlq?: DeadLetterSettings;
  /** @default 30 */
  workerTimeoutSeconds?: number;
  /** Overrides the derived visibility timeout (6 × worker timeout); must exceed the worker timeout. */
  visibilityTimeoutSeconds?: number;
  /**
   * At most `limit` deliveries per user on this channel in each `windowSeconds`; more are delayed.
   * @example perUser: { limit: 10, windowSeconds: 3600 }
   */
  perUser?: PerUserLimit;
  /**
   * false: the channel sends no rendered content (its provider builds its own), so the types that can
   * reach it need no template for it (the stack's completeness check skips it).
   * @default true
   */
  needsTemplates?: boolean;
  /**
   * The per-user address this channel delivers to, kept in contacts' `external_channels.<channel>`:
   * the contacts routes accept it checked by these rules (400 naming the field), the worker gets it as
   * `address`, a user without one is `skipped: no address`, and `secret` fields are masked when read.
   * @example address: { webhookUrl: { type: "https-url", hosts: ["*.webhook.office.com"], secret: true } }
   */
  address?: Record<string, ChannelAddressField>;
  /** The notification log table (a NotificationLogTable, or its name and ARN). */
  notificationLogTable: ResourceRef;
  /** The politeness table `perUser` limits count in (a PolitenessTable, or its name and ARN). */
  politenessTable: ResourceRef;
  /** Days a notification-log row is kept. @default 90 */
  logTtlDays?: number;
  /** The stack's KMS key: queues and the worker's logs are encrypted with it. */
  kmsKeyArn: pulumi.Input<string>;
  /**
   * The status-callbacks queue (StatusCallbacks component), when producers get callbacks: final
   * statuses decided here are put on it (sqs:SendMessage on this queue only).
   * @default no callbacks
   */
  statusCallbacksQueue?: QueueUrlRef;
  /** SNS topic the DLQ alarms notify. */
  alertsTopicArn: pulumi.Input<string>;
  /** @default 14 */
  logRetentionDays?: pulumi.Input<number>;
}

/** How SQS hands messages to a channel's worker. */
export interface BatchSettings {
  /** Messages per worker invocation (1–10). @default 10 */
  size?: number;
}

/** A channel queue's dead-letter queue. */
export interface DeadLetterSettings {
  /** Receives before a message moves to the DLQ. @default 5 */
  maxReceiveCount?: number;
}

/** The resources of a NotificationChannel a transform can change (pass as the `transform` option). */
export interface NotificationChannelTransform {
  queue?: Transform<aws.sqs.QueueArgs>;
  deadLetterQueue?: Transform<aws.sqs.QueueArgs>;
  ruleDeadLetterQueue?: Transform<aws.sqs.QueueArgs>;
  queuePolicy?: Transform<aws.sqs.QueuePolicyArgs>;
  ruleDeadLetterQueuePolicy?: Transform<aws.sqs.QueuePolicyArgs>;
  redriveAllowPolicy?: Transform<aws.sqs.RedriveAllowPolicyArgs>;
  rule?: Transform<aws.cloudwatch.EventRuleArgs>;
  target?: Transform<aws.cloudwatch.EventTargetArgs>;
  worker?: InlineFunctionTransform;
  eventSourceMapping?: Transform<aws.lambda.EventSourceMappingArgs>;
  /** Both DLQ alarms. */
  alarm?: DlqAlarmTransform;
}

/** Child components of a NotificationChannel (kept off its schema outputs). */
interface ChannelNodes {
  worker: InlineFunction<SqsEvent, SqsBatchResponse>;
  alarms: DlqAlarm[];
  address?: AddressSchema;
  /** What the worker was built from: its description's settings and its providers' deploy-time values. */
  built: { settings: WorkerSettings; values: NonNullable<Bindings["values"]> };
}

/** How long EventBridge keeps retrying a queue it cannot reach before the event goes to the rule DLQ. */
const RULE_RETRY = { maximumEventAgeInSeconds: 86_400, maximumRetryAttempts: 185 };

/**
 * One delivery channel: EventBridge rule → encrypted SQS queue (redrive to a DLQ) → worker Lambda →
 * provider, with a DLQ alarm on the queue's DLQ and on the rule's own DLQ (events EventBridge could
 * not deliver to the queue). The worker may touch only its own queue, the log tables and its provider.
 *
 * @example
 * new NotificationChannel("email", {
 *   channel: "email", bus, kmsKeyArn: key.arn, alertsTopicArn: alerts.arn,
 *   notificationLogTable, politenessTable,
 *   provider: { type: "ses", from: "notify@example.com" },
 * });
 * @example
 * // A channel of your own, sent by a Lambda function in any language:
 * new NotificationChannel("pager", { ...shared, channel: "pager", provider: { type: "lambda", functionArn: pager.arn } });
 * @example
 * // TypeScript only: a provider built inside the worker from your own code.
 * new NotificationChannel("pager", {
 *   ...shared, channel: "pager",
 *   provider: { type: "inline", name: "pager", statements: () => [], create: () => ({ name: "pager", send: async () => ({ outcome: "sent" }) }) },
 * });
 */
export class NotificationChannel extends pulumi.ComponentResource {
  /** The channel name (`notification.<channel>` on the bus). */
  readonly channel: string;
  readonly queue: aws.sqs.Queue;
  readonly deadLetterQueue: aws.sqs.Queue;
  readonly ruleDeadLetterQueue: aws.sqs.Queue;
  readonly rule: aws.cloudwatch.EventRule;
  readonly target: aws.cloudwatch.EventTarget;
  readonly eventSourceMapping: aws.lambda.EventSourceMapping;
  /** The queue settings the channel was built with (the local mode uses the same). */
  readonly settings: ChannelQueueSettings;
  /** Whether the types reaching this channel need a template for it. */
  readonly needsTemplates: boolean;
  /** The per-user address it delivers to, when it keeps one in contacts' `external_channels` (TypeScript only). */
  get address(): AddressSchema | undefined {
    return nodesOf<ChannelNodes>(this).address;
  }
  readonly queueUrl: pulumi.Output<string>;
  readonly deadLetterQueueUrl: pulumi.Output<string>;
  readonly ruleDeadLetterQueueUrl: pulumi.Output<string>;
  readonly workerArn: pulumi.Output<string>;

  /**
   * The channel as data, as runtime/system describes a channel: its worker's settings, queues, provider
   * values and address. `tidings dev` runs a composition's channels from it.
   */
  describe(): pulumi.Output<ChannelDescription> {
    const { built, address } = nodesOf<ChannelNodes>(this);
    return pulumi.output(built.values).apply((values) => ({
      worker: built.settings,
      queue: this.settings,
      values,
      address,
      needsTemplates: this.needsTemplates,
    }));
  }

  /** The worker function (role, log group, Lambda). */
  get worker(): InlineFunction<SqsEvent, SqsBatchResponse> {
    return nodesOf<ChannelNodes>(this).worker;
  }

  /** The alarms on the channel's DLQ and on its rule's DLQ. */
  get alarms(): DlqAlarm[] {
    return nodesOf<ChannelNodes>(this).alarms;
  }

  constructor(name: string, args: NotificationChannelArgs, opts?: TidingsComponentOptions<NotificationChannelTransform>) {
    super("tidings:index:NotificationChannel", name, {}, opts);
    this.channel = args.channel;
    const withTransform = childOf(this);
    const transform = opts?.transform ?? {};
    const settings = normalizeSettings(args);
    this.settings = settings;
    this.needsTemplates = args.needsTemplates ?? true;
    const address = addressSchemaOf(`Channel "${args.channel}": address`, args.address);
    const workerTimeoutSeconds = args.workerTimeoutSeconds ?? DEFAULTS.channel.workerTimeoutSeconds;

    const ctx = providerContext(args.channel, this);
    const primary = resolveProvider(args.channel, "provider", args.provider, ctx);
    const fallback = args.fallback ? resolveProvider(args.channel, "fallback", args.fallback, ctx) : undefined;
    const types = [primary.type, fallback?.type];
    if (types.includes("sns-sms") && types.includes("sns-push")) {
      // One worker role holds both providers' statements, and sns-sms's Deny on every SNS ARN (which keeps
      // SMS publishing off topics) would also block every publish to a push endpoint.
      throw new TidingsError(
        `Channel "${args.channel}": sns-sms and sns-push cannot be provider and fallback of one channel (the SMS worker's role denies publishing to any SNS ARN, push endpoints included); use a lambda provider as the fallback.`,
      );
    }

    this.deadLetterQueue = createDeadLetterQueue(this, `${name}-dlq`, transform.deadLetterQueue);
    this.ruleDeadLetterQueue = createDeadLetterQueue(this, `${name}-rule-dlq`, transform.ruleDeadLetterQueue);
    this.queue = createQueue(this);
    this.rule = createRule(this);
    const policies = [
      allowRuleToSend(this, this.queue, `${name}-queue-policy`, transform.queuePolicy),
      allowRuleToSend(this, this.ruleDeadLetterQueue, `${name}-rule-dlq-policy`, transform.ruleDeadLetterQueuePolicy),
    ];
    new aws.sqs.RedriveAllowPolicy(
      ...withTransform(transform.redriveAllowPolicy, `${name}-dlq-redrive-allow`, {
        queueUrl: this.deadLetterQueue.url,
        redriveAllowPolicy: pulumi.jsonStringify({ redrivePermission: "byQueue", sourceQueueArns: [this.queue.arn] }),
      }),
    );
    this.target = createTarget(this, policies);
    const { worker, built } = createWorker(this);
    this.eventSourceMapping = createEventSourceMapping(this, worker);
    const alarms = [
      new DlqAlarm(
        `${name}-dlq-alarm`,
        {
          queue: this.deadLetterQueue,
          alertsTopicArn: args.alertsTopicArn,
          description: `Channel ${args.channel}: deliveries that failed ${settings.maxReceiveCount} times. Inspect, fix, then redrive to the channel queue.`,
        },
        { parent: this, transform: transform.alarm },
      ),
      new DlqAlarm(
        `${name}-rule-dlq-alarm`,
        {
          queue: this.ruleDeadLetterQueue,
          alertsTopicArn: args.alertsTopicArn,
          description: `Channel ${args.channel}: events EventBridge could not put on the channel queue (queue policy or KMS key?).`,
        },
        { parent: this, transform: transform.alarm },
      ),
    ];
    setNodes<ChannelNodes>(this, { worker, alarms, address, built });
    this.queueUrl = this.queue.url;
    this.deadLetterQueueUrl = this.deadLetterQueue.url;
    this.ruleDeadLetterQueueUrl = this.ruleDeadLetterQueue.url;
    this.workerArn = worker.function.arn;
    this.registerOutputs({
      queueUrl: this.queueUrl,
      deadLetterQueueUrl: this.deadLetterQueueUrl,
      ruleDeadLetterQueueUrl: this.ruleDeadLetterQueueUrl,
      workerArn: this.workerArn,
    });

    function createDeadLetterQueue(_self: NotificationChannel, queueName: string, transform?: Transform<aws.sqs.QueueArgs>) {
      return new aws.sqs.Queue(
        ...withTransform(transform, queueName, {
          messageRetentionSeconds: settings.deadLetterRetentionSeconds,
          kmsMasterKeyId: args.kmsKeyArn,
          kmsDataKeyReusePeriodSeconds: 300,
        }),
      );
    }

    function createQueue(self: NotificationChannel) {
      return new aws.sqs.Queue(
        ...withTransform(transform.queue, `${name}-queue`, {
          visibilityTimeoutSeconds: settings.visibilityTimeoutSeconds,
          messageRetentionSeconds: settings.messageRetentionSeconds,
          kmsMasterKeyId: args.kmsKeyArn,
          kmsDataKeyReusePeriodSeconds: 300,
          redrivePolicy: self.deadLetterQueue.arn.apply((arn) => redrivePolicy(arn, settings)),
        }),
      );
    }

    function createRule(_self: NotificationChannel) {
      return new aws.cloudwatch.EventRule(
        ...withTransform(transform.rule, `${name}-rule`, {
          eventBusName: args.bus.name,
          description: `Tidings deliveries for the ${args.channel} channel`,
          eventPattern: JSON.stringify({ source: [EVENT_SOURCE], "detail-type": [detailTypeFor(args.channel)] }),
        }),
      );
    }

    /** EventBridge may send to this queue, and only on behalf of this channel's rule. */
    function allowRuleToSend(
      self: NotificationChannel,
      queue: aws.sqs.Queue,
      policyName: string,
      policyTransform: Transform<aws.sqs.QueuePolicyArgs> | undefined,
    ) {
      return new aws.sqs.QueuePolicy(
        ...withTransform(policyTransform, policyName, {
          queueUrl: queue.url,
          policy: pulumi.jsonStringify({
            Version: "2012-10-17",
            Statement: [
              {
                Sid: "RuleSendsEvents",
                Effect: "Allow",
                Principal: { Service: "events.amazonaws.com" },
                Action: "sqs:SendMessage",
                Resource: queue.arn,
                Condition: { ArnEquals: { "aws:SourceArn": self.rule.arn } },
              },
            ],
          }),
        }),
      );
    }

    function createTarget(self: NotificationChannel, dependsOn: pulumi.Resource[]) {
      return new aws.cloudwatch.EventTarget(
        ...withTransform(
          transform.target,
          `${name}-target`,
          {
            rule: self.rule.name,
            eventBusName: args.bus.name,
            arn: self.queue.arn,
            deadLetterConfig: { arn: self.ruleDeadLetterQueue.arn },
            retryPolicy: RULE_RETRY,
          },
          { dependsOn },
        ),
      );
    }

    function createWorker(self: NotificationChannel) {
      const workerSettings: WorkerSettings = {
        channel: args.channel,
        provider: providerSpecOf(primary),
        fallback: fallback ? providerSpecOf(fallback) : undefined,
        failoverAfter: args.failoverAfter ?? DEFAULTS.channel.failoverAfter,
        ratePerSecond: args.ratePerSecond,
        maxConcurrency: settings.maxConcurrency,
        batchSize: settings.batchSize,
        maximumBatchingWindowSeconds: settings.maximumBatchingWindowSeconds,
        workerTimeoutSeconds,
        claimLeaseSeconds: workerTimeoutSeconds,
        perUser: args.perUser,
        maxReceiveCount: settings.maxReceiveCount,
        logTtlDays: args.logTtlDays ?? DEFAULTS.logTtlDays,
        statusCallbacks: args.statusCallbacksQueue !== undefined,
        feedTtlDays:
          primary.type === "websocket" && args.provider.feedTable ? (args.provider.feedTtlDays ?? DEFAULTS.feedTtlDays) : undefined,
        removeInvalidTokens: [args.provider, args.fallback].some((p) => p?.type === "sns-push" && p.contactsTable !== undefined),
        recordOptOuts: [args.provider, args.fallback].some((p) => p?.type === "sns-sms" && p.contactsTable !== undefined),
      };
      const spec = workerFunction(workerSettings);
      const ref = (r: ResourceRef | undefined): Bound | undefined => (r ? { id: r.name, arn: r.arn } : undefined);
      const websocketProvider = [args.provider, args.fallback].find((p) => p?.type === "websocket");
      // The contacts table: push removes invalid tokens there, SMS records numbers opted out at the carrier.
      const contactsProvider = [args.provider, args.fallback].find(
        (p) => (p?.type === "sns-push" || p?.type === "sns-sms") && p.contactsTable,
      );
      const resources: Bindings["resources"] = {
        queue: { id: self.queue.url, arn: self.queue.arn },
        log: ref(args.notificationLogTable),
        politeness: ref(args.politenessTable),
        key: { id: args.kmsKeyArn, arn: args.kmsKeyArn },
        callbacks: args.statusCallbacksQueue ? { id: args.statusCallbacksQueue.url, arn: args.statusCallbacksQueue.arn } : undefined,
        connections: ref(websocketProvider?.connectionsTable),
        feed: ref(websocketProvider?.feedTable),
        websocket: websocketProvider
          ? {
              id: websocketProvider.managementEndpoint!,
              arn: pulumi.interpolate`${websocketProvider.executionArn}/${websocketProvider.stage}`,
            }
          : undefined,
        contacts: ref(contactsProvider?.contactsTable),
      };
      const values: Bindings["values"] = {};
      if (primary.config) values.provider = primary.config.apply((config) => JSON.stringify(config));
      if (fallback?.config) values.fallback = fallback.config.apply((config) => JSON.stringify(config));
      const worker = describedFunction(
        `${name}-worker`,
        spec,
        { resources, values },
        {
          kmsKeyArn: args.kmsKeyArn,
          logRetentionDays: args.logRetentionDays,
          // Grants on what the providers reach outside the stack (SES identities, SNS, a Lambda function).
          extraStatements: [...primary.statements, ...(fallback ? fallback.statements : [])],
        },
        { parent: self, transform: transform.worker },
      );
      return { worker, built: { settings: workerSettings, values } };
    }

    function createEventSourceMapping(self: NotificationChannel, worker: InlineFunction<SqsEvent, SqsBatchResponse>) {
      return new aws.lambda.EventSourceMapping(
        ...withTransform(transform.eventSourceMapping, `${name}-mapping`, {
          eventSourceArn: self.queue.arn,
          functionName: worker.function.arn,
          batchSize: settings.batchSize,
          maximumBatchingWindowInSeconds: settings.maximumBatchingWindowSeconds || undefined,
          functionResponseTypes: ["ReportBatchItemFailures"],
          scalingConfig: { maximumConcurrency: settings.maxConcurrency },
        }),
      );
    }
  }
}

/** Applies defaults and refuses combinations that cannot work, saying what to change. */
function normalizeSettings(args: NotificationChannelArgs): ChannelQueueSettings {
  const channel = args.channel;
  if (!CHANNEL_NAME_PATTERN.test(channel ?? "")) {
    throw new TidingsError(`Channel name "${channel}" is not allowed: use a lower-case word matching ${CHANNEL_NAME_PATTERN}.`);
  }
  const maxConcurrency = args.maxConcurrency ?? DEFAULTS.channel.maxConcurrency;
  if (!Number.isInteger(maxConcurrency) || maxConcurrency < 2 || maxConcurrency > 1000) {
    throw new TidingsError(
      `Channel "${channel}": maxConcurrency is ${maxConcurrency}, but AWS accepts 2–1000 for an SQS event source. Use at least 2.`,
    );
  }
  let settings: ChannelQueueSettings;
  try {
    settings = channelQueueSettings({
      workerTimeoutSeconds: args.workerTimeoutSeconds,
      maxReceiveCount: args.dlq?.maxReceiveCount,
      batchSize: args.batch?.size,
      maxConcurrency,
      optionNames: { batchSize: "batch.size", maxReceiveCount: "dlq.maxReceiveCount" },
    });
  } catch (error) {
    throw new TidingsError(`Channel "${channel}": ${(error as Error).message}.`);
  }
  const timeout = args.workerTimeoutSeconds ?? DEFAULTS.channel.workerTimeoutSeconds;
  if (args.visibilityTimeoutSeconds !== undefined) {
    if (args.visibilityTimeoutSeconds <= timeout) {
      throw new TidingsError(
        `Channel "${channel}": visibilityTimeoutSeconds (${args.visibilityTimeoutSeconds}) must exceed workerTimeoutSeconds (${timeout}), or SQS hands a message to a second worker while the first still sends it. AWS recommends 6 × the timeout (${6 * timeout}).`,
      );
    }
    settings = { ...settings, visibilityTimeoutSeconds: args.visibilityTimeoutSeconds };
  }
  const failoverAfter = args.failoverAfter ?? DEFAULTS.channel.failoverAfter;
  if (args.fallback && (!Number.isInteger(failoverAfter) || failoverAfter < 1 || failoverAfter >= settings.maxReceiveCount)) {
    throw new TidingsError(
      `Channel "${channel}": failoverAfter (${failoverAfter}) must be at least 1 and below maxReceiveCount (${settings.maxReceiveCount}), or the fallback never gets a message before the DLQ does.`,
    );
  }
  if (args.ratePerSecond !== undefined) {
    if (!(args.ratePerSecond > 0))
      throw new TidingsError(`Channel "${channel}": ratePerSecond must be a positive number, got ${args.ratePerSecond}.`);
    const secondsPerBatch = settings.batchSize / (args.ratePerSecond / maxConcurrency);
    if (secondsPerBatch >= timeout) {
      throw new TidingsError(
        `Channel "${channel}": at ${args.ratePerSecond}/s over ${maxConcurrency} workers, a batch of ${settings.batchSize} takes ${secondsPerBatch.toFixed(1)} s, longer than workerTimeoutSeconds (${timeout}). Lower batchSize or maxConcurrency, or raise the rate or the timeout.`,
      );
    }
  }
  if (args.perUser) {
    const { limit, windowSeconds } = args.perUser;
    if (!Number.isInteger(limit) || limit < 1 || !Number.isInteger(windowSeconds) || windowSeconds < 1) {
      throw new TidingsError(
        `Channel "${channel}": perUser needs a positive whole limit and windowSeconds, got ${JSON.stringify(args.perUser)}.`,
      );
    }
  }
  return settings;
}

/** A resolved provider as the worker's description names it: its shipped type, or its own `create`. */
function providerSpecOf(resolved: ResolvedProvider): ProviderSpec {
  return resolved.create ? { name: resolved.name, create: resolved.create } : { type: resolved.type!, name: resolved.name };
}
