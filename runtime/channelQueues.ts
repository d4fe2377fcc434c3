/**
 * Queue and event-source settings of one channel, derived from its config in one place, so the
 * deployed queues (NotificationChannel) and the local mode's fauxqs queues behave the same: same
 * visibility timeout, same redrive to the DLQ, same batching. Data only.
 */
import { DEFAULTS } from "./defaults";

export interface ChannelQueueInput {
  /** @default 30 */
  workerTimeoutSeconds?: number;
  /** Receives before a message moves to the DLQ. @default 5 */
  maxReceiveCount?: number;
  /** @default 10 */
  batchSize?: number;
  /** @default 0 (deliver as soon as a message arrives) */
  maximumBatchingWindowSeconds?: number;
  /** Concurrent worker instances (event source mapping). @default 2 */
  maxConcurrency?: number;
  /** How the caller's API spells each option, for its errors (a component's `batch.size`). @default the names above */
  optionNames?: Partial<Record<Exclude<keyof ChannelQueueInput, "optionNames">, string>>;
}

export interface ChannelQueueSettings {
  /** 6 × the worker timeout (+ batching window), as AWS recommends for Lambda SQS event sources. */
  visibilityTimeoutSeconds: number;
  maxReceiveCount: number;
  /** Source queue: 4 days. */
  messageRetentionSeconds: number;
  /** DLQ: 14 days, the SQS maximum, longer than the source so a moved message keeps time to be redriven. */
  deadLetterRetentionSeconds: number;
  batchSize: number;
  maximumBatchingWindowSeconds: number;
  maxConcurrency: number;
}

export const DAY_SECONDS = 86_400;
/** SQS limit on a queue's visibility timeout. */
export const MAX_VISIBILITY_TIMEOUT_SECONDS = 43_200;
/** SQS limit on DelaySeconds: longer politeness delays are re-checked after this. */
export const MAX_DELAY_SECONDS = 900;

export function channelQueueSettings(input: ChannelQueueInput = {}): ChannelQueueSettings {
  const workerTimeoutSeconds = input.workerTimeoutSeconds ?? DEFAULTS.channel.workerTimeoutSeconds;
  const maximumBatchingWindowSeconds = input.maximumBatchingWindowSeconds ?? 0;
  const settings: ChannelQueueSettings = {
    visibilityTimeoutSeconds: Math.min(6 * workerTimeoutSeconds + maximumBatchingWindowSeconds, MAX_VISIBILITY_TIMEOUT_SECONDS),
    maxReceiveCount: input.maxReceiveCount ?? DEFAULTS.channel.maxReceiveCount,
    messageRetentionSeconds: 4 * DAY_SECONDS,
    deadLetterRetentionSeconds: 14 * DAY_SECONDS,
    batchSize: input.batchSize ?? DEFAULTS.channel.batchSize,
    maximumBatchingWindowSeconds,
    maxConcurrency: input.maxConcurrency ?? DEFAULTS.channel.maxConcurrency,
  };
  const problems: string[] = [];
  const named = (option: Exclude<keyof ChannelQueueInput, "optionNames">) => input.optionNames?.[option] ?? option;
  if (!Number.isInteger(workerTimeoutSeconds) || workerTimeoutSeconds < 1 || workerTimeoutSeconds > 900) {
    problems.push(`${named("workerTimeoutSeconds")} must be 1–900 (Lambda's limit), got ${workerTimeoutSeconds}`);
  }
  if (!Number.isInteger(settings.maxReceiveCount) || settings.maxReceiveCount < 1 || settings.maxReceiveCount > 1000) {
    problems.push(`${named("maxReceiveCount")} must be 1–1000, got ${settings.maxReceiveCount}`);
  }
  if (!Number.isInteger(settings.batchSize) || settings.batchSize < 1 || settings.batchSize > 10) {
    problems.push(`${named("batchSize")} must be 1–10, got ${settings.batchSize}`);
  }
  if (!Number.isInteger(maximumBatchingWindowSeconds) || maximumBatchingWindowSeconds < 0 || maximumBatchingWindowSeconds > 300) {
    problems.push(`${named("maximumBatchingWindowSeconds")} must be 0–300, got ${maximumBatchingWindowSeconds}`);
  }
  if (!Number.isInteger(settings.maxConcurrency) || settings.maxConcurrency < 2 || settings.maxConcurrency > 1000) {
    problems.push(`${named("maxConcurrency")} must be 2–1000 (AWS's range for an SQS event source), got ${settings.maxConcurrency}`);
  }
  if (problems.length) throw new Error(`Invalid channel queue settings: ${problems.join("; ")}`);
  return settings;
}

/** The queue's RedrivePolicy attribute: after maxReceiveCount receives, SQS moves a message to the DLQ. */
export function redrivePolicy(deadLetterQueueArn: string, settings: Pick<ChannelQueueSettings, "maxReceiveCount">): string {
  return JSON.stringify({ deadLetterTargetArn: deadLetterQueueArn, maxReceiveCount: settings.maxReceiveCount });
}
