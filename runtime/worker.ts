/**
 * The channel worker: takes a batch of SQS records (EventBridge events for one channel) and delivers
 * each through the channel's provider. Per record, in order:
 *   parse → dedupe on the notification log → per-user politeness → claim → rate pacing → send → log status.
 * The claim (a leased conditional write on the log row) makes two copies of one delivery processed at
 * the same moment send once: the loser is reported as a batch item failure and finds the row `sent`
 * when it comes back.
 * Failures stay with their record: a retryable one is reported in batchItemFailures (SQS redelivers
 * it, and moves it to the DLQ after maxReceiveCount), a permanent one is logged as `error` and
 * acknowledged, so nothing retries what cannot succeed. Nothing here throws for one record.
 */
import { quietUntil } from "./quietHours";
import { DEFAULTS } from "./defaults";
import { DELIVERY_STATUS, detailTypeFor, EVENT_SOURCE, FEED_CHANNEL, PROVIDER_OUTCOME } from "./contracts";
import type { ChannelDelivery, DeliveryStatus, Provider, ProviderResult, SqsBatchResponse, SqsEvent, SqsRecord } from "./contracts";
import { type DecisionLogger, logDecision, OUTCOME, type OutcomeOf } from "./log";
import { unconfirmedDelivery } from "./deliveryDigest";
import { METRIC, type MetricName, makeMetrics, type Metrics } from "./metrics";
import type { CallbackEnqueuer } from "./statusCallbacks";
import type { NotificationLog, StatusFields } from "./notificationLog";
import type { PolitenessLimiter } from "./politeness";
import { MAX_DELAY_SECONDS } from "./channelQueues";
import { safeReason } from "./providers/errors";

/** The inbox statuses that mean the user read the notification: an escalation then ends `skipped`. */
const READ_STATUSES: readonly DeliveryStatus[] = [DELIVERY_STATUS.opened, DELIVERY_STATUS.clicked];

export interface ChannelWorkerDeps {
  /** The channel this worker serves; records for another channel are refused. */
  channel: string;
  primary: Provider;
  /** Used instead of the primary once a message has failed retryably `failoverAfter` times. */
  fallback?: Provider;
  /** @default 3 */
  failoverAfter?: number;
  log: NotificationLog;
  politeness?: PolitenessLimiter;
  /** Sends a copy of a message body back to the channel's queue, delayed. */
  requeue: (body: string, delaySeconds: number) => Promise<void>;
  /**
   * How long a claim on a log row holds before another copy may send: at least the worker's timeout,
   * so a send still in flight is never repeated, and short enough that a crashed worker's message is
   * retried before it runs out of receives. @default 30 (the default worker timeout)
   */
  /**
   * Receives before SQS moves a message to the channel's DLQ: a retryable failure on the last one is
   * recorded `dead-lettered` (with its reason), not left `pending`. @default none: never marked
   */
  maxReceiveCount?: number;
  claimLeaseSeconds?: number;
  /** Sends per second for this worker instance (token bucket); unlimited when absent. */
  ratePerSecond?: number;
  logger?: DecisionLogger;
  /** EMF metrics (sent, failed, retried, duplicate, deliveryLatency). @default EMF lines on stdout */
  metrics?: Metrics;
  /** Enqueues a status callback for the producer when a delivery reaches a final status. */
  statusCallbacks?: CallbackEnqueuer;
  /**
   * Records that the user's address on this channel opted out at the carrier (a provider's `optedOut`),
   * so the service skips it from now on. @default not recorded: only this delivery is skipped
   */
  recordOptOut?: (delivery: ChannelDelivery) => Promise<void>;
  /** Epoch ms and sleep, injectable for tests of the pacing. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

type Parsed = { ok: true; delivery: ChannelDelivery } | { ok: false; reason: string; eventId?: string; userId?: string };

/** Checks that a record body is the EventBridge event of one delivery for `channel`. */
export function parseDeliveryRecord(body: string, channel: string): Parsed {
  let event: unknown;
  try {
    event = JSON.parse(body);
  } catch {
    return { ok: false, reason: "body is not JSON" };
  }
  if (typeof event !== "object" || event === null) return { ok: false, reason: "body is not a JSON object" };
  const { source, "detail-type": detailType, detail: rawDetail } = event as Record<string, unknown>;
  const detail = typeof rawDetail === "object" && rawDetail !== null ? (rawDetail as Record<string, unknown>) : undefined;
  const ids = {
    eventId: typeof detail?.eventId === "string" ? detail.eventId : undefined,
    userId: typeof detail?.userId === "string" ? detail.userId : undefined,
  };
  const problems: string[] = [];
  if (source !== EVENT_SOURCE) problems.push(`source must be "${EVENT_SOURCE}"`);
  if (detailType !== detailTypeFor(channel)) problems.push(`detail-type must be "${detailTypeFor(channel)}"`);
  if (!detail) {
    problems.push("detail must be an object");
  } else {
    for (const field of ["eventId", "userId", "type", "createdAt"]) {
      if (typeof detail[field] !== "string" || detail[field] === "") problems.push(`detail.${field} must be a non-empty string`);
    }
    if (detail.channel !== channel) problems.push(`detail.channel must be "${channel}"`);
    if (detail.kind !== "actionable" && detail.kind !== "feedback") problems.push(`detail.kind must be "actionable" or "feedback"`);
    if (typeof (detail.content as { text?: unknown } | null)?.text !== "string") problems.push("detail.content.text must be a string");
    if (typeof detail.address !== "object" || detail.address === null) problems.push("detail.address must be an object");
  }
  if (problems.length) return { ok: false, reason: `invalid delivery event: ${problems.join("; ")}`, ...ids };
  return { ok: true, delivery: detail as unknown as ChannelDelivery };
}

/**
 * Token bucket of `ratePerSecond` tokens, holding at most one second's worth. Callers reserve a token
 * synchronously (so concurrent records queue up fairly) and wait until it is theirs.
 */
function makeTokenBucket(ratePerSecond: number, now: () => number, sleep: (ms: number) => Promise<void>) {
  const capacity = Math.max(1, ratePerSecond);
  let tokens = capacity;
  let refilledAt = now();
  return async function acquire(): Promise<void> {
    const at = now();
    tokens = Math.min(capacity, tokens + ((at - refilledAt) / 1000) * ratePerSecond);
    refilledAt = at;
    tokens -= 1;
    if (tokens < 0) await sleep((-tokens / ratePerSecond) * 1000);
  };
}

export function makeChannelWorker(deps: ChannelWorkerDeps): (event: SqsEvent) => Promise<SqsBatchResponse> {
  const { channel, primary, fallback, log, politeness } = deps;
  const failoverAfter = deps.failoverAfter ?? DEFAULTS.channel.failoverAfter;
  const logger = deps.logger ?? logDecision;
  const metrics = deps.metrics ?? makeMetrics();
  const now = deps.now ?? Date.now;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  if (deps.ratePerSecond !== undefined && !(deps.ratePerSecond > 0)) {
    throw new Error(`ratePerSecond must be a positive number, got ${deps.ratePerSecond}`);
  }
  const claimLeaseSeconds = deps.claimLeaseSeconds ?? DEFAULTS.channel.workerTimeoutSeconds;
  if (!(claimLeaseSeconds > 0)) throw new Error(`claimLeaseSeconds must be a positive number, got ${deps.claimLeaseSeconds}`);
  const acquire = deps.ratePerSecond ? makeTokenBucket(deps.ratePerSecond, now, sleep) : undefined;

  /** A failed enqueue is logged, never a reason to send the notification again. */
  async function callback(
    delivery: ChannelDelivery,
    producer: string | undefined,
    status: "sent" | "error" | "skipped",
    fields: { provider?: string; reason?: string },
  ) {
    if (!deps.statusCallbacks) return;
    const { eventId, userId, type } = delivery;
    try {
      await deps.statusCallbacks({ eventId, userId, type, channel, status, at: new Date(now()).toISOString(), producer, ...fields });
    } catch (error) {
      logger({
        component: "worker",
        channel,
        eventId,
        userId,
        outcome: "callback_enqueue_failed",
        reason: safeReason(String((error as Error)?.message ?? error)),
      });
    }
  }

  /** true = acknowledged (delete from the queue); false = report as a batch item failure. */
  async function handle(record: SqsRecord): Promise<boolean> {
    const receiveCount = Number(record.attributes?.ApproximateReceiveCount ?? "1") || 1;
    const decide = (outcome: OutcomeOf<"worker">, fields: Record<string, unknown> = {}) =>
      logger({ component: "worker", channel, messageId: record.messageId, receiveCount, outcome, ...fields });

    const parsed = parseDeliveryRecord(record.body, channel);
    if (!parsed.ok) {
      // Left to SQS: after maxReceiveCount receives it lands in the DLQ, where someone can look at it.
      decide(OUTCOME.worker.invalid, { eventId: parsed.eventId, userId: parsed.userId, reason: parsed.reason });
      return false;
    }
    const delivery = parsed.delivery;
    const ids = { eventId: delivery.eventId, userId: delivery.userId };
    const dimensions = { channel, type: delivery.type };

    // One conditional write decides: already delivered, another copy sending, or ours to send. It
    // answers with the row as it was (attempts so far, the digest the service recorded), so no read
    // comes first. It never creates a row: what the service did not accept is not sent.
    const claim = await log.claimExisting(delivery.eventId, channel, claimLeaseSeconds);
    if (claim.row && claim.result === "sent") {
      decide("duplicate", { ...ids, reason: `already ${claim.row.status}` });
      metrics.count(METRIC.duplicate, dimensions);
      return true;
    }
    // Only what the service recorded is sent: an event put on the bus or a queue by anyone else is dropped.
    const unconfirmed = unconfirmedDelivery(claim.row, delivery);
    if (unconfirmed) {
      // A forgery naming a real row must not hold it: give back the lease it just took.
      if (claim.row && claim.result === "claimed") await log.setStatus(delivery.eventId, channel, claim.row.status, { releaseClaim: true });
      decide("refused", { ...ids, reason: unconfirmed });
      metrics.count(METRIC.refused, dimensions);
      return true;
    }
    const entry = claim.row!;
    if (claim.result === "busy") {
      // Another copy is sending right now: retry later, when its outcome is in the log.
      decide(OUTCOME.worker.busy, { ...ids, reason: "another copy holds the claim" });
      return false;
    }

    /** Holds the delivery back: a copy goes back to the queue, delayed, and the claim is given back. */
    const holdBack = async (delaySeconds: number, status: DeliveryStatus, fields: StatusFields, reason: string) => {
      await deps.requeue(record.body, delaySeconds);
      await log.setStatus(delivery.eventId, channel, status, { ...fields, releaseClaim: true });
      decide(OUTCOME.worker.delayed, { ...ids, reason, delaySeconds });
      return true;
    };
    /** Holds it `delayed` until `at` (epoch ms), re-queued in steps of at most SQS's longest delay. */
    const holdUntil = (at: number, reason: string) => {
      const until = new Date(at).toISOString();
      const delaySeconds = Math.max(1, Math.min(Math.ceil((at - now()) / 1000), MAX_DELAY_SECONDS));
      return holdBack(delaySeconds, DELIVERY_STATUS.delayed, { reason, until }, `${reason} until ${until}`);
    };
    /** Ends it `skipped` for good with `reason` (counted as `metric`), and tells the producer; `via` the provider that said so. */
    const skip = async (reason: string, metric: MetricName, via?: { provider: string; failover: boolean }) => {
      const provider = via ? { provider: via.provider } : {};
      await log.setStatus(delivery.eventId, channel, DELIVERY_STATUS.skipped, {
        reason,
        releaseClaim: true,
        ...(via ? { ...provider, countAttempt: true } : {}),
      });
      decide(OUTCOME.worker.skipped, { ...ids, ...via, reason });
      metrics.count(metric, dimensions);
      await callback(delivery, entry.producer, "skipped", { reason, ...provider });
      return true;
    };

    // Escalation: held until its time, then sent only if the user has not read it in the inbox by then.
    if (delivery.escalateAt !== undefined) {
      const escalateAt = Date.parse(delivery.escalateAt);
      if (now() < escalateAt) return holdUntil(escalateAt, "escalation");
      const inbox = await log.get(delivery.eventId, FEED_CHANNEL);
      if (inbox && READ_STATUSES.includes(inbox.status)) return skip("read", METRIC.skippedRead);
    }

    // The user's quiet hours: held until they end.
    const quietEnd = delivery.quietHours && !delivery.critical ? quietUntil(delivery.quietHours, now()) : undefined;
    if (quietEnd !== undefined) return holdUntil(quietEnd, "quiet hours");

    // After the claim, so a copy of a delivery another worker sends (or sent) takes no politeness token.
    // A message that already made a provider call (or was received before) already took its token: only
    // a fresh message takes one, so a retry never counts twice.
    const fresh = receiveCount === 1 && !(entry.attempts ?? 0);
    // A critical type (a security alert) never waits behind routine traffic.
    if (politeness && fresh && !delivery.critical) {
      const decision = await politeness.take(channel, delivery.userId);
      if (!decision.allowed) {
        const delaySeconds = Math.min(decision.retryAfterSeconds, MAX_DELAY_SECONDS);
        const reason = `per-user limit reached: delayed ${delaySeconds}s`;
        return holdBack(delaySeconds, DELIVERY_STATUS.pending, { reason }, reason);
      }
    }

    const provider = fallback && receiveCount > failoverAfter ? fallback : primary;
    if (acquire) await acquire();
    let result: ProviderResult;
    try {
      result = await provider.send(delivery);
    } catch (error) {
      // Providers should not throw; a custom one that does gets another chance, like a retryable failure.
      result = {
        outcome: PROVIDER_OUTCOME.retryable,
        reason: safeReason(`${provider.name} threw: ${(error as Error)?.message ?? String(error)}`),
      };
    }
    const via = { ...ids, provider: provider.name, failover: provider !== primary };

    if (result.outcome === PROVIDER_OUTCOME.sent) {
      await log.setStatus(delivery.eventId, channel, DELIVERY_STATUS.sent, {
        provider: provider.name,
        providerMessageId: result.providerMessageId,
        countAttempt: true,
        releaseClaim: true,
      });
      decide(OUTCOME.worker.sent, { ...via, providerMessageId: result.providerMessageId });
      metrics.count(METRIC.sent, dimensions);
      await callback(delivery, entry.producer, "sent", { provider: provider.name });
      metrics.latency(METRIC.deliveryLatency, dimensions, now() - Date.parse(delivery.createdAt));
      return true;
    }
    if (result.outcome === PROVIDER_OUTCOME.retryable) {
      // The last receive: SQS moves the message to the DLQ next, so the log says so, with why.
      const last = deps.maxReceiveCount !== undefined && receiveCount >= deps.maxReceiveCount;
      await log.setStatus(delivery.eventId, channel, last ? DELIVERY_STATUS.deadLettered : DELIVERY_STATUS.pending, {
        provider: provider.name,
        reason: last ? `${result.reason} (moved to the DLQ after ${receiveCount} tries)` : result.reason,
        countAttempt: true,
        releaseClaim: true,
      });
      decide(OUTCOME.worker.retry, { ...via, reason: result.reason });
      metrics.count(METRIC.retried, dimensions);
      return false;
    }
    if (result.optedOut) {
      // SMS STOP: not a failure but the user's choice, recorded so later deliveries are skipped up front.
      await deps.recordOptOut?.(delivery);
      return skip(result.reason, METRIC.skippedOptedOutAtCarrier, { provider: provider.name, failover: provider !== primary });
    }
    await log.setStatus(delivery.eventId, channel, DELIVERY_STATUS.error, {
      provider: provider.name,
      reason: result.reason,
      countAttempt: true,
      releaseClaim: true,
    });
    decide(OUTCOME.worker.failed, { ...via, reason: result.reason });
    metrics.count(METRIC.failed, dimensions);
    await callback(delivery, entry.producer, "error", { provider: provider.name, reason: result.reason });
    return true;
  }

  return async (event: SqsEvent): Promise<SqsBatchResponse> => {
    const records = event?.Records ?? [];
    const acknowledged = await Promise.all(
      records.map(async (record) => {
        try {
          return await handle(record);
        } catch (error) {
          // Infrastructure trouble (log table, requeue): this record is retried, the others are unaffected.
          logger({
            component: "worker",
            channel,
            messageId: record.messageId,
            outcome: OUTCOME.worker.error,
            reason: safeReason(String((error as Error)?.message ?? error)),
          });
          return false;
        }
      }),
    );
    return { batchItemFailures: records.filter((_, i) => !acknowledged[i]).map((r) => ({ itemIdentifier: r.messageId })) };
  };
}
