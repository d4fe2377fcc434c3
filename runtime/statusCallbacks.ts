/**
 * Status callbacks: when a notification's channel reaches a final status (sent, error, unsubscribed),
 * the producer's https endpoint gets a signed POST. The status is enqueued on the callbacks queue where
 * it is decided (worker, service, reconciler); the sender Lambda drains that queue, so a slow or failing
 * endpoint never holds up a delivery, and a failed POST is retried with exponential backoff
 * (ChangeMessageVisibility) until the queue's maxReceiveCount moves it to the DLQ, which alarms.
 *
 * Signature (as Stripe and Slack do it): header `X-Tidings-Signature: t=<unix seconds>,v1=<hex>` where
 * v1 = HMAC-SHA256(secret, `${t}.${rawBody}`). Receivers recompute it, compare in constant time, and
 * refuse a `t` older than a few minutes (replays).
 */
import { producersEventId } from "./producers";
import { createHmac, timingSafeEqual } from "node:crypto";
import { ChangeMessageVisibilityCommand, SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { DeliveryStatus, SqsBatchResponse, SqsEvent } from "./contracts";
import { type DecisionLogger, logDecision } from "./log";
import { METRIC, makeMetrics, type Metrics } from "./metrics";

/** The header the signature travels in. */
export const SIGNATURE_HEADER = "x-tidings-signature";

/** Statuses a callback is sent for: a channel's delivery is decided. */
export const FINAL_STATUSES: DeliveryStatus[] = ["sent", "error", "unsubscribed", "skipped"];

/** The body POSTed to the producer's endpoint. */
export interface StatusCallback {
  /** The eventId the producer sent (or Tidings assigned). */
  eventId: string;
  userId: string;
  type: string;
  channel: string;
  status: DeliveryStatus;
  /** ISO-8601 time of the status. */
  at: string;
  reason?: string;
  provider?: string;
  /** Who sent the notification (runtime/producers.ts): with eventId, what names it, since eventIds are per producer. */
  producer?: string;
}

/** `t=<unix>,v1=<hex>` for `body` at `timestampSeconds`. */
export function signCallback(secret: string, timestampSeconds: number, body: string): string {
  const v1 = createHmac("sha256", secret).update(`${timestampSeconds}.${body}`).digest("hex");
  return `t=${timestampSeconds},v1=${v1}`;
}

/**
 * What a receiver does: true when `header` signs `body` with `secret` and is at most `toleranceSeconds`
 * old. Exported for producers' tests and the local mode's receiver.
 */
export function verifyCallback(
  secret: string,
  header: string | undefined,
  body: string,
  nowSeconds: number,
  toleranceSeconds = 300,
): boolean {
  const parts = Object.fromEntries((header ?? "").split(",").map((p) => p.split("=", 2) as [string, string]));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || Math.abs(nowSeconds - t) > toleranceSeconds || typeof parts.v1 !== "string") return false;
  const expected = Buffer.from(signCallback(secret, t, body).split("v1=")[1], "hex");
  const given = Buffer.from(parts.v1, "hex");
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** Enqueues a callback when `status` is final; nothing otherwise. Used by worker, service and reconciler. */
export type CallbackEnqueuer = (callback: StatusCallback) => Promise<void>;

export function makeCallbackEnqueuer(deps: { sqs: SQSClient; queueUrl: string }): CallbackEnqueuer {
  return async (callback) => {
    if (!FINAL_STATUSES.includes(callback.status)) return;
    // The producer's own eventId: a notification kept under its producer's key (runtime/producers.ts) says the id it was sent with.
    const body = { ...callback, eventId: producersEventId(callback.eventId) };
    await deps.sqs.send(new SendMessageCommand({ QueueUrl: deps.queueUrl, MessageBody: JSON.stringify(body) }));
  };
}

export interface CallbackSenderDeps {
  /** The producer's https endpoint. */
  url: string;
  /** The HMAC secret (Secrets Manager in the stack). */
  getSecret: () => Promise<string>;
  sqs: SQSClient;
  queueUrl: string;
  /** Per POST. @default 5000 */
  timeoutMs?: number;
  /** Backoff of the n-th failed receive: min(maxBackoffSeconds, baseBackoffSeconds × 2^(n-1)). @default 10 */
  baseBackoffSeconds?: number;
  /** @default 900 */
  maxBackoffSeconds?: number;
  fetch?: typeof fetch;
  metrics?: Metrics;
  logger?: DecisionLogger;
  now?: () => number;
}

/** The callbacks queue's worker: POSTs each status, signed; failures are retried with backoff. */
export function makeCallbackSender(deps: CallbackSenderDeps): (event: SqsEvent) => Promise<SqsBatchResponse> {
  const post = deps.fetch ?? fetch;
  const now = deps.now ?? Date.now;
  const metrics = deps.metrics ?? makeMetrics();
  const logger = deps.logger ?? logDecision;
  const base = deps.baseBackoffSeconds ?? 10;
  const max = deps.maxBackoffSeconds ?? 900;

  return async (event) => {
    const failures: { itemIdentifier: string }[] = [];
    await Promise.all(
      (event?.Records ?? []).map(async (record) => {
        let callback: StatusCallback;
        try {
          callback = JSON.parse(record.body);
        } catch {
          logger({ component: "status-callback", outcome: "invalid", reason: "body is not JSON", messageId: record.messageId });
          failures.push({ itemIdentifier: record.messageId });
          return;
        }
        const ids = { eventId: callback.eventId, userId: callback.userId, channel: callback.channel };
        let problem: string | undefined;
        try {
          const body = JSON.stringify(callback);
          const signature = signCallback(await deps.getSecret(), Math.floor(now() / 1000), body);
          const response = await post(deps.url, {
            method: "POST",
            headers: { "content-type": "application/json", [SIGNATURE_HEADER]: signature },
            body,
            signal: AbortSignal.timeout(deps.timeoutMs ?? 5000),
            // A redirect is not followed: it would send the signed status, from inside the stack, wherever it points.
            redirect: "manual",
          });
          await response.body?.cancel();
          if (response.status >= 300 && response.status < 400)
            problem = `endpoint answered ${response.status} (redirects are not followed)`;
          else if (response.status < 200 || response.status >= 300) problem = `endpoint answered ${response.status}`;
        } catch (error) {
          problem = `POST failed: ${(error as Error)?.name ?? "Error"}`;
        }
        if (!problem) {
          metrics.count(METRIC.callbackSent, { channel: callback.channel });
          logger({ component: "status-callback", outcome: "sent", ...ids, status: callback.status });
          return;
        }
        metrics.count(METRIC.callbackFailed, { channel: callback.channel });
        const receives = Number(record.attributes?.ApproximateReceiveCount ?? "1") || 1;
        const backoff = Math.min(max, base * 2 ** (receives - 1));
        logger({ component: "status-callback", outcome: "retry", ...ids, reason: problem, backoffSeconds: backoff });
        if (record.receiptHandle) {
          await deps.sqs
            .send(
              new ChangeMessageVisibilityCommand({
                QueueUrl: deps.queueUrl,
                ReceiptHandle: record.receiptHandle,
                VisibilityTimeout: backoff,
              }),
            )
            .catch(() => undefined); // the queue's own visibility timeout is the fallback backoff
        }
        failures.push({ itemIdentifier: record.messageId });
      }),
    );
    return { batchItemFailures: failures };
  };
}
