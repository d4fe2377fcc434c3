/**
 * The operator's functions: the scheduled reconciler, and the sender of signed status callbacks.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { SQSClient } from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { makeSecretKeyLoader } from "../authorizer";
import type { SqsBatchResponse, SqsEvent } from "../contracts";
import { makeNotificationLog } from "../notificationLog";
import { makeReconciler, type ReconcileReport } from "../reconciler";
import { makeCallbackEnqueuer, makeCallbackSender } from "../statusCallbacks";
import { type Env, envOf, type FunctionSpec, type Use, withKey } from "./spec";

/** `tidings:reconciler` */
export interface ReconcilerSettings {
  schedule: string;
  /** How long a created/pending row sits untouched before it is stuck (`stuckAfterMinutes`, in ms). */
  stuckAfterMs: number;
  maxReputs: number;
  lookBackHours: number;
  statusCallbacks: boolean;
}

export function reconcilerFunction(settings: ReconcilerSettings): FunctionSpec<unknown, ReconcileReport> {
  const { stuckAfterMs, maxReputs, lookBackHours } = settings;
  const callbacks = settings.statusCallbacks
    ? (env: Env) => makeCallbackEnqueuer({ sqs: new SQSClient({}), queueUrl: envOf(env, "callbacks") })
    : () => undefined;
  const uses: Use[] = [
    { resource: "log", actions: ["dynamodb:Query"], part: "index/byCreatedDay" },
    { resource: "log", actions: ["dynamodb:BatchGetItem", "dynamodb:UpdateItem"] },
    { resource: "bus", actions: ["events:PutEvents"] },
  ];
  if (settings.statusCallbacks) uses.push({ resource: "callbacks", actions: ["sqs:SendMessage"] });
  return {
    name: "reconciler",
    settings,
    description: "Tidings reconciler: puts stuck notifications on the bus again",
    triggers: [{ kind: "schedule", expression: settings.schedule }],
    uses: withKey(uses),
    timeoutSeconds: 120,
    create: (env, hooks) => {
      const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } });
      const run = makeReconciler({
        log: makeNotificationLog({ ddb, table: envOf(env, "log") }),
        events: new EventBridgeClient({}),
        busName: envOf(env, "bus"),
        stuckAfterMs,
        maxReputs,
        lookBackMs: lookBackHours * 3_600_000,
        statusCallbacks: callbacks(env),
        logger: hooks?.logger,
        metrics: hooks?.metrics,
      });
      return async () => run();
    },
  };
}

/** `tidings:statusCallbacks` */
export interface CallbackSettings {
  /** The producer's endpoint. */
  url: string;
  /** Attempts before the callbacks DLQ. */
  maxReceiveCount: number;
  /** First backoff after a failed POST, doubled each time. @default 10 (runtime/statusCallbacks.ts) */
  baseBackoffSeconds?: number;
}

/** The callbacks queue's settings: the sender POSTs one batch of up to 10 at a time, 2 at once. */
export const CALLBACK_QUEUE = { batchSize: 10, maxConcurrency: 2, workerTimeoutSeconds: 30 } as const;

export function callbackSenderFunction(settings: CallbackSettings): FunctionSpec<SqsEvent, SqsBatchResponse> {
  const { url, baseBackoffSeconds } = settings;
  return {
    name: "sender",
    settings,
    description: "Tidings status callbacks: signed POSTs to the producer",
    triggers: [
      {
        kind: "queue",
        queue: "callbacks",
        batchSize: CALLBACK_QUEUE.batchSize,
        maxConcurrency: CALLBACK_QUEUE.maxConcurrency,
        maximumBatchingWindowSeconds: 0,
      },
    ],
    uses: withKey([
      {
        resource: "callbacks",
        actions: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
        caller: "event-source",
      },
      // A failed POST's backoff is the message's visibility, changed by the handler too.
      { resource: "callbacks", actions: ["sqs:ChangeMessageVisibility"] },
      { resource: "callbacksSecret", actions: ["secretsmanager:GetSecretValue"] },
    ]),
    timeoutSeconds: CALLBACK_QUEUE.workerTimeoutSeconds,
    create: (env, hooks) => {
      const loadKey = makeSecretKeyLoader({ secrets: new SecretsManagerClient({}), secretId: envOf(env, "callbacksSecret") });
      return makeCallbackSender({
        url,
        getSecret: async () => new TextDecoder().decode(await loadKey()),
        sqs: new SQSClient({}),
        queueUrl: envOf(env, "callbacks"),
        baseBackoffSeconds,
        logger: hooks?.logger,
        metrics: hooks?.metrics,
      });
    },
  };
}
