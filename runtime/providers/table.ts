/**
 * The one provider table: how each provider type Tidings ships is checked and built from plain data.
 * The deployed worker (components/NotificationChannel.ts), the local mode (local/tidings.ts) and the
 * config check (runtime/config.ts) all read it; components/providers.ts holds the IAM side of the same
 * types. Clients are injected (the local mode, tests) or built here with default settings (Lambda).
 *
 * Plain functions and objects only: the entry for one type is serialized into the worker that uses it.
 */
import { ApiGatewayManagementApiClient } from "@aws-sdk/client-apigatewaymanagementapi";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { LambdaClient } from "@aws-sdk/client-lambda";
import { SESv2Client } from "@aws-sdk/client-sesv2";
import { SNSClient } from "@aws-sdk/client-sns";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { Provider } from "../contracts";
import { makeDeviceRegistry } from "../devices";
import { type Feed, makeFeed } from "../feed";
import { resolveManagementEndpoint } from "../deliver";
import { makeSesProvider } from "./email";
import { makeLambdaProvider } from "./lambda";
import { makeSnsPushProvider } from "./push";
import { makeSlackProvider } from "./slack";
import { makeSnsSmsProvider } from "./sms";
import { makeWebSocketProvider } from "./websocket";

/** Provider types Tidings ships. `inline` (TypeScript only) is a ProviderSpec of your own, not in this table. */
export const PROVIDER_TYPES = ["websocket", "ses", "sns-sms", "sns-push", "slack-webhook", "lambda"] as const;
export type ProviderType = (typeof PROVIDER_TYPES)[number];

/**
 * One provider as data: its type and the settings that type reads (the others must be absent). Every
 * value is known at deploy time, so a worker carries it as plain JSON.
 */
export interface ProviderConfig {
  type: ProviderType;
  /** ses: verified sender address. */
  from?: string;
  /** ses: configuration set. */
  configurationSet?: string;
  /** sns-sms: "Transactional" (default) or "Promotional". */
  smsType?: "Transactional" | "Promotional";
  /** sns-sms: alphanumeric sender id. */
  senderId?: string;
  /** sns-push: APNs platform application. */
  apnsPlatformApplicationArn?: string;
  /** sns-push: FCM platform application. */
  fcmPlatformApplicationArn?: string;
  /** lambda: the function that sends. */
  functionArn?: string;
  /** slack-webhook: hosts webhook URLs may point at. */
  allowedHosts?: string[];
  /** Shown as the provider name in logs (any type). */
  name?: string;
  /** websocket: the connections table (name). */
  connectionsTable?: string;
  /** websocket: `https://…/<stage>`; AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI wins. */
  managementEndpoint?: string;
  /** websocket: the in-app feed table; with it, delivering stores the notification (runtime/feed.ts). */
  feedTable?: string;
  /** websocket: days a feed item is kept. */
  feedTtlDays?: number;
  /** sns-push: the contacts table; tokens SNS reports disabled or invalid are removed from it. */
  contactsTable?: string;
}

/** Clients a provider may use (any left out is built with default settings), and its collaborators. */
export interface ProviderClients {
  ses?: SESv2Client;
  sns?: SNSClient;
  lambda?: LambdaClient;
  ddb?: DynamoDBDocumentClient;
  mgmt?: ApiGatewayManagementApiClient;
  /** websocket: the in-app feed; with it, delivering means storing (runtime/feed.ts). */
  feed?: Feed;
  /** sns-push: called for a device token the platform says is no longer valid. */
  onInvalidToken?: (userId: string, token: string) => Promise<unknown>;
}

export interface ProviderEntry {
  /** Settings this type reads besides `type`; any other is refused. */
  settings: (keyof ProviderConfig)[];
  /** Each missing or wrong setting, as `<key>: <what to do>`. */
  problems(config: ProviderConfig): string[];
  create(config: ProviderConfig, clients: ProviderClients): Provider;
}

const ARN = /^arn:[^:]+:[^:]+:[^:]*:[^:]*:.+$/;

/** The table. A function, so each worker's serialized code carries only the entry it uses. */
export function providerTable(): Record<ProviderType, ProviderEntry> {
  return {
    websocket: {
      settings: ["connectionsTable", "managementEndpoint", "feedTable", "feedTtlDays"],
      problems: () => [],
      create: (config, clients) => {
        const ddb =
          clients.ddb ?? DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } });
        return makeWebSocketProvider({
          ddb,
          mgmt:
            clients.mgmt ??
            new ApiGatewayManagementApiClient({
              endpoint: resolveManagementEndpoint({ captured: config.managementEndpoint }),
              // Resolve the middleware stack once, not on every post of a fan-out.
              cacheMiddleware: true,
            }),
          connectionsTable: config.connectionsTable ?? "",
          feed: clients.feed ?? (config.feedTable ? makeFeed({ ddb, table: config.feedTable, ttlDays: config.feedTtlDays }) : undefined),
        });
      },
    },
    ses: {
      settings: ["from", "configurationSet"],
      problems: (config) => (config.from ? [] : ["from: required: the verified SES sender address"]),
      create: (config, clients) =>
        makeSesProvider({ ses: clients.ses ?? new SESv2Client({}), from: config.from ?? "", configurationSet: config.configurationSet }),
    },
    "sns-sms": {
      settings: ["smsType", "senderId"],
      problems: (config) =>
        config.smsType === undefined || config.smsType === "Transactional" || config.smsType === "Promotional"
          ? []
          : ['smsType: "Transactional" or "Promotional"'],
      create: (config, clients) =>
        makeSnsSmsProvider({ sns: clients.sns ?? new SNSClient({}), smsType: config.smsType, senderId: config.senderId }),
    },
    "sns-push": {
      settings: ["apnsPlatformApplicationArn", "fcmPlatformApplicationArn", "contactsTable"],
      problems: (config) =>
        config.apnsPlatformApplicationArn || config.fcmPlatformApplicationArn
          ? []
          : [
              "apnsPlatformApplicationArn: required (or fcmPlatformApplicationArn, or both): the SNS platform application push sends through",
            ],
      create: (config, clients) =>
        makeSnsPushProvider({
          sns: clients.sns ?? new SNSClient({}),
          platformApplicationArns: { apns: config.apnsPlatformApplicationArn, fcm: config.fcmPlatformApplicationArn },
          onInvalidToken:
            clients.onInvalidToken ??
            (config.contactsTable
              ? (userId, token) =>
                  makeDeviceRegistry({
                    ddb: clients.ddb ?? DynamoDBDocumentClient.from(new DynamoDBClient({})),
                    table: config.contactsTable!,
                  }).remove(userId, token)
              : undefined),
        }),
    },
    "slack-webhook": {
      settings: ["allowedHosts"],
      problems: () => [],
      create: (config) => makeSlackProvider({ allowedHosts: config.allowedHosts }),
    },
    lambda: {
      settings: ["functionArn"],
      problems: (config) =>
        config.functionArn && ARN.test(config.functionArn)
          ? []
          : ["functionArn: required: the ARN of the Lambda function that sends (arn:aws:lambda:<region>:<account>:function:<name>)"],
      create: (config, clients) =>
        makeLambdaProvider({ lambda: clients.lambda ?? new LambdaClient({}), functionArn: config.functionArn ?? "", name: config.name }),
    },
  };
}

export function isProviderType(value: unknown): value is ProviderType {
  return typeof value === "string" && (PROVIDER_TYPES as readonly string[]).includes(value);
}

/** Problems of one provider config: unknown type, settings of another type, missing settings. */
export function providerProblems(config: ProviderConfig): string[] {
  if (!isProviderType(config.type)) return [`type: "${String(config.type)}" is not a provider type (one of: ${PROVIDER_TYPES.join(", ")})`];
  const entry = providerTable()[config.type];
  const foreign = Object.keys(config).filter(
    (key) =>
      key !== "type" &&
      key !== "name" &&
      config[key as keyof ProviderConfig] !== undefined &&
      !entry.settings.includes(key as keyof ProviderConfig),
  );
  return [...foreign.map((key) => `${key}: not a setting of the ${config.type} provider`), ...entry.problems(config)];
}

/** Builds the runtime provider for `config`, with the clients given (or default ones). */
export function createProvider(config: ProviderConfig, clients: ProviderClients = {}): Provider {
  const problems = providerProblems(config);
  if (problems.length) throw new Error(`Provider ${config.type}: ${problems.join("; ")}`);
  return providerTable()[config.type].create(config, clients);
}
