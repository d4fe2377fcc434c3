/**
 * Status callbacks in the local mode: the same queue + DLQ + sender (runtime/statusCallbacks.ts) as the
 * StatusCallbacks component, on the local SQS, with the secret given directly instead of from Secrets
 * Manager. `startLocalTidings({ statusCallbacks: { url, secret } })` turns it on.
 */
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { channelQueueSettings, redrivePolicy } from "../runtime/channelQueues";
import type { DecisionLogger } from "../runtime/log";
import type { Metrics } from "../runtime/metrics";
import { makeCallbackEnqueuer, makeCallbackSender } from "../runtime/statusCallbacks";
import { startSqsPoller } from "./sqsPoller";

export interface LocalStatusCallbacksOptions {
  /** The receiver (any http(s) URL locally). */
  url: string;
  /** The HMAC secret. */
  secret: string;
  /** Attempts before the DLQ. @default 8 */
  maxReceiveCount?: number;
  /** First backoff after a failed POST, doubled each time. @default 10 */
  baseBackoffSeconds?: number;
}

export async function startLocalStatusCallbacks(
  sqs: SQSClient,
  options: LocalStatusCallbacksOptions & { logger: DecisionLogger; metrics: Metrics; pollWaitSeconds: number },
) {
  const settings = channelQueueSettings({ maxReceiveCount: options.maxReceiveCount ?? 8 });
  const create = async (name: string, attributes: Record<string, string>) => {
    const url = (await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }))).QueueUrl!;
    const arn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] }))).Attributes!.QueueArn!;
    return { url, arn };
  };
  const dlq = await create("tidings-status-callbacks-dlq", { MessageRetentionPeriod: String(settings.deadLetterRetentionSeconds) });
  const queue = await create("tidings-status-callbacks", {
    VisibilityTimeout: String(settings.visibilityTimeoutSeconds),
    RedrivePolicy: redrivePolicy(dlq.arn, settings),
  });
  const poller = startSqsPoller({
    sqs,
    queueUrl: queue.url,
    waitTimeSeconds: options.pollWaitSeconds,
    handler: makeCallbackSender({
      url: options.url,
      getSecret: async () => options.secret,
      sqs,
      queueUrl: queue.url,
      baseBackoffSeconds: options.baseBackoffSeconds,
      logger: options.logger,
      metrics: options.metrics,
    }),
    onError: (error) => options.logger({ component: "local-sqs", outcome: "error", channel: "status-callbacks", reason: String(error) }),
  });
  return {
    queueUrl: queue.url,
    deadLetterQueueUrl: dlq.url,
    enqueue: makeCallbackEnqueuer({ sqs, queueUrl: queue.url }),
    stop: () => poller.stop(),
  };
}
