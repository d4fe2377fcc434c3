import * as pulumi from "@pulumi/pulumi";
import { type AlarmThresholds, ChannelAlarms, type ChannelAlarmsTransform } from "./ChannelAlarms";
import { type NameRef, nodesOf, type QueueUrlRef, type ResourceRef, setNodes, type TidingsComponentOptions, withOldType } from "./common";
import { Dashboard, type DashboardTransform } from "./Dashboard";
import { Reconciler, type ReconcilerArgs, type ReconcilerTransform } from "./Reconciler";

/** One channel as operations sees it: plain names, so a channel of your own fits too. */
export interface OperatedChannel {
  channel: string;
  queue: NameRef;
  deadLetterQueue: NameRef;
  ruleDeadLetterQueue: NameRef;
  rule: NameRef;
  /** The worker function. */
  worker: NameRef;
}

/** Operations' dashboard (`tidings:dashboard`). */
export interface OperationsDashboardSettings {
  /** @default true */
  enabled?: boolean;
}

/** Operations' reconciler (`tidings:reconciler`): see ReconcilerArgs for the others. */
export interface OperationsReconcilerSettings {
  /** @default true */
  enabled?: boolean;
  schedule?: ReconcilerArgs["schedule"];
  stuckAfterMinutes?: ReconcilerArgs["stuckAfterMinutes"];
  maxReputs?: ReconcilerArgs["maxReputs"];
  lookBackHours?: ReconcilerArgs["lookBackHours"];
}

export interface OperationsArgs {
  channels: OperatedChannel[];
  bus: ResourceRef;
  notificationLogTable: ResourceRef;
  kmsKeyArn: pulumi.Input<string>;
  alertsTopicArn: pulumi.Input<string>;
  /**
   * The CloudWatch dashboard.
   * @default { enabled: true }
   */
  dashboard?: OperationsDashboardSettings;
  /**
   * Alarm thresholds, for every channel.
   * @default { queueAgeSeconds: 900, workerErrors: 1, workerThrottles: 1, ruleFailedInvocations: 1 }
   * @example alarms: { queueAgeSeconds: 600 }
   */
  alarms?: AlarmThresholds;
  /**
   * The scheduled reconciler.
   * @default { enabled: true, schedule: "rate(5 minutes)", stuckAfterMinutes: 15, maxReputs: 3, lookBackHours: 24 }
   */
  reconciler?: OperationsReconcilerSettings;
  /** @default 14 */
  logRetentionDays?: number;
  /** The status-callbacks queue, so the reconciler reports what it gives up. */
  statusCallbacksQueue?: QueueUrlRef;
}

/** The resources of an Operations a transform can change (pass as the `transform` option), by child. */
export interface OperationsTransform {
  /** Every channel's alarms. */
  alarms?: ChannelAlarmsTransform;
  dashboard?: DashboardTransform;
  reconciler?: ReconcilerTransform;
}

interface OperationsNodes {
  alarms: Record<string, ChannelAlarms>;
  dashboard?: Dashboard;
  reconciler?: Reconciler;
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
  /** The operated channels' names. */
  readonly channels: string[];
  /** The CloudWatch dashboard's name, when it is on. */
  readonly dashboardName?: pulumi.Output<string>;
  /** The reconciler function's ARN, when it is on. */
  readonly reconcilerFunctionArn?: pulumi.Output<string>;

  /** Each channel's alarms, by channel (child components: TypeScript only, kept off the schema). */
  get alarms(): Record<string, ChannelAlarms> {
    return nodesOf<OperationsNodes>(this).alarms;
  }
  get dashboard(): Dashboard | undefined {
    return nodesOf<OperationsNodes>(this).dashboard;
  }
  get reconciler(): Reconciler | undefined {
    return nodesOf<OperationsNodes>(this).reconciler;
  }

  constructor(name: string, args: OperationsArgs, opts?: TidingsComponentOptions<OperationsTransform>) {
    super("tidings:index:Operations", name, {}, withOldType("tidings:aws:Operations", opts));
    const transform = opts?.transform ?? {};
    const nodes = setNodes<OperationsNodes>(this, { alarms: {} });
    this.channels = args.channels.map((c) => c.channel);
    for (const c of args.channels) {
      nodes.alarms[c.channel] = new ChannelAlarms(
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
        { parent: this, transform: transform.alarms },
      );
    }
    if (args.dashboard?.enabled ?? true) {
      nodes.dashboard = new Dashboard(
        "tidings",
        { channels: args.channels, eventBusName: args.bus.name },
        { parent: this, transform: transform.dashboard },
      );
      this.dashboardName = nodes.dashboard.dashboard.dashboardName;
    }
    if (args.reconciler?.enabled ?? true) {
      nodes.reconciler = new Reconciler(
        "reconciler",
        {
          notificationLogTable: args.notificationLogTable,
          bus: args.bus,
          kmsKeyArn: args.kmsKeyArn,
          alertsTopicArn: args.alertsTopicArn,
          schedule: args.reconciler?.schedule,
          stuckAfterMinutes: args.reconciler?.stuckAfterMinutes,
          maxReputs: args.reconciler?.maxReputs,
          lookBackHours: args.reconciler?.lookBackHours,
          logRetentionDays: args.logRetentionDays,
          statusCallbacksQueue: args.statusCallbacksQueue,
        },
        { parent: this, transform: transform.reconciler },
      );
      this.reconcilerFunctionArn = nodes.reconciler.functionArn;
    }
    this.registerOutputs({ dashboardName: this.dashboardName, reconcilerFunctionArn: this.reconcilerFunctionArn });
  }
}
