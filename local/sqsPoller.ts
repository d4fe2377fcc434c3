/**
 * The local stand-in for a Lambda SQS event source mapping: long-polls a queue, hands batches of
 * Lambda-shaped records to a handler, deletes what succeeded and leaves the rest to reappear after the
 * visibility timeout, so the queue's redrive policy moves a message to its DLQ after maxReceiveCount
 * receives, exactly as with ReportBatchItemFailures in AWS.
 *
 * @example
 * const poller = startSqsPoller({ sqs, queueUrl, handler: worker, batchSize: 10, concurrency: 2 });
 * // ...
 * await poller.stop(); // lets the batch in flight finish
 */
import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  type Message,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { SqsBatchResponse, SqsEvent, SqsRecord } from "../runtime/contracts";

/** A record as Lambda builds it from an SQS message (the fields the handlers' SqsRecord names, and the rest). */
export interface LambdaSqsRecord extends SqsRecord {
  receiptHandle: string;
  attributes: {
    ApproximateReceiveCount: string;
    SentTimestamp?: string;
    ApproximateFirstReceiveTimestamp?: string;
    [k: string]: string | undefined;
  };
  messageAttributes: Record<
    string,
    { dataType: string; stringValue?: string; binaryValue?: string; stringListValues: string[]; binaryListValues: string[] }
  >;
  md5OfBody?: string;
  eventSource: "aws:sqs";
  eventSourceARN: string;
  awsRegion: string;
}

export type PollOutcome = "done" | "failed";

export type SqsHandler = (event: SqsEvent) => Promise<SqsBatchResponse | void | null | undefined>;

export interface SqsPollerOptions {
  sqs: SQSClient;
  queueUrl: string;
  /** Lambda-style handler; return the failed messageIds in batchItemFailures. Throwing fails the whole batch. */
  handler?: SqsHandler;
  /**
   * Builds a handler per concurrent batch slot instead, on its first batch, as Lambda starts one
   * instance per concurrent invocation: each has its own clients and its own share of a rate limit.
   */
  createHandler?: () => SqsHandler;
  /** Records per handler call (several receives of up to 10 each when above 10). @default 10 */
  batchSize?: number;
  /** Long-poll wait per receive. @default 1 */
  waitTimeSeconds?: number;
  /** Overrides the queue's visibility timeout for received messages. @default the queue's own */
  visibilityTimeoutSeconds?: number;
  /** Batches handled at once, like the mapping's maximumConcurrency. @default 1 */
  concurrency?: number;
  /** Called once per record after its batch. */
  onOutcome?: (record: LambdaSqsRecord, outcome: PollOutcome) => void;
  /** Receive or delete errors (the poller keeps going). @default console.error */
  onError?: (error: unknown) => void;
}

/** Where a batch goes back to: its queue, and who hears of errors and outcomes. */
interface BatchTarget {
  sqs: SQSClient;
  queueUrl: string;
  queueArn: () => Promise<string>;
  onError: (error: unknown) => void;
  onOutcome?: (record: LambdaSqsRecord, outcome: PollOutcome) => void;
}

function batchTarget(sqs: SQSClient, queueUrl: string, onError: BatchTarget["onError"], onOutcome?: BatchTarget["onOutcome"]): BatchTarget {
  let arn: Promise<string> | undefined;
  return { sqs, queueUrl, onError, onOutcome, queueArn: () => (arn ??= resolveQueueArn(sqs, queueUrl)) };
}

export interface PollOnceResult {
  /** The records the handler got (none when the queue was empty). */
  records: LambdaSqsRecord[];
  /** The messageIds left on the queue. */
  failed: Set<string>;
}

/**
 * One poll of the event source mapping, for tests that step a queue: one receive of up to `batchSize`
 * (no wait), the handler, the deletes. Failures throw instead of being logged.
 * @example const { records, failed } = await pollOnce({ sqs, queueUrl, handler, visibilityTimeoutSeconds: 0 });
 */
export async function pollOnce(
  options: Pick<SqsPollerOptions, "sqs" | "queueUrl" | "visibilityTimeoutSeconds"> & { handler: SqsHandler; batchSize?: number },
): Promise<PollOnceResult> {
  const out = await options.sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: options.queueUrl,
      MaxNumberOfMessages: Math.min(SQS_MAX_RECEIVE, options.batchSize ?? SQS_MAX_RECEIVE),
      WaitTimeSeconds: 0,
      VisibilityTimeout: options.visibilityTimeoutSeconds,
      MessageSystemAttributeNames: ["All"],
      MessageAttributeNames: ["All"],
    }),
  );
  const messages = out.Messages ?? [];
  if (messages.length === 0) return { records: [], failed: new Set() };
  let records: LambdaSqsRecord[] = [];
  const rethrow = (error: unknown) => {
    throw error;
  };
  const target = batchTarget(options.sqs, options.queueUrl, rethrow);
  const failed = await handleBatch(target, messages, (event) => {
    records = event.Records as LambdaSqsRecord[];
    return options.handler(event);
  });
  return { records, failed };
}

export interface SqsPoller {
  /** Stops receiving, lets the batches in flight finish (handler and deletes), then resolves. */
  stop(): Promise<void>;
}

const SQS_MAX_RECEIVE = 10;
const ERROR_BACKOFF_MS = 1000;

export function startSqsPoller(options: SqsPollerOptions): SqsPoller {
  const { sqs, queueUrl } = options;
  const instance = options.createHandler ?? (() => options.handler!);
  const batchSize = options.batchSize ?? 10;
  const waitTimeSeconds = options.waitTimeSeconds ?? 1;
  const concurrency = options.concurrency ?? 1;
  const onError = options.onError ?? ((error: unknown) => console.error(`[sqs-poller] ${queueUrl}: ${messageOf(error)}`));
  if (!queueUrl) throw new Error("startSqsPoller needs a queueUrl.");
  if (!options.handler && !options.createHandler) throw new Error("startSqsPoller needs a handler or createHandler.");
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batchSize must be a positive integer, got ${batchSize}.`);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`concurrency must be a positive integer, got ${concurrency}.`);
  if (!(waitTimeSeconds >= 0 && waitTimeSeconds <= 20)) throw new Error(`waitTimeSeconds must be 0 to 20, got ${waitTimeSeconds}.`);

  let stopping = false;
  const aborts = new Set<AbortController>();
  let wakeSleepers: (() => void)[] = [];
  const target = batchTarget(sqs, queueUrl, onError, options.onOutcome);

  const loops = Array.from({ length: concurrency }, () => pollLoop());

  async function pollLoop(): Promise<void> {
    let handler: SqsHandler | undefined;
    while (!stopping) {
      let messages: Message[];
      try {
        messages = await receiveBatch();
      } catch (error) {
        if (stopping) return;
        onError(error);
        await sleep(ERROR_BACKOFF_MS);
        continue;
      }
      if (messages.length === 0) continue;
      try {
        handler ??= instance();
      } catch (error) {
        // A Lambda whose initialisation fails: the batch comes back after its visibility timeout.
        onError(new Error(`the handler could not start, so the batch of ${messages.length} will be retried: ${messageOf(error)}`));
        await sleep(ERROR_BACKOFF_MS);
        continue;
      }
      await handleBatch(target, messages, handler);
    }
  }

  async function receiveBatch(): Promise<Message[]> {
    const messages: Message[] = [];
    while (messages.length < batchSize && !stopping) {
      const abort = new AbortController();
      aborts.add(abort);
      const wanted = Math.min(SQS_MAX_RECEIVE, batchSize - messages.length);
      try {
        const out = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: wanted,
            // Only the first receive of a batch waits; the rest top it up with what is already there.
            WaitTimeSeconds: messages.length === 0 ? waitTimeSeconds : 0,
            VisibilityTimeout: options.visibilityTimeoutSeconds,
            MessageSystemAttributeNames: ["All"],
            MessageAttributeNames: ["All"],
          }),
          { abortSignal: abort.signal },
        );
        const received = out.Messages ?? [];
        messages.push(...received);
        // Fewer than asked: the queue had no more, so a top-up would come back empty. Hand the batch over.
        if (received.length < wanted) break;
      } catch (error) {
        // A receive cut short by stop() delivered nothing; keep what was already received.
        if (stopping && messages.length > 0) break;
        throw error;
      } finally {
        aborts.delete(abort);
      }
    }
    return messages;
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wakeSleepers = wakeSleepers.filter((w) => w !== done);
        resolve();
      }
      wakeSleepers.push(done);
    });
  }

  return {
    async stop() {
      stopping = true;
      for (const abort of aborts) abort.abort();
      for (const wake of [...wakeSleepers]) wake();
      await Promise.all(loops);
    },
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Hands received messages to the handler as one Lambda event, deletes what succeeded and leaves the rest
 * on the queue (they reappear after their visibility timeout). Answers the messageIds left.
 */
async function handleBatch(target: BatchTarget, messages: Message[], handler: SqsHandler): Promise<Set<string>> {
  const { sqs, queueUrl, onError } = target;
  const arn = await target.queueArn();
  const records = messages.map((message) => toRecord(message, arn, awsRegion(queueUrl)));
  const failed = await failedIds(records, handler, onError);
  const done = records.filter((r) => !failed.has(r.messageId));
  for (let i = 0; i < done.length; i += SQS_MAX_RECEIVE) {
    const chunk = done.slice(i, i + SQS_MAX_RECEIVE);
    try {
      const out = await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: chunk.map((r, n) => ({ Id: String(n), ReceiptHandle: r.receiptHandle })),
        }),
      );
      for (const failure of out.Failed ?? [])
        onError(new Error(`could not delete ${chunk[Number(failure.Id)].messageId}: ${failure.Message}`));
    } catch (error) {
      onError(error);
    }
  }
  for (const record of records) target.onOutcome?.(record, failed.has(record.messageId) ? "failed" : "done");
  return failed;
}

/** The messageIds to leave on the queue. As in Lambda: a throw, or an unknown itemIdentifier, fails the batch. */
async function failedIds(records: LambdaSqsRecord[], handler: SqsHandler, onError: (error: unknown) => void): Promise<Set<string>> {
  const all = new Set(records.map((r) => r.messageId));
  let response: SqsBatchResponse | void | null | undefined;
  try {
    response = await handler({ Records: records });
  } catch (error) {
    onError(new Error(`handler threw, so the whole batch of ${records.length} will be retried: ${messageOf(error)}`));
    return all;
  }
  const failures = response?.batchItemFailures ?? [];
  if (!Array.isArray(failures)) {
    onError(new Error("handler returned batchItemFailures that is not an array; the whole batch will be retried"));
    return all;
  }
  const ids = failures.map((f) => f?.itemIdentifier);
  const unknown = ids.filter((id) => typeof id !== "string" || !all.has(id));
  if (unknown.length > 0) {
    onError(
      new Error(`handler named itemIdentifier(s) not in the batch (${unknown.map(String).join(", ")}); the whole batch will be retried`),
    );
    return all;
  }
  return new Set(ids as string[]);
}

async function resolveQueueArn(sqs: SQSClient, queueUrl: string): Promise<string> {
  try {
    const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }));
    if (out.Attributes?.QueueArn) return out.Attributes.QueueArn;
  } catch {
    // Fall back to the ARN the URL implies.
  }
  const name = queueUrl.split("/").pop();
  const account = queueUrl.split("/").slice(-2, -1)[0];
  return `arn:aws:sqs:${awsRegion(queueUrl)}:${account}:${name}`;
}

function toRecord(message: Message, eventSourceARN: string, region: string): LambdaSqsRecord {
  const messageAttributes: LambdaSqsRecord["messageAttributes"] = {};
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) {
    messageAttributes[name] = {
      dataType: value.DataType ?? "String",
      stringValue: value.StringValue,
      binaryValue: value.BinaryValue ? Buffer.from(value.BinaryValue).toString("base64") : undefined,
      stringListValues: value.StringListValues ?? [],
      binaryListValues: (value.BinaryListValues ?? []).map((b) => Buffer.from(b).toString("base64")),
    };
  }
  return {
    messageId: message.MessageId!,
    receiptHandle: message.ReceiptHandle!,
    body: message.Body ?? "",
    attributes: { ...message.Attributes, ApproximateReceiveCount: message.Attributes?.ApproximateReceiveCount ?? "1" },
    messageAttributes,
    md5OfBody: message.MD5OfBody,
    eventSource: "aws:sqs",
    eventSourceARN,
    awsRegion: region,
  };
}

function awsRegion(queueUrl: string): string {
  return /sqs\.([a-z0-9-]+)\./.exec(queueUrl)?.[1] ?? process.env.AWS_REGION ?? "us-east-1";
}
