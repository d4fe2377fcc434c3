/**
 * A user's push devices, kept in the contacts row (`device_tokens` [{ platform, token, addedAt }], the
 * list the push channel delivers to). Registering deduplicates by token and keeps at most
 * `maxPerUser`, evicting the oldest; a token SNS reports disabled or invalid is removed.
 */
import { DEFAULTS } from "./defaults";
import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { DeviceToken } from "./contracts";

export interface StoredDevice extends DeviceToken {
  /** ISO-8601 time of the latest registration. */
  addedAt?: string;
}

export interface DeviceRegistryDeps {
  ddb: DynamoDBDocumentClient;
  /** The contacts table. */
  table: string;
  /** @default 5 */
  maxPerUser?: number;
  now?: () => number;
}

function storedDevices(value: unknown): StoredDevice[] {
  return Array.isArray(value) ? value.filter((d) => d && typeof d === "object" && typeof d.token === "string") : [];
}

export function makeDeviceRegistry(deps: DeviceRegistryDeps) {
  const maxPerUser = deps.maxPerUser ?? DEFAULTS.maxDevicesPerUser;
  const now = deps.now ?? Date.now;

  async function read(userId: string): Promise<StoredDevice[]> {
    const result = await deps.ddb.send(
      new GetCommand({ TableName: deps.table, Key: { userId }, ProjectionExpression: "device_tokens", ConsistentRead: true }),
    );
    return storedDevices(result.Item?.device_tokens);
  }

  async function write(userId: string, devices: StoredDevice[]) {
    await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.table,
        Key: { userId },
        UpdateExpression: "SET device_tokens = :devices",
        ExpressionAttributeValues: { ":devices": devices },
      }),
    );
  }

  return {
    list: read,

    /** Adds (or refreshes) a device; answers the list after eviction and what was evicted. */
    async register(userId: string, device: DeviceToken): Promise<{ devices: StoredDevice[]; evicted: StoredDevice[] }> {
      const others = (await read(userId)).filter((d) => d.token !== device.token);
      const all = [...others, { platform: device.platform, token: device.token, addedAt: new Date(now()).toISOString() }];
      const evicted = all.slice(0, Math.max(0, all.length - maxPerUser));
      const devices = all.slice(evicted.length);
      await write(userId, devices);
      return { devices, evicted };
    },

    /** Removes a token; "missing" when the user has no such device (nothing is written). */
    async remove(userId: string, token: string): Promise<"removed" | "missing"> {
      const devices = await read(userId);
      const kept = devices.filter((d) => d.token !== token);
      if (kept.length === devices.length) return "missing";
      await write(userId, kept);
      return "removed";
    },
  };
}

export type DeviceRegistry = ReturnType<typeof makeDeviceRegistry>;
