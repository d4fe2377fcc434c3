/**
 * The resources of a local system, created on the local servers as the components create them in AWS:
 * each channel's queue with its DLQ and rule DLQ (the same settings, runtime/channelQueues.ts), the
 * status callbacks' queue, the templates in their bucket, and the demo users.
 */
import type { TemplateFile } from "../runtime/templateFiles";
import { CreateBucketCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { CreateQueueCommand, GetQueueAttributesCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { type DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import { channelQueueSettings, redrivePolicy } from "../runtime/channelQueues";
import { DEFAULTS } from "../runtime/defaults";
import { CALLBACK_QUEUE, type ChannelDescription, FANOUT_QUEUE } from "../runtime/system";
import type { SlackSink } from "./sinks";

export interface LocalChannel {
  name: string;
  queueUrl: string;
  queueArn: string;
  deadLetterQueueUrl: string;
  deadLetterQueueArn: string;
  ruleDeadLetterQueueUrl: string;
}

export interface LocalQueue {
  url: string;
  arn: string;
}

export async function createQueue(sqs: SQSClient, name: string, attributes: Record<string, string>): Promise<LocalQueue> {
  const created = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: created.QueueUrl, AttributeNames: ["QueueArn"] }));
  return { url: created.QueueUrl!, arn: attrs.Attributes!.QueueArn! };
}

/** A channel's queue, its DLQ (redrive after maxReceiveCount) and its rule's DLQ, as NotificationChannel makes them. */
export async function createChannelQueues(
  sqs: SQSClient,
  name: string,
  channel: Pick<ChannelDescription, "queue">,
  visibilityOverride?: number,
): Promise<LocalChannel> {
  const settings = channel.queue;
  const deadLetterRetention = { MessageRetentionPeriod: String(settings.deadLetterRetentionSeconds) };
  const dlq = await createQueue(sqs, `tidings-${name}-dlq`, deadLetterRetention);
  const ruleDlq = await createQueue(sqs, `tidings-${name}-rule-dlq`, deadLetterRetention);
  const queue = await createQueue(sqs, `tidings-${name}`, {
    VisibilityTimeout: String(visibilityOverride ?? settings.visibilityTimeoutSeconds),
    MessageRetentionPeriod: String(settings.messageRetentionSeconds),
    RedrivePolicy: redrivePolicy(dlq.arn, settings),
  });
  return {
    name,
    queueUrl: queue.url,
    queueArn: queue.arn,
    deadLetterQueueUrl: dlq.url,
    deadLetterQueueArn: dlq.arn,
    ruleDeadLetterQueueUrl: ruleDlq.url,
  };
}

/** The status callbacks' queue and DLQ, as the StatusCallbacks component makes them. */
export async function createCallbackQueues(sqs: SQSClient, maxReceiveCount: number) {
  const settings = channelQueueSettings({ ...CALLBACK_QUEUE, maxReceiveCount });
  const dlq = await createQueue(sqs, "tidings-status-callbacks-dlq", {
    MessageRetentionPeriod: String(settings.deadLetterRetentionSeconds),
  });
  const queue = await createQueue(sqs, "tidings-status-callbacks", {
    VisibilityTimeout: String(settings.visibilityTimeoutSeconds),
    RedrivePolicy: redrivePolicy(dlq.arn, settings),
  });
  return { queue, deadLetterQueue: dlq };
}

/** The topic fan-out's queue and DLQ, as the stack's TopicFanOut makes them. */
export async function createFanOutQueues(sqs: SQSClient) {
  const settings = channelQueueSettings({ ...FANOUT_QUEUE, maxReceiveCount: DEFAULTS.channel.maxReceiveCount });
  const dlq = await createQueue(sqs, "tidings-topics-fanout-dlq", { MessageRetentionPeriod: String(settings.deadLetterRetentionSeconds) });
  const queue = await createQueue(sqs, "tidings-topics-fanout", {
    VisibilityTimeout: String(settings.visibilityTimeoutSeconds),
    RedrivePolicy: redrivePolicy(dlq.arn, settings),
  });
  return { queue, deadLetterQueue: dlq };
}

/** Uploads `<dir>/<type>/<channel>.json` of every folder, later folders replacing earlier files, as TemplatesBucket does. */
/** The templates bucket and its objects, as the stack's TemplatesBucket uploads them. */
export async function uploadTemplates(s3: S3Client, bucket: string, files: TemplateFile[]) {
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  for (const file of files) {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: file.key, Body: file.content, ContentType: "application/json" }));
  }
}

/**
 * Two demo users: alice has every address, bob only e-mail. Alice's address on each channel of your own
 * with a webhook address (`webhookFields`: its URL fields, by channel) is the sink's `/hooks/<channel>/alice`.
 */
export async function seedDemoUsers(
  ddb: DynamoDBDocumentClient,
  contactsTable: string,
  sink: Pick<SlackSink, "webhookUrl" | "hookUrl" | "url">,
  webhookFields: Record<string, string[]> = {},
) {
  const own = (channel: string) => Object.fromEntries(webhookFields[channel].map((field) => [field, sink.hookUrl(channel, "alice")]));
  const contacts = [
    {
      userId: "alice",
      email: "alice@example.com",
      phone: "+15555550100",
      external_channels: {
        slack: { webhookUrl: `${sink.url}/services/T000/B000/alice` },
        ...Object.fromEntries(Object.keys(webhookFields).map((channel) => [channel, own(channel)])),
      },
    },
    { userId: "bob", email: "bob@example.com" },
  ];
  for (const item of contacts) await ddb.send(new PutCommand({ TableName: contactsTable, Item: item }));
}
