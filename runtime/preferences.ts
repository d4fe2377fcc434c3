/**
 * What users may set about what they receive (`GET` and `PUT /me/preferences`), on top of the settings
 * row the notification service honours (runtime/settings.ts `isOptedIn`: one rule, used by both).
 *
 * GET answers, for every type the user may receive, its channels with their current state and whether
 * the type is `critical` (cannot be switched off). PUT merges `{ channels: { sms: false }, types:
 * { "marketing.digest": { email: true } } }` into the row; an unknown type or channel, a channel the
 * type does not use, or switching a critical type off is a 400 naming it, and nothing is written.
 */
import { type DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import type { NotificationTypeConfig } from "./config";
import { isPlainRecord, unknownKeys } from "./http";
import { isOptedIn, makeSettingsReader, type UserSettings } from "./settings";
import type { Problem } from "./contracts";
import { channelsOfType } from "./validate";
import { isTimeZone, TIME_OF_DAY } from "./quietHours";
import { canonicalLocale } from "./locales";

export interface PreferencesContext {
  enabledChannels: string[];
  types: Record<string, NotificationTypeConfig>;
}

export interface Preferences {
  /** Channel-wide switches: false turns the channel off for every non-critical type. */
  channels: Record<string, boolean>;
  /** IANA time zone, when set. */
  timeZone?: string;
  /** `{ start, end }` (`HH:MM` in `timeZone`), when set. */
  quietHours?: { start: string; end: string };
  /** BCP 47 locale of the user's templates, when set. */
  locale?: string;
  types: Record<string, { critical: boolean; defaultOptIn: boolean; channels: Record<string, boolean> }>;
}

/** The types a user may receive: every declared type with at least one enabled channel. */
function receivableTypes(ctx: PreferencesContext): [string, NotificationTypeConfig, string[]][] {
  return Object.entries(ctx.types)
    .map(([type, config]): [string, NotificationTypeConfig, string[]] => [type, config, channelsOfType(config, ctx.enabledChannels)])
    .filter(([, , channels]) => channels.length > 0);
}

export function describePreferences(settings: UserSettings | undefined, ctx: PreferencesContext): Preferences {
  const stored = isPlainRecord(settings?.channels) ? settings.channels : {};
  const channels: Record<string, boolean> = {};
  for (const channel of ctx.enabledChannels) channels[channel] = stored[channel] !== false;
  const types: Preferences["types"] = {};
  for (const [type, config, typeChannels] of receivableTypes(ctx)) {
    types[type] = {
      critical: config.critical === true,
      defaultOptIn: config.defaultOptIn !== false,
      channels: Object.fromEntries(typeChannels.map((channel) => [channel, isOptedIn(settings, type, channel, config)])),
    };
  }
  return {
    channels,
    types,
    ...(settings?.timeZone ? { timeZone: settings.timeZone } : {}),
    ...(settings?.quietHours ? { quietHours: settings.quietHours } : {}),
    ...(settings?.locale ? { locale: settings.locale } : {}),
  };
}

export type PreferencesUpdate = { ok: true; settings: UserSettings } | { ok: false; problems: Problem[] };

/** Validates a PUT body against the stack's types and channels and merges it into the stored row. */
export function applyPreferences(
  userId: string,
  stored: UserSettings | undefined,
  body: Record<string, unknown>,
  ctx: PreferencesContext,
): PreferencesUpdate {
  const problems = unknownKeys(body, ["channels", "types", "timeZone", "quietHours", "locale"]);
  const channels: Record<string, boolean> = isPlainRecord(stored?.channels) ? ({ ...stored.channels } as Record<string, boolean>) : {};
  const types: Record<string, Record<string, boolean>> = {};
  if (isPlainRecord(stored?.types)) {
    for (const [type, value] of Object.entries(stored.types))
      if (isPlainRecord(value)) types[type] = { ...value } as Record<string, boolean>;
  }
  if ([body.channels, body.types, body.timeZone, body.quietHours, body.locale].every((v) => v === undefined)) {
    problems.push({ field: "body", problem: 'needs "channels", "types", "timeZone", "quietHours" or "locale"' });
  }
  let locale = stored?.locale;
  if (body.locale === null) locale = undefined;
  else if (body.locale !== undefined) {
    const canonical = canonicalLocale(body.locale);
    if (!canonical) problems.push({ field: "locale", problem: "must be a BCP 47 locale, e.g. de-AT, or null" });
    else locale = canonical;
  }
  let timeZone = stored?.timeZone;
  if (body.timeZone !== undefined) {
    if (!isTimeZone(body.timeZone)) problems.push({ field: "timeZone", problem: "must be an IANA time zone, e.g. Europe/Berlin" });
    else timeZone = body.timeZone;
  }
  // null clears the window.
  let quietHours = stored?.quietHours;
  if (body.quietHours === null) quietHours = undefined;
  else if (body.quietHours !== undefined) {
    if (!isPlainRecord(body.quietHours))
      problems.push({ field: "quietHours", problem: 'must be { "start": "HH:MM", "end": "HH:MM" } or null' });
    else {
      problems.push(...unknownKeys(body.quietHours, ["start", "end"], "quietHours."));
      const { start, end } = body.quietHours;
      for (const [name, value] of [
        ["start", start],
        ["end", end],
      ] as const) {
        if (typeof value !== "string" || !TIME_OF_DAY.test(value))
          problems.push({ field: `quietHours.${name}`, problem: "must be HH:MM, 00:00 to 23:59" });
      }
      if (start === end && typeof start === "string") problems.push({ field: "quietHours.end", problem: "must differ from start" });
      quietHours = { start: String(start), end: String(end) };
      if (!timeZone) problems.push({ field: "timeZone", problem: "is needed with quietHours: the hours are the user's own" });
    }
  }
  if (body.channels !== undefined) {
    if (!isPlainRecord(body.channels)) problems.push({ field: "channels", problem: "must be an object of channel: boolean" });
    else
      for (const [channel, value] of Object.entries(body.channels)) {
        const field = `channels.${channel.slice(0, 64)}`;
        if (!ctx.enabledChannels.includes(channel))
          problems.push({ field, problem: `is not a channel of this stack (${ctx.enabledChannels.join(", ")})` });
        else if (typeof value !== "boolean") problems.push({ field, problem: "must be true or false" });
        else channels[channel] = value;
      }
  }
  if (body.types !== undefined) {
    const receivable = new Map(receivableTypes(ctx).map(([type, config, typeChannels]) => [type, { config, typeChannels }]));
    if (!isPlainRecord(body.types)) problems.push({ field: "types", problem: "must be an object of type: { channel: boolean }" });
    else
      for (const [type, perChannel] of Object.entries(body.types)) {
        const field = `types.${type.slice(0, 64)}`;
        const known = receivable.get(type);
        if (!known) {
          problems.push({ field, problem: "is not a notification type you can receive" });
          continue;
        }
        if (!isPlainRecord(perChannel)) {
          problems.push({ field, problem: "must be an object of channel: boolean" });
          continue;
        }
        for (const [channel, value] of Object.entries(perChannel)) {
          const channelField = `${field}.${channel.slice(0, 64)}`;
          if (!known.typeChannels.includes(channel))
            problems.push({ field: channelField, problem: `is not a channel of ${type} (${known.typeChannels.join(", ")})` });
          else if (typeof value !== "boolean") problems.push({ field: channelField, problem: "must be true or false" });
          else if (value === false && known.config.critical === true) {
            problems.push({ field: channelField, problem: `${type} is critical and cannot be switched off` });
          } else {
            types[type] ??= {};
            types[type][channel] = value;
          }
        }
      }
  }
  if (problems.length) return { ok: false, problems };
  return {
    ok: true,
    settings: {
      userId,
      channels,
      types,
      ...(timeZone ? { timeZone } : {}),
      ...(quietHours ? { quietHours } : {}),
      ...(locale ? { locale } : {}),
    },
  };
}

export function makePreferencesStore(deps: { ddb: DynamoDBDocumentClient; table: string }) {
  const reader = makeSettingsReader(deps);
  return {
    get: reader.get,
    async put(settings: UserSettings): Promise<void> {
      await deps.ddb.send(new PutCommand({ TableName: deps.table, Item: settings }));
    },
  };
}
