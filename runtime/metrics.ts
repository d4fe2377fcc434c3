/**
 * Metrics as CloudWatch Embedded Metric Format (EMF) lines: one JSON object per line on stdout, which
 * CloudWatch Logs turns into metrics on ingestion. No PutMetricData call, no extra latency, no extra IAM.
 *
 * Why not `aws-embedded-metrics`: it brings its own logger pipeline, agent/TCP sinks and environment
 * detection for a format that is one documented JSON shape; Tidings needs two calls (count, latency).
 *
 * Lines are written to `process.stdout` directly, not through `console.log`: with the Lambda JSON log
 * format (InlineFunction sets it) the runtime wraps console output in its own JSON record, and
 * CloudWatch only extracts EMF from lines that are the EMF object itself.
 *
 * Cardinality stays bounded: the only dimension sets are [channel] and [type, channel] (types are
 * declared in stack config). Reasons become part of the metric name (`skipped.opted_out`), never a
 * dimension value.
 *
 * @example
 * const metrics = makeMetrics();
 * metrics.count("sent", { channel: "email", type: "order.shipped" });
 * metrics.latency("deliveryLatency", { channel: "email", type: "order.shipped" }, 1250);
 */

/** The CloudWatch namespace every Tidings metric is in; the Dashboard and alarms read from it. */
export const METRICS_NAMESPACE = "Tidings";

/**
 * Every metric Tidings emits, by name. Counts unless noted.
 * - accepted: a channel of an accepted request (queued, skipped or duplicate).
 * - skipped.<reason>: a channel not delivered: opted_out, no_address, invalid_address, suppressed, no_template, read
 *   (an escalation the user read in the inbox first).
 * - queued: put on the bus. duplicate: a retry of something already logged (service) or delivered (worker).
 * - sent, failed (permanent error), retried (a retryable failure, SQS delivers it again).
 * - opened, clicked: recorded by the feed/tracking routes.
 * - deliveryLatency (ms): from the request's `createdAt` to `sent`.
 * - reconciled.reput, reconciled.expired: what the reconciler did.
 * - refused: a worker dropped a delivery its log row does not confirm (runtime/deliveryDigest.ts).
 */
export const METRIC = {
  accepted: "accepted",
  skippedOptedOut: "skipped.opted_out",
  skippedNoAddress: "skipped.no_address",
  skippedInvalidAddress: "skipped.invalid_address",
  skippedNoTemplate: "skipped.no_template",
  skippedRead: "skipped.read",
  skippedSuppressed: "skipped.suppressed",
  skippedOptedOutAtCarrier: "skipped.opted_out_at_carrier",
  queued: "queued",
  /** A channel collected into a digest (sent later as one, counted `queued` then). */
  digested: "digested",
  duplicate: "duplicate",
  sent: "sent",
  failed: "failed",
  retried: "retried",
  opened: "opened",
  clicked: "clicked",
  deliveryLatency: "deliveryLatency",
  reconciledReput: "reconciled.reput",
  reconciledExpired: "reconciled.expired",
  callbackSent: "callback.sent",
  callbackFailed: "callback.failed",
  refused: "refused",
} as const;

export type MetricName = (typeof METRIC)[keyof typeof METRIC];

/** The dimensions a metric may carry: channel, and optionally the notification type. */
export interface MetricDimensions {
  channel: string;
  type?: string;
}

export interface MetricsOptions {
  /** @default METRICS_NAMESPACE ("Tidings") */
  namespace?: string;
  /** Where each line goes. @default process.stdout (bypassing the Lambda console wrapper) */
  write?: (line: string) => void;
  /** Epoch ms. */
  now?: () => number;
}

export interface Metrics {
  /** Adds `value` (default 1) to a count. */
  count(name: MetricName, dimensions: MetricDimensions, value?: number): void;
  /** Records one duration in milliseconds (CloudWatch computes p50/p99 from the values). */
  latency(name: MetricName, dimensions: MetricDimensions, milliseconds: number): void;
}

/** The shape of one EMF line, as a reader (tests, the local ops page) parses it. */
export interface EmfLine {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string; Unit: string }[] }[];
  };
  channel: string;
  type?: string;
  [metric: string]: unknown;
}

export function makeMetrics(options: MetricsOptions = {}): Metrics {
  const namespace = options.namespace ?? METRICS_NAMESPACE;
  const write = options.write ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const now = options.now ?? Date.now;

  function emit(name: string, unit: "Count" | "Milliseconds", dimensions: MetricDimensions, value: number) {
    if (!Number.isFinite(value)) return;
    const sets = dimensions.type ? [["channel"], ["type", "channel"]] : [["channel"]];
    const line: EmfLine = {
      _aws: { Timestamp: now(), CloudWatchMetrics: [{ Namespace: namespace, Dimensions: sets, Metrics: [{ Name: name, Unit: unit }] }] },
      channel: dimensions.channel,
      ...(dimensions.type ? { type: dimensions.type } : {}),
      [name]: value,
    };
    try {
      write(JSON.stringify(line));
    } catch {
      // A metric is never worth failing a delivery over.
    }
  }

  return {
    count: (name, dimensions, value = 1) => emit(name, "Count", dimensions, value),
    latency: (name, dimensions, milliseconds) => emit(name, "Milliseconds", dimensions, Math.max(0, milliseconds)),
  };
}

/** Parses one log line as EMF; undefined for any other line (decision logs, noise). */
export function parseEmfLine(line: string): EmfLine | undefined {
  if (!line.startsWith("{") || !line.includes('"_aws"')) return undefined;
  try {
    const parsed = JSON.parse(line);
    return Array.isArray(parsed?._aws?.CloudWatchMetrics) ? (parsed as EmfLine) : undefined;
  } catch {
    return undefined;
  }
}

/** The metric values an EMF line carries: `[{ name, unit, value }]`. */
export function metricValues(line: EmfLine): { name: string; unit: string; value: number }[] {
  return line._aws.CloudWatchMetrics.flatMap((m) => m.Metrics).map((m) => ({ name: m.Name, unit: m.Unit, value: Number(line[m.Name]) }));
}

/** A metrics sink that records nothing (for callers that opt out). */
export const noMetrics: Metrics = { count: () => {}, latency: () => {} };
