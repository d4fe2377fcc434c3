/**
 * Validation of what producers send (`POST /notifications`) and of the contact data a delivery goes to.
 * Every problem is named with the field it is in, all at once, so a producer fixes a request in one go.
 * Schemas are built inside functions: module-level zod objects do not survive closure serialization.
 */
import { z } from "zod";
import { allowedTemplates, type NotificationTypeConfig } from "./config";
import { deceptiveCharacterProblem } from "./content";
import { GROUP_KEY_PATTERN, type NotificationRequest, type Problem } from "./contracts";
import { canonicalLocale } from "./locales";

/** Largest producer request body, in bytes (the EventBridge entry limit). */
export const MAX_BODY_BYTES = 256 * 1024;
export const MAX_MESSAGE_BYTES = 4 * 1024;
export const MAX_DATA_DEPTH = 5;
export const MAX_DATA_KEYS = 100;
export const MAX_DATA_STRING_BYTES = 4 * 1024;
export const MAX_CALLBACK_LENGTH = 2048;
/** Problems listed in one answer. */
export const MAX_PROBLEMS = 50;

/** How far ahead `sendAt` may be. */
export const MAX_SCHEDULE_AHEAD_DAYS = 365;

/** Why `sendAt` cannot be taken, or undefined when it can (RFC 3339 with an offset, in the future, at most a year ahead). */
export function sendAtProblem(value: string, nowMs: number): string | undefined {
  const parts = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-](\d{2}):(\d{2}))$/i.exec(value);
  if (!parts) return "must be an RFC 3339 date-time with an offset, e.g. 2027-01-15T09:00:00+01:00";
  const [year, month, day, hour, minute, second] = parts.slice(1, 7).map(Number);
  // Date.parse would roll 2027-02-30 over to March.
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const offsetOk = parts[9] === undefined || (Number(parts[9]) < 24 && Number(parts[10]) < 60);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59 || !offsetOk)
    return "is not a date-time that exists";
  const at = Date.parse(value);
  if (at <= nowMs) return "is in the past: give a time to come, or leave sendAt out to send now";
  if (at > nowMs + MAX_SCHEDULE_AHEAD_DAYS * 86_400_000) return `is more than ${MAX_SCHEDULE_AHEAD_DAYS} days ahead`;
  return undefined;
}

export const EVENT_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;
/** A notification's id as end users see it: its eventId, and a producer's tag when another producer held the eventId (runtime/producers.ts). */
/** What a topic may be named (runtime/topics.ts). */
export const TOPIC_PATTERN = /^[A-Za-z0-9_.-]{1,128}$/;
export const NOTIFICATION_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}(\.[A-Za-z0-9_-]{12})?$/;
/** Same as a type name: a template is stored as `templates/<name>/<channel>.json`. */
export const TEMPLATE_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const TYPE_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** Data keys are template variable names: no dots (mustache reads them as nesting), no tags. */
const DATA_KEY_PATTERN = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;
/** Keys that reach an object's prototype when used as a property name. */
const RESERVED_KEYS = ["__proto__", "constructor", "prototype"];
/** Control (Cc), format (Cf: zero-width, bidi overrides), lone surrogates (Cs), line/paragraph separators. */
const UNPRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/u;
const LONE_SURROGATE = /\p{Cs}/u;
/** Control characters other than tab, line feed and carriage return. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is this pattern's whole job
const CONTROL_EXCEPT_WHITESPACE = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/;

export interface ValidationContext {
  /** Channels switched on in this stack. */
  enabledChannels: string[];
  /** Declared notification types. */
  types: Record<string, NotificationTypeConfig>;
  /** Callbacks may name this machine (localhost, 127.0.0.1, [::1]): the local mode only. @default false */
  loopbackCallbacks?: boolean;
  /** The clock `sendAt` is checked against; absent: scheduling is off and `sendAt` is refused. */
  schedulingNow?: () => number;
}

export type ValidationResult = { ok: true; request: NotificationRequest } | { ok: false; status: 400 | 413; problems: Problem[] };

const byteLength = (s: string) => Buffer.byteLength(s, "utf8");

/** Channels a type may use in this stack: its declared channels that are enabled, else every enabled one. */
export function channelsOfType(type: NotificationTypeConfig | undefined, enabledChannels: string[]): string[] {
  if (!type?.channels) return [...enabledChannels];
  return enabledChannels.filter((channel) => type.channels!.includes(channel));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** `["data", "items", 0, "id"]` → `data.items[0].id` */
export function fieldName(path: PropertyKey[]): string {
  let name = "";
  for (const part of path) {
    if (typeof part === "number") name += `[${part}]`;
    else name += name ? `.${String(part)}` : String(part);
  }
  return name || "body";
}

interface PathProblem {
  /** Relative to `data`. */
  path: PropertyKey[];
  problem: string;
}

/** Problems of a `data` object: depth, key count, key names, value types and string sizes. */
function dataProblems(data: Record<string, unknown>): PathProblem[] {
  const problems: { field: PropertyKey[]; problem: string }[] = [];
  let keys = 0;
  const walk = (value: unknown, path: PropertyKey[], depth: number): void => {
    const field = path;
    if (typeof value === "string") {
      if (byteLength(value) > MAX_DATA_STRING_BYTES) problems.push({ field, problem: `must be at most ${MAX_DATA_STRING_BYTES} bytes` });
      if (LONE_SURROGATE.test(value)) problems.push({ field, problem: "is not valid Unicode (lone surrogate)" });
      if (CONTROL_EXCEPT_WHITESPACE.test(value)) problems.push({ field, problem: "must not contain control characters" });
      const bidi = deceptiveCharacterProblem(value);
      if (bidi) problems.push({ field, problem: bidi });
      return;
    }
    if (typeof value === "number") {
      if (!Number.isFinite(value)) problems.push({ field, problem: "must be a finite number" });
      return;
    }
    if (typeof value === "boolean" || value === null) return;
    const isArray = Array.isArray(value);
    if (!isArray && !isPlainObject(value)) {
      problems.push({ field, problem: "must be a string, number, boolean, null, array or object" });
      return;
    }
    if (depth > MAX_DATA_DEPTH) {
      problems.push({ field, problem: `nests deeper than ${MAX_DATA_DEPTH} levels` });
      return;
    }
    const entries: [PropertyKey, unknown][] = isArray
      ? (value as unknown[]).map((item, index) => [index, item])
      : Object.keys(value as object).map((key) => [key, (value as Record<string, unknown>)[key]]);
    keys += entries.length;
    if (keys > MAX_DATA_KEYS) {
      problems.push({ field, problem: `data holds more than ${MAX_DATA_KEYS} keys and array items in all` });
      return;
    }
    for (const [key, item] of entries) {
      if (typeof key === "string") {
        if (RESERVED_KEYS.includes(key)) {
          problems.push({ field: [...path, key], problem: `"${key}" is a reserved key` });
          continue;
        }
        if (!DATA_KEY_PATTERN.test(key)) {
          problems.push({
            field: path,
            problem: `key ${JSON.stringify(key.slice(0, 70))} is not a variable name (^[A-Za-z_][A-Za-z0-9_-]{0,63}$)`,
          });
          continue;
        }
      }
      walk(item, [...path, key], depth + 1);
    }
  };
  walk(data, [], 1);
  return problems.map(({ field, problem }) => ({ path: field, problem }));
}

/** Host names of this machine: a callback may name them in the local mode only. */
const LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "[::1]"];

/**
 * Problem with a callback URL, or undefined when it is acceptable: an https URL of ASCII characters
 * (it becomes a Location header and a Slack link), without credentials; http and this machine's names
 * only when `loopback` (the local mode).
 */
export function callbackProblem(value: string, options: { loopback?: boolean } = {}): string | undefined {
  if (value.length > MAX_CALLBACK_LENGTH) return `must be at most ${MAX_CALLBACK_LENGTH} characters`;
  if (UNPRINTABLE.test(value) || /\s/.test(value)) return "must not contain spaces or control characters";
  if (/[^\x21-\x7e]/.test(value)) return "must be ASCII: percent-encode the path and query, and write the host in punycode (xn--…)";
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return "must be an absolute URL";
  }
  if (url.username || url.password) return "must not carry credentials";
  const loopbackHost = LOOPBACK_HOSTS.includes(url.hostname.toLowerCase());
  if (loopbackHost && !options.loopback) return "must not name this machine (localhost is for the local mode)";
  if (url.protocol === "https:") return undefined;
  if (url.protocol === "http:" && loopbackHost) return undefined;
  return url.protocol === "http:"
    ? "must use https (http only for localhost in the local mode)"
    : `must be an https URL, not ${url.protocol}`;
}

function requestSchema(ctx: ValidationContext) {
  const enabled = ctx.enabledChannels;
  const maxChannels = Math.max(enabled.length, 1);
  return z.strictObject({
    eventId: z
      .string({ error: "must be a string" })
      .regex(EVENT_ID_PATTERN, { error: "must be 1–128 characters of A-Z, a-z, 0-9, _ or -" })
      .optional(),
    userId: z
      .string({ error: "is required: a string" })
      .min(1, { error: "must not be empty" })
      .refine((v) => [...v].length <= 128, { error: "must be at most 128 characters" })
      .refine((v) => !UNPRINTABLE.test(v), {
        error: "must be printable (no control, format or zero-width characters, no lone surrogates)",
      })
      .optional(),
    // Checked with userId below: one of them is required.
    topic: z.unknown().optional(),
    type: z
      .string({ error: "is required: a string" })
      .regex(TYPE_PATTERN, { error: "must match ^[a-z0-9][a-z0-9._-]{0,63}$", abort: true })
      .refine((v) => Object.hasOwn(ctx.types, v), { error: "is not a notification type of this stack" }),
    channels: z
      .array(
        z
          .string({ error: "must be a channel name" })
          .refine((v) => enabled.includes(v), { error: `is not an enabled channel (one of: ${enabled.join(", ")})` }),
        { error: "must be an array of channel names" },
      )
      // Length checks by hand: zod's would also measure a string given instead of an array.
      .superRefine((list, refine) => {
        if (!Array.isArray(list)) return;
        if (list.length === 0)
          refine.addIssue({ code: "custom", message: "must name at least one channel (omit it for every channel of the type)" });
        else if (list.length > maxChannels) refine.addIssue({ code: "custom", message: `must name at most ${maxChannels} channels` });
        else if (new Set(list).size !== list.length) refine.addIssue({ code: "custom", message: "must not name a channel twice" });
      })
      .optional(),
    template: z
      .string({ error: "must be a string" })
      .regex(TEMPLATE_NAME_PATTERN, { error: "must be a template name matching ^[a-z0-9][a-z0-9._-]{0,63}$" })
      .optional(),
    data: z
      .unknown()
      .superRefine((value, refine) => {
        if (!isPlainObject(value)) {
          refine.addIssue({ code: "custom", message: "must be an object" });
          return;
        }
        for (const { path, problem } of dataProblems(value)) {
          refine.addIssue({ code: "custom", message: problem, path });
        }
      })
      .optional(),
    message: z
      .string({ error: "must be a string" })
      .min(1, { error: "must not be empty" })
      .refine((v) => byteLength(v) <= MAX_MESSAGE_BYTES, { error: `must be at most ${MAX_MESSAGE_BYTES} bytes` })
      .refine((v) => !LONE_SURROGATE.test(v), { error: "is not valid Unicode (lone surrogate)" })
      .refine((v) => !CONTROL_EXCEPT_WHITESPACE.test(v), { error: "must not contain control characters" })
      .superRefine((v, refine) => {
        const problem = deceptiveCharacterProblem(v);
        if (problem) refine.addIssue({ code: "custom", message: problem });
      })
      .optional(),
    callback: z
      .string({ error: "must be a URL string" })
      .superRefine((v, refine) => {
        const problem = callbackProblem(v, { loopback: ctx.loopbackCallbacks });
        if (problem) refine.addIssue({ code: "custom", message: problem });
      })
      .optional(),
    progress: z
      .number({ error: "must be a number" })
      .min(0, { error: "must be between 0 and 100" })
      .max(100, { error: "must be between 0 and 100" })
      .optional(),
    groupKey: z
      .string({ error: "must be a string" })
      .regex(GROUP_KEY_PATTERN, { error: "must be 1–128 characters of A-Z, a-z, 0-9, _, ., : or -" })
      .optional(),
    renotify: z.boolean({ error: "must be true or false" }).optional(),
    locale: z
      .string({ error: "must be a BCP 47 locale, e.g. de-AT" })
      .refine((v) => canonicalLocale(v) === v, { error: "must be a BCP 47 locale as written canonically, e.g. de, de-AT, pt-BR" })
      .optional(),
    sendAt: z
      .string({ error: "must be a string: an RFC 3339 date-time with an offset" })
      .superRefine((v, refine) => {
        const problem = ctx.schedulingNow
          ? sendAtProblem(v, ctx.schedulingNow())
          : "cannot be used: scheduling is off in this stack (tidings:scheduling.enabled)";
        if (problem) refine.addIssue({ code: "custom", message: problem });
      })
      .optional(),
  });
}

/**
 * Checks a producer request body. 413 when the body is larger than 256 KB (measured in bytes, before
 * parsing); 400 naming every problem otherwise.
 */
export function validateNotificationRequest(rawBody: string | undefined, ctx: ValidationContext): ValidationResult {
  if (rawBody === undefined || rawBody === null || rawBody === "") {
    return { ok: false, status: 400, problems: [{ field: "body", problem: "is required: a JSON object" }] };
  }
  if (typeof rawBody !== "string") {
    return { ok: false, status: 400, problems: [{ field: "body", problem: "must be JSON text" }] };
  }
  const bytes = byteLength(rawBody);
  if (bytes > MAX_BODY_BYTES) {
    return { ok: false, status: 413, problems: [{ field: "body", problem: `is ${bytes} bytes; the limit is ${MAX_BODY_BYTES}` }] };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(rawBody);
  } catch (error) {
    return { ok: false, status: 400, problems: [{ field: "body", problem: `is not valid JSON (${(error as Error).message})` }] };
  }
  if (!isPlainObject(parsed)) {
    const kind = parsed === null ? "null" : Array.isArray(parsed) ? "an array" : `a ${typeof parsed}`;
    return { ok: false, status: 400, problems: [{ field: "body", problem: `must be a JSON object, not ${kind}` }] };
  }

  const problems: Problem[] = [];
  const result = requestSchema(ctx).safeParse(parsed);
  if (!result.success) {
    for (const issue of result.error.issues) {
      if (issue.code === "unrecognized_keys") {
        for (const key of issue.keys) problems.push({ field: key, problem: "is not a field of a notification request" });
      } else {
        problems.push({ field: fieldName(issue.path), problem: issue.message });
      }
    }
  }

  // Cross-field rules, checked on whatever parts are individually valid.
  if (parsed.groupKey !== undefined && parsed.callback !== undefined) {
    problems.push({ field: "groupKey", problem: "updates a feedback notification in place: send it without a callback" });
  }
  if (parsed.renotify !== undefined && parsed.groupKey === undefined) {
    problems.push({ field: "renotify", problem: "needs groupKey: it makes a grouped item unread again" });
  }
  const type = typeof parsed.type === "string" && Object.hasOwn(ctx.types, parsed.type) ? parsed.type : undefined;
  if (type && Array.isArray(parsed.channels)) {
    const allowed = channelsOfType(ctx.types[type], ctx.enabledChannels);
    parsed.channels.forEach((channel, index) => {
      if (typeof channel === "string" && ctx.enabledChannels.includes(channel) && !allowed.includes(channel)) {
        problems.push({
          field: `channels[${index}]`,
          problem: `"${channel}" is not a channel of type ${type} (one of: ${allowed.join(", ")})`,
        });
      }
    });
  }
  if (type && channelsOfType(ctx.types[type], ctx.enabledChannels).length === 0) {
    problems.push({ field: "type", problem: `${type} has no enabled channel in this stack` });
  }
  if (type && typeof parsed.template === "string" && TEMPLATE_NAME_PATTERN.test(parsed.template)) {
    // A type may not borrow another type's content: its consent would not be the one asked.
    const allowed = allowedTemplates(type, ctx.types[type]);
    if (!allowed.includes(parsed.template)) {
      problems.push({
        field: "template",
        problem: `${parsed.template} is not a template type ${type} may use (allowed: ${allowed.join(", ")})`,
      });
    }
  }
  if (type && ctx.types[type].critical && parsed.message !== undefined) {
    // Critical skips every opt-out: what it says must be what the stack's template says, not a producer's text.
    problems.push({ field: "message", problem: `is not allowed for the critical type ${type}: its content comes from its template` });
  }
  if (parsed.message !== undefined && parsed.template !== undefined) {
    problems.push({ field: "template", problem: "give either message or template, not both" });
  }
  // One user, or every subscriber of a topic.
  if (parsed.topic !== undefined) {
    if (typeof parsed.topic !== "string" || !TOPIC_PATTERN.test(parsed.topic))
      problems.push({ field: "topic", problem: `must be a topic name matching ${TOPIC_PATTERN}` });
    if (parsed.userId !== undefined) problems.push({ field: "topic", problem: "give either userId or topic, not both" });
    if (parsed.sendAt !== undefined) problems.push({ field: "sendAt", problem: "cannot be used with topic: a topic is sent now" });
  } else if (parsed.userId === undefined) problems.push({ field: "userId", problem: "is required: a string (or send to a topic)" });

  if (problems.length > MAX_PROBLEMS) {
    // A 256 KB body can hold thousands of bad items; the first ones are enough to fix the request.
    const more = problems.length - MAX_PROBLEMS;
    problems.splice(MAX_PROBLEMS, more, { field: "body", problem: `and ${more} more problems` });
  }
  if (problems.length) return { ok: false, status: 400, problems };
  return { ok: true, request: result.data as NotificationRequest };
}

// ---- Contact data --------------------------------------------------------------------------------

/** A deliverable e-mail address: at most 254 characters, one @, a dotted domain. */
export function isEmail(value: unknown): value is string {
  if (typeof value !== "string" || value.length > 254 || UNPRINTABLE.test(value)) return false;
  const at = value.lastIndexOf("@");
  if (at < 1 || at > 64) return false;
  return z.email().safeParse(value).success;
}

/** A phone number in E.164: `+`, country code, at most 15 digits. */
export function isE164(value: unknown): value is string {
  return typeof value === "string" && /^\+[1-9]\d{1,14}$/.test(value);
}

/** APNs: 64 hex characters. FCM: 100–4096 characters of letters, digits, `_`, `:` and `-`. */
export function isDeviceToken(platform: unknown, token: unknown): token is string {
  if (typeof token !== "string") return false;
  if (platform === "apns") return /^[0-9a-fA-F]{64}$/.test(token);
  if (platform === "fcm") return /^[A-Za-z0-9_:-]{100,4096}$/.test(token);
  return false;
}

/**
 * A Slack incoming-webhook URL (`https://hooks.slack.com/services/T…/B…/…`), or a URL on one of
 * `allowedOrigins` (the local mode's sink, e.g. `http://127.0.0.1:4567`).
 */
export function isSlackWebhookUrl(value: unknown, allowedOrigins: string[] = []): value is string {
  if (typeof value !== "string" || value.length > 2048) return false;
  if (/^https:\/\/hooks\.slack\.com\/services\/[A-Za-z0-9]+\/[A-Za-z0-9]+\/[A-Za-z0-9]+$/.test(value)) return true;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  return !url.username && !url.password && allowedOrigins.includes(url.origin);
}

/** Problem with a user id (the rule of a notification request's `userId`), or undefined when it is acceptable. */
export function userIdProblem(value: unknown): string | undefined {
  if (typeof value !== "string") return "is required: a string";
  if (value.length === 0) return "must not be empty";
  if ([...value].length > 128) return "must be at most 128 characters";
  if (UNPRINTABLE.test(value)) return "must be printable (no control, format or zero-width characters, no lone surrogates)";
  return undefined;
}
