/**
 * What a notification costs on AWS, computed from what the local mode counts while it delivers them:
 * every AWS call each function sends (by its description, as the IAM tests attribute them), the
 * DynamoDB capacity units each call consumed, the queue traffic, each invocation's duration, and the
 * bytes the functions log. Each count is priced at AWS's list price in us-east-1 (PRICES, with its date),
 * per million notifications: on four channels (websocket, email, sms, slack), and to the feed only.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { LocalTidingsOptions } from "../local/tidings";
import type { DecisionLogger } from "../runtime/log";
import { type PartResult, formatNumber, type Table } from "./lib";

/**
 * List prices, us-east-1, as AWS's pricing pages give them (read 2026-12-07); the first tier of each,
 * free tiers left out. SMS is the US transactional price per message before carrier fees.
 */
export const PRICES = {
  region: "us-east-1",
  date: "2026-12-07",
  httpApiRequest: 1.0 / 1e6,
  webSocketMessage: 1.0 / 1e6,
  lambdaRequest: 0.2 / 1e6,
  /** arm64 */
  lambdaGbSecond: 0.0000133334,
  eventBridgeEvent: 1.0 / 1e6,
  sqsRequest: 0.4 / 1e6,
  dynamoWriteUnit: 0.625 / 1e6,
  dynamoReadUnit: 0.125 / 1e6,
  kmsRequest: 0.03 / 1e4,
  sesEmail: 0.1 / 1e3,
  snsSmsUs: 0.00581,
  logsGb: 0.5,
};

/** Hosted services' published prices, per notification (their pricing pages, read 2026-12-07). */
const HOSTED = [
  {
    name: "Knock (Starter: $250 a month for 50,000 messages; a message is one channel of one notification)",
    perNotification: (channels: number) => (250 / 50_000) * channels,
  },
  {
    name: "Novu Cloud (Pro: $1.20 per 1,000 workflow runs beyond the plan; channel providers billed apart)",
    perNotification: () => 1.2 / 1000,
  },
];

/** What AWS adds to a local invocation's duration: one network round trip per AWS call (assumed). */
const AWS_ROUND_TRIP_MS = 10;
/** Lambda writes START, END and REPORT lines per invocation to the function's log group. */
const PLATFORM_LOG_BYTES_PER_INVOCATION = 350;
const MEMORY_GB = 256 / 1024;

export interface Counts {
  notifications: number;
  invocations: number;
  durationMs: number;
  calls: Map<string, number>;
  writeUnits: number;
  readUnits: number;
  /** GSI writes DynamoDB bills beside the table's: the local DynamoDB reports the table's units only. */
  indexWriteUnits: number;
  sqsRequests: number;
  logBytes: number;
}

/** The local mode as the counting parts run it: free ports, no state file or demo users, short polls; the caller's hooks count. */
export function countingLocalOptions(
  hooks: Required<Pick<LocalTidingsOptions, "logger" | "metrics" | "onInvocation">>,
): LocalTidingsOptions {
  return { apiPort: 0, wsPort: 0, sesPort: 0, stateFile: false, seed: false, pollWaitSeconds: 1, ...hooks };
}

/** Nothing counted yet, for `notifications` notifications (what the items divide by). */
export function noCounts(notifications: number): Counts {
  return {
    notifications,
    invocations: 0,
    durationMs: 0,
    calls: new Map(),
    writeUnits: 0,
    readUnits: 0,
    indexWriteUnits: 0,
    sqsRequests: 0,
    logBytes: 0,
  };
}

/** Records every AWS call while `active` (with its consumed capacity), and which function sent it. */
export function installRecorder(counts: () => Counts | undefined, invocation: AsyncLocalStorage<string>) {
  const { Client } = require("@smithy/core/client") as { Client: { prototype: { send: (...args: any[]) => Promise<any> } } };
  const { SignatureV4 } = require("@smithy/signature-v4") as { SignatureV4: { prototype: { sign: (...args: any[]) => Promise<any> } } };
  const inside = new AsyncLocalStorage<true>();
  const send = Client.prototype.send;
  const sign = SignatureV4.prototype.sign;
  Client.prototype.send = async function (this: { config: { serviceId?: string } }, ...args: any[]) {
    const c = counts();
    const name = String(args[0]?.constructor?.name ?? "").replace(/Command$/, "");
    const input = args[0]?.input;
    const isDynamo = input && (typeof input.TableName === "string" || typeof input.RequestItems === "object");
    if (isDynamo && input.ReturnConsumedCapacity === undefined) input.ReturnConsumedCapacity = "TOTAL";
    const output = await inside.run(true, () => send.apply(this, args));
    if (!c) return output;
    const service = this.config.serviceId ?? "";
    if (service === "SQS") {
      // Empty long polls are the event source mapping's, per queue, not per notification.
      if (name !== "ReceiveMessage" || (output?.Messages ?? []).length > 0) c.sqsRequests++;
    } else if (invocation.getStore()) {
      c.calls.set(`${service} ${name}`, (c.calls.get(`${service} ${name}`) ?? 0) + (name === "PutEvents" ? input.Entries.length : 1));
    }
    for (const used of [output?.ConsumedCapacity ?? []].flat()) {
      c.writeUnits += used?.WriteCapacityUnits ?? 0;
      c.readUnits += used?.ReadCapacityUnits ?? 0;
      if (used?.WriteCapacityUnits === undefined && used?.ReadCapacityUnits === undefined && used?.CapacityUnits !== undefined) {
        if (/^(Put|Update|Delete|BatchWrite)/.test(name)) c.writeUnits += used.CapacityUnits;
        else c.readUnits += used.CapacityUnits;
      }
    }
    if (isDynamo) c.indexWriteUnits += indexWrites(name, input);
    return output;
  };
  SignatureV4.prototype.sign = function (this: unknown, ...args: any[]) {
    const c = counts();
    if (c && !inside.getStore() && String(args[0]?.path ?? "").includes("/@connections/")) {
      c.calls.set("ApiGatewayManagementApi PostToConnection", (c.calls.get("ApiGatewayManagementApi PostToConnection") ?? 0) + 1);
    }
    return sign.apply(this, args);
  };
  return () => {
    Client.prototype.send = send;
    SignatureV4.prototype.sign = sign;
  };
}

/**
 * The GSI writes of one request, by the stack's indexes (runtime/tables.ts): a write touches an index
 * when it writes the index's keys or projected attributes. One unit each: index entries are small.
 */
function indexWrites(command: string, input: any): number {
  const table = String(input.TableName ?? "");
  if (/notification-log/.test(table)) {
    // byCreatedDay and userEventIds on the put; byCreatedDay again when a channel leaves unfinishedChannels.
    if (command === "Put") return 2;
    if (command === "Update" && /DELETE #unfinished/.test(String(input.UpdateExpression ?? ""))) return 1;
  }
  if (/feed/.test(table) && (command === "Put" || command === "Update")) return 2; // byTime and unread (or archived)
  if (/connections/.test(table) && command === "Put") return 1; // byUser
  return 0;
}

export async function runCost(options: { notifications: number }, progress: (line: string) => void): Promise<PartResult> {
  const { startLocalTidings, invocations } = require("../local/tidings") as typeof import("../local/tidings");
  const { PutCommand } = require("@aws-sdk/lib-dynamodb") as typeof import("@aws-sdk/lib-dynamodb");
  const { WebSocket } = require("ws") as typeof import("ws");
  let current: Counts | undefined;
  const uninstall = installRecorder(() => current, invocations);
  const sent = new Map<string, number>();
  const logger: DecisionLogger = (decision) => {
    if (current) current.logBytes += Buffer.byteLength(JSON.stringify(decision)) + 40;
    if (decision.component === "worker" && decision.outcome === "sent")
      sent.set(String(decision.eventId), (sent.get(String(decision.eventId)) ?? 0) + 1);
  };
  const countMetricLine = (name: string) => {
    if (current) current.logBytes += 260 + name.length;
  };
  const tidings = await startLocalTidings(
    countingLocalOptions({
      logger,
      // An EMF line is about 260 bytes and the metric's name.
      metrics: { count: (name) => countMetricLine(name), latency: (name) => countMetricLine(name) },
      onInvocation: (_fn, ms) => {
        if (!current) return;
        current.invocations++;
        current.durationMs += ms;
      },
    }),
  );
  const sockets: InstanceType<typeof WebSocket>[] = [];
  try {
    const producer = `Bearer ${await tidings.signToken("bench", { scope: tidings.config.auth.scopes.send })}`;
    const users = Array.from({ length: options.notifications * 2 }, (_, i) => `cost-${i}`);
    for (const [i, userId] of users.entries()) {
      await tidings.clients.ddb.send(
        new PutCommand({
          TableName: tidings.tables.contacts,
          Item: {
            userId,
            email: `${userId}@example.com`,
            phone: `+1555100${String(i).padStart(4, "0")}`,
            external_channels: { slack: { webhookUrl: `${tidings.endpoints.slackSink}/services/T0COST/B0COST/${userId}` } },
          },
        }),
      );
      const socket = new WebSocket(`${tidings.endpoints.websocket}/?token=${await tidings.signToken(userId)}`);
      sockets.push(socket);
      await new Promise<void>((resolve, reject) => {
        socket.once("open", () => resolve());
        socket.once("error", reject);
      });
    }
    const measure = async (label: string, body: (userId: string) => object, channels: number, userOffset: number) => {
      const counts = noCounts(0);
      current = counts;
      for (let i = 0; i < options.notifications; i++) {
        const userId = users[userOffset + i];
        const answer = await fetch(tidings.endpoints.notifications, {
          method: "POST",
          headers: { authorization: producer },
          body: JSON.stringify(body(userId)),
        });
        const { eventId } = (await answer.json()) as { eventId: string };
        for (let waited = 0; (sent.get(eventId) ?? 0) < channels; waited++) {
          if (waited > 400) throw new Error(`${label}: ${eventId} not delivered on ${channels} channels within 20 s`);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        counts.notifications++;
      }
      // The last deletes and log lines of the batch.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      current = undefined;
      progress(`${label}: ${counts.notifications} notifications measured`);
      return counts;
    };
    const four = await measure(
      "4 channels",
      (userId) => ({
        userId,
        type: "order.shipped",
        channels: ["websocket", "email", "sms", "slack"],
        data: { orderId: "C-1", carrier: "DHL", trackingUrl: "https://track.example.com/C-1" },
        callback: "https://shop.example.com/orders/C-1",
      }),
      4,
      0,
    );
    const feed = await measure(
      "feed only",
      (userId) => ({ userId, type: "job.progress", message: "Export 40% done", progress: 40 }),
      1,
      options.notifications,
    );
    return report(four, feed);
  } finally {
    for (const socket of sockets) socket.terminate();
    await tidings.stop();
    uninstall();
  }
}

/** One priced line of a notification's cost. */
export interface Item {
  item: string;
  quantity: number;
  unit: string;
  dollars: number;
  /** What would cut it, for the three biggest. */
  cut: string;
}

export function items(c: Counts): Item[] {
  const per = (n: number) => n / c.notifications;
  const calls = (key: string) => per(c.calls.get(key) ?? 0);
  const awsCalls = per([...c.calls.values()].reduce((a, b) => a + b, 0));
  const gbSeconds = (per(c.durationMs) / 1000 + (awsCalls * AWS_ROUND_TRIP_MS) / 1000) * MEMORY_GB;
  const logGb = (per(c.logBytes) + per(c.invocations) * PLATFORM_LOG_BYTES_PER_INVOCATION) / 1024 ** 3;
  return [
    {
      item: "API Gateway HTTP API requests",
      quantity: 1,
      unit: "request",
      dollars: PRICES.httpApiRequest,
      cut: "batching several notifications per request (an API of its own)",
    },
    {
      item: "API Gateway WebSocket messages",
      quantity: calls("ApiGatewayManagementApi PostToConnection"),
      unit: "message",
      dollars: calls("ApiGatewayManagementApi PostToConnection") * PRICES.webSocketMessage,
      cut: "fewer open connections per user (one shared tab)",
    },
    {
      item: "Lambda requests",
      quantity: per(c.invocations),
      unit: "invocation",
      dollars: per(c.invocations) * PRICES.lambdaRequest,
      cut: "larger SQS batches (each worker invocation takes up to 10 messages under load)",
    },
    {
      item: "Lambda duration (arm64, 256 MB)",
      quantity: gbSeconds,
      unit: "GB-second",
      dollars: gbSeconds * PRICES.lambdaGbSecond,
      cut: "less memory for the workers (they wait on the network), fewer sequential AWS calls",
    },
    {
      item: "EventBridge events",
      quantity: calls("EventBridge PutEvents"),
      unit: "event",
      dollars: calls("EventBridge PutEvents") * PRICES.eventBridgeEvent,
      cut: "one event per notification fanned out by rules (one rule per channel reads the channels list)",
    },
    {
      item: "SQS requests",
      quantity: per(c.sqsRequests),
      unit: "request",
      dollars: per(c.sqsRequests) * PRICES.sqsRequest,
      cut: "batching windows (maximumBatchingWindowSeconds) so a receive and a delete carry many messages",
    },
    {
      item: "DynamoDB write units (tables and indexes)",
      quantity: per(c.writeUnits + c.indexWriteUnits),
      unit: "WRU",
      dollars: per(c.writeUnits + c.indexWriteUnits) * PRICES.dynamoWriteUnit,
      cut: "one log update per channel instead of a claim and an outcome",
    },
    {
      item: "DynamoDB read units",
      quantity: per(c.readUnits),
      unit: "RRU",
      dollars: per(c.readUnits) * PRICES.dynamoReadUnit,
      cut: "eventually consistent reads of settings and contacts",
    },
    {
      item: "KMS requests",
      quantity: 0,
      unit: "request",
      dollars: 0,
      cut: "none needed: DynamoDB and SQS cache data keys (SQS for kmsDataKeyReusePeriodSeconds, 300 s), so per notification ≈ 0",
    },
    {
      item: "SES e-mails",
      quantity: calls("SESv2 SendEmail"),
      unit: "e-mail",
      dollars: calls("SESv2 SendEmail") * PRICES.sesEmail,
      cut: "digests (several notifications in one e-mail)",
    },
    {
      item: "SNS SMS (US, before carrier fees)",
      quantity: calls("SNS Publish"),
      unit: "SMS",
      dollars: calls("SNS Publish") * PRICES.snsSmsUs,
      cut: "sending SMS only for critical types, push or e-mail for the rest",
    },
    {
      item: "CloudWatch Logs ingestion",
      quantity: logGb,
      unit: "GB",
      dollars: logGb * PRICES.logsGb,
      cut: "logging only failures and samples of sent deliveries",
    },
  ];
}

function report(four: Counts, feed: Counts): PartResult {
  const perMillion = (dollars: number) => `$${formatNumber(dollars * 1e6, 2)}`;
  const table = (title: string, c: Counts): Table => {
    const rows = items(c);
    const total = rows.reduce((sum, r) => sum + r.dollars, 0);
    return {
      title,
      headers: ["item", "per notification", "unit", "per million notifications"],
      rows: [
        ...rows.map((r) => [r.item, formatNumber(r.quantity, r.quantity < 0.01 && r.quantity > 0 ? 6 : 2), r.unit, perMillion(r.dollars)]),
        ["**total**", "", "", `**${perMillion(total)}**`],
      ],
    };
  };
  const biggest = (c: Counts) =>
    items(c)
      .sort((a, b) => b.dollars - a.dollars)
      .slice(0, 3)
      .map((r) => `${r.item} (${perMillion(r.dollars)} per million): ${r.cut}`);
  const totalOf = (c: Counts) => items(c).reduce((sum, r) => sum + r.dollars, 0);
  return {
    title: `What a notification costs on AWS (list prices, ${PRICES.region}, ${PRICES.date})`,
    tables: [
      table("four channels: websocket, email, sms, slack", four),
      table("the feed only (websocket)", feed),
      {
        title: "beside the hosted services' published prices",
        headers: ["service", "four channels, per million", "feed only, per million"],
        rows: [
          ["Tidings on AWS (these tables)", perMillion(totalOf(four)), perMillion(totalOf(feed))],
          ...HOSTED.map((h) => [h.name, perMillion(h.perNotification(4)), perMillion(h.perNotification(1))]),
        ],
      },
    ],
    notes: [
      `Counted while the local mode delivered ${four.notifications} notifications on four channels and ${feed.notifications} to the feed only, one user each, each user with one open connection: every AWS call by function (as the IAM tests attribute them), DynamoDB's consumed capacity per call, the queues' requests (sends, receives that carried messages, deletes), each invocation's duration and the bytes the functions logged.`,
      "The local DynamoDB reports the tables' capacity only: index writes are added by the indexes' definitions (runtime/tables.ts), one unit each (bench/cost.ts indexWrites).",
      `Lambda duration is the local one plus ${AWS_ROUND_TRIP_MS} ms per AWS call (the network round trip loopback lacks), at 256 MB. Each worker invocation carries one message here, as at low traffic; under load a batch of up to 10 shares one invocation, one receive and one delete.`,
      `Not per notification, so not in the tables: the event source mappings' empty long polls (per queue), the reconciler's schedule, Secrets Manager reads per cold start, KMS data-key requests (cached), the CloudWatch alarms and dashboard (per month), storage.`,
      `The three biggest items, four channels: ${biggest(four).join("; ")}.`,
      `The three biggest items, feed only: ${biggest(feed).join("; ")}.`,
      "Hosted prices are per notification as their plans count them: the channel providers (SES, SMS, Slack) are billed on top of both, by the providers themselves.",
    ],
  };
}
