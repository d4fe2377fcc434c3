/**
 * Redrive: move a channel's dead-lettered messages back to its source queue, once its cause is fixed.
 * In AWS this is an SQS message move task (StartMessageMoveTask, DLQ → source queue). Local SQS
 * (fauxqs) has no move tasks, so there, or wherever the call is unsupported, the messages are copied one
 * by one: receive from the DLQ, send the same body and attributes to the queue, delete from the DLQ.
 * No Pulumi import: the CLI (local/redrive-cli.ts) and the tests use it directly.
 */
import {
  ChangeMessageVisibilityCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  StartMessageMoveTaskCommand,
  type Message,
  type MessageAttributeValue,
  type SQSClient,
} from "@aws-sdk/client-sqs";

/** A channel's queue pair, as in the stack output `channels.<name>` or the local state file. */
export interface ChannelQueues {
  queueUrl: string;
  deadLetterQueueUrl: string;
  /** Looked up with GetQueueAttributes when absent. */
  queueArn?: string;
  deadLetterQueueArn?: string;
  /** Where EventBridge puts events it could not deliver to the queue (`--rule-dlq`). */
  ruleDeadLetterQueueUrl?: string;
}

export interface RedriveOptions {
  /**
   * "move-task": SQS StartMessageMoveTask (AWS). "copy": receive/send/delete. "auto": copy for a local
   * endpoint (localhost / 127.0.0.1 queue URLs), else a move task, falling back to copy when SQS answers
   * that move tasks are unsupported.
   * @default "auto"
   */
  method?: "auto" | "move-task" | "copy";
  /** "auto" only: whether SQS is a local server without move tasks. @default guessed from the DLQ URL */
  local?: boolean;
  /** Move task only: messages per second; SQS picks a rate when absent. */
  maxMessagesPerSecond?: number;
  /** Copy only: how long a received DLQ message stays hidden while it is being copied. @default 30 */
  visibilityTimeoutSeconds?: number;
  /**
   * Only this notification's messages (the delivery's `eventId`), copied; every other message is given
   * back to the DLQ at once. A move task cannot choose, so this always copies. @default every message
   */
  eventId?: string;
}

export type RedriveResult =
  | {
      method: "move-task";
      taskHandle: string;
      sourceArn: string;
      destinationArn: string;
      status?: string;
      approximateNumberOfMessagesToMove?: number;
    }
  | { method: "copy"; moved: number; failed: { messageId: string; reason: string }[] };

/**
 * Puts the events of a channel's rule DLQ (events EventBridge could not hand to the queue) on their
 * way again: each message body is the EventBridge event exactly as the rule target would have sent it,
 * so it is sent to the channel's queue. Copied one by one: a rule DLQ is no SQS queue's DLQ, so SQS
 * move tasks do not apply. EventBridge's error attributes (ERROR_CODE…) are left behind.
 */
export async function redriveRuleDeadLetters(
  sqs: SQSClient,
  queues: { queueUrl: string; ruleDeadLetterQueueUrl: string },
  options: Pick<RedriveOptions, "visibilityTimeoutSeconds"> = {},
): Promise<Extract<RedriveResult, { method: "copy" }>> {
  if (!queues.queueUrl || !queues.ruleDeadLetterQueueUrl) {
    throw new Error("redrive of the rule DLQ needs both queueUrl and ruleDeadLetterQueueUrl for the channel.");
  }
  return copyMessages(
    sqs,
    { queueUrl: queues.queueUrl, deadLetterQueueUrl: queues.ruleDeadLetterQueueUrl },
    { ...options, dropAttributes: true },
  ) as Promise<Extract<RedriveResult, { method: "copy" }>>;
}

/**
 * The schedules' DLQ holds fires the Scheduler could not hand the scheduled sender (after its retries):
 * each is handed to `fire` (the sender: a Lambda Invoke deployed, the function itself locally) and deleted
 * once it returns; one that throws stays. The sender claims a notification only while it is scheduled, so
 * a fire of one cancelled or sent meanwhile does nothing, and a fire redriven twice sends once.
 */
export async function redriveScheduleFires(
  sqs: SQSClient,
  deadLetterQueueUrl: string,
  fire: (body: string) => Promise<void>,
  options: Pick<RedriveOptions, "visibilityTimeoutSeconds"> = {},
): Promise<Extract<RedriveResult, { method: "copy" }>> {
  return copyMessages(sqs, { queueUrl: "", deadLetterQueueUrl }, { ...options, send: (message) => fire(message.Body ?? "") }) as Promise<
    Extract<RedriveResult, { method: "copy" }>
  >;
}

/** Moves the DLQ's messages back to the source queue; see RedriveOptions for how. */
export async function redrive(sqs: SQSClient, queues: ChannelQueues, options: RedriveOptions = {}): Promise<RedriveResult> {
  const method = options.method ?? "auto";
  if (!queues.queueUrl || !queues.deadLetterQueueUrl) {
    throw new Error("redrive needs both queueUrl and deadLetterQueueUrl for the channel.");
  }
  if (
    options.eventId !== undefined ||
    method === "copy" ||
    (method === "auto" && (options.local ?? isLocalQueueUrl(queues.deadLetterQueueUrl)))
  ) {
    return copyMessages(sqs, queues, options);
  }
  try {
    return await startMoveTask(sqs, queues, options);
  } catch (error) {
    if (method === "auto" && isUnsupported(error)) return copyMessages(sqs, queues, options);
    throw error;
  }
}

async function startMoveTask(sqs: SQSClient, queues: ChannelQueues, options: RedriveOptions): Promise<RedriveResult> {
  const sourceArn = queues.deadLetterQueueArn ?? (await queueArnOf(sqs, queues.deadLetterQueueUrl));
  const destinationArn = queues.queueArn ?? (await queueArnOf(sqs, queues.queueUrl));
  const started = await sqs.send(
    new StartMessageMoveTaskCommand({
      SourceArn: sourceArn,
      DestinationArn: destinationArn,
      MaxNumberOfMessagesPerSecond: options.maxMessagesPerSecond,
    }),
  );
  const result: RedriveResult = { method: "move-task", taskHandle: started.TaskHandle ?? "", sourceArn, destinationArn };
  try {
    // Best effort: the task's first status says how many messages it is about to move.
    const listed = await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: sourceArn, MaxResults: 1 }));
    const task = listed.Results?.[0];
    if (task) {
      result.status = task.Status;
      result.approximateNumberOfMessagesToMove = task.ApproximateNumberOfMessagesToMove;
    }
  } catch {
    // The task has started; its status is a nicety.
  }
  return result;
}

async function copyMessages(
  sqs: SQSClient,
  queues: Pick<ChannelQueues, "queueUrl" | "deadLetterQueueUrl">,
  options: RedriveOptions & {
    dropAttributes?: boolean;
    /** Where each message goes instead of the source queue (a throw keeps it in the DLQ). */
    send?: (message: Message) => Promise<void>;
  },
): Promise<RedriveResult> {
  let moved = 0;
  const failed: { messageId: string; reason: string }[] = [];
  const skip = new Set<string>();
  // One notification's messages: the others go back at once, and the search ends when receives bring
  // only messages already seen (SQS hands out a sample of the queue each time).
  let passesWithNothingNew = 0;
  for (;;) {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queues.deadLetterQueueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 0,
        VisibilityTimeout: options.visibilityTimeoutSeconds ?? 30,
        MessageAttributeNames: ["All"],
        MessageSystemAttributeNames: ["All"],
      }),
    );
    // A message that failed to copy stays hidden for the visibility timeout, so it cannot loop here.
    let messages = (out.Messages ?? []).filter((m) => !skip.has(m.MessageId ?? ""));
    if (options.eventId !== undefined) {
      // Every other message goes back at once, also one seen before (received again, it is hidden again).
      const others = (out.Messages ?? []).filter((m) => eventIdOf(m.Body) !== options.eventId);
      const unseen = others.filter((m) => !skip.has(m.MessageId ?? ""));
      for (const other of others) {
        skip.add(other.MessageId ?? "");
        await sqs.send(
          new ChangeMessageVisibilityCommand({
            QueueUrl: queues.deadLetterQueueUrl,
            ReceiptHandle: other.ReceiptHandle,
            VisibilityTimeout: 0,
          }),
        );
      }
      messages = messages.filter((m) => !others.includes(m));
      passesWithNothingNew = messages.length === 0 && unseen.length === 0 ? passesWithNothingNew + 1 : 0;
      if (messages.length === 0) {
        if (passesWithNothingNew >= 3 || (out.Messages ?? []).length === 0) break;
        continue;
      }
    }
    if (messages.length === 0) break;
    for (const message of messages) {
      try {
        if (options.send) await options.send(message);
        else {
          const copy = copyOf(message);
          if (options.dropAttributes) copy.MessageAttributes = undefined;
          await sqs.send(new SendMessageCommand({ QueueUrl: queues.queueUrl, ...copy }));
        }
      } catch (error) {
        skip.add(message.MessageId ?? "");
        failed.push({ messageId: message.MessageId ?? "?", reason: error instanceof Error ? error.message : String(error) });
        continue;
      }
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queues.deadLetterQueueUrl, ReceiptHandle: message.ReceiptHandle }));
      moved++;
    }
  }
  return { method: "copy", moved, failed };
}

/** The delivery's eventId in a channel queue's message (the EventBridge event the rule put on it). */
export function eventIdOf(body: string | undefined): string | undefined {
  try {
    const eventId = (JSON.parse(body ?? "") as { detail?: { eventId?: unknown } })?.detail?.eventId;
    return typeof eventId === "string" ? eventId : undefined;
  } catch {
    return undefined;
  }
}

/** Body, attributes and (for FIFO queues) group of a received message, ready to send again. */
function copyOf(
  message: Message,
): Pick<
  SendMessageCommand["input"],
  "MessageBody" | "MessageAttributes" | "MessageGroupId" | "MessageDeduplicationId" | "MessageSystemAttributes"
> {
  const attributes: Record<string, MessageAttributeValue> = {};
  for (const [name, value] of Object.entries(message.MessageAttributes ?? {})) {
    // SQS rejects the (reserved, always empty) list fields on send.
    attributes[name] = { DataType: value.DataType, StringValue: value.StringValue, BinaryValue: value.BinaryValue };
  }
  const trace = message.Attributes?.AWSTraceHeader;
  return {
    MessageBody: message.Body ?? "",
    MessageAttributes: Object.keys(attributes).length > 0 ? attributes : undefined,
    MessageGroupId: message.Attributes?.MessageGroupId,
    MessageDeduplicationId: message.Attributes?.MessageDeduplicationId,
    MessageSystemAttributes: trace ? { AWSTraceHeader: { DataType: "String", StringValue: trace } } : undefined,
  };
}

async function queueArnOf(sqs: SQSClient, queueUrl: string): Promise<string> {
  const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }));
  const arn = out.Attributes?.QueueArn;
  if (!arn) throw new Error(`SQS did not return the ARN of ${queueUrl}.`);
  return arn;
}

/** Queue URLs of the local SQS server name localhost (sqs.<region>.localhost) or a loopback address. */
export function isLocalQueueUrl(queueUrl: string): boolean {
  try {
    const host = new URL(queueUrl).hostname;
    return host === "localhost" || host.endsWith(".localhost") || host === "127.0.0.1" || host === "[::1]";
  } catch {
    return false;
  }
}

function isUnsupported(error: unknown): boolean {
  const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const text = `${e?.name ?? ""} ${e?.message ?? ""}`;
  return (
    /UnsupportedOperation|UnknownOperation|InvalidAction|not (?:supported|implemented)/i.test(text) || e?.$metadata?.httpStatusCode === 501
  );
}
