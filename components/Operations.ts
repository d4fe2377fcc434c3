import * as pulumi from "@pulumi/pulumi";
import { type AlarmThresholds, ChannelAlarms } from "./ChannelAlarms";
import { Dashboard } from "./Dashboard";
import { Reconciler, type ReconcilerArgs } from "./Reconciler";

/** One channel as operations sees it: plain names, so a channel of your own fits too. */
export interface OperatedChannel {
  channel: string;
  queue: { name: pulumi.Input<string> };
  deadLetterQueue: { name: pulumi.Input<string> };
  ruleDeadLetterQueue: { name: pulumi.Input<string> };
  rule: { name: pulumi.Input<string> };
  /** The worker function. */
  worker: { name: pulumi.Input<string> };
}

export interface OperationsArgs {
  channels: OperatedChannel[];
  bus: { name: pulumi.Input<string>; arn: pulumi.Input<string> };
  notificationLogTable: { name: pulumi.Input<string>; arn: pulumi.Input<string> };
  kmsKeyArn: pulumi.Input<string>;
  alertsTopicArn: pulumi.Input<string>;
  /**
   * The CloudWatch dashboard.
   * @default { enabled: true }
   */
  dashboard?: { enabled?: boolean };
  /**
   * Alarm thresholds, for every channel.
   * @default { queueAgeSeconds: 900, workerErrors: 1, workerThrottles: 1, ruleFailedInvocations: 1 }
   * @example alarms: { queueAgeSeconds: 600 }
   */
  alarms?: AlarmThresholds;
  /**
   * The scheduled reconciler.
   * @default { enabled: true, schedule: "rate(5 minutes)", stuckAfterMinutes: 15, maxReputs: 3 }
   */
  reconciler?: { enabled?: boolean } & Pick<ReconcilerArgs, "schedule" | "stuckAfterMinutes" | "maxReputs">;
  /** @default 14 */
  logRetentionDays?: number;
  /** The status-callbacks queue, so the reconciler reports what it gives up. */
  statusCallbacksQueue?: ReconcilerArgs["statusCallbacksQueue"];
}

/**
 * Everything that keeps a Tidings stack operable: per channel the alarms that fire before anything is
 * lost (queue age, worker errors and throttles, rule failed invocations), the dashboard, and the
 * reconciler that puts stuck notifications on their way again.
 *
 * @example
 * new Operations("operations", {
 *   channels: Object.values(channels).map((c) => ({ ...c, worker: c.worker.function })),
 *   bus, notificationLogTable, kmsKeyArn: key.arn, alertsTopicArn: alerts.arn,
 *   alarms: { queueAgeSeconds: 600 },
 * });
 */
export class Operations extends pulumi.ComponentResource {
  readonly alarms: Record<string, ChannelAlarms> = {};
  readonly dashboard?: Dashboard;
  readonly reconciler?: Reconciler;

  constructor(name: string, args: OperationsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("tidings:aws:Operations", name, {}, opts);
    for (const c of args.channels) {
      this.alarms[c.channel] = new ChannelAlarms(
        `${c.channel}-alarms`,
        {
          channel: c.channel,
          queue: c.queue,
          worker: c.worker,
          rule: c.rule,
          eventBusName: args.bus.name,
          alertsTopicArn: args.alertsTopicArn,
          thresholds: args.alarms,
        },
        { parent: this },
      );
    }
    if (args.dashboard?.enabled ?? true) {
      this.dashboard = new Dashboard("tidings", { channels: args.channels, eventBusName: args.bus.name }, { parent: this });
    }
    if (args.reconciler?.enabled ?? true) {
      this.reconciler = new Reconciler(
        "reconciler",
        {
          notificationLogTable: args.notificationLogTable,
          bus: args.bus,
          kmsKeyArn: args.kmsKeyArn,
          alertsTopicArn: args.alertsTopicArn,
          schedule: args.reconciler?.schedule,
          stuckAfterMinutes: args.reconciler?.stuckAfterMinutes,
          maxReputs: args.reconciler?.maxReputs,
          logRetentionDays: args.logRetentionDays,
          statusCallbacksQueue: args.statusCallbacksQueue,
        },
        { parent: this },
      );
    }
    this.registerOutputs({});
  }
}
