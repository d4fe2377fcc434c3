import { expect } from "chai";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, PutCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import { type LocalAws, startLocalAws } from "../local/aws";
import { TABLES } from "../runtime/tables";

describe("local AWS servers", () => {
  let aws: LocalAws;
  let ddb: DynamoDBDocumentClient;
  before(async () => {
    aws = await startLocalAws();
    aws.applyEnv();
    await aws.createTables({ connections: "local-aws-connections" });
    ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}));
  });
  after(async () => {
    ddb.destroy();
    await aws.stop();
  });

  it("binds every server to 127.0.0.1", () => {
    for (const url of Object.values(aws.endpoints)) expect(new URL(url).hostname).to.match(/^(127\.0\.0\.1|sqs\.[a-z0-9-]+\.localhost)$/);
  });

  it("keeps both index entries of a user whose connection ids collide in dynalite's 24-bit index key", async () => {
    // These two ids share the first six hex digits (22b845) of dynalite's md5 of the table key: without the
    // index sort key (runtime/tables.ts) the second entry silently replaced the first.
    const ids = ["conn-1224", "conn-4718"];
    for (const connectionId of ids) {
      await ddb.send(new PutCommand({ TableName: "local-aws-connections", Item: { connectionId, userId: "collider" } }));
    }
    const found = await ddb.send(
      new QueryCommand({
        TableName: "local-aws-connections",
        IndexName: "byUser",
        KeyConditionExpression: "#user = :user",
        ExpressionAttributeNames: { "#user": TABLES.connections.indexes.byUser.hashKey },
        ExpressionAttributeValues: { ":user": "collider" },
      }),
    );
    expect(found.Items!.map((item) => item.connectionId).sort()).to.deep.equal([...ids].sort());
  });
});

describe("local AWS servers on a port in use", () => {
  it("names the service and the port, and leaves nothing running", async () => {
    const blocker = await startLocalAws();
    const sesPort = Number(new URL(blocker.endpoints.ses).port);
    try {
      let error: Error | undefined;
      await startLocalAws({ sesPort }).catch((e) => (error = e));
      expect(error?.message).to.equal(
        `SES (aws-ses-v2-local) could not listen on 127.0.0.1:${sesPort}: the port is in use (choose another one)`,
      );
      const dynamoPort = Number(new URL(blocker.endpoints.dynamodb).port);
      await startLocalAws({ dynamodbPort: dynamoPort }).catch((e) => (error = e));
      expect(error?.message).to.match(new RegExp(`DynamoDB \\(dynalite\\) could not listen on 127.0.0.1:${dynamoPort}`));
    } finally {
      await blocker.stop();
    }
  });
});
