/**
 * The one description of a Tidings system, derived from its parsed config: every function with its
 * runtime factory, triggers and uses. The stack (components/) and the local mode (local/) are two
 * adapters over it; neither wires a function or writes a default of its own. docs/architecture.md
 * says why it is ours and not a framework's.
 *
 * `systemSettings(config)` is the one mapping from config to what each function is built from (data);
 * `systemFunctions(settings)` builds the functions from it. The local mode and the tests use both; the
 * stack's components take the same settings as their args and call the same builders.
 */
import { type AddressSchema, BUILT_IN_ADDRESSES } from "../addresses";
import { channelQueueSettings } from "../channelQueues";
import { channelProviderConfig, emailFeedbackOf, enabledChannels, type TidingsConfig } from "../config";
import { type ChannelDescription, type ProviderSpec, type WorkerSettings, workerFunction } from "./channels";
import { type CallbackSettings, callbackSenderFunction, type ReconcilerSettings, reconcilerFunction } from "./operations";
import {
  cancelFunction,
  NOTIFICATION_ROUTES,
  type ProducerSettings,
  producerFunction,
  scheduledSenderFunction,
  type StatusSettings,
  statusFunction,
  topicFanOutFunction,
} from "./producer";
import type { FunctionSpec, ProducerScope, RouteKey } from "./spec";
import {
  emailFeedbackFunction,
  USER_DATA_ROUTES,
  type UserApiSettings,
  type UserDataSettings,
  userApiFunction,
  userDataFunction,
  TOPIC_ROUTES,
} from "./users";
import { type WebSocketSettings, webSocketFunctions } from "./websocket";

export * from "./spec";
export { type ChannelDescription, type ProviderSpec, type WorkerSettings, workerFunction, dedupe } from "./channels";
export { type CallbackSettings, CALLBACK_QUEUE, callbackSenderFunction, type ReconcilerSettings, reconcilerFunction } from "./operations";
export {
  cancelFunction,
  NOTIFICATION_ROUTES,
  type ProducerSettings,
  producerFunction,
  scheduledSenderFunction,
  type StatusSettings,
  statusFunction,
  FANOUT_QUEUE,
  topicFanOutFunction,
} from "./producer";
export { guardProducerRoutes } from "./guard";
export {
  emailFeedbackFunction,
  TOPIC_ROUTES,
  USER_API_ROUTES,
  USER_DATA_ROUTES,
  type UserApiSettings,
  type UserDataSettings,
  userApiFunction,
  userDataFunction,
} from "./users";
export { managementClient, type TokenSettings, type WebSocketSettings, webSocketFunctions } from "./websocket";

/** Every producer route and the scope it needs: the one list the grants, the gateway and the functions read. */
export const PRODUCER_ROUTES: readonly { route: RouteKey; scope: ProducerScope }[] = [
  ...NOTIFICATION_ROUTES,
  ...USER_DATA_ROUTES,
  ...TOPIC_ROUTES,
];

/** What every function of a system is built from. */
export interface SystemSettings {
  websocket: WebSocketSettings;
  producer: ProducerSettings;
  status: StatusSettings;
  userData: UserDataSettings;
  userApi: UserApiSettings;
  /** Each enabled channel's worker, in config order. */
  channels: Record<string, WorkerSettings>;
  /** Absent when `tidings:reconciler.enabled` is false. */
  reconciler?: ReconcilerSettings;
  /** Absent without `tidings:statusCallbacks`. */
  statusCallbacks?: CallbackSettings;
  /** SES bounces and complaints are handled (email through SES, `tidings:emailFeedback.enabled`). */
  emailFeedback: boolean;
}

export interface SystemOptions {
  /** Providers config names that Tidings does not ship (TypeScript: inline providers), by name. */
  customProviders?: Record<string, ProviderSpec>;
  /**
   * Every channel of the system, as a composition built them (config's and code's).
   * @default the config's enabled channels (configChannels)
   */
  channels?: Record<string, ChannelDescription>;
}

/** A function of the system, and the part of the system it belongs to (the component that creates it in the stack). */
export interface SystemFunction {
  /** `websocket`, `producer-api`, `scheduling`, `user-data`, `user-api`, `channel:<name>`, `reconciler`, `status-callbacks` */
  group: string;
  spec: FunctionSpec<never, unknown>;
}

export function systemSettings(config: TidingsConfig, options: SystemOptions = {}): SystemSettings {
  const described = options.channels ?? configChannels(config, options);
  const channels = Object.keys(described);
  const addresses = channelAddresses(described);
  const statusCallbacks = config.statusCallbacks !== undefined;
  const { issuer, audience, jwksUrl, keyCacheSeconds, maxTokenAgeSeconds } = config.auth;
  const auth = { issuer, audience, jwksUrl, keyCacheSeconds, maxTokenAgeSeconds };
  return {
    websocket: {
      auth,
      maxConnectionsPerUser: config.websocket.maxConnectionsPerUser,
      chat: config.websocket.sendMessage,
      connectionTtlHours: config.connectionTtlHours,
    },
    producer: {
      enabledChannels: channels,
      types: config.notificationTypes,
      logTtlDays: config.logTtlDays,
      stuckAfterMs: config.reconciler.stuckAfterMinutes * 60_000,
      tracking: { linkTtlDays: config.tracking.linkTtlDays, openPixel: config.tracking.openPixel },
      statusCallbacks,
      scopes: config.auth.scopes,
      producers: config.producers,
      addresses,
      scheduling: config.scheduling.enabled,
      topics: config.topics.enabled,
    },
    status: { scopes: config.auth.scopes },
    userData: {
      eraseLog: true,
      politenessChannels: channels.filter((name) => described[name].worker.perUser !== undefined),
      scopes: config.auth.scopes,
      addresses,
      topics: config.topics.enabled,
    },
    userApi: {
      auth,
      enabledChannels: channels,
      types: config.notificationTypes,
      maxDevicesPerUser: config.devices.maxPerUser,
      selfService: true,
    },
    // Whether the workers put final statuses on the callbacks queue is the system's, not each channel's.
    channels: Object.fromEntries(channels.map((name) => [name, { ...described[name].worker, statusCallbacks }])),
    reconciler: config.reconciler.enabled
      ? {
          schedule: config.reconciler.schedule,
          stuckAfterMs: config.reconciler.stuckAfterMinutes * 60_000,
          maxReputs: config.reconciler.maxReputs,
          lookBackHours: config.reconciler.lookBackHours,
          statusCallbacks,
        }
      : undefined,
    statusCallbacks: config.statusCallbacks
      ? { url: config.statusCallbacks.url, maxReceiveCount: config.statusCallbacks.maxReceiveCount }
      : undefined,
    emailFeedback: emailFeedbackOf(config) !== undefined && channels.includes("email"),
  };
}

/** The channels that keep per-user addresses, and the address of each (a built-in one unless it declares its own). */
export function channelAddresses(channels: Record<string, Pick<ChannelDescription, "address">>): Record<string, AddressSchema> {
  return Object.fromEntries(
    Object.entries(channels).flatMap(([name, channel]) => {
      const schema = channel.address ?? BUILT_IN_ADDRESSES[name];
      return schema ? [[name, schema]] : [];
    }),
  );
}

/** The config's enabled channels, in config order, each as the stack's NotificationChannel builds it from config. */
export function configChannels(
  config: TidingsConfig,
  options: Pick<SystemOptions, "customProviders"> = {},
): Record<string, ChannelDescription> {
  return Object.fromEntries(
    enabledChannels(config).map((name) => {
      const channel = config.channels[name];
      const provider = providerSpec(name, channel, "provider", options);
      const fallback = providerSpec(name, channel, "fallback", options);
      const worker: WorkerSettings = {
        channel: name,
        provider: provider!,
        fallback,
        failoverAfter: channel.failoverAfter,
        ratePerSecond: channel.ratePerSecond,
        maxConcurrency: channel.maxConcurrency,
        batchSize: channel.batchSize,
        maximumBatchingWindowSeconds: 0,
        workerTimeoutSeconds: channel.workerTimeoutSeconds,
        claimLeaseSeconds: channel.workerTimeoutSeconds,
        perUser: channel.perUser,
        maxReceiveCount: channel.maxReceiveCount,
        logTtlDays: config.logTtlDays,
        statusCallbacks: config.statusCallbacks !== undefined,
        feedTtlDays: provider && "type" in provider && provider.type === "websocket" ? config.feed.ttlDays : undefined,
        // As the stack's channel: a push token SNS reports invalid is removed from the user's contact.
        removeInvalidTokens: [provider, fallback].some((spec) => spec && "type" in spec && spec.type === "sns-push"),
        recordOptOuts: [provider, fallback].some((spec) => spec && "type" in spec && spec.type === "sns-sms"),
      };
      const values: ChannelDescription["values"] = {};
      for (const which of ["provider", "fallback"] as const) {
        const settings = channelProviderConfig(name, channel, which);
        if (settings) values[which] = JSON.stringify(settings);
      }
      const description: ChannelDescription = {
        worker,
        queue: channelQueueSettings(channel),
        values,
        address: channel.address as AddressSchema | undefined,
        needsTemplates: channel.needsTemplates !== false,
      };
      return [name, description];
    }),
  );
}

/** A channel's provider (or fallback) as its config names it: a shipped type, or one of `customProviders`. */
function providerSpec(
  name: string,
  channel: TidingsConfig["channels"][string],
  which: "provider" | "fallback",
  options: SystemOptions,
): ProviderSpec | undefined {
  const providerName = channel[which];
  if (providerName === undefined) return undefined;
  const custom = options.customProviders?.[providerName];
  if (custom) return custom;
  const config = channelProviderConfig(name, channel, which);
  if (!config) {
    throw new Error(
      `Channel "${name}" uses provider "${providerName}", which Tidings does not ship: pass it as a custom provider, or use provider "lambda" with functionArn.`,
    );
  }
  return { type: config.type, name: config.name ?? config.type };
}

/** Every function of the system, by the part it belongs to. */
export function systemFunctions(settings: SystemSettings): SystemFunction[] {
  const ws = webSocketFunctions(settings.websocket);
  const functions: SystemFunction[] = [
    { group: "websocket", spec: ws.authorizer as FunctionSpec<never, unknown> },
    ...ws.routes.map((spec) => ({ group: "websocket", spec: spec as FunctionSpec<never, unknown> })),
    { group: "producer-api", spec: producerFunction(settings.producer) as FunctionSpec<never, unknown> },
    { group: "producer-api", spec: statusFunction(settings.status) as FunctionSpec<never, unknown> },
    ...(settings.producer.scheduling
      ? [
          { group: "scheduling", spec: scheduledSenderFunction(settings.producer) as FunctionSpec<never, unknown> },
          { group: "scheduling", spec: cancelFunction(settings.status) as FunctionSpec<never, unknown> },
        ]
      : []),
    ...(settings.producer.topics
      ? [{ group: "topics", spec: topicFanOutFunction(settings.producer) as FunctionSpec<never, unknown> }]
      : []),
    { group: "user-data", spec: userDataFunction(settings.userData) as FunctionSpec<never, unknown> },
    { group: "user-api", spec: userApiFunction(settings.userApi) as FunctionSpec<never, unknown> },
    ...Object.entries(settings.channels).map(([name, worker]) => ({
      group: `channel:${name}`,
      spec: workerFunction(worker) as FunctionSpec<never, unknown>,
    })),
  ];
  if (settings.reconciler)
    functions.push({ group: "reconciler", spec: reconcilerFunction(settings.reconciler) as FunctionSpec<never, unknown> });
  if (settings.statusCallbacks) {
    functions.push({ group: "status-callbacks", spec: callbackSenderFunction(settings.statusCallbacks) as FunctionSpec<never, unknown> });
  }
  if (settings.emailFeedback) functions.push({ group: "email-feedback", spec: emailFeedbackFunction() as FunctionSpec<never, unknown> });
  return functions;
}
