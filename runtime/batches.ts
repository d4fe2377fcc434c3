/**
 * BatchGetItem and BatchWriteItem until DynamoDB has processed the whole request. Under throttling it
 * answers part of a batch and hands the rest back as unprocessed; that rest is sent again after a growing
 * pause, as AWS advises, at most MAX_BATCH_ATTEMPTS calls in all, then the caller gets an error (the
 * SDK's own retries do not cover it: the call itself succeeded).
 */
import {
  BatchGetCommand,
  type BatchGetCommandInput,
  type BatchGetCommandOutput,
  BatchWriteCommand,
  type BatchWriteCommandInput,
  type DynamoDBDocumentClient,
} from "@aws-sdk/lib-dynamodb";

/** Calls of one batch in all, the first included. */
export const MAX_BATCH_ATTEMPTS = 4;

type GetRequest = NonNullable<BatchGetCommandInput["RequestItems"]>;
type WriteRequest = NonNullable<BatchWriteCommandInput["RequestItems"]>;
type ItemsByTable = NonNullable<BatchGetCommandOutput["Responses"]>;

/** Every item `request` names that exists, by table. At most 100 keys, as BatchGetItem takes. */
export async function batchGetAll(ddb: DynamoDBDocumentClient, request: GetRequest): Promise<ItemsByTable> {
  const found: ItemsByTable = {};
  await untilProcessed("BatchGetItem", request, async (RequestItems) => {
    const answer = await ddb.send(new BatchGetCommand({ RequestItems }));
    for (const [table, items] of Object.entries(answer.Responses ?? {})) found[table] = [...(found[table] ?? []), ...items];
    return answer.UnprocessedKeys as GetRequest | undefined;
  });
  return found;
}

/** Every put and delete of `request`. At most 25, as BatchWriteItem takes. */
export async function batchWriteAll(ddb: DynamoDBDocumentClient, request: WriteRequest): Promise<void> {
  await untilProcessed("BatchWriteItem", request, async (RequestItems) => {
    const answer = await ddb.send(new BatchWriteCommand({ RequestItems }));
    return answer.UnprocessedItems as WriteRequest | undefined;
  });
}

async function untilProcessed<R extends object>(operation: string, request: R, call: (request: R) => Promise<R | undefined>) {
  let pending = request;
  for (let attempt = 1; ; attempt++) {
    const unprocessed = await call(pending);
    if (!unprocessed || Object.keys(unprocessed).length === 0) return;
    if (attempt >= MAX_BATCH_ATTEMPTS) throw new Error(`${operation}: requests still unprocessed after ${attempt} calls`);
    await new Promise((resolve) => setTimeout(resolve, 20 * 2 ** attempt));
    pending = unprocessed;
  }
}
