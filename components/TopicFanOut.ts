import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { DEFAULTS } from "../runtime/defaults";
import { channelQueueSettings, redrivePolicy } from "../runtime/channelQueues";
import type { SqsBatchResponse, SqsEvent } from "../runtime/contracts";
import { FANOUT_QUEUE, type ProducerSettings, topicFanOutFunction } from "../runtime/system";
import { childOf, nodesOf, type ResourceRef, setNodes, type TidingsComponentOptions, type Transform } from "./common";
import { type Bindings, describedFunction } from "./described";
import { DlqAlarm, type DlqAlarmTransform } from "./DlqAlarm";
import type { InlineFunction, InlineFunctionTransform } from "./InlineFunction";

export interface TopicFanOutArgs {
  /** What the notification service is built from: the fan-out runs the same pipeline for each subscriber. */
  producer: ProducerSettings;
  /** The pipeline's resources (tables, templates, bus, key, secrets), as the service is given them. */
  bindings: Bindings;
  /** The topic subscriptions (a TopicsTable). */
  topicsTable: ResourceRef;
  kmsKeyArn: pulumi.Input<string>;
  /** Where the DLQ's alarm goes. @default no alarm */
  alertsTopicArn?: pulumi.Input<string>;
  /** @default 14 */
  logRetentionDays?: number;
}

/** The resources of a TopicFanOut a transform can change (pass as the `transform` option). */
export interface TopicFanOutTransform {
  queue?: Transform<aws.sqs.QueueArgs>;
  deadLetterQueue?: Transform<aws.sqs.QueueArgs>;
  eventSourceMapping?: Transform<aws.lambda.EventSourceMappingArgs>;
  function?: InlineFunctionTransform;
  alarm?: DlqAlarmTransform;
}

interface TopicFanOutNodes {
  function: InlineFunction<SqsEvent, SqsBatchResponse>;
}

/**
 * Sending to a topic: the fan-out queue the notification service hands each topic send to (`{ eventId }`,
 * KMS, a DLQ with an alarm), and the fan-out function, which pages the topic's subscribers and sends each
 * through the service's pipeline, resuming from the send's cursor after a crash (runtime/topicFanOut.ts).
 * Give `serviceBindings` to the notification service.
 *
 * @example
 * const fanOut = new TopicFanOut("topics", { producer: settings, bindings, topicsTable, kmsKeyArn: key.arn });
 */
export class TopicFanOut extends pulumi.ComponentResource {
  readonly queue: aws.sqs.Queue;
  readonly deadLetterQueue: aws.sqs.Queue;
  /** What the notification service needs to start a fan-out: add to its bindings. */
  readonly serviceBindings: Bindings;

  /** The fan-out function (TypeScript only: kept off the multi-language schema). */
  get function(): InlineFunction<SqsEvent, SqsBatchResponse> {
    return nodesOf<TopicFanOutNodes>(this).function;
  }

  constructor(name: string, args: TopicFanOutArgs, opts?: TidingsComponentOptions<TopicFanOutTransform>) {
    super("tidings:index:TopicFanOut", name, {}, opts);
    const withTransform = childOf(this);
    const transform = opts?.transform ?? {};
    const settings = channelQueueSettings({
      workerTimeoutSeconds: FANOUT_QUEUE.workerTimeoutSeconds,
      maxReceiveCount: DEFAULTS.channel.maxReceiveCount,
      batchSize: FANOUT_QUEUE.batchSize,
      maxConcurrency: FANOUT_QUEUE.maxConcurrency,
    });
    this.deadLetterQueue = new aws.sqs.Queue(
      ...withTransform(transform.deadLetterQueue, `${name}-dlq`, {
        messageRetentionSeconds: settings.deadLetterRetentionSeconds,
        kmsMasterKeyId: args.kmsKeyArn,
      }),
    );
    this.queue = new aws.sqs.Queue(
      ...withTransform(transform.queue, `${name}-queue`, {
        visibilityTimeoutSeconds: settings.visibilityTimeoutSeconds,
        messageRetentionSeconds: settings.messageRetentionSeconds,
        kmsMasterKeyId: args.kmsKeyArn,
        redrivePolicy: this.deadLetterQueue.arn.apply((arn) => redrivePolicy(arn, settings)),
      }),
    );
    const fanout = { id: this.queue.url, arn: this.queue.arn };
    const topics = { id: args.topicsTable.name, arn: args.topicsTable.arn };
    const fn = describedFunction(
      `${name}-fanout`,
      topicFanOutFunction(args.producer),
      { resources: { ...args.bindings.resources, topics, fanout }, values: args.bindings.values },
      { kmsKeyArn: args.kmsKeyArn, logRetentionDays: args.logRetentionDays },
      { parent: this, transform: transform.function },
    );
    new aws.lambda.EventSourceMapping(
      ...withTransform(transform.eventSourceMapping, `${name}-mapping`, {
        eventSourceArn: this.queue.arn,
        functionName: fn.function.arn,
        batchSize: FANOUT_QUEUE.batchSize,
        functionResponseTypes: ["ReportBatchItemFailures"],
        scalingConfig: { maximumConcurrency: FANOUT_QUEUE.maxConcurrency },
      }),
    );
    if (args.alertsTopicArn !== undefined) {
      new DlqAlarm(
        `${name}-dlq-alarm`,
        {
          queue: this.deadLetterQueue,
          alertsTopicArn: args.alertsTopicArn,
          description: "A topic send whose fan-out kept failing. Read the fan-out's log group, fix, then redrive this DLQ to its queue.",
        },
        { parent: this, transform: transform.alarm },
      );
    }
    setNodes<TopicFanOutNodes>(this, { function: fn });
    this.serviceBindings = { resources: { topics, fanout } };
    this.registerOutputs({ queueUrl: this.queue.url, deadLetterQueueUrl: this.deadLetterQueue.url });
  }
}
