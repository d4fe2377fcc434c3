/**
 * A user's notification preferences (TABLES.settings): `{ userId, channels?: { <channel>: boolean },
 * types?: { <type>: { <channel>: boolean } } }`. The most specific answer wins: `types[type][channel]`,
 * then `channels[channel]`, then the type's `defaultOptIn`; except that a channel-wide "yes" does not
 * opt a user into a type that asks for explicit consent (`defaultOptIn: false`): only a per-type "yes" does.
 * A `critical` type cannot be opted out of. The end-user API writes the row (runtime/preferences.ts).
 */
import { type DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import type { NotificationTypeConfig } from "./config";

export interface UserSettings {
  userId: string;
  channels?: Record<string, unknown>;
  types?: Record<string, unknown>;
  /** IANA time zone (`PUT /me/preferences`). */
  timeZone?: string;
  /** `{ start, end }` as `HH:MM` in `timeZone`: non-critical deliveries but the WebSocket's wait until `end`. */
  quietHours?: { start: string; end: string };
  /** BCP 47 locale of the user's templates. */
  locale?: string;
}

export function makeSettingsReader(deps: { ddb: DynamoDBDocumentClient; table: string }) {
  return {
    /** The user's settings row, or undefined when the user never set any. */
    async get(userId: string): Promise<UserSettings | undefined> {
      const result = await deps.ddb.send(new GetCommand({ TableName: deps.table, Key: { userId } }));
      return result.Item as UserSettings | undefined;
    },
  };
}

export type SettingsReader = ReturnType<typeof makeSettingsReader>;

/** Own boolean at `record[key]`; anything else (absent, wrong type, inherited) counts as unset. */
function flag(record: unknown, key: string): boolean | undefined {
  if (record === null || typeof record !== "object" || !Object.hasOwn(record, key)) return undefined;
  const value = (record as Record<string, unknown>)[key];
  return typeof value === "boolean" ? value : undefined;
}

/** Whether the user receives `type` on `channel`. */
export function isOptedIn(
  settings: UserSettings | undefined,
  type: string,
  channel: string,
  typeConfig: Partial<Pick<NotificationTypeConfig, "defaultOptIn" | "critical">> | undefined,
): boolean {
  // A critical type cannot be switched off: whatever is stored, it is delivered.
  if (typeConfig?.critical === true) return true;
  const types = settings?.types;
  const ofType = types && typeof types === "object" && Object.hasOwn(types, type) ? types[type] : undefined;
  const perType = flag(ofType, channel);
  if (perType !== undefined) return perType;
  const perChannel = flag(settings?.channels, channel);
  const needsConsent = typeConfig?.defaultOptIn === false;
  return needsConsent ? false : (perChannel ?? true);
}
