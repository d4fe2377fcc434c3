import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { METRIC, METRICS_NAMESPACE } from "../runtime/metrics";
import { childOf, type NameRef, type TidingsComponentOptions, type Transform, withOldType } from "./common";

/** What the dashboard shows of one channel: plain names, so any channel (or your own) fits. */
export interface DashboardChannel {
  channel: string;
  queue: NameRef;
  deadLetterQueue: NameRef;
  ruleDeadLetterQueue: NameRef;
  rule: NameRef;
}

export interface DashboardArgs {
  /** The channels, one row of widgets each. */
  channels: DashboardChannel[];
  /** The bus the channel rules are on (rule metrics are per bus and rule). */
  eventBusName: pulumi.Input<string>;
  /**
   * Namespace of the EMF metrics the service and the workers print.
   * @default "Tidings"
   */
  metricsNamespace?: string;
  /**
   * Dashboard name.
   * @default derived from the component name by Pulumi
   * @example dashboardName: "tidings-prod"
   */
  dashboardName?: pulumi.Input<string>;
}

/** The resource of a Dashboard a transform can change (pass as the `transform` option). */
export interface DashboardTransform {
  dashboard?: Transform<aws.cloudwatch.DashboardArgs>;
}

type MetricRow = (string | Record<string, unknown>)[];
interface Widget {
  type: "metric";
  x: number;
  y: number;
  width: number;
  height: number;
  properties: { title: string; region: string; view: "timeSeries"; stat: string; period: number; metrics: MetricRow[]; yAxis?: unknown };
}

interface ResolvedChannel {
  channel: string;
  queue: string;
  deadLetterQueue: string;
  ruleDeadLetterQueue: string;
  rule: string;
}

/** The dashboard body for resolved names: exported so tests and tools can read it without Pulumi. */
export function dashboardBody(region: string, bus: string, namespace: string, channels: ResolvedChannel[]): { widgets: Widget[] } {
  const widgets: Widget[] = [];
  const W = 4;
  const H = 6;
  channels.forEach((c, row) => {
    const y = row * H;
    const widget = (
      column: number,
      title: string,
      metrics: MetricRow[],
      stat = "Sum",
      extra: Partial<Widget["properties"]> = {},
    ): Widget => ({
      type: "metric",
      x: column * W,
      y,
      width: W,
      height: H,
      properties: { title: `${c.channel}: ${title}`, region, view: "timeSeries", stat, period: 300, metrics, ...extra },
    });
    const tidings = (name: string, options: Record<string, unknown> = {}): MetricRow => [namespace, name, "channel", c.channel, options];
    widgets.push(
      widget(0, "bus rule", [
        ["AWS/Events", "Invocations", "EventBusName", bus, "RuleName", c.rule, { label: "invocations" }],
        ["AWS/Events", "FailedInvocations", "EventBusName", bus, "RuleName", c.rule, { label: "failed invocations" }],
      ]),
      widget(
        1,
        "queue",
        [
          ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", c.queue, { label: "depth", stat: "Maximum" }],
          ["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", c.queue, { label: "oldest (s)", stat: "Maximum", yAxis: "right" }],
        ],
        "Maximum",
      ),
      widget(
        2,
        "dead letters",
        [
          ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", c.deadLetterQueue, { label: "DLQ" }],
          ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", c.ruleDeadLetterQueue, { label: "rule DLQ" }],
        ],
        "Maximum",
      ),
      widget(3, "deliveries", [
        tidings(METRIC.sent, { label: "sent" }),
        tidings(METRIC.failed, { label: "failed" }),
        tidings(METRIC.retried, { label: "retried" }),
      ]),
      widget(4, "delivery latency (ms)", [
        tidings(METRIC.deliveryLatency, { stat: "p50", label: "p50" }),
        tidings(METRIC.deliveryLatency, { stat: "p99", label: "p99" }),
      ]),
      widget(
        5,
        "open and click rates (%)",
        [
          tidings(METRIC.sent, { id: "sent", visible: false }),
          tidings(METRIC.opened, { id: "opened", visible: false }),
          tidings(METRIC.clicked, { id: "clicked", visible: false }),
          [{ expression: "100 * opened / sent", label: "open rate", id: "openRate" }],
          [{ expression: "100 * clicked / sent", label: "click rate", id: "clickRate" }],
        ],
        "Sum",
        { yAxis: { left: { min: 0, max: 100 } } },
      ),
    );
  });
  return { widgets };
}

/**
 * A CloudWatch dashboard of the stack, one row per channel: bus rule invocations and failures, queue
 * depth and age of the oldest message, DLQ depths, sent/failed/retried, p50/p99 delivery latency, open
 * and click rates. Every widget names this stack's own resources. On by default in the stack; switch it
 * off with `tidings:dashboard: { enabled: false }`.
 *
 * @example
 * new Dashboard("tidings", {
 *   eventBusName: bus.name,
 *   channels: Object.values(channels).map((c) => ({ channel: c.channel, queue: c.queue, deadLetterQueue: c.deadLetterQueue, ruleDeadLetterQueue: c.ruleDeadLetterQueue, rule: c.rule })),
 * });
 */
export class Dashboard extends pulumi.ComponentResource {
  readonly dashboard: aws.cloudwatch.Dashboard;

  constructor(name: string, args: DashboardArgs, opts?: TidingsComponentOptions<DashboardTransform>) {
    super("tidings:index:Dashboard", name, {}, withOldType("tidings:aws:Dashboard", opts));
    const withTransform = childOf(this);
    const region = aws.getRegionOutput({}, { parent: this }).region;
    const resolved = pulumi.all(
      args.channels.map((c) =>
        pulumi
          .all([c.queue.name, c.deadLetterQueue.name, c.ruleDeadLetterQueue.name, c.rule.name])
          .apply(([queue, dlq, ruleDlq, rule]) => ({
            channel: c.channel,
            queue,
            deadLetterQueue: dlq,
            ruleDeadLetterQueue: ruleDlq,
            rule,
          })),
      ),
    );
    const body = pulumi
      .all([region, args.eventBusName, resolved])
      .apply(([r, bus, channels]) => JSON.stringify(dashboardBody(r, bus, args.metricsNamespace ?? METRICS_NAMESPACE, channels)));
    this.dashboard = new aws.cloudwatch.Dashboard(
      ...withTransform(opts?.transform?.dashboard, name, {
        dashboardName: args.dashboardName ?? `${name}-${pulumi.getStack()}`,
        dashboardBody: body,
      }),
    );
    this.registerOutputs({ dashboardName: this.dashboard.dashboardName });
  }
}
