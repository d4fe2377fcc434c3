import { expect } from "chai";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { BatchGetCommand, BatchWriteCommand, DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import { type LocalAws, startLocalAws } from "../local/aws";
import { batchGetAll, batchWriteAll, MAX_BATCH_ATTEMPTS } from "../runtime/batches";

/**
 * dynalite never throttles, so a client that forwards each batch call with only its first request and
 * answers the rest as unprocessed, as DynamoDB does under throttling, stands in for it; the items are
 * real ones in dynalite.
 */
function throttlingOneAtATime(ddb: DynamoDBDocumentClient, calls: string[]): DynamoDBDocumentClient {
  return Object.create(ddb, {
    send: {
      value: async (command: BatchGetCommand | BatchWriteCommand) => {
        calls.push(command.constructor.name);
        if (command instanceof BatchGetCommand) {
          const [[table, { Keys, ...rest }]] = Object.entries(command.input.RequestItems ?? {});
          const answer = await ddb.send(new BatchGetCommand({ RequestItems: { [table]: { ...rest, Keys: Keys!.slice(0, 1) } } }));
          return Keys!.length > 1 ? { ...answer, UnprocessedKeys: { [table]: { ...rest, Keys: Keys!.slice(1) } } } : answer;
        }
        const [[table, requests]] = Object.entries(command.input.RequestItems ?? {});
        const answer = await ddb.send(new BatchWriteCommand({ RequestItems: { [table]: requests.slice(0, 1) } }));
        return requests.length > 1 ? { ...answer, UnprocessedItems: { [table]: requests.slice(1) } } : answer;
      },
    },
  });
}

describe("batch calls until DynamoDB has processed every request (dynalite)", () => {
  let aws: LocalAws;
  let ddb: DynamoDBDocumentClient;
  before(async () => {
    aws = await startLocalAws();
    aws.applyEnv();
    await aws.createTables({ contacts: "batch-test" });
    ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}));
  });
  after(async () => {
    ddb.destroy();
    await aws.stop();
  });

  it("sends what was left unprocessed again until it is done", async () => {
    const calls: string[] = [];
    const client = throttlingOneAtATime(ddb, calls);
    await batchWriteAll(client, {
      "batch-test": ["a", "b", "c"].map((userId) => ({ PutRequest: { Item: { userId, email: `${userId}@example.com` } } })),
    });
    expect(calls).to.have.length(3);
    expect((await ddb.send(new GetCommand({ TableName: "batch-test", Key: { userId: "c" } }))).Item).to.include({ email: "c@example.com" });

    calls.length = 0;
    const found = await batchGetAll(client, { "batch-test": { Keys: [{ userId: "a" }, { userId: "b" }, { userId: "nobody" }] } });
    expect(calls).to.have.length(3);
    expect(found["batch-test"].map((item) => item.userId).sort()).to.deep.equal(["a", "b"]);
  });

  it("gives up with an error after MAX_BATCH_ATTEMPTS calls", async () => {
    const calls: string[] = [];
    const client = throttlingOneAtATime(ddb, calls);
    const requests = Array.from({ length: MAX_BATCH_ATTEMPTS + 1 }, (_, i) => ({ DeleteRequest: { Key: { userId: `gone-${i}` } } }));
    let failure: Error | undefined;
    await batchWriteAll(client, { "batch-test": requests }).catch((error: Error) => {
      failure = error;
    });
    expect(failure?.message).to.equal(`BatchWriteItem: requests still unprocessed after ${MAX_BATCH_ATTEMPTS} calls`);
    expect(calls).to.have.length(MAX_BATCH_ATTEMPTS);
  });
});
