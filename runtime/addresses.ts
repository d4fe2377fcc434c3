/**
 * Per-user addresses for any channel. A channel's provider declares the address it needs as a schema
 * (field → rule); the contacts API accepts `external_channels.<channel>` checked by it, the service
 * resolves it for each delivery (`address`), and secret fields are masked when read back. Slack's
 * webhook is one such schema, not a special case.
 */
import type { Problem } from "./contracts";

/** One field of an address. */
export type AddressField =
  /** An https URL on one of `hosts` (exact, or `*.example.com` for its subdomains). */
  | { type: "https-url"; hosts: string[]; pattern?: string; secret?: boolean }
  /** A string of at most `maxLength` characters matching `pattern`. */
  | { type: "string"; pattern?: string; maxLength?: number; secret?: boolean };

/**
 * The address a channel delivers to: its fields and their rules. Every field is required.
 * @example { webhookUrl: { type: "https-url", hosts: ["*.webhook.office.com"], secret: true } }
 */
export type AddressSchema = Record<string, AddressField>;

/** Slack's incoming webhook: a secret URL on hooks.slack.com. */
export const SLACK_ADDRESS: AddressSchema = {
  webhookUrl: {
    type: "https-url",
    hosts: ["hooks.slack.com"],
    pattern: "^https://hooks\\.slack\\.com/services/[A-Za-z0-9]+/[A-Za-z0-9]+/[A-Za-z0-9]+$",
    secret: true,
  },
};

/** The channels that keep their address in `external_channels` by default. */
export const BUILT_IN_ADDRESSES: Record<string, AddressSchema> = { slack: SLACK_ADDRESS };

const MAX_FIELD_LENGTH = 2048;

/** A schema's own problems (config and code declare them), each naming its field. */
export function addressSchemaProblems(schema: unknown, at: string): string[] {
  if (schema === null || typeof schema !== "object" || Array.isArray(schema) || Object.keys(schema).length === 0) {
    return [`${at}: must be an object of fields, e.g. { webhookUrl: { type: "https-url", hosts: ["example.com"] } }`];
  }
  const problems: string[] = [];
  for (const [name, field] of Object.entries(schema as Record<string, AddressField>)) {
    const where = `${at}.${name}`;
    if (!/^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(name)) problems.push(`${where}: field names are words (A-Z, a-z, 0-9, _)`);
    if (field?.type === "https-url") {
      if (!Array.isArray(field.hosts) || field.hosts.length === 0 || !field.hosts.every((h) => /^(\*\.)?[a-z0-9.-]+$/.test(h))) {
        problems.push(`${where}.hosts: must list host names (or *.domain)`);
      }
    } else if (field?.type !== "string") {
      problems.push(`${where}.type: must be "https-url" or "string"`);
    }
    if (field?.pattern !== undefined) {
      try {
        new RegExp(field.pattern);
      } catch {
        problems.push(`${where}.pattern: is not a regular expression`);
      }
    }
  }
  return problems;
}

const hostAllowed = (host: string, hosts: string[]) =>
  hosts.some((h) => (h.startsWith("*.") ? host.endsWith(h.slice(1)) && host.length > h.length - 1 : host === h));

/**
 * What is wrong with `value` as an address of `schema` (each problem naming `<at>.<field>`). `origins`
 * are origins a URL may use besides its hosts (the local mode's sinks).
 */
export function addressProblems(schema: AddressSchema, value: unknown, at: string, origins: string[] = []): Problem[] {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    const fields = Object.keys(schema);
    // One field: name it, as the producer would fix it.
    return [{ field: fields.length === 1 ? `${at}.${fields[0]}` : at, problem: `must be an object of ${fields.join(", ")}` }];
  }
  const record = value as Record<string, unknown>;
  const problems: Problem[] = [];
  for (const key of Object.keys(record))
    if (!schema[key]) problems.push({ field: `${at}.${key}`, problem: "is not a field of this address" });
  for (const [name, field] of Object.entries(schema)) {
    const given = record[name];
    const where = `${at}.${name}`;
    if (typeof given !== "string" || given.length === 0) {
      problems.push({ field: where, problem: "is required: a string" });
      continue;
    }
    if (given.length > (field.type === "string" ? (field.maxLength ?? MAX_FIELD_LENGTH) : MAX_FIELD_LENGTH)) {
      problems.push({ field: where, problem: "is too long" });
      continue;
    }
    if (field.type === "https-url") {
      const problem = urlProblem(given, field, origins);
      if (problem) problems.push({ field: where, problem });
    } else if (field.pattern !== undefined && !new RegExp(field.pattern).test(given)) {
      problems.push({ field: where, problem: `does not match ${field.pattern}` });
    }
  }
  return problems;
}

function urlProblem(value: string, field: Extract<AddressField, { type: "https-url" }>, origins: string[]): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return "must be an absolute https URL";
  }
  if (url.username || url.password) return "must not carry credentials";
  if (origins.includes(url.origin)) return undefined;
  if (url.protocol !== "https:") return "must be an https URL";
  if (!hostAllowed(url.hostname.toLowerCase(), field.hosts)) return `must be a URL on ${field.hosts.join(", ")}`;
  if (field.pattern !== undefined && !new RegExp(field.pattern).test(value)) return `does not have the form this channel needs`;
  return undefined;
}

/**
 * A secret field as the API shows it: a URL's origin and its last 4 characters, other strings their
 * last 4 only. Whoever holds the value may use it, so it is written, never read back.
 * @example maskSecret("https://hooks.slack.com/services/T0/B0/abcdwxyz") // "https://hooks.slack.com/…wxyz"
 */
export function maskSecret(value: string): string {
  let origin = "";
  try {
    origin = new URL(value).origin;
  } catch {
    // Not a URL: show nothing of it but its end.
  }
  return `${origin === "null" ? "" : origin}${origin && origin !== "null" ? "/" : ""}…${value.slice(-4)}`;
}

/** An address as the API shows it: secret fields masked, the rest as stored. */
export function maskedAddress(schema: AddressSchema | undefined, value: unknown): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return value;
  return Object.fromEntries(
    Object.entries(value as Record<string, unknown>).map(([name, field]) => [
      name,
      // A field the schema does not know is masked too: it may be a secret of an address written before.
      typeof field === "string" && (schema?.[name] ? schema[name].secret === true : true) ? maskSecret(field) : field,
    ]),
  );
}
