/**
 * Provider specs: what a NotificationChannel needs to know about its delivery provider, in one value.
 * - `statements(ctx)`: the IAM statements the worker needs for this provider, scoped to named ARNs.
 * - `create()`: called INSIDE the Lambda (from the worker's factory) to build the SDK client and the
 *   runtime provider. It is serialized by value with the worker, so it may capture plain values and
 *   Outputs (read with `.get()`), never resources or `this`.
 *
 * A stack's own provider is just another ProviderSpec:
 * @example
 * const pager: ProviderSpec = {
 *   name: "pager",
 *   statements: () => [],
 *   create: () => ({ name: "pager", send: async (d) => ({ outcome: "sent" }) }),
 * };
 */
import { ApiGatewayManagementApiClient } from "@aws-sdk/client-apigatewaymanagementapi";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { SESv2Client } from "@aws-sdk/client-sesv2";
import { SNSClient } from "@aws-sdk/client-sns";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { ChannelConfig } from "../runtime/config";
import type { Provider } from "../runtime/contracts";
import { makeSesProvider } from "../runtime/providers/email";
import { makeSnsPushProvider } from "../runtime/providers/push";
import { makeSlackProvider } from "../runtime/providers/slack";
import { makeSnsSmsProvider } from "../runtime/providers/sms";
import { makeWebSocketProvider } from "../runtime/providers/websocket";
import { TABLES } from "../runtime/tables";
import { resolveManagementEndpoint } from "../runtime/deliver";
import { makeDeviceRegistry } from "../runtime/devices";
import { makeFeed } from "../runtime/feed";
import { type ScopedStatement, TidingsError } from "./common";

/** What a spec may use to scope its statements. */
export interface ProviderContext {
  /** The channel the provider serves. */
  channel: string;
  region: pulumi.Output<string>;
  accountId: pulumi.Output<string>;
}

export interface ProviderSpec {
  /** Shown in logs and the notification log, e.g. "ses". */
  name: string;
  statements(ctx: ProviderContext): ScopedStatement[];
  /** Runs inside the Lambda: builds clients there and returns the runtime provider. */
  create: () => Provider;
  /**
   * Packages of the program's dependencies `create` needs at run time (see InlineFunction `packages`).
   * Omit to ship every dependency with the worker.
   */
  packages?: string[];
}

/** A value known at deploy time, either plain or as an Output (read with `.get()` inside Lambda). */
export type DeployValue = string | pulumi.Output<string>;

function valueAtRuntime(value: DeployValue): string {
  return typeof value === "string" ? value : value.get();
}

/**
 * The only statement Tidings grants with `Resource: "*"`: SNS Publish to a phone number has no
 * resource ARN, and AWS requires `"*"` for it (see "Amazon SNS SMS: IAM permissions" in the SNS
 * developer guide). Graph tests allow exactly this and nothing else.
 */
export const SMS_PUBLISH_STATEMENT: ScopedStatement = { Action: ["sns:Publish"], Resource: ["*"] };

export interface SesProviderArgs {
  /** Verified sender address. */
  from: string;
  configurationSet?: string;
  /**
   * ARN of the verified SES identity that sends: the domain (`…:identity/example.com`), the address,
   * or both when it is not settled which one is verified.
   * @example identityArn: "arn:aws:ses:eu-west-1:123456789012:identity/example.com"
   */
  identityArn: pulumi.Input<string> | pulumi.Input<string>[];
}

/** E-mail through SES v2: ses:SendEmail on the sending identity (and configuration set) only. */
export function sesProvider(args: SesProviderArgs): ProviderSpec {
  const { from, configurationSet } = args;
  if (!from) throw new TidingsError("sesProvider needs `from`: the verified SES sender address.");
  return {
    name: "ses",
    packages: [],
    statements: () => {
      const identities = Array.isArray(args.identityArn) ? args.identityArn : [args.identityArn];
      const resources: pulumi.Input<string>[] = [...identities];
      if (configurationSet) {
        resources.push(pulumi.output(identities[0]).apply((arn) => `${arn.split(":identity/")[0]}:configuration-set/${configurationSet}`));
      }
      return [{ Action: ["ses:SendEmail"], Resource: resources }];
    },
    create: () => makeSesProvider({ ses: new SESv2Client({}), from, configurationSet }),
  };
}

export interface SnsSmsProviderArgs {
  /** @default "Transactional" */
  smsType?: "Transactional" | "Promotional";
  senderId?: string;
}

/** SMS through SNS Publish to phone numbers. */
export function snsSmsProvider(args: SnsSmsProviderArgs = {}): ProviderSpec {
  const { smsType, senderId } = args;
  return {
    name: "sns-sms",
    packages: [],
    statements: () => [SMS_PUBLISH_STATEMENT],
    create: () => makeSnsSmsProvider({ sns: new SNSClient({}), smsType, senderId }),
  };
}

export interface SlackWebhookProviderArgs {
  /** Hosts webhook URLs may point at. @default ["hooks.slack.com"] */
  allowedHosts?: string[];
  /** @default 5000 */
  timeoutMs?: number;
}

/** Slack incoming webhooks: plain HTTPS, no AWS permission. */
export function slackWebhookProvider(args: SlackWebhookProviderArgs = {}): ProviderSpec {
  const { allowedHosts, timeoutMs } = args;
  return {
    name: "slack-webhook",
    packages: [],
    statements: () => [],
    create: () => makeSlackProvider({ allowedHosts, timeoutMs }),
  };
}

export interface SnsPushProviderArgs {
  /** `arn:aws:sns:<region>:<account>:app/APNS/<name>` (or APNS_SANDBOX). */
  apnsPlatformApplicationArn?: DeployValue;
  /** `arn:aws:sns:<region>:<account>:app/GCM/<name>`. */
  fcmPlatformApplicationArn?: DeployValue;
  /** The contacts table: tokens SNS reports disabled or invalid are removed from it. @default tokens are kept */
  contactsTable?: { name: pulumi.Output<string>; arn: pulumi.Input<string> };
}

/** Endpoints of a platform application: `…:app/APNS/name` → `…:endpoint/APNS/name/*`. */
export function platformEndpointsArn(applicationArn: pulumi.Input<string>): pulumi.Output<string> {
  return pulumi.output(applicationArn).apply((arn) => {
    if (!/^arn:[^:]+:sns:[^:]*:[^:]*:app\/[^/]+\/[^/]+$/.test(arn)) {
      throw new TidingsError(`"${arn}" is not an SNS platform application ARN (arn:aws:sns:<region>:<account>:app/<platform>/<name>).`);
    }
    return `${arn.replace(":app/", ":endpoint/")}/*`;
  });
}

/** Mobile push through SNS platform applications: endpoints of these applications only. */
export function snsPushProvider(args: SnsPushProviderArgs): ProviderSpec {
  const { apnsPlatformApplicationArn: apns, fcmPlatformApplicationArn: fcm } = args;
  const contactsTableName = args.contactsTable?.name;
  const applications = [apns, fcm].filter((arn): arn is DeployValue => arn !== undefined);
  if (applications.length === 0) {
    throw new TidingsError("snsPushProvider needs apnsPlatformApplicationArn, fcmPlatformApplicationArn or both.");
  }
  return {
    name: "sns-push",
    packages: [],
    statements: () => [
      { Action: ["sns:CreatePlatformEndpoint"], Resource: applications },
      { Action: ["sns:Publish"], Resource: applications.map(platformEndpointsArn) },
      // A token SNS reports disabled or invalid leaves the user's contact.
      ...(args.contactsTable ? [{ Action: ["dynamodb:GetItem", "dynamodb:UpdateItem"], Resource: [args.contactsTable.arn] }] : []),
    ],
    create: () =>
      makeSnsPushProvider({
        sns: new SNSClient({}),
        platformApplicationArns: {
          apns: apns === undefined ? undefined : valueAtRuntime(apns),
          fcm: fcm === undefined ? undefined : valueAtRuntime(fcm),
        },
        onInvalidToken: contactsTableName
          ? (userId, token) =>
              makeDeviceRegistry({ ddb: DynamoDBDocumentClient.from(new DynamoDBClient({})), table: contactsTableName.get() }).remove(
                userId,
                token,
              )
          : undefined,
      }),
  };
}

export interface WebSocketProviderArgs {
  /** Name of the connections table (Output of ConnectionsTable.name). */
  connectionsTable: pulumi.Output<string>;
  /** ARN of the connections table. */
  connectionsTableArn: pulumi.Input<string>;
  /** `https://<api>.execute-api.<region>.amazonaws.com/<stage>`. */
  managementEndpoint: DeployValue;
  /** The WebSocket API's executionArn. */
  executionArn: pulumi.Input<string>;
  stage: pulumi.Input<string>;
  /**
   * The in-app feed (a FeedTable): with it, delivering stores the notification for its user, online
   * or not, and open connections also get the frame. Without it, a user with no open connection is an error.
   */
  feedTable?: { name: pulumi.Output<string>; arn: pulumi.Input<string> };
  /** Days a feed item is kept. @default 90 */
  feedTtlDays?: number;
}

/** Posts to the user's open WebSocket connections; drops connections API Gateway says are gone. */
export function websocketProvider(args: WebSocketProviderArgs): ProviderSpec {
  const { connectionsTable, managementEndpoint } = args;
  const userIndexes = Object.keys(TABLES.connections.indexes);
  const feedTableName = args.feedTable?.name;
  const feedTtlDays = args.feedTtlDays;
  return {
    name: "websocket",
    packages: [],
    statements: () => [
      { Action: ["dynamodb:Query"], Resource: userIndexes.map((index) => pulumi.interpolate`${args.connectionsTableArn}/index/${index}`) },
      { Action: ["dynamodb:DeleteItem"], Resource: [args.connectionsTableArn] },
      {
        Action: ["execute-api:ManageConnections"],
        // Posting is all delivery does: gone connections are deleted from the table, not from API Gateway.
        Resource: [pulumi.interpolate`${args.executionArn}/${args.stage}/POST/@connections/*`],
      },
      // Storing is a conditional put: an item already stored (a redelivery) keeps its read state.
      ...(args.feedTable ? [{ Action: ["dynamodb:PutItem"], Resource: [args.feedTable.arn] }] : []),
    ],
    create: () => {
      const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } });
      return makeWebSocketProvider({
        ddb,
        // AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI (local gateway, tests) wins over the stage's endpoint.
        mgmt: new ApiGatewayManagementApiClient({
          endpoint: resolveManagementEndpoint({ captured: valueAtRuntime(managementEndpoint) }),
        }),
        connectionsTable: connectionsTable.get(),
        feed: feedTableName ? makeFeed({ ddb, table: feedTableName.get(), ttlDays: feedTtlDays }) : undefined,
      });
    },
  };
}

export interface ProviderDeps {
  /** The stack's WebSocket API (a WebSocketApi): needed when the websocket channel is configured. */
  websocket?: { managementEndpoint: pulumi.Output<string>; executionArn: pulumi.Input<string>; stageName: string };
  /** The connections table (a ConnectionsTable): needed with `websocket`. */
  connectionsTable?: { name: pulumi.Output<string>; arn: pulumi.Input<string> };
  /** The in-app feed table (a FeedTable): the websocket channel stores every notification there. */
  feedTable?: { name: pulumi.Output<string>; arn: pulumi.Input<string> };
  /** Days a feed item is kept. @default 90 */
  feedTtlDays?: number;
  /** The contacts table: the push channel removes tokens SNS reports disabled or invalid. */
  contactsTable?: { name: pulumi.Output<string>; arn: pulumi.Input<string> };
  /** Scope the SES identity ARN; looked up from the provider when absent. */
  region?: pulumi.Input<string>;
  accountId?: pulumi.Input<string>;
  /** Specs for providers Tidings does not ship, by the provider name used in config. */
  customProviders?: Record<string, ProviderSpec>;
}

/**
 * Maps one channel's stack config to its provider specs, so index.ts builds every channel from config.
 * Built-in channels get their provider (and fallback) from the channel's settings; any other channel
 * must name a provider found in `deps.customProviders`.
 */
export function providerForChannel(
  name: string,
  config: ChannelConfig,
  deps: ProviderDeps,
): { provider: ProviderSpec; fallback?: ProviderSpec } {
  const build = (providerName: string): ProviderSpec => {
    const custom = deps.customProviders?.[providerName];
    if (custom) return custom;
    switch (`${name}/${providerName}`) {
      case "email/ses": {
        const region = deps.region ?? aws.getRegionOutput().region;
        const accountId = deps.accountId ?? aws.getCallerIdentityOutput().accountId;
        return sesProvider({
          from: config.from ?? "",
          configurationSet: config.configurationSet,
          // Either the sender's domain or the address itself may be the verified identity.
          identityArn: [
            pulumi.interpolate`arn:aws:ses:${region}:${accountId}:identity/${(config.from ?? "").split("@")[1] ?? ""}`,
            pulumi.interpolate`arn:aws:ses:${region}:${accountId}:identity/${config.from ?? ""}`,
          ],
        });
      }
      case "sms/sns":
        return snsSmsProvider({ smsType: config.smsType, senderId: config.senderId });
      case "slack/webhook":
        return slackWebhookProvider();
      case "push/sns":
        return snsPushProvider({
          apnsPlatformApplicationArn: config.apnsPlatformApplicationArn,
          fcmPlatformApplicationArn: config.fcmPlatformApplicationArn,
          contactsTable: deps.contactsTable,
        });
      case "websocket/websocket":
        if (!deps.websocket || !deps.connectionsTable) {
          throw new TidingsError(
            `Channel "websocket" posts to WebSocket connections: pass deps.websocket (the WebSocketApi) and deps.connectionsTable.`,
          );
        }
        return websocketProvider({
          connectionsTable: deps.connectionsTable.name,
          connectionsTableArn: deps.connectionsTable.arn,
          managementEndpoint: deps.websocket.managementEndpoint,
          executionArn: deps.websocket.executionArn,
          stage: deps.websocket.stageName,
          feedTable: deps.feedTable,
          feedTtlDays: deps.feedTtlDays,
        });
      default:
        throw new TidingsError(
          `Channel "${name}" uses provider "${providerName}", which Tidings does not ship: pass its ProviderSpec as deps.customProviders["${providerName}"].`,
        );
    }
  };
  return { provider: build(config.provider), fallback: config.fallback ? build(config.fallback) : undefined };
}
