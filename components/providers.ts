/**
 * Channel providers as data. A NotificationChannel names its provider declaratively
 * (`{ type: "ses", from }`); what the worker builds at run time comes from the one provider table
 * (runtime/providers/table.ts), and the IAM statements each type needs come from `PROVIDER_STATEMENTS`
 * below, keyed by the same types, so a type cannot be added to one side only.
 *
 * TypeScript stacks may also pass `{ type: "inline", name, statements, create }`: a provider built
 * from code of their own, run inside the worker. From other languages, write it as a Lambda function
 * (`{ type: "lambda", functionArn }`).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { Provider } from "../runtime/contracts";
import type { ChannelConfig } from "../runtime/config";
import { channelProviderConfig } from "../runtime/config";
import { isProviderType, PROVIDER_TYPES, type ProviderConfig, type ProviderType, providerProblems } from "../runtime/providers/table";
import { type ResourceRef, type ScopedStatement, TidingsError } from "./common";

/** What a provider may use to scope its statements. */
export interface ProviderContext {
  /** The channel the provider serves. */
  channel: string;
  region: pulumi.Output<string>;
  accountId: pulumi.Output<string>;
}

/**
 * How a channel delivers. `type` picks the provider; each type reads only its own settings:
 *
 * | type            | settings                                                                 |
 * | --------------- | ------------------------------------------------------------------------ |
 * | `websocket`     | `connectionsTable`, `managementEndpoint`, `executionArn`, `stage` (WebSocketApi.providerFor) |
 * | `ses`           | `from`, `configurationSet?`, `identityArns?`                              |
 * | `sns-sms`       | `smsType?`, `senderId?`                                                   |
 * | `sns-push`      | `apnsPlatformApplicationArn` and/or `fcmPlatformApplicationArn`          |
 * | `slack-webhook` | `allowedHosts?`                                                           |
 * | `lambda`        | `functionArn`: your function, in any language (README: "A provider as a Lambda function") |
 * | `inline`        | TypeScript only: `name`, `statements(ctx)`, `create()`                    |
 *
 * @example provider: { type: "ses", from: "notify@example.com" }
 * @example provider: { type: "lambda", functionArn: pagerFunction.arn }
 */
export interface ChannelProvider {
  /** `websocket`, `ses`, `sns-sms`, `sns-push`, `slack-webhook`, `lambda`, or `inline` (TypeScript only). */
  type: string;
  /** Shown in logs and the notification log. @default the type */
  name?: string;
  /** ses: the verified sender address. @example from: "Shop <notify@example.com>" */
  from?: string;
  /** ses: configuration set (event publishing, dedicated IPs). */
  configurationSet?: string;
  /**
   * ses: ARNs of the verified identities the worker may send as.
   * @default the sender's domain and address identities in the stack's account and region
   */
  identityArns?: pulumi.Input<string>[];
  /** sns-sms: "Transactional" or "Promotional". @default "Transactional" */
  smsType?: string;
  /** sns-sms: alphanumeric sender id, where the destination country supports one. */
  senderId?: string;
  /** sns-push: `arn:aws:sns:<region>:<account>:app/APNS/<name>` (or APNS_SANDBOX). */
  apnsPlatformApplicationArn?: pulumi.Input<string>;
  /** sns-push: `arn:aws:sns:<region>:<account>:app/GCM/<name>`. */
  fcmPlatformApplicationArn?: pulumi.Input<string>;
  /** lambda: ARN of the function invoked once per delivery; the worker may invoke this one only. */
  functionArn?: pulumi.Input<string>;
  /** slack-webhook: hosts webhook URLs may point at. @default ["hooks.slack.com"] */
  allowedHosts?: string[];
  /** websocket: the connections table. */
  connectionsTable?: ResourceRef;
  /** websocket: `https://<api>.execute-api.<region>.amazonaws.com/<stage>`. */
  managementEndpoint?: pulumi.Input<string>;
  /** websocket: the WebSocket API's executionArn. */
  executionArn?: pulumi.Input<string>;
  /** websocket: the API's stage name. */
  stage?: pulumi.Input<string>;
  /**
   * websocket: the in-app feed table: delivering stores the notification for its user, online or not,
   * and open connections also get the frame. Without it, a user with no open connection is an error.
   */
  feedTable?: ResourceRef;
  /** websocket: days a feed item is kept. @default 90 */
  feedTtlDays?: number;
  /**
   * sns-push: the contacts table; tokens SNS reports disabled or invalid are removed from it. sns-sms: a
   * number opted out at the carrier (SMS STOP) is recorded on it, and skipped from then on.
   * @default neither: tokens are kept, only the one delivery to an opted-out number is skipped
   */
  contactsTable?: ResourceRef;
  /** inline (TypeScript only): the IAM statements `create`'s provider needs, scoped to named ARNs. */
  statements?(ctx: ProviderContext): ScopedStatement[];
  /**
   * inline (TypeScript only): runs inside the worker at cold start and returns the runtime provider.
   * Serialized by value: capture plain values and Outputs (read with `.get()`), never resources.
   */
  create?(): Provider;
}

/**
 * The only statement Tidings grants with `Resource: "*"`: SNS Publish to a phone number has no
 * resource ARN, and AWS requires `"*"` for it (see "Amazon SNS SMS: IAM permissions" in the SNS
 * developer guide). Graph tests allow exactly this and nothing else.
 */
export const SMS_PUBLISH_STATEMENT: ScopedStatement = { Action: ["sns:Publish"], Resource: ["*"] };
/** ...and the Deny that keeps it to phone numbers: no topic (the alerts topic included), no endpoint. */
export const SMS_DENY_TOPICS_STATEMENT: ScopedStatement = { Effect: "Deny", Action: ["sns:Publish"], Resource: ["arn:aws:sns:*:*:*"] };

/** Endpoints of a platform application: `…:app/APNS/name` → `…:endpoint/APNS/name/*`. */
export function platformEndpointsArn(applicationArn: pulumi.Input<string>): pulumi.Output<string> {
  return pulumi.output(applicationArn).apply((arn) => {
    if (!/^arn:[^:]+:sns:[^:]*:[^:]*:app\/[^/]+\/[^/]+$/.test(arn)) {
      throw new TidingsError(`"${arn}" is not an SNS platform application ARN (arn:aws:sns:<region>:<account>:app/<platform>/<name>).`);
    }
    return `${arn.replace(":app/", ":endpoint/")}/*`;
  });
}

/**
 * The IAM side of the provider table: what the worker may do for each type outside the stack, scoped
 * to ARNs (the stack's own tables and APIs a provider reaches are in the worker's description).
 */
const PROVIDER_STATEMENTS: Record<ProviderType, (provider: ChannelProvider, ctx: ProviderContext) => ScopedStatement[]> = {
  // The connections, the feed and the management API are the worker's own resources (runtime/system/channels.ts).
  websocket: () => [],
  ses: (provider, ctx) => {
    const from = provider.from ?? "";
    const identities = provider.identityArns ?? [
      // Either the sender's domain or the address itself may be the verified identity.
      pulumi.interpolate`arn:aws:ses:${ctx.region}:${ctx.accountId}:identity/${from.replace(/^.*</, "").replace(/>.*$/, "").split("@")[1] ?? ""}`,
      pulumi.interpolate`arn:aws:ses:${ctx.region}:${ctx.accountId}:identity/${from.replace(/^.*</, "").replace(/>.*$/, "")}`,
    ];
    const resources: pulumi.Input<string>[] = [...identities];
    if (provider.configurationSet) {
      const set = provider.configurationSet;
      resources.push(pulumi.output(identities[0]).apply((arn) => `${arn.split(":identity/")[0]}:configuration-set/${set}`));
    }
    return [{ Action: ["ses:SendEmail"], Resource: resources }];
  },
  "sns-sms": () => [SMS_PUBLISH_STATEMENT, SMS_DENY_TOPICS_STATEMENT],
  "sns-push": (provider) => {
    const applications = [provider.apnsPlatformApplicationArn, provider.fcmPlatformApplicationArn].filter(
      (arn): arn is pulumi.Input<string> => arn !== undefined,
    );
    return [
      // CreatePlatformEndpoint takes no resource (AWS's service authorization reference): a grant on the
      // application's ARN would never match. Publishing is scoped to the applications' endpoints.
      { Action: ["sns:CreatePlatformEndpoint"], Resource: ["*"] },
      { Action: ["sns:Publish"], Resource: applications.map(platformEndpointsArn) },
    ];
  },
  "slack-webhook": () => [],
  lambda: (provider) => [{ Action: ["lambda:InvokeFunction"], Resource: [provider.functionArn!] }],
};

/** A provider ready for a worker: its statements, what it ships, and how the worker builds it. */
export interface ResolvedProvider {
  name: string;
  /** The shipped type (absent for an inline provider). */
  type?: ProviderType;
  statements: ScopedStatement[];
  /** For a shipped type: its config as the worker reads it (Outputs resolved at run time). */
  config?: pulumi.Output<ProviderConfig>;
  /** For an inline provider: its own `create`. */
  create?: () => Provider;
}

/** Checks a channel's provider and derives what its worker needs. Throws TidingsError naming each problem. */
export function resolveProvider(
  channel: string,
  role: "provider" | "fallback",
  provider: ChannelProvider,
  ctx: ProviderContext,
): ResolvedProvider {
  const where = `Channel "${channel}" ${role}`;
  if (!provider || typeof provider !== "object") {
    throw new TidingsError(`${where}: pass a provider, e.g. { type: "ses", from: "notify@example.com" }.`);
  }
  if (provider.type === "inline") {
    if (typeof provider.create !== "function" || typeof provider.statements !== "function" || !provider.name) {
      throw new TidingsError(
        `${where}: an inline provider needs name, statements(ctx) and create() (TypeScript only; from other languages use { type: "lambda", functionArn }).`,
      );
    }
    const create = provider.create;
    return { name: provider.name, statements: provider.statements(ctx), create: () => create() };
  }
  if (!isProviderType(provider.type)) {
    throw new TidingsError(
      `${where}: type "${provider.type}" is not a provider type (one of: ${[...PROVIDER_TYPES, "inline"].join(", ")}).`,
    );
  }
  const type = provider.type;
  if (type === "websocket" && (!provider.connectionsTable || !provider.managementEndpoint || !provider.executionArn || !provider.stage)) {
    throw new TidingsError(
      `${where}: a websocket provider posts to a WebSocketApi's connections: pass connectionsTable, managementEndpoint, executionArn and stage (webSocketApi.providerFor(connectionsTable) gives all four).`,
    );
  }
  // Deploy-time values (Outputs) are checked once resolved; plain ones now, so mistakes fail early.
  const plain = dataOf(provider);
  const problems = providerProblems({
    ...plain,
    functionArn: plain.functionArn ?? (provider.functionArn ? "arn:aws:lambda:::x" : undefined),
  });
  const own = problems.filter(
    (problem) => !/^(identityArns|connectionsTable|executionArn|stage|feedTable|contactsTable): not a setting/.test(problem),
  );
  if (own.length) throw new TidingsError(`${where} (${type}): ${own.join("; ")}.`);
  // The Tidings resources a provider reaches (connections, feed, contacts, the management endpoint) are
  // not settings: the worker is given them as its bindings, and fills them in (runtime/system/channels.ts).
  const config = pulumi
    .all([provider.apnsPlatformApplicationArn, provider.fcmPlatformApplicationArn, provider.functionArn])
    .apply(([apns, fcm, functionArn]) => {
      const resolved: ProviderConfig = {
        type,
        name: provider.name,
        from: provider.from,
        configurationSet: provider.configurationSet,
        smsType: provider.smsType as ProviderConfig["smsType"],
        senderId: provider.senderId,
        allowedHosts: provider.allowedHosts,
        apnsPlatformApplicationArn: apns,
        fcmPlatformApplicationArn: fcm,
        functionArn,
      };
      // Only this type's settings travel with the worker.
      return JSON.parse(JSON.stringify(resolved)) as ProviderConfig;
    });
  return { name: provider.name ?? type, type, statements: PROVIDER_STATEMENTS[type](provider, ctx), config };
}

/** The plain (non-Output) settings of a provider, as the table checks them. */
function dataOf(provider: ChannelProvider): ProviderConfig {
  const plain: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(provider)) {
    if (typeof value === "function" || value === undefined) continue;
    if (["identityArns", "connectionsTable", "executionArn", "stage", "feedTable", "contactsTable"].includes(key)) continue;
    if (pulumi.Output.isInstance(value) || (value && typeof (value as Promise<unknown>).then === "function")) continue;
    plain[key] = value;
  }
  return plain as unknown as ProviderConfig;
}

/** The account and region the stack deploys to, for scoping statements. */
export function providerContext(channel: string, parent: pulumi.Resource): ProviderContext {
  return {
    channel,
    region: aws.getRegionOutput({}, { parent }).region,
    accountId: aws.getCallerIdentityOutput({}, { parent }).accountId,
  };
}

/** What a stack gives `providerFromConfig` besides the channel's config. */
export interface ProviderSources {
  /** The stack's WebSocket API and connections table: the websocket channel's provider posts through them. */
  websocket?: { api: { providerFor(connectionsTable: ResourceRef): ChannelProvider }; connectionsTable: ResourceRef };
  /** The in-app feed table (a FeedTable) and its item lifetime: the websocket channel stores every notification there. */
  feed?: { table: ResourceRef; ttlDays?: number };
  /** The contacts table: push removes tokens SNS reports disabled or invalid; SMS records numbers opted out at the carrier. */
  contactsTable?: ResourceRef;
  /** Providers Tidings does not ship, by the name config uses for them (TypeScript: `type: "inline"`). */
  customProviders?: Record<string, ChannelProvider>;
}

/**
 * The provider (or fallback) a channel's stack config names: a shipped type through the provider
 * table, or one of `customProviders`. Throws TidingsError saying what to pass when neither fits.
 */
export function providerFromConfig(
  name: string,
  config: ChannelConfig,
  which: "provider" | "fallback",
  sources: ProviderSources,
): ChannelProvider | undefined {
  const providerName = config[which];
  if (providerName === undefined) return undefined;
  const custom = sources.customProviders?.[providerName];
  if (custom) return custom;
  const data = channelProviderConfig(name, config, which);
  if (!data) {
    throw new TidingsError(
      `Channel "${name}" uses provider "${providerName}", which Tidings does not ship: pass it as customProviders["${providerName}"], or use provider "lambda" with functionArn.`,
    );
  }
  if (data.type === "websocket") {
    if (!sources.websocket) {
      throw new TidingsError(`Channel "${name}" posts to WebSocket connections: pass the WebSocketApi and the connections table.`);
    }
    const provider = sources.websocket.api.providerFor(sources.websocket.connectionsTable);
    return sources.feed ? { ...provider, feedTable: sources.feed.table, feedTtlDays: sources.feed.ttlDays } : provider;
  }
  const { connectionsTable: _table, managementEndpoint: _endpoint, contactsTable: _contacts, feedTable: _feed, ...settings } = data;
  return (data.type === "sns-push" || data.type === "sns-sms") && sources.contactsTable
    ? { ...settings, contactsTable: sources.contactsTable }
    : settings;
}
