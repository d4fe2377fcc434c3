/**
 * The whole of Tidings on this machine: the local adapter of the system's one description
 * (runtime/system/). The stack config (`Pulumi.dev.yaml`) gives the description, exactly as `pulumi up`
 * reads it; every function of it runs here from its own factory, started by its own triggers: its HTTP
 * routes (with their auth), its WebSocket routes, its queue (a poller per queue, an instance per
 * concurrent batch), its schedule. What the local mode adds lives here, never in the description: the
 * AWS-compatible servers and our stand-ins, every one bound to 127.0.0.1, a Bearer token standing in for
 * the producers' SigV4, dev tokens, the ops and inbox pages, and the test seams. `npm start` runs it;
 * the end-to-end tests start it in-process on free ports.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { BUILT_IN_ADDRESSES } from "../runtime/addresses";
import { makeTokenVerifier } from "../runtime/authorizer";
import { parseTidingsConfig, type TidingsConfig } from "../runtime/config";
import { missingTemplates, missingTemplatesMessage, readTemplateDirs, shippedTemplatesDir } from "../runtime/templateFiles";
import type { AuthResult } from "../runtime/authorizer";
import { detailTypeFor, EVENT_SOURCE, type HttpResult, type Provider, type WebSocketEvent } from "../runtime/contracts";
import type { ReconcileReport } from "../runtime/reconciler";
import { eventIdOf } from "../runtime/redrive";
import { type DecisionLogger, logDecision, OUTCOME } from "../runtime/log";
import { makeMetrics, type Metrics } from "../runtime/metrics";
import { makeNotificationLog, type NotificationLog } from "../runtime/notificationLog";
import { producersEventId } from "../runtime/producers";
import {
  type ChannelDescription,
  configChannels,
  type Env,
  type FunctionSpec,
  type Hooks,
  NOTIFICATION_ROUTES,
  type ProviderSpec,
  type SystemFunction,
  systemFunctions,
  systemSettings,
} from "../runtime/system";
import type { TableName } from "../runtime/tables";
import { type LocalAws, LOCAL_ACCOUNT, startLocalAws } from "./aws";
import { type EventTarget, sqsDeadLetter, sqsTarget, startEventBus } from "./eventBridge";
import { type RouteHandler, startWebSocketGateway } from "./gateway";
import { readBoundedBody } from "./httpBody";
import { bearerProducerCheck, type HttpHandler, type LocalRoute, makeHttpRouter } from "./httpRouter";
import { type LocalLambdaHandler, startLocalLambda } from "./lambdaInvoke";
import { type DevTokenClaims, startLocalApi } from "./localApi";
import { listTopicSends, makeTimeline, notificationDetail } from "./opsNotifications";
import { handleOpsRequest, makeOpsCollector, type OpsPageDeps, type ScheduledRow } from "./opsPage";
import {
  createCallbackQueues,
  createFanOutQueues,
  createChannelQueues,
  createQueue,
  type LocalChannel,
  seedDemoUsers,
  uploadTemplates,
} from "./resources";
import { type LocalScheduler, startLocalScheduler } from "./scheduler";
import { makeFaultRegistry } from "./faults";
import { makeSesFeedbackRoute, type SesFeedbackHandler } from "./sesFeedback";
import { handleSinkPage, SINK_PAGES } from "./sinkPages";
import { lazyInstances, type OnInvocation, startQueueTrigger } from "./functions";
import { startSchedule } from "./schedule";
import { startSecretsManager } from "./secretsManager";
import { startSlackSink, startSnsSink } from "./sinks";
import { DEV_STACK_FILE, type RawStackConfig, readStackFile } from "./stackConfig";
import { signDevToken } from "./tokens";

export { invocations } from "./functions";
export type { DevTokenClaims } from "./localApi";
export type { LocalChannel } from "./resources";

const REPO_ROOT = path.resolve(__dirname, "..");

export interface LocalTidingsOptions {
  /** @default 4000 (env TIDINGS_API_PORT); 0 = any free port */
  apiPort?: number;
  /** @default 4001 (env TIDINGS_WS_PORT) */
  wsPort?: number;
  /** @default 4002 (env TIDINGS_SES_PORT) */
  sesPort?: number;
  /** The stack config file the system is described from. @default Pulumi.dev.yaml */
  configFile?: string;
  /**
   * A composition to run instead of a stack file's config: what a Pulumi program composed (`tidings dev`
   * runs the program under mocks and passes it here), channels added in code included.
   * @default the config of `configFile`, with its channels
   */
  composition?: LocalComposition;
  /** Edits the raw `tidings:` config before validation (tests switch channels off this way). */
  editConfig?: (raw: RawStackConfig) => void;
  /** Folders of templates added to the shipped ones (`<type>/<channel>.json`), as `extraTemplatesDirs` in the stack. */
  extraTemplatesDirs?: string[];
  /** Providers config names that Tidings does not ship, run in-process (TypeScript: an inline provider's `create`). */
  customProviders?: Record<string, ProviderSpec>;
  /** Seeds the demo users alice and bob. @default true */
  seed?: boolean;
  /** Where decisions go. @default one JSON line each on stdout */
  logger?: DecisionLogger;
  /** Where the running instance's queue URLs are written for `npm run redrive -- <channel> --local`. */
  stateFile?: string | false;
  /** SQS long-poll wait of the local pollers. @default 1 */
  pollWaitSeconds?: number;
  /** Per-channel worker timeout override (seconds), i.e. the local visibility timeout. */
  visibilityTimeoutSeconds?: number;
  /**
   * Fault-injection seam: wraps each channel's primary and fallback provider when a worker instance
   * builds it, so a test can fail sends (retryable or permanent), slow them down or count them.
   * @default no wrapping
   * @example
   * wrapProvider: (channel, provider) => ({
   *   name: provider.name,
   *   send: async (delivery) => Math.random() < 0.3 ? { outcome: "retryable", reason: "injected" } : provider.send(delivery),
   * })
   */
  wrapProvider?: (channel: string, provider: Provider, role: "primary" | "fallback") => Provider;
  /**
   * AWS-compatible servers already started (e.g. in a child process, to give them a CPU core of their
   * own); the caller stops them. @default startLocalAws() in this process, stopped with the rest
   */
  localAws?: LocalAws;
  /** Overrides each worker's claim lease. @default the channel's workerTimeoutSeconds */
  claimLeaseSeconds?: number;
  /** Pages of 100 subscribers a topic fan-out run takes before it hands the rest to a run of its own. @default 20 */
  fanOutPagesPerRun?: number;
  /**
   * Handlers for the `lambda` providers of the config, by function ARN (or name): the local invoke
   * server (local/lambdaInvoke.ts) runs them when a worker invokes that function.
   * @example
   * lambdaHandlers: { "arn:aws:lambda:us-east-1:123456789012:function:pager": async ({ delivery }) => ({ outcome: "sent" }) }
   */
  lambdaHandlers?: Record<string, LocalLambdaHandler>;
  /** Fault-injection seam for the bus: wraps each channel rule's target (the send to its queue). @default no wrapping */
  wrapRuleTarget?: (channel: string, target: EventTarget) => EventTarget;
  /** A `created`/`pending` row untouched this long is stuck. @default tidings:reconciler.stuckAfterMinutes */
  stuckAfterMs?: number;
  /**
   * How often the reconciler runs; 0 = only when `reconcile()` is called.
   * @default tidings:reconciler.schedule
   */
  reconcileIntervalMs?: number;
  /**
   * Status callbacks to this receiver, with this HMAC secret (the stack reads `tidings:statusCallbacks`,
   * whose secret lives in Secrets Manager; locally a generated secret stands in, printed at start).
   * @default tidings:statusCallbacks
   * @example statusCallbacks: { url: "http://127.0.0.1:8080/hooks/tidings", secret: "dev-secret" }
   */
  statusCallbacks?: { url: string; secret: string; maxReceiveCount?: number; baseBackoffSeconds?: number };
  /**
   * Where the functions' EMF metrics go. Tests and the bench pass a quiet sink: one stdout line per
   * metric costs CPU under load. Replaces the ops page's collector. @default EMF lines read by the ops page
   */
  metrics?: Metrics;
  /**
   * Told of every finished invocation of a function, with its description and how long it took (the
   * bench's Lambda duration and its cost). @default nobody
   */
  onInvocation?: OnInvocation;
}

export type LocalTidings = Awaited<ReturnType<typeof startLocalTidings>>;

/** What a program composed, as data: its validated config, its templates' folders, and every channel it built. */
export interface LocalComposition {
  config: TidingsConfig;
  extraTemplatesDirs: string[];
  channels: Record<string, ChannelDescription>;
}

/** Local physical names: every resource of the stack by its description's name. */
const NAMES = {
  tables: {
    connections: "tidings-local-connections",
    contacts: "tidings-local-contacts",
    settings: "tidings-local-settings",
    notificationLog: "tidings-local-notification-log",
    politeness: "tidings-local-politeness",
    feed: "tidings-local-feed",
    topics: "tidings-local-topics",
  } satisfies Record<TableName, string>,
  templatesBucket: "tidings-local-templates",
  bus: "tidings-local",
  tokenSecret: `arn:aws:secretsmanager:us-east-1:${LOCAL_ACCOUNT}:secret:tidings-local-token-signing-AbCdEf`,
  scheduleGroup: "tidings-local-schedules",
  schedulerRole: `arn:aws:iam::${LOCAL_ACCOUNT}:role/tidings-local-scheduler`,
  scheduledSender: `arn:aws:lambda:us-east-1:${LOCAL_ACCOUNT}:function:tidings-local-scheduled`,
  callbacksSecret: `arn:aws:secretsmanager:us-east-1:${LOCAL_ACCOUNT}:secret:tidings-local-status-callbacks-AbCdEf`,
};

export async function startLocalTidings(options: LocalTidingsOptions = {}) {
  // Every decision also goes to the ops page's timelines (what CloudWatch Logs Insights is to the stack).
  const timeline = makeTimeline();
  const writeDecision = options.logger ?? logDecision;
  const logger: DecisionLogger = (decision) => {
    timeline.record(decision);
    writeDecision(decision);
  };
  const composition = options.composition ?? configComposition(options);
  const config = composition.config;
  const described = composition.channels;
  // The templates as the stack would upload them, checked the same way: complete for every type's reach.
  const templateFiles = readTemplateDirs([shippedTemplatesDir(), ...composition.extraTemplatesDirs, ...(options.extraTemplatesDirs ?? [])]);
  const missing = missingTemplates(
    {
      types: config.notificationTypes,
      channels: Object.keys(described),
      channelsWithoutTemplates: Object.keys(described).filter((name) => !described[name].needsTemplates),
    },
    templateFiles.map((t) => t.key),
  );
  if (missing.length) throw new Error(`the local mode cannot start: ${missingTemplatesMessage(missing)}`);
  const callbacks = localStatusCallbacks(config, options);
  const settings = systemSettings(
    {
      ...config,
      statusCallbacks: callbacks
        ? { url: callbacks.url, secretArn: NAMES.callbacksSecret, maxReceiveCount: callbacks.maxReceiveCount }
        : undefined,
    },
    { channels: described },
  );
  // The test seams: a shorter stuck threshold, a shorter claim, a faster callback backoff.
  if (options.stuckAfterMs !== undefined) {
    settings.producer.stuckAfterMs = options.stuckAfterMs;
    if (settings.reconciler) settings.reconciler.stuckAfterMs = options.stuckAfterMs;
  }
  for (const worker of Object.values(settings.channels)) worker.claimLeaseSeconds = options.claimLeaseSeconds ?? worker.claimLeaseSeconds;
  if (settings.statusCallbacks && callbacks?.baseBackoffSeconds !== undefined)
    settings.statusCallbacks.baseBackoffSeconds = callbacks.baseBackoffSeconds;
  const functions = systemFunctions(settings);

  const stopList: (() => Promise<void>)[] = [];
  const signingSecret = randomBytes(48).toString("base64");
  try {
    // AWS-compatible servers and our stand-ins.
    const aws: LocalAws = options.localAws ?? (await startLocalAws({ sesPort: port(options.sesPort, "TIDINGS_SES_PORT", 4002) }));
    if (!options.localAws) stopList.push(() => aws.stop());
    aws.applyEnv();
    const secrets = await startSecretsManager({ secrets: { [NAMES.tokenSecret]: signingSecret } });
    stopList.push(() => secrets.stop());
    process.env.AWS_ENDPOINT_URL_SECRETS_MANAGER = secrets.endpoint;
    if (callbacks) secrets.put(NAMES.callbacksSecret, callbacks.secret);
    const sns = await startSnsSink();
    stopList.push(() => sns.stop());
    process.env.AWS_ENDPOINT_URL_SNS = sns.endpoint;
    const slack = await startSlackSink();
    stopList.push(() => slack.stop());
    // Channels of your own that post to a per-user webhook: the sink takes their posts, with a page each.
    const webhookChannels = Object.keys(described).filter((name) => {
      const address = described[name].address;
      return address && !BUILT_IN_ADDRESSES[name] && Object.values(address).every((field) => field.type === "https-url");
    });
    const bus = await startEventBus({ logger });
    stopList.push(() => bus.stop());
    process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = bus.endpoint;
    const lambda = await startLocalLambda(options.lambdaHandlers ?? {});
    stopList.push(() => lambda.stop());
    process.env.AWS_ENDPOINT_URL_LAMBDA = lambda.endpoint;

    // The clients the local mode itself uses (tables, queues, the ops page); the functions build their own.
    const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } });
    const sqs = new SQSClient({});
    const s3 = new S3Client({ forcePathStyle: true });
    stopList.push(async () => {
      for (const client of [ddb, sqs, s3]) client.destroy();
    });

    // The resources, as the components create them.
    await aws.createTables(NAMES.tables);
    await uploadTemplates(s3, NAMES.templatesBucket, templateFiles);
    const channels: LocalChannel[] = [];
    for (const name of Object.keys(settings.channels)) {
      channels.push(await createChannelQueues(sqs, name, described[name], options.visibilityTimeoutSeconds));
    }
    const callbackQueues = callbacks ? await createCallbackQueues(sqs, callbacks.maxReceiveCount) : undefined;
    const fanOutQueues = settings.producer.topics ? await createFanOutQueues(sqs) : undefined;
    const schedulesDeadLetter = settings.producer.scheduling
      ? await createQueue(sqs, "tidings-schedules-dlq", { MessageRetentionPeriod: "1209600" })
      : undefined;

    // Metrics: the EMF lines the handlers print feed the ops page, as CloudWatch would read them.
    const opsCollector = makeOpsCollector();
    // Faults on purpose (POST /dev/faults), around whatever the caller wraps the providers with.
    const faults = makeFaultRegistry({ channels: Object.keys(settings.channels) });
    const hooks: Hooks = {
      logger,
      metrics: options.metrics ?? makeMetrics({ write: opsCollector.write }),
      wrapProvider: (channel, provider, role) =>
        faults.wrap(channel, options.wrapProvider ? options.wrapProvider(channel, provider, role) : provider, role),
      webhookOrigins: [slack.url],
      loopbackCallbacks: true,
      fanOutPagesPerRun: options.fanOutPagesPerRun,
    };

    // The WebSocket API: its routes and authorizer are the description's functions, built at first use.
    const env: Record<string, string> = {
      connections: NAMES.tables.connections,
      contacts: NAMES.tables.contacts,
      settings: NAMES.tables.settings,
      log: NAMES.tables.notificationLog,
      politeness: NAMES.tables.politeness,
      feed: NAMES.tables.feed,
      topics: NAMES.tables.topics,
      ...(fanOutQueues ? { fanout: fanOutQueues.queue.url } : {}),
      bus: NAMES.bus,
      templates: NAMES.templatesBucket,
      tokenSecret: NAMES.tokenSecret,
      ...(callbackQueues ? { callbacks: callbackQueues.queue.url, callbacksSecret: NAMES.callbacksSecret } : {}),
      ...(schedulesDeadLetter
        ? {
            schedules: NAMES.scheduleGroup,
            schedulerRole: NAMES.schedulerRole,
            scheduledSender: NAMES.scheduledSender,
            schedulesDeadLetter: schedulesDeadLetter.arn,
          }
        : {}),
    };
    const environments = new Map<string, Env>();
    const instance = lazyInstances(hooks, environments, options.onInvocation);
    const ofTrigger = (kind: string) => functions.filter((f) => f.spec.triggers.some((t) => t.kind === kind));
    const websocketRoutes: Record<string, RouteHandler> = {};
    for (const { spec } of ofTrigger("websocket")) {
      const handler = instance(spec as unknown as FunctionSpec<WebSocketEvent, HttpResult>, env);
      for (const trigger of spec.triggers) if (trigger.kind === "websocket") websocketRoutes[trigger.route] = handler;
    }
    const [authorizer] = ofTrigger("websocket-authorizer");
    const gateway = await startWebSocketGateway({
      port: port(options.wsPort, "TIDINGS_WS_PORT", 4001),
      stage: config.stage,
      identitySources: authorizer.spec.triggers.flatMap((t) => (t.kind === "websocket-authorizer" ? t.identitySources : [])),
      authorize: instance(authorizer.spec as unknown as FunctionSpec<WebSocketEvent, AuthResult>, env),
      routes: websocketRoutes,
      onError: (routeKey, error) => logger({ component: "local-gateway", outcome: "error", routeKey, reason: String(error) }),
    });
    stopList.push(() => gateway.stop());
    env.websocket = gateway.managementEndpoint;

    // One rule, queue and poller per channel; an instance of its worker per concurrent batch.
    for (const channel of channels) {
      const fn = functions.find((f) => f.group === `channel:${channel.name}`)!;
      bus.addRule({
        name: `tidings-${channel.name}`,
        eventBusName: NAMES.bus,
        pattern: { source: [EVENT_SOURCE], "detail-type": [detailTypeFor(channel.name)] },
        target: options.wrapRuleTarget
          ? options.wrapRuleTarget(channel.name, sqsTarget(sqs, channel.queueUrl))
          : sqsTarget(sqs, channel.queueUrl),
        deadLetter: sqsDeadLetter(sqs, channel.ruleDeadLetterQueueUrl, {
          ruleName: `tidings-${channel.name}`,
          targetArn: channel.queueArn,
        }),
      });
      const channelEnv = { ...env, queue: channel.queueUrl, ...described[channel.name].values };
      const { maxReceiveCount } = described[channel.name].queue;
      stopList.push(
        startQueueTrigger(fn.spec, channelEnv, hooks, environments, options.onInvocation, sqs, channel.queueUrl, options.pollWaitSeconds, {
          // The event source mapping does not say when SQS dead-letters a message; the local path does.
          onOutcome: (record, outcome) => {
            if (outcome === "failed" && Number(record.attributes?.ApproximateReceiveCount) >= maxReceiveCount) {
              logger({
                component: "local-sqs",
                outcome: OUTCOME["local-sqs"].deadLettered,
                channel: channel.name,
                messageId: record.messageId,
                eventId: eventIdOf(record.body),
                reason: `failed ${maxReceiveCount} receives`,
              });
            }
          },
          onError: (error) =>
            logger({ component: "local-sqs", outcome: OUTCOME["local-sqs"].error, channel: channel.name, reason: String(error) }),
        }),
      );
    }
    const sender = functions.find((f) => f.group === "status-callbacks");
    if (sender && callbackQueues) {
      stopList.push(
        startQueueTrigger(
          sender.spec,
          env,
          hooks,
          environments,
          options.onInvocation,
          sqs,
          callbackQueues.queue.url,
          options.pollWaitSeconds,
          {
            onError: (error) => logger({ component: "local-sqs", outcome: "error", channel: "status-callbacks", reason: String(error) }),
          },
        ),
      );
    }

    // Topic sends: the fan-out function on its queue.
    const fanOutFn = functions.find((f) => f.group === "topics");
    if (fanOutFn && fanOutQueues) {
      stopList.push(
        startQueueTrigger(
          fanOutFn.spec,
          env,
          hooks,
          environments,
          options.onInvocation,
          sqs,
          fanOutQueues.queue.url,
          options.pollWaitSeconds,
          {
            onError: (error) => logger({ component: "local-sqs", outcome: "error", channel: "topics-fanout", reason: String(error) }),
          },
        ),
      );
    }

    // The reconciler on its schedule (or the test's interval); `reconcile()` runs it now.
    const reconcilerFn = functions.find((f) => f.group === "reconciler");
    const reconcile: () => Promise<ReconcileReport> = reconcilerFn
      ? (instance(reconcilerFn.spec as unknown as FunctionSpec<unknown, ReconcileReport>, env) as () => Promise<ReconcileReport>)
      : async () => {
          throw new Error("the reconciler is off (tidings:reconciler.enabled: false)");
        };
    if (reconcilerFn && options.reconcileIntervalMs !== 0) {
      const expression =
        options.reconcileIntervalMs !== undefined
          ? `rate(${Math.max(1, options.reconcileIntervalMs / 60_000)} minutes)`
          : settings.reconciler!.schedule;
      const schedule =
        options.reconcileIntervalMs !== undefined
          ? intervalSchedule(options.reconcileIntervalMs, reconcile, logger)
          : startSchedule(expression, reconcile, (error) => logger({ component: "reconciler", outcome: "error", reason: String(error) }));
      stopList.push(async () => schedule.stop());
    }

    // Scheduled notifications: the Scheduler's one-time schedules invoke the scheduled sender.
    const senderFn = functions.find((f) => f.spec.triggers.some((t) => t.kind === "scheduler"));
    let scheduler: LocalScheduler | undefined;
    let scheduledSender: ((input: unknown) => Promise<unknown>) | undefined;
    if (senderFn && schedulesDeadLetter) {
      const sender = instance(senderFn.spec, env) as unknown as (input: unknown) => Promise<unknown>;
      scheduledSender = sender;
      scheduler = await startLocalScheduler({
        targets: { [NAMES.scheduledSender]: sender },
        deadLetter: async (_arn, body) => {
          await sqs.send(new SendMessageCommand({ QueueUrl: schedulesDeadLetter.url, MessageBody: body }));
        },
        onFire: (schedule, outcome, error) => {
          if (outcome !== "done")
            logger({
              component: "local-scheduler",
              outcome,
              eventId: (JSON.parse(schedule.input) as { eventId?: string }).eventId,
              reason: String(error),
            });
        },
      });
      stopList.push(() => scheduler!.stop());
      process.env.AWS_ENDPOINT_URL_SCHEDULER = scheduler.endpoint;
    }

    // The producer API and the end-user API on one port, as the description's routes, and the local pages.
    const { issuer, audience, jwksUrl, maxTokenAgeSeconds } = config.auth;
    const verify = makeTokenVerifier({
      getKey: async () => new TextEncoder().encode(signingSecret),
      issuer,
      audience,
      jwksUrl,
      maxTokenAgeSeconds,
    });
    const signToken = (userId: string, claims: DevTokenClaims = {}) =>
      signDevToken({ secret: new TextEncoder().encode(signingSecret), userId, issuer, audience, ...claims });
    const routes: LocalRoute[] = functions.flatMap(({ spec }) => {
      const handler = instance(spec, env) as unknown as HttpHandler;
      return spec.triggers.flatMap((t) => (t.kind === "http" ? [{ ...t, handler }] : []));
    });
    const router = makeHttpRouter({ routes, checkProducer: bearerProducerCheck(verify, (auth) => config.auth.scopes[auth.scope]) });
    const log = makeNotificationLog({ ddb, table: NAMES.tables.notificationLog });
    const opsDeps = {
      collector: opsCollector,
      sqs,
      channels,
      sinks: { sesEndpoint: aws.endpoints.ses, sns, slack },
      faults: faults.list,
      log: { ddb, table: NAMES.tables.notificationLog },
      detail: (notificationId: string) => notificationDetail(log, timeline, notificationId),
      topicSends: settings.producer.topics ? () => listTopicSends(ddb, NAMES.tables.notificationLog, log) : undefined,
      scheduled:
        scheduler && schedulesDeadLetter && scheduledSender
          ? {
              ...opsScheduled(scheduler, log, functions, (spec) => instance(spec, env), config.auth.scopes.send),
              deadLetterQueueUrl: schedulesDeadLetter.url,
              // What the Scheduler hands the sender: the fire's Input, parsed.
              fire: async (body: string) => void (await scheduledSender(JSON.parse(body))),
            }
          : undefined,
    };
    // SES's bounces and complaints: the description's handler, fed by POST /dev/ses/bounce instead of SNS.
    const feedbackFn = functions.find((f) => f.spec.triggers.some((t) => t.kind === "sns"));
    const api = await startLocalApi({
      port: port(options.apiPort, "TIDINGS_API_PORT", 4000),
      routes: router,
      signToken,
      websocketUrl: gateway.url,
      ops: (req, res, url) => handleOpsRequest(opsDeps, req, res, url, async () => (await readBoundedBody(req, 16 * 1024)).body),
      faults,
      sinkPages: (req, res, url) => handleSinkPage({ sns, slack }, webhookChannels, req, res, url),
      smsStop: (phone) => sns.optOut(phone),
      sesFeedback: feedbackFn
        ? makeSesFeedbackRoute(instance(feedbackFn.spec, env) as unknown as SesFeedbackHandler, aws.endpoints.ses)
        : undefined,
    });
    stopList.push(() => api.stop());
    env.linkBaseUrl = api.url;

    if (options.seed ?? true)
      await seedDemoUsers(
        ddb,
        NAMES.tables.contacts,
        slack,
        Object.fromEntries(webhookChannels.map((name) => [name, Object.keys(described[name].address!)])),
      );

    const endpoints = {
      api: api.url,
      notifications: `${api.url}/notifications`,
      devToken: `${api.url}/dev/token`,
      inbox: `${api.url}/`,
      ops: `${api.url}/ops`,
      sinkPages: Object.fromEntries([...SINK_PAGES, ...webhookChannels].map((page) => [page, `${api.url}/sinks/${page}`])) as Record<
        (typeof SINK_PAGES)[number],
        string
      > &
        Record<string, string>,
      websocket: gateway.url,
      sesInbox: aws.endpoints.ses,
      slackSink: slack.url,
      snsSink: sns.endpoint,
    };
    const stateFile = options.stateFile === undefined ? path.join(REPO_ROOT, ".tidings-local.json") : options.stateFile;
    if (stateFile) {
      fs.writeFileSync(
        stateFile,
        JSON.stringify({ endpoints, aws: aws.endpoints, channels: Object.fromEntries(channels.map((c) => [c.name, c])) }, null, 2),
      );
      stopList.push(async () => fs.rmSync(stateFile, { force: true }));
    }

    let stopped = false;
    return {
      config,
      /** The description this instance runs: every function with its triggers and uses. */
      functions,
      /** The environment each function started with, by its description (resource name → local identifier). */
      environments,
      endpoints,
      channels,
      tables: NAMES.tables,
      aws,
      gateway,
      bus,
      sinks: { sns, slack },
      lambda,
      /** The local Secrets Manager, and the token-signing secret's ARN in it (rotate it with `secrets.put`). */
      secrets,
      tokenSecretArn: NAMES.tokenSecret,
      clients: { ddb, sqs, s3 },
      /** The notification log, read as the functions write it. */
      log,
      /** Per-channel counters from the metric lines (what the ops page shows). */
      ops: opsCollector,
      /** Runs the reconciler once now. */
      reconcile,
      /** The local Scheduler's schedules (scheduled notifications), when scheduling is on. */
      scheduler,
      /** Where the local Scheduler puts the fires the scheduled sender never took, when scheduling is on. */
      schedulesDeadLetterQueueUrl: schedulesDeadLetter?.url,
      /** The status callbacks' secret (the receiver verifies with it), when they are on. */
      statusCallbacksSecret: callbacks?.secret,
      /** A dev token: an end user's, or with the scopes of `config.auth.scopes` a producer's. */
      signToken,
      /** Stops every server and poller, in reverse order of start. */
      async stop() {
        if (stopped) return;
        stopped = true;
        await stopAll(stopList);
      },
    };
  } catch (error) {
    await stopAll(stopList);
    throw error;
  }
}

/**
 * The ops page's scheduled notifications: the local Scheduler's pending schedules with their log items,
 * and a cancel through the description's own cancel function, as the notification's producer.
 */
function opsScheduled(
  scheduler: LocalScheduler,
  log: NotificationLog,
  functions: SystemFunction[],
  instance: (spec: FunctionSpec<never, unknown>) => (event: never) => Promise<unknown>,
  sendScope: string,
): Pick<NonNullable<OpsPageDeps["scheduled"]>, "list" | "cancel"> {
  const route = NOTIFICATION_ROUTES[2].route;
  const cancelFn = functions.find((f) => f.spec.triggers.some((t) => t.kind === "http" && t.route === route))!;
  const cancel = instance(cancelFn.spec) as unknown as (event: unknown) => Promise<HttpResult>;
  return {
    list: () =>
      Promise.all(
        scheduler.pending().map(async (schedule): Promise<ScheduledRow> => {
          const notificationId = (JSON.parse(schedule.input) as { eventId: string }).eventId;
          const item = (await log.notificationOf(notificationId)).item;
          return {
            notificationId,
            eventId: producersEventId(notificationId),
            sendAt: item?.schedule?.sendAt ?? new Date(schedule.at).toISOString(),
            userId: item?.userId,
            type: item?.type,
            producer: item?.producer,
            ...(item?.collected !== undefined ? { collected: item.collected } : {}),
          };
        }),
      ),
    async cancel(notificationId) {
      const item = (await log.notificationOf(notificationId)).item;
      if (!item) return { status: 404, body: { error: "not found", eventId: notificationId } };
      const answer = await cancel({
        routeKey: route,
        pathParameters: { eventId: producersEventId(notificationId) },
        requestContext: { routeKey: route, authorizer: { jwt: { claims: { sub: item.producer ?? "ops" }, scopes: [sendScope] } } },
      });
      return { status: answer.statusCode, body: JSON.parse(answer.body ?? "{}") };
    },
  };
}

/** The composition a stack file's config describes (what `npm start` runs): its enabled channels, none added in code. */
function configComposition(options: LocalTidingsOptions): LocalComposition {
  const raw = readStackFile(options.configFile ?? DEV_STACK_FILE);
  options.editConfig?.(raw);
  const config = parseTidingsConfig(raw);
  return { config, extraTemplatesDirs: [], channels: configChannels(config, { customProviders: options.customProviders }) };
}

/** The test seam's fixed interval instead of the reconciler's schedule. */
function intervalSchedule(ms: number, run: () => Promise<unknown>, logger: DecisionLogger) {
  const timer = setInterval(() => {
    run().catch((error) => logger({ component: "reconciler", outcome: "error", reason: String(error) }));
  }, ms);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

/** Status callbacks locally: the test's receiver and secret, else `tidings:statusCallbacks` with a generated secret. */
function localStatusCallbacks(config: TidingsConfig, options: LocalTidingsOptions) {
  if (options.statusCallbacks) {
    return {
      url: options.statusCallbacks.url,
      secret: options.statusCallbacks.secret,
      maxReceiveCount: options.statusCallbacks.maxReceiveCount ?? config.statusCallbacks?.maxReceiveCount ?? 8,
      baseBackoffSeconds: options.statusCallbacks.baseBackoffSeconds,
    };
  }
  if (!config.statusCallbacks) return undefined;
  return {
    url: config.statusCallbacks.url,
    secret: randomBytes(32).toString("hex"),
    maxReceiveCount: config.statusCallbacks.maxReceiveCount,
    baseBackoffSeconds: undefined,
  };
}

async function stopAll(stopList: (() => Promise<void>)[]) {
  for (const stop of stopList.reverse()) {
    await stop().catch(() => undefined);
  }
  stopList.length = 0;
}

function port(given: number | undefined, envVar: string, fallback: number): number {
  if (given !== undefined) return given;
  const fromEnv = process.env[envVar];
  if (fromEnv === undefined) return fallback;
  const parsed = Number(fromEnv);
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65535) throw new Error(`${envVar}=${fromEnv} is not a port number`);
  return parsed;
}
