import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { DEFAULTS } from "../runtime/defaults";
import { channelQueueSettings, redrivePolicy } from "../runtime/channelQueues";
import type { SqsBatchResponse, SqsEvent } from "../runtime/contracts";
import { childOf, nodesOf, setNodes, type TidingsComponentOptions, TidingsError, type Transform, withOldType } from "./common";
import { DlqAlarm, type DlqAlarmTransform } from "./DlqAlarm";
import { describedFunction } from "./described";
import type { InlineFunction, InlineFunctionTransform } from "./InlineFunction";
import { CALLBACK_QUEUE, callbackSenderFunction } from "../runtime/system";

export interface StatusCallbacksArgs {
  /**
   * The producer's https endpoint that receives a signed POST per final status.
   * @example url: "https://shop.example.com/hooks/tidings"
   */
  url: string;
  /**
   * Secrets Manager secret whose SecretString is the HMAC key (never in config).
   * @example secretArn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tidings-callbacks-AbCdEf"
   */
  secretArn: pulumi.Input<string>;
  kmsKeyArn: pulumi.Input<string>;
  alertsTopicArn: pulumi.Input<string>;
  /** Attempts before a callback moves to the DLQ (with backoff doubling from 10 s to 15 min). @default 8 */
  maxReceiveCount?: number;
  /** @default 14 */
  logRetentionDays?: number;
}

/** The resources of a StatusCallbacks a transform can change (pass as the `transform` option). */
export interface StatusCallbacksTransform {
  queue?: Transform<aws.sqs.QueueArgs>;
  deadLetterQueue?: Transform<aws.sqs.QueueArgs>;
  eventSourceMapping?: Transform<aws.lambda.EventSourceMappingArgs>;
  function?: InlineFunctionTransform;
  /** The dead-letter queue's alarm. */
  alarm?: DlqAlarmTransform;
}

interface StatusCallbacksNodes {
  sender: InlineFunction<SqsEvent, SqsBatchResponse>;
  alarm: DlqAlarm;
}

/**
 * Status callbacks to the producer: a queue (KMS, redrive to a DLQ with an alarm, like a channel) that
 * workers, the producer API and the reconciler put final statuses on, and a sender Lambda that POSTs each,
 * signed with `X-Tidings-Signature: t=…,v1=HMAC-SHA256(secret, "t.body")`, retrying with backoff.
 * Give `queue` to the channels, the API and the reconciler (`statusCallbacksQueue`).
 *
 * @example
 * const callbacks = new StatusCallbacks("status-callbacks", {
 *   url: "https://shop.example.com/hooks/tidings", secretArn, kmsKeyArn: key.arn, alertsTopicArn: alerts.arn,
 * });
 */
export class StatusCallbacks extends pulumi.ComponentResource {
  readonly queue: aws.sqs.Queue;
  readonly deadLetterQueue: aws.sqs.Queue;
  readonly queueUrl: pulumi.Output<string>;
  readonly deadLetterQueueUrl: pulumi.Output<string>;
  /** The sender function's ARN. */
  readonly senderArn: pulumi.Output<string>;

  /** The function that POSTs the callbacks (TypeScript only: kept off the multi-language schema). */
  get sender(): InlineFunction<SqsEvent, SqsBatchResponse> {
    return nodesOf<StatusCallbacksNodes>(this).sender;
  }
  /** The alarm on the dead-letter queue. */
  get alarm(): DlqAlarm {
    return nodesOf<StatusCallbacksNodes>(this).alarm;
  }

  constructor(name: string, args: StatusCallbacksArgs, opts?: TidingsComponentOptions<StatusCallbacksTransform>) {
    super("tidings:index:StatusCallbacks", name, {}, withOldType("tidings:aws:StatusCallbacks", opts));
    const withTransform = childOf(this);
    if (!/^https:\/\/[^/]/.test(args.url ?? "")) {
      throw new TidingsError(`StatusCallbacks: url must be the producer's https:// endpoint (got "${args.url}").`);
    }
    const settings = channelQueueSettings({
      workerTimeoutSeconds: CALLBACK_QUEUE.workerTimeoutSeconds,
      maxReceiveCount: args.maxReceiveCount ?? DEFAULTS.statusCallbacks.maxReceiveCount,
      batchSize: CALLBACK_QUEUE.batchSize,
      maxConcurrency: CALLBACK_QUEUE.maxConcurrency,
    });
    this.deadLetterQueue = new aws.sqs.Queue(
      ...withTransform(opts?.transform?.deadLetterQueue, `${name}-dlq`, {
        messageRetentionSeconds: settings.deadLetterRetentionSeconds,
        kmsMasterKeyId: args.kmsKeyArn,
      }),
    );
    this.queue = new aws.sqs.Queue(
      ...withTransform(opts?.transform?.queue, `${name}-queue`, {
        visibilityTimeoutSeconds: settings.visibilityTimeoutSeconds,
        messageRetentionSeconds: settings.messageRetentionSeconds,
        kmsMasterKeyId: args.kmsKeyArn,
        redrivePolicy: this.deadLetterQueue.arn.apply((arn) => redrivePolicy(arn, settings)),
      }),
    );
    const spec = callbackSenderFunction({ url: args.url, maxReceiveCount: settings.maxReceiveCount });
    const sender = describedFunction(
      `${name}-sender`,
      spec,
      {
        resources: {
          callbacks: { id: this.queue.url, arn: this.queue.arn },
          callbacksSecret: { id: args.secretArn, arn: args.secretArn },
          key: { id: args.kmsKeyArn, arn: args.kmsKeyArn },
        },
      },
      { kmsKeyArn: args.kmsKeyArn, logRetentionDays: args.logRetentionDays },
      { parent: this, transform: opts?.transform?.function },
    );
    new aws.lambda.EventSourceMapping(
      ...withTransform(opts?.transform?.eventSourceMapping, `${name}-mapping`, {
        eventSourceArn: this.queue.arn,
        functionName: sender.function.arn,
        batchSize: CALLBACK_QUEUE.batchSize,
        functionResponseTypes: ["ReportBatchItemFailures"],
        scalingConfig: { maximumConcurrency: CALLBACK_QUEUE.maxConcurrency },
      }),
    );
    const alarm = new DlqAlarm(
      `${name}-dlq-alarm`,
      {
        queue: this.deadLetterQueue,
        alertsTopicArn: args.alertsTopicArn,
        description: `Status callbacks the producer endpoint refused ${settings.maxReceiveCount} times. Fix the endpoint, then redrive.`,
      },
      { parent: this, transform: opts?.transform?.alarm },
    );
    setNodes<StatusCallbacksNodes>(this, { sender, alarm });
    this.queueUrl = this.queue.url;
    this.deadLetterQueueUrl = this.deadLetterQueue.url;
    this.senderArn = sender.function.arn;
    this.registerOutputs({ queueUrl: this.queueUrl, deadLetterQueueUrl: this.deadLetterQueueUrl });
  }
}
