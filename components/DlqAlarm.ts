import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { childOf, type QueueRef, type TidingsComponentOptions, type Transform } from "./common";

export interface DlqAlarmArgs {
  /** The dead-letter queue to watch (an aws.sqs.Queue, or its name). */
  queue: QueueRef;
  /**
   * SNS topic told when the queue holds a message (ALARM) and when it is empty again (OK).
   * @example alertsTopicArn: alerts.arn
   */
  alertsTopicArn: pulumi.Input<string>;
  /**
   * Shown in the alarm notification: say what landed there and how to redrive it.
   * @default "Messages in dead-letter queue <queue name>"
   */
  description?: pulumi.Input<string>;
}

/** The resources of a DlqAlarm a transform can change. */
export interface DlqAlarmTransform {
  alarm?: Transform<aws.cloudwatch.MetricAlarmArgs>;
}

/**
 * Alarms as soon as one message sits in a dead-letter queue (a delivery that failed for good, or an
 * event EventBridge could not hand to its queue), and clears when the queue is empty again.
 *
 * @example
 * new DlqAlarm("email-dlq", { queue: channel.deadLetterQueue, alertsTopicArn: alerts.arn });
 */
export class DlqAlarm extends pulumi.ComponentResource {
  readonly alarm: aws.cloudwatch.MetricAlarm;

  constructor(name: string, args: DlqAlarmArgs, opts?: TidingsComponentOptions<DlqAlarmTransform>) {
    super("tidings:index:DlqAlarm", name, {}, opts);
    const withTransform = childOf(this);
    this.alarm = new aws.cloudwatch.MetricAlarm(
      ...withTransform(opts?.transform?.alarm, name, {
        alarmDescription: args.description ?? pulumi.interpolate`Messages in dead-letter queue ${args.queue.name}`,
        namespace: "AWS/SQS",
        metricName: "ApproximateNumberOfMessagesVisible",
        dimensions: { QueueName: args.queue.name },
        statistic: "Maximum",
        period: 60,
        evaluationPeriods: 1,
        threshold: 1,
        comparisonOperator: "GreaterThanOrEqualToThreshold",
        // An empty, idle queue publishes no datapoints: that is the healthy state.
        treatMissingData: "notBreaching",
        alarmActions: [args.alertsTopicArn],
        okActions: [args.alertsTopicArn],
      }),
    );
    this.registerOutputs({ alarmArn: this.alarm.arn });
  }
}
