/**
 * A user's settings and contact row in one BatchGetItem: the producer needs both before it decides
 * anything, and one call costs less than two (same single round trip as two parallel GetItems).
 */
import { BatchGetCommand, type DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { ContactRow } from "./contacts";
import type { UserSettings } from "./settings";

export interface UserRecords {
  settings: UserSettings | undefined;
  contact: ContactRow | undefined;
}

/** BatchGetItem may leave keys unprocessed under throttling: asked again this many times, then an error. */
const MAX_ATTEMPTS = 4;

export function makeUserRecordsReader(deps: { ddb: DynamoDBDocumentClient; tables: { settings: string; contacts: string } }) {
  return async function read(userId: string): Promise<UserRecords> {
    let request: Record<string, { Keys: Record<string, unknown>[] }> = {
      [deps.tables.settings]: { Keys: [{ userId }] },
      [deps.tables.contacts]: { Keys: [{ userId }] },
    };
    const found: Record<string, Record<string, unknown> | undefined> = {};
    for (let attempt = 1; ; attempt++) {
      const answer = await deps.ddb.send(new BatchGetCommand({ RequestItems: request }));
      for (const [table, items] of Object.entries(answer.Responses ?? {})) found[table] = items[0];
      const unprocessed = answer.UnprocessedKeys ?? {};
      if (Object.keys(unprocessed).length === 0) break;
      if (attempt >= MAX_ATTEMPTS) throw new Error(`settings and contact of a user still unprocessed after ${attempt} BatchGetItem calls`);
      await new Promise((resolve) => setTimeout(resolve, 20 * 2 ** attempt));
      request = unprocessed as typeof request;
    }
    return {
      settings: found[deps.tables.settings] as UserSettings | undefined,
      contact: found[deps.tables.contacts] as ContactRow | undefined,
    };
  };
}
