import { expect } from "chai";
import * as pulumi from "@pulumi/pulumi";
import { type MockedResource, ofType, settle, useMocks, outputValue } from "../testing";
import { ConnectionsTable } from "../components/ConnectionsTable";
import { EncryptionKey } from "../components/EncryptionKey";
import { TidingsError } from "../components/common";
import { WebSocketApi, type WebSocketApiArgs } from "../components/WebSocketApi";

const SECRET = "graph-test-signing-secret-0123456789-abcdef";

describe("WebSocketApi resource graph", () => {
  let resources: MockedResource[];
  let ws: WebSocketApi;
  let key: EncryptionKey;
  let table: ConnectionsTable;

  before(async () => {
    resources = useMocks();
    key = new EncryptionKey("tidings");
    table = new ConnectionsTable("connections", { kmsKeyArn: key.arn });
    ws = new WebSocketApi("ws", {
      connectionsTable: table,
      kmsKeyArn: key.arn,
      tokenSigningSecret: pulumi.secret(SECRET),
      auth: { issuer: "tidings", audience: "tidings" },
      stage: "prod",
      throttling: { burstLimit: 50, rateLimit: 20 },
      logRetentionDays: 30,
      chat: { enabled: true },
    });
    await settle();
    await outputValue(ws.url);
    await settle();
  });

  const one = (type: string, name?: string) => {
    const found = ofType(resources, type).filter((r) => name === undefined || r.name === name);
    expect(found, `${type} ${name ?? ""}`).to.have.length(1);
    return found[0];
  };
  const byId = (type: string, id: string) => ofType(resources, type).find((r) => r.state.id === id);

  it("is a WEBSOCKET API routing on $request.body.action, with wss and management URLs for the stage", async () => {
    const api = one("aws:apigatewayv2/api:Api");
    expect(api.inputs).to.include({ protocolType: "WEBSOCKET", routeSelectionExpression: "$request.body.action" });
    const host = `${api.state.id}.execute-api.us-east-1.amazonaws.com`;
    expect(await outputValue(ws.url)).to.equal(`wss://${host}/prod`);
    expect(await outputValue(ws.managementEndpoint)).to.equal(`https://${host}/prod`);
    expect(ws.stageName).to.equal("prod");
  });

  it("sends every route to its own function through an AWS_PROXY integration", () => {
    const expected: Record<string, string> = {
      $connect: "ws-connect",
      $disconnect: "ws-disconnect",
      $default: "ws-default",
      sendmessage: "ws-sendmessage",
    };
    const routes = ofType(resources, "aws:apigatewayv2/route:Route");
    expect(routes.map((r) => r.inputs.routeKey)).to.have.members(Object.keys(expected));
    for (const route of routes) {
      const integrationId = String(route.inputs.target).replace(/^integrations\//, "");
      const integration = byId("aws:apigatewayv2/integration:Integration", integrationId);
      expect(integration, route.inputs.routeKey).to.exist;
      expect(integration!.inputs).to.include({ integrationType: "AWS_PROXY", integrationMethod: "POST" });
      const fn = one("aws:lambda/function:Function", expected[route.inputs.routeKey]);
      expect(integration!.inputs.integrationUri).to.equal(fn.state.invokeArn);
    }
  });

  it("guards $connect, and only $connect, with the REQUEST authorizer reading ?token=", () => {
    const authorizer = one("aws:apigatewayv2/authorizer:Authorizer");
    expect(authorizer.inputs).to.include({ authorizerType: "REQUEST" });
    expect(authorizer.inputs.identitySources).to.deep.equal(["route.request.querystring.token"]);
    expect(authorizer.inputs.authorizerUri).to.equal(one("aws:lambda/function:Function", "ws-authorizer").state.invokeArn);
    for (const route of ofType(resources, "aws:apigatewayv2/route:Route")) {
      if (route.inputs.routeKey === "$connect") {
        expect(route.inputs).to.include({ authorizationType: "CUSTOM", authorizerId: authorizer.state.id });
      } else {
        expect(route.inputs.authorizationType, route.inputs.routeKey).to.equal("NONE");
        expect(route.inputs.authorizerId).to.equal(undefined);
      }
    }
  });

  it("lets API Gateway invoke each function only from this API's route or authorizer", () => {
    const executionArn = one("aws:apigatewayv2/api:Api").state.executionArn;
    const permissions = ofType(resources, "aws:lambda/permission:Permission");
    expect(permissions).to.have.length(5);
    const sources = permissions.map((p) => {
      expect(p.inputs).to.include({ principal: "apigateway.amazonaws.com", action: "lambda:InvokeFunction" });
      return p.inputs.sourceArn;
    });
    const authorizerId = one("aws:apigatewayv2/authorizer:Authorizer").state.id;
    expect(sources).to.have.members([
      `${executionArn}/prod/$connect`,
      `${executionArn}/prod/$disconnect`,
      `${executionArn}/prod/$default`,
      `${executionArn}/prod/sendmessage`,
      `${executionArn}/authorizers/${authorizerId}`,
    ]);
  });

  it("keeps connections in a KMS-encrypted table with the byUser index, TTL and point-in-time recovery", () => {
    const keyArn = one("aws:kms/key:Key").state.arn;
    const t = one("aws:dynamodb/table:Table", "connections");
    expect(t.inputs.hashKey).to.equal("connectionId");
    expect(t.inputs.globalSecondaryIndexes).to.deep.equal([
      {
        name: "byUser",
        keySchemas: [
          { attributeName: "userId", keyType: "HASH" },
          { attributeName: "connectionId", keyType: "RANGE" },
        ],
        projectionType: "ALL",
      },
      {
        name: "byRoom",
        keySchemas: [
          { attributeName: "room", keyType: "HASH" },
          { attributeName: "connectionId", keyType: "RANGE" },
        ],
        projectionType: "ALL",
      },
    ]);
    expect(t.inputs.ttl).to.deep.equal({ attributeName: "ttl", enabled: true });
    expect(t.inputs.serverSideEncryption).to.deep.equal({ enabled: true, kmsKeyArn: keyArn });
    expect(t.inputs.pointInTimeRecovery).to.deep.equal({ enabled: true });
  });

  it("throttles the stage and writes JSON access logs to a KMS-encrypted log group with retention", () => {
    const stage = one("aws:apigatewayv2/stage:Stage");
    expect(stage.inputs).to.include({ name: "prod", autoDeploy: true });
    expect(stage.inputs.defaultRouteSettings).to.include({ throttlingBurstLimit: 50, throttlingRateLimit: 20 });
    const logGroup = one("aws:cloudwatch/logGroup:LogGroup", "ws-access");
    expect(stage.inputs.accessLogSettings.destinationArn).to.equal(logGroup.state.arn);
    const format = JSON.parse(stage.inputs.accessLogSettings.format);
    expect(format).to.include({ connectionId: "$context.connectionId", routeKey: "$context.routeKey", status: "$context.status" });
    expect(logGroup.inputs).to.include({ retentionInDays: 30, kmsKeyId: one("aws:kms/key:Key").state.arn });
  });

  it("gives every function a role whose statements name no '*' action or resource", () => {
    const roles = ofType(resources, "aws:iam/role:Role").filter((r) => r.name.startsWith("ws-"));
    expect(roles.map((r) => r.name)).to.have.members(
      ["authorizer", "connect", "disconnect", "default", "sendmessage"].map((n) => `ws-${n}-role`),
    );
    for (const role of roles) {
      const policies = role.inputs.inlinePolicies as { policy: string }[];
      expect(policies).to.have.length(1);
      for (const statement of JSON.parse(policies[0].policy).Statement) {
        expect(statement.Effect).to.equal("Allow");
        for (const action of [].concat(statement.Action)) expect(action, role.name).not.to.include("*");
        for (const resource of [].concat(statement.Resource) as string[]) {
          expect(resource, role.name).to.match(/^arn:aws:/);
          // `arn:…:log-group:x:*` (its streams) is scoped; `*` or a whole service/account is not.
          expect(resource, role.name).not.to.match(/^\*$|^arn:aws:[^:]*:[^:]*:[^:]*:\*$/);
        }
      }
    }
    const statementsOf = (name: string) =>
      JSON.parse(one("aws:iam/role:Role", `ws-${name}-role`).inputs.inlinePolicies[0].policy).Statement;
    const executionArn = one("aws:apigatewayv2/api:Api").state.executionArn;
    expect(statementsOf("sendmessage")).to.deep.include({
      Effect: "Allow",
      Action: ["execute-api:ManageConnections"],
      Resource: [`${executionArn}/prod/POST/@connections/*`],
    });
    // Chat reaches one room through its index: no Scan of the table, no other index.
    const tableArn = one("aws:dynamodb/table:Table", "connections").state.arn;
    const chatStatements = statementsOf("sendmessage");
    expect(chatStatements.flatMap((s: { Action: string[] }) => s.Action)).not.to.include("dynamodb:Scan");
    expect(chatStatements).to.deep.include({ Effect: "Allow", Action: ["dynamodb:Query"], Resource: [`${tableArn}/index/byRoom`] });
    // Connect takes one of the user's slots (read by key, put conditionally): no index, no Query.
    expect(statementsOf("connect")).to.deep.include({
      Effect: "Allow",
      Action: ["dynamodb:BatchGetItem", "dynamodb:PutItem"],
      Resource: [tableArn],
    });
    expect(statementsOf("authorizer")).to.deep.include({
      Effect: "Allow",
      Action: ["secretsmanager:GetSecretValue"],
      Resource: [one("aws:secretsmanager/secret:Secret").state.arn],
    });
    // The connect function can write rows but cannot read the secret or post to sockets.
    const connectActions = statementsOf("connect").flatMap((s: { Action: string[] }) => s.Action);
    expect(connectActions).to.include("dynamodb:PutItem");
    expect(connectActions).not.to.include.members(["secretsmanager:GetSecretValue"]);
    expect(connectActions).not.to.include("execute-api:ManageConnections");
  });

  it("stores the signing secret KMS-encrypted, as a Pulumi secret, and nowhere else in the graph", async () => {
    const secret = one("aws:secretsmanager/secret:Secret");
    expect(secret.inputs.kmsKeyId).to.equal(one("aws:kms/key:Key").state.arn);
    const version = one("aws:secretsmanager/secretVersion:SecretVersion");
    // Under mocks a secret input arrives wrapped in Pulumi's secret envelope: marked secret in the state.
    expect(version.inputs.secretString).to.deep.equal({
      [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig,
      value: SECRET,
    });
    expect(await pulumi.isSecret(ws.secretVersion.secretString as pulumi.Output<string>)).to.equal(true);
    const elsewhere = resources.filter((r) => r !== version && JSON.stringify(r.inputs).includes(SECRET));
    expect(elsewhere.map((r) => `${r.type} ${r.name}`)).to.deep.equal([]);
  });

  it("ships code that does not contain the signing secret", async () => {
    for (const [name, fn] of Object.entries(ws.functions)) {
      const { text } = await pulumi.runtime.serializeFunction(fn.factory, { isFactoryFunction: true });
      expect(text, name).not.to.include(SECRET);
      expect(text.length, name).to.be.greaterThan(100);
    }
  });

  it("refuses impossible args with a sentence saying what to do", () => {
    const base: WebSocketApiArgs = {
      connectionsTable: table,
      kmsKeyArn: "arn:aws:kms:us-east-1:1:key/x",
      tokenSigningSecret: SECRET,
      auth: { issuer: "i", audience: "a" },
    };
    expect(() => new WebSocketApi("bad1", { ...base, stage: "no spaces" })).to.throw(TidingsError, /stage "no spaces"/);
    expect(() => new WebSocketApi("bad2", { ...base, connectionTtlHours: 0.5 })).to.throw(TidingsError, /connectionTtlHours/);
    expect(() => new WebSocketApi("bad3", { ...base, throttling: { burstLimit: 0, rateLimit: 1 } })).to.throw(TidingsError, /throttling/);
  });
});

describe("WebSocketApi resource graph: sendmessage off by default", () => {
  let resources: MockedResource[];
  before(async () => {
    resources = useMocks();
    const key = new EncryptionKey("tidings");
    const table = new ConnectionsTable("connections", { kmsKeyArn: key.arn });
    new WebSocketApi("ws", {
      connectionsTable: table,
      kmsKeyArn: key.arn,
      tokenSigningSecret: pulumi.secret(SECRET),
      auth: { issuer: "i", audience: "a" },
    });
    await settle();
  });

  it("has no sendmessage route, function or role unless chat is switched on", () => {
    const routes = ofType(resources, "aws:apigatewayv2/route:Route").map((r) => r.inputs.routeKey);
    expect(routes).to.have.members(["$connect", "$disconnect", "$default"]);
    expect(ofType(resources, "aws:lambda/function:Function").map((f) => f.name)).not.to.include("ws-sendmessage");
    expect(ofType(resources, "aws:iam/role:Role").map((r) => r.name)).not.to.include("ws-sendmessage-role");
  });
});
