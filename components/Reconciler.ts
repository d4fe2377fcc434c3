import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { DEFAULTS, minimumLookBackHours } from "../runtime/config";
import type { ReconcileReport } from "../runtime/reconciler";
import { reconcilerFunction } from "../runtime/system";
import {
  childOf,
  nodesOf,
  type QueueUrlRef,
  type ResourceRef,
  setNodes,
  type TidingsComponentOptions,
  TidingsError,
  type Transform,
  withOldType,
} from "./common";
import { describedFunction } from "./described";
import type { InlineFunction, InlineFunctionTransform } from "./InlineFunction";

export interface ReconcilerArgs {
  /**
   * The notification log: its byCreatedDay index is queried for unfinished notifications of the
   * look-back window, their items read with BatchGetItem, and stuck rows taken with UpdateItem.
   */
  notificationLogTable: ResourceRef;
  /** The bus stuck events are put on again. */
  bus: ResourceRef;
  kmsKeyArn: pulumi.Input<string>;
  /**
   * The status-callbacks queue (StatusCallbacks component), when producers get callbacks: final
   * statuses decided here are put on it (sqs:SendMessage on this queue only).
   * @default no callbacks
   */
  statusCallbacksQueue?: QueueUrlRef;
  /** Notified when a reconciler run fails. */
  alertsTopicArn: pulumi.Input<string>;
  /**
   * How often it runs (an EventBridge schedule expression).
   * @default "rate(5 minutes)"
   * @example schedule: "rate(15 minutes)"
   */
  schedule?: string;
  /** Minutes a created/pending row may sit untouched, with no delivery in flight, before it is stuck. @default 15 */
  stuckAfterMinutes?: number;
  /** Puts of one stuck row before it is marked `error`. @default 3 */
  maxReputs?: number;
  /**
   * Hours back, by creation time, a run looks for stuck notifications; older ones are not read again,
   * so a run costs what the window holds, not the whole log. At least twice stuckAfterMinutes ×
   * (maxReputs + 1), so every stuck row is reput and given up within it; the rest is the longest pause
   * of the schedule (a failed or disabled reconciler) after which stuck rows are still found.
   * @default 24
   * @example lookBackHours: 72
   */
  lookBackHours?: number;
  /** @default 14 */
  logRetentionDays?: number;
}

/** The resources of a Reconciler a transform can change (pass as the `transform` option). */
export interface ReconcilerTransform {
  schedule?: Transform<aws.cloudwatch.EventRuleArgs>;
  target?: Transform<aws.cloudwatch.EventTargetArgs>;
  permission?: Transform<aws.lambda.PermissionArgs>;
  errorsAlarm?: Transform<aws.cloudwatch.MetricAlarmArgs>;
  function?: InlineFunctionTransform;
}

/**
 * Nothing stuck: on a schedule, finds notification-log rows still `created`/`pending` after
 * `stuckAfterMinutes` with no delivery in flight, puts their event on the bus again (the worker's claim
 * keeps the delivery exactly-once), or after `maxReputs` marks them `error` with a reason. Counts what
 * it did in the `reconciled.reput` / `reconciled.expired` metrics; a failed run alarms.
 *
 * @example
 * new Reconciler("reconciler", { notificationLogTable, bus, kmsKeyArn: key.arn, alertsTopicArn: alerts.arn });
 */
export class Reconciler extends pulumi.ComponentResource {
  readonly schedule: aws.cloudwatch.EventRule;
  readonly errorsAlarm: aws.cloudwatch.MetricAlarm;

  /** The reconciler function's ARN. */
  readonly functionArn: pulumi.Output<string>;

  /** The reconciler's function (TypeScript only: kept off the multi-language schema). */
  get function(): InlineFunction<unknown, ReconcileReport> {
    return nodesOf<{ function: InlineFunction<unknown, ReconcileReport> }>(this).function;
  }

  constructor(name: string, args: ReconcilerArgs, opts?: TidingsComponentOptions<ReconcilerTransform>) {
    super("tidings:index:Reconciler", name, {}, withOldType("tidings:aws:Reconciler", opts));
    const withTransform = childOf(this);
    const stuckAfterMinutes = args.stuckAfterMinutes ?? DEFAULTS.reconciler.stuckAfterMinutes;
    const maxReputs = args.maxReputs ?? DEFAULTS.reconciler.maxReputs;
    const lookBackHours = args.lookBackHours ?? DEFAULTS.reconciler.lookBackHours;
    if (!(stuckAfterMinutes >= 1) || !Number.isInteger(maxReputs) || maxReputs < 1) {
      throw new TidingsError(
        `Reconciler: stuckAfterMinutes must be at least 1 and maxReputs a whole number ≥ 1 (got ${stuckAfterMinutes} and ${maxReputs}).`,
      );
    }
    const shortestLookBackHours = minimumLookBackHours(stuckAfterMinutes, maxReputs);
    if (!(lookBackHours >= shortestLookBackHours)) {
      throw new TidingsError(
        `Reconciler: lookBackHours (${lookBackHours}) must be at least ${shortestLookBackHours}: twice stuckAfterMinutes × (maxReputs + 1), so a stuck row is reput and given up before it leaves the window.`,
      );
    }
    const spec = reconcilerFunction({
      schedule: args.schedule ?? DEFAULTS.reconciler.schedule,
      stuckAfterMs: stuckAfterMinutes * 60_000,
      maxReputs,
      lookBackHours,
      statusCallbacks: args.statusCallbacksQueue !== undefined,
    });
    const fn = describedFunction(
      name,
      spec,
      {
        resources: {
          log: { id: args.notificationLogTable.name, arn: args.notificationLogTable.arn },
          bus: { id: args.bus.name, arn: args.bus.arn },
          key: { id: args.kmsKeyArn, arn: args.kmsKeyArn },
          ...(args.statusCallbacksQueue ? { callbacks: { id: args.statusCallbacksQueue.url, arn: args.statusCallbacksQueue.arn } } : {}),
        },
      },
      { kmsKeyArn: args.kmsKeyArn, logRetentionDays: args.logRetentionDays },
      { parent: this, transform: opts?.transform?.function },
    );
    setNodes(this, { function: fn });
    this.functionArn = fn.function.arn;
    this.schedule = new aws.cloudwatch.EventRule(
      ...withTransform(opts?.transform?.schedule, `${name}-schedule`, {
        description: "Tidings reconciler schedule",
        scheduleExpression: spec.triggers.flatMap((t) => (t.kind === "schedule" ? [t.expression] : []))[0],
      }),
    );
    new aws.cloudwatch.EventTarget(
      ...withTransform(opts?.transform?.target, `${name}-target`, {
        rule: this.schedule.name,
        arn: fn.function.arn,
        retryPolicy: { maximumRetryAttempts: 0, maximumEventAgeInSeconds: 60 },
      }),
    );
    new aws.lambda.Permission(
      ...withTransform(opts?.transform?.permission, `${name}-invoke`, {
        action: "lambda:InvokeFunction",
        function: fn.function.name,
        principal: "events.amazonaws.com",
        sourceArn: this.schedule.arn,
      }),
    );
    this.errorsAlarm = new aws.cloudwatch.MetricAlarm(
      ...withTransform(opts?.transform?.errorsAlarm, `${name}-errors`, {
        alarmDescription: "Tidings reconciler: a run failed; stuck notifications are not being put again. Check its log group.",
        namespace: "AWS/Lambda",
        metricName: "Errors",
        dimensions: { FunctionName: fn.function.name },
        statistic: "Sum",
        period: 900,
        evaluationPeriods: 1,
        threshold: 1,
        comparisonOperator: "GreaterThanOrEqualToThreshold",
        treatMissingData: "notBreaching",
        alarmActions: [args.alertsTopicArn],
        okActions: [args.alertsTopicArn],
      }),
    );
    this.registerOutputs({ functionArn: fn.function.arn });
  }
}
