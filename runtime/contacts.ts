/**
 * Where a user is reached on each channel, from the contacts table (TABLES.contacts): `email`,
 * `phone` (E.164), `device_tokens` [{ platform, token }], `external_channels.slack.webhookUrl`.
 * Addresses are checked before anything is sent; problems say what is wrong without repeating the
 * value (addresses are personal data, webhook URLs are secrets).
 */
import { type DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import type { ChannelAddress, DeviceToken } from "./contracts";
import { type AddressSchema, addressProblems, BUILT_IN_ADDRESSES } from "./addresses";
import { holdOf } from "./addressHolds";
import { isDeviceToken, isE164, isEmail } from "./validate";

export interface ContactRow {
  userId: string;
  email?: unknown;
  phone?: unknown;
  device_tokens?: unknown;
  external_channels?: { slack?: { webhookUrl?: unknown } } & Record<string, unknown>;
  /** A permanent bounce or complaint SES reported for an address (runtime/emailFeedback.ts). */
  emailSuppressed?: unknown;
  /** A number whose holder opted out at the carrier (SMS STOP), as the SMS worker found it. */
  phoneOptedOut?: unknown;
  /** The user entered `email` (`phone`) themselves and has not confirmed it yet (runtime/selfContact.ts). */
  emailUnverified?: unknown;
  phoneUnverified?: unknown;
}

export type AddressResult =
  | { ok: true; address: ChannelAddress }
  /**
   * `missing`: the contact has nothing for the channel; `invalid`: it has something unusable;
   * `suppressed`: its address bounced permanently or complained; `opted-out`: its number opted out at the
   * carrier (both until a new one is set); `unverified`: the user entered it and has not confirmed it yet.
   */
  | { ok: false; reason: "missing" | "invalid" | "suppressed" | "opted-out" | "unverified"; field: string; problem: string };

export interface AddressOptions {
  /** Origins a webhook URL may use besides its schema's hosts (the local mode's sinks). */
  webhookOrigins?: string[];
  /** The address schema of each channel keeping its addresses in `external_channels` (Slack's built in). */
  addresses?: Record<string, AddressSchema>;
}

export function makeContactReader(deps: { ddb: DynamoDBDocumentClient; table: string }) {
  return {
    async get(userId: string): Promise<ContactRow | undefined> {
      const result = await deps.ddb.send(new GetCommand({ TableName: deps.table, Key: { userId } }));
      return result.Item as ContactRow | undefined;
    },
  };
}

export type ContactReader = ReturnType<typeof makeContactReader>;

const missing = (field: string): AddressResult => ({ ok: false, reason: "missing", field, problem: `contact has no ${field}` });
const unverified = (field: string): AddressResult => ({
  ok: false,
  reason: "unverified",
  field,
  problem: `${field} is not verified yet (the user entered it and has not confirmed the code)`,
});
const invalid = (field: string, problem: string): AddressResult => ({
  ok: false,
  reason: "invalid",
  field,
  problem: `${field} ${problem}`,
});

/**
 * The address `channel` delivers to. websocket needs none (it reaches the user's open connections);
 * a channel Tidings does not ship gets an empty address and its own provider decides.
 */
export function resolveAddress(channel: string, contact: ContactRow | undefined, options: AddressOptions = {}): AddressResult {
  switch (channel) {
    case "websocket":
      return { ok: true, address: {} };
    case "email": {
      const email = contact?.email;
      if (email === undefined || email === null || email === "") return missing("email");
      if (!isEmail(email)) return invalid("email", "is not a valid e-mail address");
      if (contact?.emailUnverified) return unverified("email");
      const suppressed = holdOf(contact, "emailSuppressed");
      if (suppressed) return { ok: false, reason: "suppressed", field: "email", problem: `email is suppressed (${suppressed.reason})` };
      return { ok: true, address: { email } };
    }
    case "sms": {
      const phone = contact?.phone;
      if (phone === undefined || phone === null || phone === "") return missing("phone");
      if (!isE164(phone)) return invalid("phone", "is not an E.164 number (+ and up to 15 digits)");
      if (contact?.phoneUnverified) return unverified("phone");
      if (holdOf(contact, "phoneOptedOut"))
        return { ok: false, reason: "opted-out", field: "phone", problem: "phone opted out at carrier" };
      return { ok: true, address: { phone } };
    }
    case "push": {
      const tokens = contact?.device_tokens;
      if (tokens === undefined || tokens === null || (Array.isArray(tokens) && tokens.length === 0)) return missing("device_tokens");
      if (!Array.isArray(tokens)) return invalid("device_tokens", "is not a list of { platform, token }");
      // Deliver to the tokens that are usable; only when none is does the channel fail.
      const usable: DeviceToken[] = [];
      const problems: string[] = [];
      for (const [index, entry] of (tokens as unknown[]).entries()) {
        const { platform, token } = (entry ?? {}) as { platform?: unknown; token?: unknown };
        if (platform !== "apns" && platform !== "fcm") problems.push(`[${index}].platform is not apns or fcm`);
        else if (!isDeviceToken(platform, token)) {
          problems.push(
            `[${index}].token is not ${platform === "apns" ? "64 hex characters" : "100–4096 characters of A-Z a-z 0-9 _ : -"}`,
          );
        } else usable.push({ platform, token });
      }
      return usable.length ? { ok: true, address: { deviceTokens: usable } } : invalid("device_tokens", problems.join("; "));
    }
    default: {
      const schema = options.addresses?.[channel] ?? BUILT_IN_ADDRESSES[channel];
      // A channel without an address schema reaches whatever its provider decides.
      if (!schema) return { ok: true, address: {} };
      return externalAddress(channel, schema, contact, options.webhookOrigins);
    }
  }
}

/** The user's address for a channel that keeps it in `external_channels.<channel>`, checked by its schema. */
function externalAddress(channel: string, schema: AddressSchema, contact: ContactRow | undefined, origins?: string[]): AddressResult {
  const value = contact?.external_channels?.[channel];
  const fields = Object.keys(schema);
  const at = `external_channels.${channel}`;
  if (value === undefined || value === null) return missing(fields.length === 1 ? `${at}.${fields[0]}` : at);
  const problems = addressProblems(schema, value, at, origins);
  if (problems.length)
    return invalid(
      problems[0].field,
      problems.map((p) => (p.field === problems[0].field ? p.problem : `${p.field} ${p.problem}`)).join("; "),
    );
  const record = value as Record<string, string>;
  return { ok: true, address: Object.fromEntries(fields.map((field) => [field, record[field]])) };
}
