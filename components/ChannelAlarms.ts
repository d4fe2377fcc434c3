import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { childOf, type NameRef, type TidingsComponentOptions, type Transform, withOldType } from "./common";

/** Alarm thresholds (stack config `tidings:alarms`). */
export interface AlarmThresholds {
  /** Seconds the oldest message in the channel queue may wait. @default 900 */
  queueAgeSeconds?: number;
  /** Worker errors per 5 minutes. @default 1 */
  workerErrors?: number;
  /** Worker throttles per 5 minutes. @default 1 */
  workerThrottles?: number;
  /** Rule FailedInvocations per 5 minutes. @default 1 */
  ruleFailedInvocations?: number;
}

export interface ChannelAlarmsArgs {
  /** The channel name, for the alarm descriptions. */
  channel: string;
  /** The channel's source queue. */
  queue: NameRef;
  /** The channel's worker function. */
  worker: NameRef;
  /** The channel's rule and the bus it is on. */
  rule: NameRef;
  eventBusName: pulumi.Input<string>;
  /** @example alertsTopicArn: alerts.arn */
  alertsTopicArn: pulumi.Input<string>;
  /** @default { queueAgeSeconds: 900, workerErrors: 1, workerThrottles: 1, ruleFailedInvocations: 1 } */
  thresholds?: AlarmThresholds;
}

/** The alarms of a ChannelAlarms a transform can change (pass as the `transform` option). */
export interface ChannelAlarmsTransform {
  queueAge?: Transform<aws.cloudwatch.MetricAlarmArgs>;
  workerErrors?: Transform<aws.cloudwatch.MetricAlarmArgs>;
  workerThrottles?: Transform<aws.cloudwatch.MetricAlarmArgs>;
  ruleFailedInvocations?: Transform<aws.cloudwatch.MetricAlarmArgs>;
}

/**
 * The alarms that fire before a channel loses anything, all to the alerts topic (ALARM and OK):
 * the queue's oldest message is getting old (a stalled or failing worker; messages expire after the
 * queue's retention), the worker errors or is throttled, and the rule fails to hand events to the queue
 * (they go to the rule DLQ). The DLQ alarms themselves live in NotificationChannel.
 *
 * @example
 * new ChannelAlarms("email-alarms", {
 *   channel: "email", queue: email.queue, worker: email.worker.function, rule: email.rule,
 *   eventBusName: bus.name, alertsTopicArn: alerts.arn, thresholds: { queueAgeSeconds: 600 },
 * });
 */
export class ChannelAlarms extends pulumi.ComponentResource {
  readonly queueAge: aws.cloudwatch.MetricAlarm;
  readonly workerErrors: aws.cloudwatch.MetricAlarm;
  readonly workerThrottles: aws.cloudwatch.MetricAlarm;
  readonly ruleFailedInvocations: aws.cloudwatch.MetricAlarm;

  constructor(name: string, args: ChannelAlarmsArgs, opts?: TidingsComponentOptions<ChannelAlarmsTransform>) {
    super("tidings:index:ChannelAlarms", name, {}, withOldType("tidings:aws:ChannelAlarms", opts));
    const transform = opts?.transform ?? {};
    const withTransform = childOf(this);
    const t = {
      queueAgeSeconds: args.thresholds?.queueAgeSeconds ?? 900,
      workerErrors: args.thresholds?.workerErrors ?? 1,
      workerThrottles: args.thresholds?.workerThrottles ?? 1,
      ruleFailedInvocations: args.thresholds?.ruleFailedInvocations ?? 1,
    };
    const notify = { alarmActions: [args.alertsTopicArn], okActions: [args.alertsTopicArn] };
    const c = args.channel;

    this.queueAge = new aws.cloudwatch.MetricAlarm(
      ...withTransform(transform.queueAge, `${name}-queue-age`, {
        alarmDescription: `Channel ${c}: a message has waited over ${t.queueAgeSeconds} s in the queue. The worker is stalled, failing or too slow; see the runbook (README, Operating Tidings).`,
        namespace: "AWS/SQS",
        metricName: "ApproximateAgeOfOldestMessage",
        dimensions: { QueueName: args.queue.name },
        statistic: "Maximum",
        period: 60,
        evaluationPeriods: 1,
        threshold: t.queueAgeSeconds,
        comparisonOperator: "GreaterThanOrEqualToThreshold",
        treatMissingData: "notBreaching",
        ...notify,
      }),
    );
    const lambdaAlarm = (
      suffix: string,
      metricName: string,
      threshold: number,
      transform: Transform<aws.cloudwatch.MetricAlarmArgs> | undefined,
      what: string,
    ) =>
      new aws.cloudwatch.MetricAlarm(
        ...withTransform(transform, `${name}-${suffix}`, {
          alarmDescription: `Channel ${c}: ${what}`,
          namespace: "AWS/Lambda",
          metricName,
          dimensions: { FunctionName: args.worker.name },
          statistic: "Sum",
          period: 300,
          evaluationPeriods: 1,
          threshold,
          comparisonOperator: "GreaterThanOrEqualToThreshold",
          treatMissingData: "notBreaching",
          ...notify,
        }),
      );
    this.workerErrors = lambdaAlarm(
      "worker-errors",
      "Errors",
      t.workerErrors,
      transform.workerErrors,
      `the worker failed ${t.workerErrors}+ invocation(s) in 5 min (threw or timed out); its messages come back and may reach the DLQ.`,
    );
    this.workerThrottles = lambdaAlarm(
      "worker-throttles",
      "Throttles",
      t.workerThrottles,
      transform.workerThrottles,
      `the worker was throttled ${t.workerThrottles}+ time(s) in 5 min (account concurrency); the queue backs up.`,
    );
    this.ruleFailedInvocations = new aws.cloudwatch.MetricAlarm(
      ...withTransform(transform.ruleFailedInvocations, `${name}-rule-failed`, {
        alarmDescription: `Channel ${c}: EventBridge could not put ${t.ruleFailedInvocations}+ event(s) on the queue in 5 min; they go to the rule DLQ. Fix the cause, then npm run redrive -- ${c} --rule-dlq.`,
        namespace: "AWS/Events",
        metricName: "FailedInvocations",
        dimensions: { EventBusName: args.eventBusName, RuleName: args.rule.name },
        statistic: "Sum",
        period: 300,
        evaluationPeriods: 1,
        threshold: t.ruleFailedInvocations,
        comparisonOperator: "GreaterThanOrEqualToThreshold",
        treatMissingData: "notBreaching",
        ...notify,
      }),
    );
    this.registerOutputs({});
  }
}
