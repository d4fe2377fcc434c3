/**
 * The stack configuration (namespace `tidings`), typed and validated in one place. `index.ts` reads it
 * from Pulumi config, the local mode from `Pulumi.dev.yaml`: both go through `parseTidingsConfig`, so a
 * wrong key fails early with a message naming it, wherever it is read.
 */
import { addressSchemaProblems } from "./addresses";
import type { z } from "zod";
import { configSchema } from "./configSchema";
import { FEED_CHANNEL } from "./contracts";
import type { ChannelConfig, NotificationTypeConfig, TidingsConfig } from "./configTypes";
import { DEFAULTS } from "./defaults";
import { type ProviderConfig, type ProviderType, providerProblems, providerTable } from "./providers/table";

export { CHANNEL_NAME_PATTERN, ORIGIN_PATTERN, PRODUCER_TYPE_PATTERN, TYPE_NAME_PATTERN } from "./configTypes";
export type { ChannelConfig, NotificationTypeConfig, TidingsConfig } from "./configTypes";
export { DEFAULTS };

/**
 * Provider names each built-in channel accepts in config (primary and fallback alike), and the
 * provider type (runtime/providers/table.ts) each one means. The first is the default. Every channel,
 * built-in or not, may also name `lambda` (with `functionArn`).
 */
export const PROVIDERS_BY_CHANNEL: Record<string, Record<string, ProviderType>> = {
  websocket: { websocket: "websocket" },
  email: { ses: "ses" },
  sms: { sns: "sns-sms" },
  slack: { webhook: "slack-webhook" },
  push: { sns: "sns-push" },
};

/** Config provider names every channel accepts. */
const ANY_CHANNEL_PROVIDERS: Record<string, ProviderType> = { lambda: "lambda" };

/** Config keys a channel's provider settings are read from (the rest are queue and rate settings). */
const PROVIDER_SETTING_KEYS = [
  "from",
  "configurationSet",
  "smsType",
  "senderId",
  "apnsPlatformApplicationArn",
  "fcmPlatformApplicationArn",
  "functionArn",
] as const;

export class TidingsConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid Tidings config:\n  - ${problems.join("\n  - ")}`);
    this.name = "TidingsConfigError";
  }
}

export interface ParseOptions {
  /**
   * Leave notification types naming channels that are not in config for later: the stack checks them
   * once the channels added in code are known (createTidingsStack's addChannels).
   * @default false
   */
  channelsAddedInCode?: boolean;
}

/**
 * Validates raw config (keys without the `tidings:` prefix). Throws TidingsConfigError listing every
 * problem as `tidings:<path>: <what is wrong>`.
 */
export function parseTidingsConfig(raw: Record<string, unknown>, options: ParseOptions = {}): TidingsConfig {
  const auth = raw.auth as Record<string, unknown> | undefined;
  if (auth && typeof auth === "object" && "producerScope" in auth) {
    throw new TidingsConfigError([
      `tidings:auth.producerScope: removed: each producer route has its scope in tidings:auth.scopes; set tidings:auth.scopes.send to "${String(auth.producerScope)}" instead`,
    ]);
  }
  if ("kmsAdminArn" in raw) {
    throw new TidingsConfigError([
      `tidings:kmsAdminArn: removed: list the key's administrators in tidings:kms.adminArns (roles or users; they administer the key and cannot read data with it), e.g. [${JSON.stringify(raw.kmsAdminArn)}]`,
    ]);
  }
  const parsed = configSchema().safeParse(raw);
  if (!parsed.success) throw new TidingsConfigError(parsed.error.issues.map(describeIssue));
  const config = parsed.data as unknown as TidingsConfig;
  const problems: string[] = [];
  for (const [name, channel] of Object.entries(config.channels)) {
    const known = { ...PROVIDERS_BY_CHANNEL[name], ...ANY_CHANNEL_PROVIDERS };
    if (PROVIDERS_BY_CHANNEL[name]) {
      channel.provider ??= Object.keys(PROVIDERS_BY_CHANNEL[name])[0];
      for (const key of ["provider", "fallback"] as const) {
        const value = channel[key];
        if (value !== undefined && !known[value]) {
          problems.push(
            `tidings:channels.${name}.${key}: "${value}" is not a provider of ${name} (one of: ${Object.keys(known).join(", ")})`,
          );
        }
      }
    } else if (!channel.provider) {
      problems.push(
        `tidings:channels.${name}.provider: required for a channel Tidings does not ship (lambda, or a custom provider's name)`,
      );
    }
    if (!channel.enabled) continue;
    for (const key of ["provider", "fallback"] as const) {
      const provider = channelProviderConfig(name, channel, key);
      if (!provider) continue;
      for (const problem of providerProblems(provider)) {
        // Settings of the other provider (primary vs fallback) are not this one's problem.
        if (/: not a setting of the /.test(problem)) continue;
        problems.push(`tidings:channels.${name}.${problem}`);
      }
    }
  }
  for (const [name, channel] of Object.entries(config.channels)) {
    if (channel.address) problems.push(...addressSchemaProblems(channel.address, `tidings:channels.${name}.address`));
  }
  for (const [producer, types] of Object.entries(config.producers ?? {})) {
    for (const type of types) {
      if (type.endsWith(".*") || config.notificationTypes[type]) continue;
      problems.push(
        `tidings:producers.${producer}: "${type}" is not a notification type (one of tidings:notificationTypes, or a prefix.*)`,
      );
    }
  }
  for (const [type, def] of Object.entries(config.notificationTypes)) {
    if (def.critical && def.messageOnly) {
      problems.push(`tidings:notificationTypes.${type}: a critical type cannot be messageOnly (its content comes from its template)`);
    }
    if (def.critical && !def.defaultOptIn) {
      problems.push(`tidings:notificationTypes.${type}: a critical type cannot ask for opt-in (defaultOptIn: false)`);
    }
    problems.push(...escalationProblems(type, def, config));
    problems.push(...digestProblems(type, def, config));
  }
  const { stuckAfterMinutes, maxReputs, lookBackHours } = config.reconciler;
  const shortestLookBack = minimumLookBackHours(stuckAfterMinutes, maxReputs);
  if (lookBackHours < shortestLookBack) {
    problems.push(
      `tidings:reconciler.lookBackHours: at least ${shortestLookBack} (twice stuckAfterMinutes × (maxReputs + 1)), got ${lookBackHours}`,
    );
  }
  if (!options.channelsAddedInCode) problems.push(...typeChannelProblems(config, []));
  if (problems.length) throw new TidingsConfigError([...new Set(problems)]);
  // SES reports bounces and complaints through the email channel's configuration set: unless the channel
  // names its own, the stack creates one, and the channel sends through it.
  const email = sesEmailWithFeedback(config);
  if (email && !email.configurationSet) {
    email.configurationSet = `tidings-${config.stage}-email`;
    config.emailFeedback.createConfigurationSet = true;
  }
  return config;
}

/**
 * The shortest look-back, in whole hours, that holds a stuck row through all its reputs twice over:
 * each reput waits stuckAfter again before the row counts as stuck, so a row is given up at most
 * stuckAfter × (maxReputs + 1) after it was last touched.
 */
export function minimumLookBackHours(stuckAfterMinutes: number, maxReputs: number): number {
  return Math.ceil((2 * stuckAfterMinutes * (maxReputs + 1)) / 60);
}

/**
 * The email channel's bounce and complaint handling, when it sends through SES and `tidings:emailFeedback`
 * is on: its configuration set, and whether the stack creates it.
 */
export function emailFeedbackOf(config: TidingsConfig): { configurationSet: string; create: boolean } | undefined {
  const email = sesEmailWithFeedback(config);
  if (!email?.configurationSet) return undefined;
  return { configurationSet: email.configurationSet, create: config.emailFeedback.createConfigurationSet === true };
}

/** The email channel's config when it sends through SES and `tidings:emailFeedback` is on. */
function sesEmailWithFeedback(config: TidingsConfig): ChannelConfig | undefined {
  const email = config.channels.email;
  return config.emailFeedback.enabled && email?.enabled && channelProviderConfig("email", email)?.type === "ses" ? email : undefined;
}

/** An escalation needs an inbox to be read in (the websocket channel), and escalates to other channels of its type. */
function escalationProblems(type: string, def: TidingsConfig["notificationTypes"][string], config: TidingsConfig): string[] {
  if (!def.escalation) return [];
  const at = `tidings:notificationTypes.${type}.escalation`;
  const problems: string[] = [];
  const reachesInbox = (def.channels ?? Object.keys(config.channels)).includes(FEED_CHANNEL) && config.channels[FEED_CHANNEL]?.enabled;
  if (!reachesInbox) problems.push(`${at}: the type must reach the ${FEED_CHANNEL} channel, whose inbox is read first`);
  def.escalation.channels.forEach((channel, i) => {
    if (channel === FEED_CHANNEL) problems.push(`${at}.channels.${i}: ${FEED_CHANNEL} gets it at once; escalate to other channels`);
    else if (def.channels && !def.channels.includes(channel)) {
      problems.push(`${at}.channels.${i}: "${channel}" is not one of the type's channels (${def.channels.join(", ")})`);
    }
  });
  return problems;
}

/** A digest closes by a schedule, collects what must not wait for nobody, and goes out on channels other than the inbox. */
function digestProblems(type: string, def: TidingsConfig["notificationTypes"][string], config: TidingsConfig): string[] {
  if (!def.digest) return [];
  const at = `tidings:notificationTypes.${type}.digest`;
  const problems: string[] = [];
  if (def.critical) problems.push(`${at}: a critical type cannot have a digest (it must not wait)`);
  if (def.escalation) problems.push(`${at}: a type with an escalation cannot have a digest too (both hold its louder channels)`);
  if (def.messageOnly) problems.push(`${at}: a messageOnly type cannot have a digest (a digest is rendered from its template)`);
  if (!config.scheduling.enabled) problems.push(`${at}: needs tidings:scheduling.enabled (a digest closes by a schedule)`);
  const channels = def.channels ?? Object.keys(config.channels).filter((name) => config.channels[name]?.enabled);
  if (!channels.some((channel) => channel !== FEED_CHANNEL))
    problems.push(`${at}: the type reaches only ${FEED_CHANNEL}, which gets every notification at once: nothing to digest`);
  return problems;
}

/** Types naming a channel that is neither in config nor in `addedInCode`. */
export function typeChannelProblems(config: TidingsConfig, addedInCode: string[]): string[] {
  const problems: string[] = [];
  for (const [type, def] of Object.entries(config.notificationTypes)) {
    for (const channel of [...(def.channels ?? []), ...(def.channels ? [] : (def.escalation?.channels ?? []))]) {
      if (!config.channels[channel] && !addedInCode.includes(channel)) {
        problems.push(
          `tidings:notificationTypes.${type}.channels: "${channel}" is not a configured channel${addedInCode.length ? ` or one added in code (${addedInCode.join(", ")})` : ""}`,
        );
      }
    }
  }
  return problems;
}

/**
 * The provider a channel's config names, as data for the provider table, or undefined for a name
 * Tidings does not ship (a custom provider the stack passes in code).
 */
export function channelProviderConfig(
  name: string,
  channel: ChannelConfig,
  which: "provider" | "fallback" = "provider",
): ProviderConfig | undefined {
  const providerName = channel[which];
  if (providerName === undefined) return undefined;
  const type = { ...PROVIDERS_BY_CHANNEL[name], ...ANY_CHANNEL_PROVIDERS }[providerName];
  if (!type) return undefined;
  const settings = providerTable()[type].settings;
  const config: ProviderConfig = { type };
  for (const key of PROVIDER_SETTING_KEYS) {
    if (channel[key] !== undefined && settings.includes(key)) (config as unknown as Record<string, unknown>)[key] = channel[key];
  }
  return config;
}

/** One zod issue as `tidings:<path>: <what is wrong>`, always saying what was expected. */
function describeIssue(issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String);
  if (issue.code === "unrecognized_keys") {
    return issue.keys.map((k) => `tidings:${[...path, k].join(".")}: unknown key`).join("; ");
  }
  let message = issue.code === "invalid_key" ? issue.issues.map((inner) => inner.message).join("; ") : issue.message;
  if (issue.code === "invalid_union") {
    const expected = [...new Set(issue.errors.flat().map((inner) => inner.message.replace(/^Invalid input: /, "")))];
    message = `Invalid input: ${expected.join(" or ") || "none of the allowed forms matched"}`;
  } else if (message === "Invalid input") {
    message = `Invalid input (${issue.code})`;
  }
  return `tidings:${path.join(".")}: ${message}`;
}

/** Templates a request of `type` may name: the configured list, else the type's own. */
export function allowedTemplates(type: string, def: Pick<NotificationTypeConfig, "templates"> | undefined): string[] {
  return def?.templates ?? [type];
}

/** Names of the channels switched on, in config order. */
export function enabledChannels(config: TidingsConfig): string[] {
  return Object.entries(config.channels)
    .filter(([, c]) => c.enabled)
    .map(([name]) => name);
}

/** The config namespace of every Tidings key. */
export const CONFIG_NAMESPACE = "tidings";

/**
 * The `tidings:` keys of a stack's config (prefix removed, the signing secret left out). A key under a
 * namespace that looks like a misspelling of `tidings` (`tiding:alertEmail`, `Tidings:stage`) is an
 * error naming it: otherwise it would be silently ignored and its default used.
 */
export function tidingsKeys(allConfig: Record<string, unknown>): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  const problems: string[] = [];
  for (const [fullKey, value] of Object.entries(allConfig)) {
    const colon = fullKey.indexOf(":");
    const namespace = colon < 0 ? "" : fullKey.slice(0, colon);
    const key = fullKey.slice(colon + 1);
    if (namespace === CONFIG_NAMESPACE) {
      if (key !== "tokenSigningSecret") raw[key] = value;
    } else if (namespace && looksLikeTidings(namespace)) {
      problems.push(`${fullKey}: unknown namespace "${namespace}": did you mean ${CONFIG_NAMESPACE}:${key}?`);
    }
  }
  if (problems.length) throw new TidingsConfigError(problems);
  return raw;
}

/** Same letters as "tidings" but for case, or at most two edits away. */
function looksLikeTidings(namespace: string): boolean {
  const a = namespace.toLowerCase();
  const b = CONFIG_NAMESPACE;
  if (a === b) return true;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length] <= 2;
}
