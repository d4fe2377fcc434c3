/**
 * The per-user connection cap, exact under any concurrency: a user has `max` slots, items of the
 * connections table (`#slot#<userId>#<n>`), and a connection is stored only once it holds one, taken by a
 * conditional write. However many connects race, at most `max` writes succeed. A slot is given back when
 * its connection is removed ($disconnect, a 410 on post, erasure); one whose release was missed frees
 * itself when its connection cannot be open any more (API Gateway closes every connection after 2 hours).
 *
 * Slot items carry no `userId` or `room`, so the byUser and byRoom indexes (fan-out, chat) never see them.
 */
import { BatchGetCommand, DeleteCommand, type DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";

/** API Gateway's longest WebSocket connection (2 h) and a margin: no slot is held longer. */
export const SLOT_LIFETIME_SECONDS = 2 * 3600 + 300;

/** A slot item's key; no API Gateway connection id contains `#`. */
export const slotKey = (userId: string, n: number) => `#slot#${userId}#${n}`;

interface SlotItem {
  connectionId: string;
  holder: string;
  expiresAt: number;
  ttl: number;
}

export interface SlotDeps {
  ddb: DynamoDBDocumentClient;
  connectionsTable: string;
  now?: () => number;
}

/**
 * Takes a free slot of `userId`'s `max` for `connectionId`: its key, or undefined when all are held.
 * One consistent read of the slots, then a conditional write on a free one; a write another connect
 * won first is followed by a fresh read, at most `max` + 1 rounds (each round someone wins).
 */
export async function takeSlot(deps: SlotDeps, userId: string, connectionId: string, max: number): Promise<string | undefined> {
  const now = deps.now ?? Date.now;
  const keys = Array.from({ length: max }, (_, n) => slotKey(userId, n));
  for (let round = 0; round <= max; round++) {
    const nowSeconds = Math.floor(now() / 1000);
    const held = await heldSlots(deps, keys, nowSeconds);
    const free = keys.filter((key) => !held.has(key));
    if (free.length === 0) return undefined;
    // A random free slot: racing connects mostly pick different ones.
    const key = free[Math.floor(Math.random() * free.length)];
    const expiresAt = nowSeconds + SLOT_LIFETIME_SECONDS;
    try {
      await deps.ddb.send(
        new PutCommand({
          TableName: deps.connectionsTable,
          Item: { connectionId: key, holder: connectionId, expiresAt, ttl: expiresAt } satisfies SlotItem,
          ConditionExpression: "attribute_not_exists(holder) OR expiresAt < :now",
          ExpressionAttributeValues: { ":now": nowSeconds },
        }),
      );
      return key;
    } catch (error) {
      if ((error as { name?: string }).name !== "ConditionalCheckFailedException") throw error;
    }
  }
  return undefined;
}

async function heldSlots(deps: SlotDeps, keys: string[], nowSeconds: number): Promise<Set<string>> {
  const held = new Set<string>();
  let pending: Record<string, unknown>[] = keys.map((connectionId) => ({ connectionId }));
  while (pending.length) {
    const out = await deps.ddb.send(
      new BatchGetCommand({ RequestItems: { [deps.connectionsTable]: { Keys: pending, ConsistentRead: true } } }),
    );
    for (const item of (out.Responses?.[deps.connectionsTable] ?? []) as SlotItem[]) {
      if (item.expiresAt >= nowSeconds) held.add(item.connectionId);
    }
    pending = (out.UnprocessedKeys?.[deps.connectionsTable]?.Keys ?? []) as Record<string, unknown>[];
  }
  return held;
}

/** Gives `slot` back, if `connectionId` still holds it. */
export async function releaseSlot(deps: SlotDeps, slot: string, connectionId: string): Promise<void> {
  try {
    await deps.ddb.send(
      new DeleteCommand({
        TableName: deps.connectionsTable,
        Key: { connectionId: slot },
        ConditionExpression: "holder = :me",
        ExpressionAttributeValues: { ":me": connectionId },
      }),
    );
  } catch (error) {
    if ((error as { name?: string }).name !== "ConditionalCheckFailedException") throw error;
  }
}

/** Deletes a connection's row and gives its slot back: what $disconnect, a 410 and erasure do. */
export async function removeConnection(deps: SlotDeps, connectionId: string): Promise<void> {
  const out = await deps.ddb.send(new DeleteCommand({ TableName: deps.connectionsTable, Key: { connectionId }, ReturnValues: "ALL_OLD" }));
  const slot = out.Attributes?.slot;
  if (typeof slot === "string") await releaseSlot(deps, slot, connectionId);
}
