/**
 * The whole of Tidings on this machine: the same `runtime/` handlers the stack ships, wired as
 * `stack.ts` wires them, on real AWS-compatible servers and our stand-ins, every one bound to 127.0.0.1.
 * The wiring is derived from the stack config (`Pulumi.dev.yaml`): enabled channels, their queues'
 * redrive policy, rate limits and politeness limits. `npm start` runs it; the end-to-end tests start it
 * in-process on free ports.
 */
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { ApiGatewayManagementApiClient } from "@aws-sdk/client-apigatewaymanagementapi";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { LambdaClient } from "@aws-sdk/client-lambda";
import { SESv2Client } from "@aws-sdk/client-sesv2";
import { SNSClient } from "@aws-sdk/client-sns";
import { CreateQueueCommand, GetQueueAttributesCommand, SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import { makeTokenVerifier, makeWebSocketAuthorizer } from "../runtime/authorizer";
import { channelQueueSettings, redrivePolicy } from "../runtime/channelQueues";
import { type ChannelConfig, channelProviderConfig, enabledChannels, parseTidingsConfig, type TidingsConfig } from "../runtime/config";
import { detailTypeFor, EVENT_SOURCE, type Provider } from "../runtime/contracts";
import { type DecisionLogger, logDecision, OUTCOME } from "../runtime/log";
import { makeMetrics, type Metrics } from "../runtime/metrics";
import { makeNotificationLog } from "../runtime/notificationLog";
import { makeNotificationService } from "../runtime/notify";
import { makeReconciler } from "../runtime/reconciler";
import { makeStatusService } from "../runtime/statusApi";
import { makePolitenessLimiter } from "../runtime/politeness";
import { createProvider, type ProviderClients } from "../runtime/providers/table";
import { makeChatHandler } from "../runtime/chat";
import { makeConnectGate } from "../runtime/connectGate";
import { makeConnectHandler, makeDefaultHandler, makeDisconnectHandler } from "../runtime/websocket";
import { makeChannelWorker } from "../runtime/worker";
import { makeDeviceRegistry } from "../runtime/devices";
import { makeFeed } from "../runtime/feed";
import { makeLinkSigner } from "../runtime/tracking";
import { makeLocalUserRoutes } from "./userRoutes";
import { type LocalAws, startLocalAws } from "./aws";
import { type LocalLambdaHandler, startLocalLambda } from "./lambdaInvoke";
import { type EventTarget, sqsDeadLetter, sqsTarget, startEventBus } from "./eventBridge";
import { handleOpsRequest, makeOpsCollector } from "./opsPage";
import { type LocalStatusCallbacksOptions, startLocalStatusCallbacks } from "./statusCallbacks";
import { startWebSocketGateway } from "./gateway";
import { startSlackSink, startSnsSink } from "./sinks";
import { startSqsPoller } from "./sqsPoller";
import { DEV_STACK_FILE, type RawStackConfig, readStackFile } from "./stackConfig";
import { checkLocalHost, parseDevTokenRequest, producerScopeProblem } from "./localGuards";
import { readBoundedBody } from "./httpBody";
import { type DevTokenOptions, signDevToken } from "./tokens";

export type DevTokenClaims = Pick<DevTokenOptions, "scope" | "rooms" | "issuedAt" | "expiresIn">;

const REPO_ROOT = path.resolve(__dirname, "..");

export interface LocalTidingsOptions {
  /** @default 4000 (env TIDINGS_API_PORT); 0 = any free port */
  apiPort?: number;
  /** @default 4001 (env TIDINGS_WS_PORT) */
  wsPort?: number;
  /** @default 4002 (env TIDINGS_SES_PORT) */
  sesPort?: number;
  /** The stack config file the wiring is derived from. @default Pulumi.dev.yaml */
  configFile?: string;
  /** Edits the raw `tidings:` config before validation (tests switch channels off this way). */
  editConfig?: (raw: RawStackConfig) => void;
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
   * Fault-injection seam: wraps each channel's primary and fallback provider before its worker gets
   * it, so a test can fail sends (retryable or permanent), slow them down or count them without
   * touching the sinks. Called once per provider at start; `role` says which one it is.
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
  /**
   * Overrides each worker's claim lease (runtime/worker.ts `claimLeaseSeconds`).
   * @default the channel's workerTimeoutSeconds
   */
  claimLeaseSeconds?: number;
  /**
   * Handlers for the `lambda` providers of the config, by function ARN (or name): the local invoke
   * server (local/lambdaInvoke.ts) runs them when a worker invokes that function, with the JSON
   * contract of runtime/providers/lambda.ts.
   * @example
   * lambdaHandlers: { "arn:aws:lambda:us-east-1:123456789012:function:pager": async ({ delivery }) => ({ outcome: "sent" }) }
   */
  lambdaHandlers?: Record<string, LocalLambdaHandler>;
  /**
   * Fault-injection seam for the bus: wraps each channel rule's target (the send to its queue), so a
   * test can make EventBridge fail to deliver and events land in the rule DLQ.
   * @default no wrapping
   */
  wrapRuleTarget?: (channel: string, target: EventTarget) => EventTarget;
  /** A `created`/`pending` row untouched this long is stuck (retry re-puts, reconciler acts). @default 900000 */
  stuckAfterMs?: number;
  /** How often the reconciler runs; 0 = only when `reconcile()` is called. @default 60000 */
  reconcileIntervalMs?: number;
  /**
   * Signed status callbacks to `url` (runtime/statusCallbacks.ts), as the StatusCallbacks component sends them.
   * @default off
   * @example statusCallbacks: { url: "http://127.0.0.1:8080/hooks/tidings", secret: "dev-secret" }
   */
  statusCallbacks?: LocalStatusCallbacksOptions;
  /**
   * Where the service's and workers' EMF metrics go. Tests and the bench pass a quiet sink: one stdout
   * line per metric costs CPU under load. Replaces the ops page's collector. @default EMF lines read by the ops page
   */
  metrics?: Metrics;
}

export interface LocalChannel {
  name: string;
  config: ChannelConfig;
  queueUrl: string;
  queueArn: string;
  deadLetterQueueUrl: string;
  deadLetterQueueArn: string;
  ruleDeadLetterQueueUrl: string;
}

export type LocalTidings = Awaited<ReturnType<typeof startLocalTidings>>;

export async function startLocalTidings(options: LocalTidingsOptions = {}) {
  const logger = options.logger ?? logDecision;
  const raw = readStackFile(options.configFile ?? DEV_STACK_FILE);
  options.editConfig?.(raw);
  const config: TidingsConfig = parseTidingsConfig(raw);
  const channelNames = enabledChannels(config);
  const stopList: (() => Promise<void>)[] = [];
  const names = {
    connections: "tidings-local-connections",
    contacts: "tidings-local-contacts",
    settings: "tidings-local-settings",
    notificationLog: "tidings-local-notification-log",
    politeness: "tidings-local-politeness",
    feed: "tidings-local-feed",
  };
  const templatesBucket = "tidings-local-templates";
  const busName = "tidings-local";
  const signingSecret = randomBytes(48);

  try {
    // AWS-compatible servers and our stand-ins.
    const aws: LocalAws = options.localAws ?? (await startLocalAws({ sesPort: port(options.sesPort, "TIDINGS_SES_PORT", 4002) }));
    if (!options.localAws) stopList.push(() => aws.stop());
    aws.applyEnv();
    const sns = await startSnsSink();
    stopList.push(() => sns.stop());
    const slack = await startSlackSink();
    stopList.push(() => slack.stop());
    process.env.AWS_ENDPOINT_URL_SNS = sns.endpoint;
    const bus = await startEventBus({ logger });
    stopList.push(() => bus.stop());
    process.env.AWS_ENDPOINT_URL_EVENTBRIDGE = bus.endpoint;
    const lambda = await startLocalLambda(options.lambdaHandlers ?? {});
    stopList.push(() => lambda.stop());
    process.env.AWS_ENDPOINT_URL_LAMBDA = lambda.endpoint;

    // Clients, built once like a warm Lambda's.
    const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } });
    const sqs = new SQSClient({});
    const s3 = new S3Client({ forcePathStyle: true });
    stopList.push(async () => {
      for (const client of [ddb, sqs, s3]) client.destroy();
    });

    await aws.createTables(names);
    await uploadTemplates(s3, templatesBucket);
    const channels = await createChannelQueues(sqs, config, channelNames, options.visibilityTimeoutSeconds);

    // WebSocket API.
    const { issuer, audience, jwksUrl, maxTokenAgeSeconds } = config.auth;
    const verify = makeTokenVerifier({ getKey: async () => signingSecret, issuer, audience, jwksUrl, maxTokenAgeSeconds });
    const gatewayPort = port(options.wsPort, "TIDINGS_WS_PORT", 4001);
    let mgmt: ApiGatewayManagementApiClient | undefined;
    const management = () => mgmt!;
    const ttlSeconds = config.connectionTtlHours * 3600;
    const gateway = await startWebSocketGateway({
      port: gatewayPort,
      stage: config.stage,
      identitySources: ["route.request.querystring.token"],
      authorize: makeWebSocketAuthorizer({ verify, logger }),
      routes: websocketRoutes(),
      onError: (routeKey, error) => logger({ component: "local-gateway", outcome: "error", routeKey, reason: String(error) }),
    });
    stopList.push(() => gateway.stop());
    function websocketRoutes(): Parameters<typeof startWebSocketGateway>[0]["routes"] {
      const { maxConnectionsPerUser, sendMessage } = config.websocket;
      const gate = makeConnectGate({ ddb, connectionsTable: names.connections, maxConnectionsPerUser });
      const chat = sendMessage.enabled
        ? makeChatHandler({ ddb, mgmt: management, connectionsTable: names.connections, ...sendMessage, logger })
        : undefined;
      return {
        $connect: (event) => makeConnectHandler({ ddb, connectionsTable: names.connections, ttlSeconds, gate, logger })(event),
        $disconnect: (event) => makeDisconnectHandler({ ddb, connectionsTable: names.connections, logger })(event),
        $default: (event) => makeDefaultHandler({ mgmt: management(), knownActions: chat ? ["sendmessage"] : [], logger })(event),
        ...(chat ? { sendmessage: chat } : {}),
      };
    }
    mgmt = new ApiGatewayManagementApiClient({ endpoint: gateway.managementEndpoint, cacheMiddleware: true });
    stopList.push(async () => mgmt!.destroy());

    // Metrics: the EMF lines the handlers print feed the ops page, as CloudWatch would read them.
    const opsCollector = makeOpsCollector();
    const metrics = options.metrics ?? makeMetrics({ write: opsCollector.write });
    const callbacks = options.statusCallbacks
      ? await startLocalStatusCallbacks(sqs, { ...options.statusCallbacks, logger, metrics, pollWaitSeconds: options.pollWaitSeconds ?? 1 })
      : undefined;
    if (callbacks) stopList.push(() => callbacks.stop());

    // One rule, queue, worker and poller per enabled channel.
    const log = makeNotificationLog({ ddb, table: names.notificationLog, ttlDays: config.logTtlDays, metrics });
    for (const channel of channels) {
      bus.addRule({
        name: `tidings-${channel.name}`,
        eventBusName: busName,
        pattern: { source: [EVENT_SOURCE], "detail-type": [detailTypeFor(channel.name)] },
        target: options.wrapRuleTarget
          ? options.wrapRuleTarget(channel.name, sqsTarget(sqs, channel.queueUrl))
          : sqsTarget(sqs, channel.queueUrl),
        deadLetter: sqsDeadLetter(sqs, channel.ruleDeadLetterQueueUrl, {
          ruleName: `tidings-${channel.name}`,
          targetArn: channel.queueArn,
        }),
      });
      const devices = makeDeviceRegistry({ ddb, table: names.contacts, maxPerUser: config.devices.maxPerUser });
      const clients: ProviderClients = {
        ddb,
        mgmt: management(),
        sns: new SNSClient({}),
        ses: new SESv2Client({}),
        lambda: new LambdaClient({}),
        feed: makeFeed({ ddb, table: names.feed, ttlDays: config.feed.ttlDays }),
        onInvalidToken: (userId, token) => devices.remove(userId, token),
      };
      const local = { connectionsTable: names.connections, slackHosts: [new URL(slack.url).hostname] };
      const wrap = (provider: Provider, role: "primary" | "fallback") =>
        options.wrapProvider ? options.wrapProvider(channel.name, provider, role) : provider;
      const worker = makeChannelWorker({
        channel: channel.name,
        primary: wrap(localProvider(channel.name, channel.config, "provider", clients, local), "primary"),
        fallback: channel.config.fallback
          ? wrap(localProvider(channel.name, channel.config, "fallback", clients, local), "fallback")
          : undefined,
        failoverAfter: channel.config.failoverAfter,
        claimLeaseSeconds: options.claimLeaseSeconds ?? channel.config.workerTimeoutSeconds,
        log,
        politeness: channel.config.perUser ? makePolitenessLimiter({ ddb, table: names.politeness, ...channel.config.perUser }) : undefined,
        requeue: async (body, delaySeconds) => {
          await sqs.send(new SendMessageCommand({ QueueUrl: channel.queueUrl, MessageBody: body, DelaySeconds: delaySeconds }));
        },
        ratePerSecond: channel.config.ratePerSecond,
        logger,
        metrics,
        statusCallbacks: callbacks?.enqueue,
      });
      const settings = channelQueueSettings(channel.config);
      const poller = startSqsPoller({
        sqs,
        queueUrl: channel.queueUrl,
        handler: worker,
        batchSize: settings.batchSize,
        waitTimeSeconds: options.pollWaitSeconds ?? 1,
        concurrency: channel.config.maxConcurrency,
        // The event source mapping does not say when SQS dead-letters a message; the local path does.
        onOutcome: (record, outcome) => {
          if (outcome === "failed" && Number(record.attributes?.ApproximateReceiveCount) >= settings.maxReceiveCount) {
            logger({
              component: "local-sqs",
              outcome: OUTCOME["local-sqs"].deadLettered,
              channel: channel.name,
              messageId: record.messageId,
              reason: `failed ${settings.maxReceiveCount} receives`,
            });
          }
        },
        onError: (error) =>
          logger({ component: "local-sqs", outcome: OUTCOME["local-sqs"].error, channel: channel.name, reason: String(error) }),
      });
      stopList.push(() => poller.stop());
    }

    // The producer API, the dev-token endpoint and the inbox page.
    const service = makeNotificationService({
      ddb,
      s3,
      events: new EventBridgeClient({}),
      tables: { contacts: names.contacts, settings: names.settings, log: names.notificationLog },
      templatesBucket,
      busName,
      enabledChannels: channelNames,
      types: config.notificationTypes,
      webhookOrigins: [slack.url],
      logger,
      metrics,
      stuckAfterMs: options.stuckAfterMs,
      statusCallbacks: callbacks?.enqueue,
      links: makeLinkSigner({ getKey: async () => signingSecret, baseUrl: () => apiUrl, ttlDays: config.tracking.linkTtlDays }),
      openPixel: config.tracking.openPixel,
    });
    let apiUrl = "";
    const userRoutes = makeLocalUserRoutes({
      ddb,
      tables: { contacts: names.contacts, settings: names.settings, connections: names.connections, feed: names.feed },
      config,
      enabledChannels: channelNames,
      log,
      verify,
      getLinkKey: async () => signingSecret,
      management,
      webhookOrigins: [slack.url],
      logger,
    });
    const reconcile = makeReconciler({
      log,
      events: new EventBridgeClient({}),
      busName,
      stuckAfterMs: options.stuckAfterMs,
      lookBackMs: config.reconciler.lookBackHours * 3_600_000,
      metrics,
      logger,
      statusCallbacks: callbacks?.enqueue,
    });
    const reconcileEvery = options.reconcileIntervalMs ?? 60_000;
    if (reconcileEvery > 0) {
      const timer = setInterval(() => {
        reconcile().catch((error) => logger({ component: "reconciler", outcome: "error", reason: String(error) }));
      }, reconcileEvery);
      timer.unref();
      stopList.push(async () => clearInterval(timer));
    }
    const status = makeStatusService({ log, logger });
    const opsDeps = { collector: opsCollector, sqs, channels, sinks: { sesEndpoint: aws.endpoints.ses, sns, slack } };
    const api = await startLocalApi({
      routes: userRoutes,
      port: port(options.apiPort, "TIDINGS_API_PORT", 4000),
      verify,
      service,
      signToken: (userId, claims) => signDevToken({ secret: signingSecret, userId, issuer, audience, ...claims }),
      producerScope: config.auth.producerScope,
      websocketUrl: gateway.url,
      status,
      ops: (req, res, url) => handleOpsRequest(opsDeps, req, res, url, () => readBody(req)),
    });
    stopList.push(() => api.stop());
    apiUrl = api.url;

    if (options.seed ?? true) await seedDemoUsers(ddb, names.contacts, slack.url);

    const endpoints = {
      api: api.url,
      notifications: `${api.url}/notifications`,
      devToken: `${api.url}/dev/token`,
      inbox: `${api.url}/`,
      ops: `${api.url}/ops`,
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
      endpoints,
      channels,
      tables: names,
      aws,
      gateway,
      bus,
      sinks: { sns, slack },
      lambda,
      clients: { ddb, sqs, s3 },
      log,
      /** Per-channel counters from the metric lines (what the ops page shows). */
      ops: opsCollector,
      /** Runs the reconciler once now (it also runs every `reconcileIntervalMs`). */
      reconcile,
      /** A dev token: an end user's, or with `scope: config.auth.producerScope` a producer's. */
      signToken: (userId: string, claims: DevTokenClaims = {}) =>
        signDevToken({ secret: signingSecret, userId, issuer, audience, ...claims }),
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

/**
 * Builds a channel's provider from its config through the provider table, as the deployed worker does,
 * with the local clients. A `lambda` provider invokes through AWS_ENDPOINT_URL_LAMBDA: the local invoke
 * server (local/lambdaInvoke.ts) running the handlers given in `lambdaHandlers`.
 */
function localProvider(
  name: string,
  channel: ChannelConfig,
  which: "provider" | "fallback",
  clients: ProviderClients,
  local: { connectionsTable: string /** Where Slack webhooks may point: the local sink. */; slackHosts: string[] },
): Provider {
  const config = channelProviderConfig(name, channel, which);
  if (!config)
    throw new Error(`No local provider "${channel[which]}" for channel ${name}: the local mode runs the providers Tidings ships`);
  if (config.type === "websocket") config.connectionsTable = local.connectionsTable;
  if (config.type === "slack-webhook") config.allowedHosts = local.slackHosts;
  return createProvider(config, clients);
}

async function createChannelQueues(
  sqs: SQSClient,
  config: TidingsConfig,
  names: string[],
  visibilityOverride?: number,
): Promise<LocalChannel[]> {
  const result: LocalChannel[] = [];
  for (const name of names) {
    const channelConfig = config.channels[name];
    const settings = channelQueueSettings(channelConfig);
    const deadLetterRetention = { MessageRetentionPeriod: String(settings.deadLetterRetentionSeconds) };
    const dlq = await createQueue(sqs, `tidings-${name}-dlq`, deadLetterRetention);
    const ruleDlq = await createQueue(sqs, `tidings-${name}-rule-dlq`, deadLetterRetention);
    const queue = await createQueue(sqs, `tidings-${name}`, {
      VisibilityTimeout: String(visibilityOverride ?? settings.visibilityTimeoutSeconds),
      MessageRetentionPeriod: String(settings.messageRetentionSeconds),
      RedrivePolicy: redrivePolicy(dlq.arn, settings),
    });
    result.push({
      name,
      config: channelConfig,
      queueUrl: queue.url,
      queueArn: queue.arn,
      deadLetterQueueUrl: dlq.url,
      deadLetterQueueArn: dlq.arn,
      ruleDeadLetterQueueUrl: ruleDlq.url,
    });
  }
  return result;
}

async function createQueue(sqs: SQSClient, name: string, attributes: Record<string, string>) {
  const created = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
  const attrs = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: created.QueueUrl, AttributeNames: ["QueueArn"] }));
  return { url: created.QueueUrl!, arn: attrs.Attributes!.QueueArn! };
}

/** Uploads `templates/<type>/<channel>.json` as the TemplatesBucket component does. */
async function uploadTemplates(s3: S3Client, bucket: string) {
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const root = path.join(REPO_ROOT, "templates");
  for (const type of fs.readdirSync(root)) {
    const dir = path.join(root, type);
    if (!fs.statSync(dir).isDirectory()) continue;
    for (const file of fs.readdirSync(dir).filter((f) => f.endsWith(".json"))) {
      await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: `templates/${type}/${file}`,
          Body: fs.readFileSync(path.join(dir, file)),
          ContentType: "application/json",
        }),
      );
    }
  }
}

/** Two demo users: alice has every address, bob only e-mail. */
async function seedDemoUsers(ddb: DynamoDBDocumentClient, contactsTable: string, slackSinkUrl: string) {
  const contacts = [
    {
      userId: "alice",
      email: "alice@example.com",
      phone: "+15555550100",
      external_channels: { slack: { webhookUrl: `${slackSinkUrl}/services/T000/B000/alice` } },
    },
    { userId: "bob", email: "bob@example.com" },
  ];
  for (const item of contacts) await ddb.send(new PutCommand({ TableName: contactsTable, Item: item }));
}

interface LocalApiOptions {
  port: number;
  verify: ReturnType<typeof makeTokenVerifier>;
  service: (rawBody: string | undefined) => Promise<{ statusCode: number; headers?: Record<string, string>; body?: string }>;
  signToken: (userId: string, claims?: DevTokenClaims) => Promise<string>;
  /** Scope a producer token must carry (tidings:auth.producerScope). */
  producerScope: string;
  websocketUrl: string;
  /** `GET /notifications/{eventId}` (runtime/statusApi.ts). */
  status: (eventId: string | undefined) => Promise<{ statusCode: number; headers?: Record<string, string>; body?: string }>;
  /** The /ops routes (local/opsPage.ts): true when it answered. */
  ops: (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => Promise<boolean>;
  /** The user's side (local/userRoutes.ts): answers `/me/*`, `/t/*` and `/users/*`; producers pass `authorizeProducer`. */
  routes?: (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: URL,
    authorizeProducer: (req: http.IncomingMessage) => Promise<{ status: number; body: unknown } | null>,
  ) => Promise<boolean>;
}

const INBOX_DIR = path.join(__dirname, "inbox");
const STATIC_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};
/** Bodies above the producer API's limit are cut off while reading, not buffered whole. */
const MAX_BODY_BYTES = 256 * 1024;

/**
 * The producer API as API Gateway + IAM auth would present it, with a Bearer token standing in for SigV4,
 * plus the local-only `/dev/token` and `/dev/config` and the inbox page.
 */
async function startLocalApi(options: LocalApiOptions) {
  /** The producer API's auth (Bearer standing in for SigV4): null when allowed, else the answer to send. */
  const authorizeProducer = async (req: http.IncomingMessage) => {
    const token = /^Bearer (.+)$/i.exec(req.headers.authorization ?? "")?.[1];
    const check = await options.verify(token);
    if (!check.ok) return { status: 401, body: { error: "unauthorized", message: `A valid Bearer token is required (${check.reason})` } };
    // An end user's token is not a producer's: the producer scope says which is which.
    const missingScope = producerScopeProblem(check.scopes, options.producerScope);
    return missingScope ? { status: 403, body: missingScope } : null;
  };
  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      // A web page the user visits could otherwise reach this server by DNS rebinding (its own name
      // resolving to 127.0.0.1): the Host header still says that name.
      const badHost = checkLocalHost(req.headers.host);
      if (badHost) return json(res, 403, badHost);
      if (req.method === "POST" && url.pathname === "/notifications") {
        const denied = await authorizeProducer(req);
        if (denied) return json(res, denied.status, denied.body);
        const { body, overflow } = await readBoundedBody(req, MAX_BODY_BYTES);
        const result = await options.service(body);
        res.writeHead(result.statusCode, {
          "content-type": "application/json",
          ...result.headers,
          ...(overflow ? { connection: "close" } : {}),
        });
        return res.end(result.body ?? "");
      }
      const statusPath = /^\/notifications\/([^/]+)$/.exec(url.pathname);
      if (req.method === "GET" && statusPath) {
        const denied = await authorizeProducer(req);
        if (denied) return json(res, denied.status, denied.body);
        let eventId: string | undefined;
        try {
          eventId = decodeURIComponent(statusPath[1]);
        } catch {
          eventId = undefined;
        }
        const result = await options.status(eventId);
        res.writeHead(result.statusCode, { "content-type": "application/json", ...result.headers });
        return res.end(result.body ?? "");
      }
      if (url.pathname.startsWith("/ops") && (await options.ops(req, res, url))) return;
      if (req.method === "POST" && url.pathname === "/dev/token") {
        const request = parseDevTokenRequest(await readBody(req));
        if (!request.ok) return json(res, 400, request.error);
        return json(res, 200, { token: await options.signToken(request.userId, { scope: request.scope, rooms: request.rooms }) });
      }
      if (options.routes && (await options.routes(req, res, url, authorizeProducer))) return;
      if (req.method === "GET" && url.pathname === "/dev/config") return json(res, 200, { websocketUrl: options.websocketUrl });
      if (req.method === "GET") return serveStatic(url.pathname, res);
      return json(res, 404, { error: "not_found", message: `${req.method} ${url.pathname} is not an endpoint here` });
    } catch (error) {
      if (!res.headersSent) json(res, 500, { error: "internal", message: String(error) });
      else res.end();
    }
  });
  // Outlive clients' idle keep-alive (undici: 4 s), so a loaded server never closes a socket a client is
  // reusing at that moment (the soak saw ECONNRESET with Node's 5 s default). API Gateway waits longer still.
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, "127.0.0.1", () => resolve());
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function json(res: http.ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

async function readBody(req: http.IncomingMessage): Promise<string | undefined> {
  return (await readBoundedBody(req, MAX_BODY_BYTES)).body;
}

function serveStatic(pathname: string, res: http.ServerResponse) {
  const relative = pathname === "/" ? "index.html" : pathname.replace(/^\/+/, "");
  const file = path.resolve(INBOX_DIR, relative);
  if (!file.startsWith(INBOX_DIR + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
    return json(res, 404, { error: "not_found", message: `${pathname} is not here` });
  }
  res.writeHead(200, { "content-type": STATIC_TYPES[path.extname(file)] ?? "application/octet-stream" });
  res.end(fs.readFileSync(file));
}
