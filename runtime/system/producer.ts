/**
 * The producer API's notification functions: `POST /notifications` (the notification service) and
 * `GET /notifications/{eventId}` (each channel's status).
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { S3Client } from "@aws-sdk/client-s3";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { SchedulerClient } from "@aws-sdk/client-scheduler";
import { makeSecretKeyLoader } from "../authorizer";
import type { NotificationTypeConfig } from "../config";
import type { HttpResult, SqsBatchResponse, SqsEvent } from "../contracts";
import { makeNotificationLog } from "../notificationLog";
import { type CancelApiEvent, makeCancelApiHandler } from "../cancelApi";
import { type HttpApiEvent, makeHttpApiHandler, makeNotificationPipeline } from "../notify";
import { makeEventBridgeScheduler, type ScheduledFire } from "../scheduler";
import { makeScheduledLog } from "../scheduling";
import { MAX_BODY_BYTES } from "../validate";
import { makeStatusApiHandler, type StatusApiEvent } from "../statusApi";
import { makeCallbackEnqueuer } from "../statusCallbacks";
import type { AddressSchema } from "../addresses";
import type { ProducerScopeNames, ProducerTypes } from "../producers";
import { makeTopicFanOut } from "../topicFanOut";
import { makeTopicSends } from "../topicSends";
import { makeTopics } from "../topics";
import { makeLinkSigner } from "../tracking";
import { guardProducerRoutes } from "./guard";
import {
  type Env,
  envOf,
  type FunctionSpec,
  type Hooks,
  type ProducerScope,
  producerRoute,
  type RouteKey,
  type Use,
  withKey,
} from "./spec";

/** The notification routes of the producer API and the scope each needs (the user-data ones: USER_DATA_ROUTES). */
export const NOTIFICATION_ROUTES = [
  { route: "POST /notifications", scope: "send" },
  { route: "GET /notifications/{eventId}", scope: "send" },
  { route: "DELETE /notifications/{eventId}", scope: "send" },
] as const satisfies readonly { route: RouteKey; scope: ProducerScope }[];

/** What the notification service is built from. */
export interface ProducerSettings {
  /** Channels switched on, in config order (and those added in code). */
  enabledChannels: string[];
  /** `tidings:notificationTypes`, defaults filled in. */
  types: Record<string, NotificationTypeConfig>;
  /** `tidings:logTtlDays` */
  logTtlDays: number;
  /** How long a created/pending row may sit before a retry puts it again (`tidings:reconciler.stuckAfterMinutes`, in ms). */
  stuckAfterMs: number;
  /** Signed tracking links (`tidings:tracking`); absent: no links. */
  tracking?: { linkTtlDays: number; openPixel: boolean };
  /** Final statuses decided here are put on the status-callbacks queue (`tidings:statusCallbacks`). */
  statusCallbacks: boolean;
  /** The scope each producer route needs (`tidings:auth.scopes`), checked again by the function. */
  scopes: ProducerScopeNames;
  /** The types each producer may send (`tidings:producers`); absent: every producer, every type. */
  producers?: ProducerTypes;
  /** The address schema of each channel keeping per-user addresses (`tidings:channels.<name>.address`, Slack's built in). */
  addresses?: Record<string, AddressSchema>;
  /** Scheduled notifications (`tidings:scheduling.enabled`): `sendAt`, the scheduled sender and the cancel route. */
  scheduling: boolean;
  /** Sending to a topic: `topic` in a request, the fan-out function and its queue. */
  topics: boolean;
}

/** What the status route's function is built from. */
export interface StatusSettings {
  /** The scope each producer route needs (`tidings:auth.scopes`), checked again by the function. */
  scopes: ProducerScopeNames;
}

const documentClient = () => DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } });

/** Links are signed with the token-signing secret (read once per cold start and cached). */
function linkSignerFrom(env: Env, tracking: NonNullable<ProducerSettings["tracking"]>) {
  return makeLinkSigner({
    getKey: makeSecretKeyLoader({ secrets: new SecretsManagerClient({}), secretId: envOf(env, "tokenSecret") }),
    baseUrl: envOf(env, "linkBaseUrl"),
    ttlDays: tracking.linkTtlDays,
  });
}

function callbackEnqueuerFrom(env: Env) {
  return makeCallbackEnqueuer({ sqs: new SQSClient({}), queueUrl: envOf(env, "callbacks") });
}

/** What the pipeline's functions read: the service's tables, templates and bus, and what it is built with. */
function pipelineUses(settings: ProducerSettings): Use[] {
  const uses: Use[] = [
    // Settings and contact come in one BatchGetItem.
    { resource: "contacts", actions: ["dynamodb:BatchGetItem"] },
    { resource: "settings", actions: ["dynamodb:BatchGetItem"] },
    // One conditional put per notification; GetItem where a store returns no ALL_OLD item; UpdateItem
    // to add a channel a retry names that the notification lacks, and to move a schedule's status. The
    // workers move delivery statuses on.
    { resource: "log", actions: ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"] },
    { resource: "templates", actions: ["s3:GetObject"], part: "templates/*" },
    { resource: "bus", actions: ["events:PutEvents"] },
  ];
  if (settings.statusCallbacks) uses.push({ resource: "callbacks", actions: ["sqs:SendMessage"] });
  if (settings.topics) {
    // Counting a topic's subscribers, and starting (or going on with) its fan-out.
    uses.push({ resource: "topics", actions: ["dynamodb:Query"] }, { resource: "fanout", actions: ["sqs:SendMessage"] });
  }
  if (settings.tracking) uses.push({ resource: "tokenSecret", actions: ["secretsmanager:GetSecretValue"] });
  return uses;
}

/**
 * What the pipeline runs with, the same for the service and the scheduled sender. Its optional parts are
 * chosen at build time, so that a stack without status callbacks, link tracking or scheduling ships no
 * reference to the SQS, Secrets Manager or Scheduler client: the bundle does not load what it never uses.
 */
function pipelineFactory(settings: ProducerSettings, withScheduler: boolean) {
  const { enabledChannels, types, logTtlDays, tracking, stuckAfterMs, producers, addresses } = settings;
  const links = tracking ? (env: Env) => linkSignerFrom(env, tracking) : () => undefined;
  const callbacks = settings.statusCallbacks ? callbackEnqueuerFrom : () => undefined;
  const scheduler = withScheduler ? schedulerFrom : () => undefined;
  const topics = settings.topics ? topicsFrom : () => undefined;
  return (env: Env, hooks: Hooks | undefined) =>
    makeNotificationPipeline({
      ddb: documentClient(),
      // Local S3 stand-ins have no bucket subdomains on 127.0.0.1: path style when an endpoint is set.
      s3: new S3Client({ forcePathStyle: !!process.env.AWS_ENDPOINT_URL_S3 }),
      events: new EventBridgeClient({}),
      tables: { contacts: envOf(env, "contacts"), settings: envOf(env, "settings"), log: envOf(env, "log") },
      templatesBucket: envOf(env, "templates"),
      busName: envOf(env, "bus"),
      enabledChannels,
      types,
      logTtlDays,
      stuckAfterMs,
      statusCallbacks: callbacks(env),
      links: links(env),
      openPixel: tracking?.openPixel,
      webhookOrigins: hooks?.webhookOrigins,
      loopbackCallbacks: hooks?.loopbackCallbacks,
      logger: hooks?.logger,
      metrics: hooks?.metrics,
      producers,
      addresses,
      scheduler: scheduler(env),
      topics: topics(env),
    });
}

/** A topic's subscriber count, and the fan-out queue a send is handed to. */
function topicsFrom(env: Env) {
  const topics = makeTopics({ ddb: documentClient(), table: envOf(env, "topics") });
  const sqs = new SQSClient({});
  return {
    count: topics.count,
    fanOut: async (eventId: string) => {
      await sqs.send(new SendMessageCommand({ QueueUrl: envOf(env, "fanout"), MessageBody: JSON.stringify({ eventId }) }));
    },
  };
}

/** The fan-out queue: one send at a time per message, a few sends at once. */
export const FANOUT_QUEUE = { batchSize: 1, maxConcurrency: 4, workerTimeoutSeconds: 300 } as const;

/**
 * The topic fan-out: for each send on its queue, pages the topic's subscribers and sends each through the
 * pipeline (the service's reads and writes), moving the send's cursor in the log as it goes.
 */
export function topicFanOutFunction(settings: ProducerSettings): FunctionSpec<SqsEvent, SqsBatchResponse> {
  const pipeline = pipelineFactory(settings, false);
  return {
    name: "fanout",
    settings,
    description: "Tidings topic fan-out: sends a topic's notification to each subscriber",
    triggers: [
      {
        kind: "queue",
        queue: "fanout",
        batchSize: FANOUT_QUEUE.batchSize,
        maxConcurrency: FANOUT_QUEUE.maxConcurrency,
        maximumBatchingWindowSeconds: 0,
      },
    ],
    // The pipeline's (with topics: its Query pages the subscribers, its SendMessage hands the rest on; its
    // log actions also read, write and move on the send's item and pages).
    uses: withKey([
      ...pipelineUses(settings),
      {
        resource: "fanout",
        actions: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
        caller: "event-source",
      },
    ]),
    values: settings.tracking ? ["linkBaseUrl"] : [],
    timeoutSeconds: FANOUT_QUEUE.workerTimeoutSeconds,
    create: (env, hooks) => {
      const ddb = documentClient();
      const sqs = new SQSClient({});
      return makeTopicFanOut({
        sends: makeTopicSends({ ddb, table: envOf(env, "log"), ttlDays: settings.logTtlDays }),
        topics: makeTopics({ ddb, table: envOf(env, "topics") }),
        send: pipeline(env, hooks).sendToRecipient,
        requeue: async (eventId) => {
          await sqs.send(new SendMessageCommand({ QueueUrl: envOf(env, "fanout"), MessageBody: JSON.stringify({ eventId }) }));
        },
        logger: hooks?.logger,
        pagesPerRun: hooks?.fanOutPagesPerRun,
      });
    },
  };
}

/** The Scheduler calls of the service (create) and the cancel route (delete), from the environment. */
function schedulerFrom(env: Env) {
  return makeEventBridgeScheduler({
    client: new SchedulerClient({}),
    group: envOf(env, "schedules"),
    roleArn: env.schedulerRole ?? "",
    targetArn: env.scheduledSender ?? "",
    deadLetterArn: env.schedulesDeadLetter ?? "",
  });
}

export function producerFunction(settings: ProducerSettings): FunctionSpec<HttpApiEvent, HttpResult> {
  const uses = [
    ...pipelineUses(settings),
    // The types grantSend recorded for a producer (runtime/producerGrants.ts).
    { resource: "templates", actions: ["s3:GetObject"], part: "producers/*" },
  ] satisfies Use[] as Use[];
  if (settings.scheduling) {
    uses.push(
      { resource: "schedules", actions: ["scheduler:CreateSchedule"], part: "*" },
      // The role the schedule runs as, handed to the Scheduler with each schedule, and to it only.
      {
        resource: "schedulerRole",
        actions: ["iam:PassRole"],
        condition: { StringEquals: { "iam:PassedToService": "scheduler.amazonaws.com" } },
      },
    );
  }
  const pipeline = pipelineFactory(settings, settings.scheduling);
  return guardProducerRoutes<HttpApiEvent, HttpResult>(
    {
      name: "service",
      settings,
      description: "Tidings producer API: POST /notifications",
      triggers: [producerRoute(NOTIFICATION_ROUTES[0], MAX_BODY_BYTES)],
      uses: withKey(uses),
      values: [
        ...(settings.tracking ? (["linkBaseUrl"] as const) : []),
        ...(settings.scheduling ? (["scheduledSender", "schedulesDeadLetter"] as const) : []),
      ],
      create: (env: Env, hooks?: Hooks) => makeHttpApiHandler(pipeline(env, hooks).serve, hooks?.logger),
    },
    settings.scopes,
  );
}

/**
 * The scheduled sender: a scheduled notification's one-time schedule invokes it at `sendAt` with the
 * notification's key; it runs the service's pipeline then (runtime/scheduling.ts). A throw makes the
 * Scheduler retry, and a fire it never took ends in the schedules' DLQ.
 */
export function scheduledSenderFunction(producer: ProducerSettings): FunctionSpec<ScheduledFire, { outcome: string }> {
  // A scheduled notification is one user's (`topic` with `sendAt` is refused): no topics here.
  const settings = { ...producer, topics: false };
  const pipeline = pipelineFactory(settings, false);
  return {
    name: "scheduled",
    settings,
    description: "Tidings scheduled sender: sends a scheduled notification when its time comes",
    triggers: [{ kind: "scheduler" }],
    uses: withKey(pipelineUses(settings)),
    values: settings.tracking ? ["linkBaseUrl"] : [],
    timeoutSeconds: 30,
    create: (env, hooks) => {
      const { sendScheduled } = pipeline(env, hooks);
      return async (fire) => {
        if (typeof fire?.eventId !== "string") throw new Error("a scheduled fire carries the notification's eventId");
        return { outcome: await sendScheduled(fire.eventId) };
      };
    },
  };
}

/** `DELETE /notifications/{eventId}`: cancels a scheduled notification of the calling producer. */
export function cancelFunction(settings: StatusSettings): FunctionSpec<CancelApiEvent, HttpResult> {
  return guardProducerRoutes<CancelApiEvent, HttpResult>(
    {
      name: "cancel",
      settings,
      description: "Tidings producer API: DELETE /notifications/{eventId}",
      triggers: [producerRoute(NOTIFICATION_ROUTES[2], 0)],
      uses: withKey([
        { resource: "log", actions: ["dynamodb:GetItem", "dynamodb:UpdateItem"] },
        { resource: "schedules", actions: ["scheduler:DeleteSchedule"], part: "*" },
      ]),
      create: (env, hooks) =>
        makeCancelApiHandler({
          log: makeScheduledLog({ ddb: documentClient(), table: envOf(env, "log") }),
          scheduler: schedulerFrom(env),
          logger: hooks?.logger,
        }),
    },
    settings.scopes,
  );
}

export function statusFunction(settings: StatusSettings): FunctionSpec<StatusApiEvent, HttpResult> {
  return guardProducerRoutes<StatusApiEvent, HttpResult>(
    {
      name: "status",
      settings,
      description: "Tidings producer API: GET /notifications/{eventId}",
      triggers: [producerRoute(NOTIFICATION_ROUTES[1], 0)],
      // A notification's rows (Query); a topic send's item (GetItem), its pages (Query) and its recipients' items (BatchGetItem).
      uses: withKey([{ resource: "log", actions: ["dynamodb:Query", "dynamodb:GetItem", "dynamodb:BatchGetItem"] }]),
      create: (env, hooks) => {
        const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}));
        return makeStatusApiHandler({
          log: makeNotificationLog({ ddb, table: envOf(env, "log") }),
          topicSends: makeTopicSends({ ddb, table: envOf(env, "log") }),
          logger: hooks?.logger,
        });
      },
    },
    settings.scopes,
  );
}
