/**
 * A user's settings and contact row in one BatchGetItem: the producer needs both before it decides
 * anything, and one call costs less than two (same single round trip as two parallel GetItems).
 */
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { batchGetAll } from "./batches";
import type { ContactRow } from "./contacts";
import type { UserSettings } from "./settings";

export interface UserRecords {
  settings: UserSettings | undefined;
  contact: ContactRow | undefined;
}

export function makeUserRecordsReader(deps: { ddb: DynamoDBDocumentClient; tables: { settings: string; contacts: string } }) {
  return async function read(userId: string): Promise<UserRecords> {
    const found = await batchGetAll(deps.ddb, {
      [deps.tables.settings]: { Keys: [{ userId }] },
      [deps.tables.contacts]: { Keys: [{ userId }] },
    });
    return {
      settings: found[deps.tables.settings]?.[0] as UserSettings | undefined,
      contact: found[deps.tables.contacts]?.[0] as ContactRow | undefined,
    };
  };
}
