/**
 * A channel's worker: its queue's event source, and the provider (with an optional fallback) it
 * delivers through.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { AddressSchema } from "../addresses";
import type { ChannelQueueSettings } from "../channelQueues";
import type { Provider, SqsBatchResponse, SqsEvent } from "../contracts";
import { makeOptOutRecorder } from "../addressHolds";
import { makeNotificationLog } from "../notificationLog";
import { makePolitenessLimiter } from "../politeness";
import { type ProviderConfig, type ProviderEntry, type ProviderType, providerTable } from "../providers/table";
import { makeCallbackEnqueuer } from "../statusCallbacks";
import { makeChannelWorker } from "../worker";
import { type Env, envOf, type FunctionSpec, type Hooks, type Use, withKey } from "./spec";

/**
 * A provider as the description holds it: a shipped type, whose settings (`from`, `functionArn`, …; a
 * ProviderConfig) the worker reads from its environment as deploy-time values, like a table's name;
 * or, TypeScript only, an inline provider's own `create`, run inside the worker at cold start.
 */
export type ProviderSpec = { type: ProviderType; name?: string } | { name: string; create: () => Provider };

export interface WorkerSettings {
  channel: string;
  provider: ProviderSpec;
  /** Takes over a message once the primary failed it retryably `failoverAfter` times. */
  fallback?: ProviderSpec;
  failoverAfter: number;
  /** Sends per second across all workers of the channel: each of `maxConcurrency` instances gets its share. */
  ratePerSecond?: number;
  maxConcurrency: number;
  batchSize: number;
  maximumBatchingWindowSeconds: number;
  workerTimeoutSeconds: number;
  /** A claim holds a delivery this long; at least the worker's timeout, so a send in flight is never repeated. */
  claimLeaseSeconds: number;
  perUser?: { limit: number; windowSeconds: number };
  /** Receives before SQS moves a message to the DLQ: the worker marks the last try's failure dead-lettered. */
  maxReceiveCount: number;
  logTtlDays: number;
  statusCallbacks: boolean;
  /** websocket: every notification is stored in the user's feed, kept this many days. */
  feedTtlDays?: number;
  /** sns-push: a token SNS reports disabled or invalid is removed from the user's contact. */
  removeInvalidTokens?: boolean;
  /** sns-sms: a number opted out at the carrier (SMS STOP) is recorded on the user's contact, and skipped from then on. */
  recordOptOuts?: boolean;
}

/**
 * A channel as a composition built it, as data: its worker's description, its queues' settings, its
 * providers' deploy-time settings and its per-user address. A config channel is described from config
 * (`configChannels`); a NotificationChannel describes itself the same way (`describe()`), so the local
 * mode runs a channel added in code exactly as one in config.
 */
export interface ChannelDescription {
  worker: WorkerSettings;
  queue: ChannelQueueSettings;
  /** The provider's and the fallback's settings (a ProviderConfig as JSON), the worker's `provider` and `fallback` values. */
  values: { provider?: string; fallback?: string };
  /** Where it keeps a user's address (contacts' `external_channels.<channel>`), if it does. */
  address?: AddressSchema;
  /** false: the types reaching it need no template for it. */
  needsTemplates: boolean;
}

/** What a worker builds for one provider at cold start. Only this provider's table entry is serialized into it. */
type Built = { entry: ProviderEntry } | { name: string; create: () => Provider };

function buildable(spec: ProviderSpec): Built {
  return "create" in spec ? { name: spec.name, create: spec.create } : { entry: providerTable()[spec.type] };
}

/** The Tidings resources a shipped provider type reaches (its other grants name resources outside the stack). */
function providerUses(spec: ProviderSpec, settings: Pick<WorkerSettings, "feedTtlDays" | "removeInvalidTokens" | "recordOptOuts">): Use[] {
  const feed = settings.feedTtlDays !== undefined;
  if ("create" in spec) return [];
  switch (spec.type) {
    case "websocket":
      return [
        // Delivery queries the user index only (runtime/deliver.ts connectionsOfUser), not the chat rooms one.
        { resource: "connections", actions: ["dynamodb:Query"], part: "index/byUser" },
        { resource: "connections", actions: ["dynamodb:DeleteItem"] },
        // Posting is all delivery does: gone connections are deleted from the table, not from API Gateway.
        { resource: "websocket", actions: ["execute-api:ManageConnections"], part: "POST/@connections/*" },
        // Storing is a conditional put: an item already stored (a redelivery) keeps its read state.
        ...(feed ? [{ resource: "feed", actions: ["dynamodb:PutItem"] } as const] : []),
      ];
    case "sns-push":
      // A token SNS reports disabled or invalid leaves the user's contact.
      return settings.removeInvalidTokens ? [{ resource: "contacts", actions: ["dynamodb:GetItem", "dynamodb:UpdateItem"] }] : [];
    case "sns-sms":
      // A number opted out at the carrier is recorded on the user's contact (a conditional update).
      return settings.recordOptOuts ? [{ resource: "contacts", actions: ["dynamodb:UpdateItem"] }] : [];
    default:
      return [];
  }
}

/** A shipped provider's settings with this worker's resources filled in, as its table entry reads them. */
function withResources(config: ProviderConfig, env: Env, feedTtlDays: number | undefined, hooks: Hooks | undefined): ProviderConfig {
  switch (config.type) {
    case "websocket":
      return {
        ...config,
        connectionsTable: envOf(env, "connections"),
        managementEndpoint: envOf(env, "websocket"),
        ...(feedTtlDays !== undefined ? { feedTable: envOf(env, "feed"), feedTtlDays } : {}),
      };
    case "sns-push":
      return env.contacts ? { ...config, contactsTable: env.contacts } : config;
    case "slack-webhook":
      return hooks?.webhookOrigins ? { ...config, allowedHosts: hooks.webhookOrigins.map((origin) => new URL(origin).hostname) } : config;
    default:
      return config;
  }
}

export function workerFunction(settings: WorkerSettings): FunctionSpec<SqsEvent, SqsBatchResponse> {
  const { channel, failoverAfter, claimLeaseSeconds, perUser, logTtlDays, feedTtlDays } = settings;
  const primary = buildable(settings.provider);
  const fallback = settings.fallback ? buildable(settings.fallback) : undefined;
  // Each concurrent instance paces itself: the channel's rate, split evenly.
  const ratePerSecond = settings.ratePerSecond === undefined ? undefined : settings.ratePerSecond / settings.maxConcurrency;
  const callbacks = settings.statusCallbacks
    ? (env: Env, sqs: SQSClient) => makeCallbackEnqueuer({ sqs, queueUrl: envOf(env, "callbacks") })
    : () => undefined;
  const politeness = perUser
    ? (env: Env, ddb: DynamoDBDocumentClient) => makePolitenessLimiter({ ddb, table: envOf(env, "politeness"), ...perUser })
    : () => undefined;
  const uses: Use[] = [
    {
      resource: "queue",
      actions: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"],
      caller: "event-source",
    },
    // No PutItem: a worker only moves rows the service created (runtime/deliveryDigest.ts).
    { resource: "log", actions: ["dynamodb:GetItem", "dynamodb:UpdateItem"] },
  ];
  if (perUser) {
    // A politeness delay sends the message back to the queue, delayed.
    uses.push({ resource: "queue", actions: ["sqs:SendMessage"] });
    // Politeness counters are keyed `<channel>#<userId>`: this worker may touch its own channel's only.
    uses.push({
      resource: "politeness",
      actions: ["dynamodb:UpdateItem"],
      condition: { "ForAllValues:StringLike": { "dynamodb:LeadingKeys": [`${channel}#*`] } },
    });
  }
  if (settings.statusCallbacks) uses.push({ resource: "callbacks", actions: ["sqs:SendMessage"] });
  for (const spec of [settings.provider, settings.fallback]) if (spec) uses.push(...providerUses(spec, settings));

  return {
    name: "worker",
    settings,
    description: `Tidings ${channel} worker (${nameOf(settings.provider)}${settings.fallback ? `, fallback ${nameOf(settings.fallback)}` : ""})`,
    triggers: [
      {
        kind: "queue",
        queue: "queue",
        batchSize: settings.batchSize,
        maxConcurrency: settings.maxConcurrency,
        maximumBatchingWindowSeconds: settings.maximumBatchingWindowSeconds,
      },
    ],
    uses: withKey(dedupe(uses)),
    values: [
      ...("create" in settings.provider ? [] : (["provider"] as const)),
      ...(settings.fallback && !("create" in settings.fallback) ? (["fallback"] as const) : []),
    ],
    timeoutSeconds: settings.workerTimeoutSeconds,
    create: (env, hooks) => {
      const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}));
      const sqs = new SQSClient({});
      const queueUrl = envOf(env, "queue");
      const make = (built: Built, role: "primary" | "fallback") => {
        const settingsOf = () => JSON.parse(envOf(env, role === "primary" ? "provider" : "fallback")) as ProviderConfig;
        const provider = "create" in built ? built.create() : built.entry.create(withResources(settingsOf(), env, feedTtlDays, hooks), {});
        return hooks?.wrapProvider ? hooks.wrapProvider(channel, provider, role) : provider;
      };
      return makeChannelWorker({
        channel,
        primary: make(primary, "primary"),
        fallback: fallback ? make(fallback, "fallback") : undefined,
        failoverAfter,
        claimLeaseSeconds,
        maxReceiveCount: settings.maxReceiveCount,
        log: makeNotificationLog({ ddb, table: envOf(env, "log"), ttlDays: logTtlDays, metrics: hooks?.metrics }),
        politeness: politeness(env, ddb),
        requeue: async (body, delaySeconds) => {
          await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body, DelaySeconds: delaySeconds }));
        },
        ratePerSecond,
        statusCallbacks: callbacks(env, sqs),
        recordOptOut: settings.recordOptOuts ? makeOptOutRecorder({ ddb, table: envOf(env, "contacts") }) : undefined,
        logger: hooks?.logger,
        metrics: hooks?.metrics,
      });
    },
  };
}

function nameOf(spec: ProviderSpec): string {
  return spec.name ?? ("type" in spec ? spec.type : "provider");
}

/** Uses naming the same resource, part, caller and condition become one, their actions merged. */
export function dedupe(uses: Use[]): Use[] {
  const merged = new Map<string, Use>();
  for (const use of uses) {
    const key = JSON.stringify([use.resource, use.part, use.caller, use.condition]);
    const seen = merged.get(key);
    merged.set(key, seen ? { ...seen, actions: [...new Set([...seen.actions, ...use.actions])] } : use);
  }
  return [...merged.values()];
}
