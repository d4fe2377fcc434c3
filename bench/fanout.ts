/**
 * Part 1, fan-out: one notification to one user with many open connections, three ways.
 *
 * - ours: `makeUserDelivery` (GSI query, all pages, posts with a concurrency bound) through the local
 *   gateway's management API, as the websocket channel worker does;
 * - seed: what the project started from: Scan the whole connections table, post one at a time;
 * - limit: a raw `ws` broadcast of the same frame to as many server-side sockets, with no DynamoDB and no
 *   HTTP. The gateway does not expose its sockets, so this runs against a plain `ws` server with its own
 *   clients (same count, same frame, same receiving code).
 *
 * A run counts only when every client received the frame exactly once.
 */
import { type ChildProcess, fork } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import * as path from "node:path";
import { ApiGatewayManagementApiClient, PostToConnectionCommand } from "@aws-sdk/client-apigatewaymanagementapi";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { BatchWriteCommand, DynamoDBDocumentClient, ScanCommand } from "@aws-sdk/lib-dynamodb";
import { signDevToken } from "../local/tokens";
import type { NotificationFrame } from "../runtime/contracts";
import { connectionsOfUser, makeUserDelivery } from "../runtime/deliver";
import type { DecisionLogger } from "../runtime/log";
import { epochNow, type HostCommand, type HostMessage } from "./fanoutProtocol";
import { startLocalAwsInChild } from "../local/childAws";
import { formatNumber, formatRatio, mapBounded, median, type PartResult, sleep, withTimeout } from "./lib";

export interface FanOutOptions {
  /** Open connections of the one user. */
  connections: number;
  /** Rows of other users in the same table (not connected): what a Scan has to read past. */
  otherUsersRows: number;
  /** Measured runs per method (after one warm-up); the median is reported. */
  repeats: number;
  /** Concurrency bounds tried for ours; the first is the shipped default. */
  concurrencies: number[];
  /** Delay added to every post in the second pass, standing in for the Lambda → API Gateway round trip. */
  roundTripMs: number;
  /** Longest one delivery may take before the part fails. */
  runTimeoutMs: number;
}

const USER_ID = "fanout-user";
const TABLE = "bench-connections";
const AUTH = { issuer: "tidings-bench", audience: "tidings" };
const quiet: DecisionLogger = () => {};
/** Time after the last expected frame during which a duplicate would still be caught. */
const DUPLICATE_GRACE_MS = 200;

function frameFor(runId: string): NotificationFrame {
  return {
    type: "notification",
    id: runId,
    message: "Your order A-1001 has shipped with DHL.",
    callback: "https://shop.example.com/orders/A-1001",
  };
}

interface Measurement {
  method: string;
  /** Connections reached per second, start of the delivery to the last client's receipt, per run. */
  rates: number[];
}

/** The forked gateway (or plain server) process with its clients, driven over IPC. */
class Host {
  private readonly waiters: { event: string; match: (m: any) => boolean; resolve: (m: any) => void; reject: (e: Error) => void }[] = [];
  private exited = false;

  private constructor(private readonly child: ChildProcess) {
    child.on("message", (message: HostMessage) => {
      if (message.event === "failed") return this.failAll(new Error(`host: ${message.message}`));
      const index = this.waiters.findIndex((w) => w.event === message.event && w.match(message));
      if (index >= 0) this.waiters.splice(index, 1)[0].resolve(message);
    });
    child.on("exit", (code) => {
      this.exited = true;
      this.failAll(new Error(`host process exited (code ${code})`));
    });
  }

  static start(): Host {
    const child = fork(path.join(__dirname, "fanoutHost.ts"), [], {
      execArgv: ["-r", "ts-node/register/transpile-only"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    return new Host(child);
  }

  private failAll(error: Error) {
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }

  waitFor<K extends HostMessage["event"]>(event: K, match: (m: Extract<HostMessage, { event: K }>) => boolean = () => true) {
    return new Promise<Extract<HostMessage, { event: K }>>((resolve, reject) => {
      if (this.exited) return reject(new Error("host process is gone"));
      this.waiters.push({ event, match, resolve, reject });
    });
  }

  request<K extends HostMessage["event"]>(command: HostCommand, reply: K, match?: (m: Extract<HostMessage, { event: K }>) => boolean) {
    const answer = this.waitFor(reply, match);
    this.child.send(command);
    return answer;
  }

  /** Asks the host to close its sockets and servers; kills it if it does not exit in time. */
  async stop() {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once("exit", () => resolve()));
    this.child.send({ cmd: "stop" } satisfies HostCommand);
    await withTimeout(exited, 20_000, "host did not stop").catch(() => this.child.kill("SIGKILL"));
  }
}

type Deliver = (frame: NotificationFrame) => Promise<{ startedAt?: number } | void>;

/** Runs `deliver` once for a fresh run id and returns connections/s; throws unless each client got it once. */
async function measureOnce(host: Host, connections: number, label: string, timeoutMs: number, deliver: Deliver): Promise<number> {
  const runId = `${label}-${randomUUID()}`;
  await host.request({ cmd: "expect", runId }, "expecting", (m) => m.runId === runId);
  const allReceived = host.waitFor("received", (m) => m.runId === runId);
  const started = epochNow();
  const [delivered, received] = await withTimeout(
    Promise.all([deliver(frameFor(runId)), allReceived]),
    timeoutMs,
    `${label}: not every client received the frame`,
  );
  await sleep(DUPLICATE_GRACE_MS);
  const check = await host.request({ cmd: "check", runId }, "checked", (m) => m.runId === runId);
  if (check.missing || check.duplicated || check.received !== connections || check.strays) {
    throw new Error(
      `${label}: ${check.missing} clients missed the frame, ${check.duplicated} got it more than once, ${check.strays} frames belonged to no run (${check.received} frames for ${connections} clients)`,
    );
  }
  return connections / ((received.lastAt - (delivered?.startedAt ?? started)) / 1000);
}

/** The raw broadcast: a plain ws server (in the host) sending one prepared frame to each of its sockets. */
async function measureLimit(options: FanOutOptions): Promise<{ rates: number[]; openMs: number }> {
  const host = Host.start();
  try {
    const { openMs } = await host.request({ cmd: "plain", connections: options.connections }, "ready");
    // The clock starts when the host starts sending, not when the IPC message left.
    const broadcast: Deliver = async (frame) => {
      const { startedAt } = await host.request({ cmd: "broadcast", frame: JSON.stringify(frame) }, "broadcasting");
      return { startedAt };
    };
    await measureOnce(host, options.connections, "limit-warmup", options.runTimeoutMs, broadcast);
    const rates: number[] = [];
    for (let i = 0; i < options.repeats; i++)
      rates.push(await measureOnce(host, options.connections, "limit", options.runTimeoutMs, broadcast));
    return { rates, openMs };
  } finally {
    await host.stop();
  }
}

/** The seed's delivery: read every row of the table, post to the user's connections one after another. */
function makeSeedDelivery(deps: { ddb: DynamoDBDocumentClient; mgmt: ApiGatewayManagementApiClient; table: string }) {
  return async (userId: string, frame: unknown) => {
    const data = new TextEncoder().encode(JSON.stringify(frame));
    let delivered = 0;
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await deps.ddb.send(new ScanCommand({ TableName: deps.table, ExclusiveStartKey: startKey }));
      for (const row of page.Items ?? []) {
        if (row.userId !== userId) continue;
        await deps.mgmt.send(new PostToConnectionCommand({ ConnectionId: row.connectionId, Data: data }));
        delivered++;
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return delivered;
  };
}

/** Rows of other users, in the connections table's layout, so the Scan has the work it has in production. */
async function putOtherUsersRows(ddb: DynamoDBDocumentClient, count: number) {
  const ttl = Math.floor(Date.now() / 1000) + 3600;
  const rows = Array.from({ length: count }, (_, i) => ({
    connectionId: randomBytes(11).toString("base64"),
    userId: `other-${i % 500}`,
    sourceIp: "127.0.0.1",
    connectedAt: new Date().toISOString(),
    ttl,
  }));
  const batches: (typeof rows)[] = [];
  for (let i = 0; i < rows.length; i += 25) batches.push(rows.slice(i, i + 25));
  await mapBounded(batches, 8, async (batch) => {
    let pending: Record<string, any[]> | undefined = { [TABLE]: batch.map((Item) => ({ PutRequest: { Item } })) };
    while (pending && Object.keys(pending).length) {
      const result = await ddb.send(new BatchWriteCommand({ RequestItems: pending }));
      pending = result.UnprocessedItems as Record<string, any[]> | undefined;
    }
  });
}

export async function runFanOut(options: FanOutOptions, progress: (line: string) => void): Promise<PartResult> {
  // The limit first, and its host stopped, so both sets of sockets never hold file descriptors at once.
  progress(`limit: raw ws broadcast to ${options.connections} sockets (plain ws server in a child process)`);
  const limit = await measureLimit(options);

  // dynalite in a child process, as AWS runs apart from the Lambda: its Query work is not the posting code's CPU.
  const aws = await startLocalAwsInChild();
  aws.applyEnv();
  const ddb = DynamoDBDocumentClient.from(new DynamoDBClient({}), { marshallOptions: { removeUndefinedValues: true } });
  const signingKey = randomBytes(32);
  let host: Host | undefined;
  let mgmt: ApiGatewayManagementApiClient | undefined;
  try {
    await aws.createTables({ connections: TABLE });
    progress(
      `gateway: ${options.otherUsersRows} rows of other users, then ${options.connections} clients through the authorizer and $connect`,
    );
    await putOtherUsersRows(ddb, options.otherUsersRows);
    const token = await signDevToken({ secret: signingKey, userId: USER_ID, ...AUTH });
    host = Host.start();
    const ready = await host.request(
      { cmd: "gateway", connections: options.connections, token, signingKeyHex: signingKey.toString("hex"), auth: AUTH, table: TABLE },
      "ready",
    );
    mgmt = new ApiGatewayManagementApiClient({ endpoint: ready.managementEndpoint!, cacheMiddleware: true });
    const reachable = await connectionsOfUser({ ddb, connectionsTable: TABLE }, USER_ID);
    if (reachable.length !== options.connections) {
      throw new Error(
        `gateway: the byUser index returns ${reachable.length} connection rows for ${options.connections} open clients (the gateway holds ${ready.connectionIds?.length} connections)`,
      );
    }

    // "before": the delivery as it was when issue 12 was filed (commit BEFORE_COMMIT's runtime/deliver.ts:
    // the SDK client's send per post, 10 posts in flight), measured in this same run.
    const { BEFORE_COMMIT, extractBefore } = require("./awsCalls") as typeof import("./awsCalls");
    const beforeRoot = extractBefore(progress);
    const beforeDeliver = beforeRoot
      ? (require(path.join(beforeRoot, "runtime/deliver")) as typeof import("../runtime/deliver")).makeUserDelivery
      : undefined;

    /** Before (when it can be extracted), ours at each concurrency bound, then the seed, all through `mgmt`. */
    const methods = (): { name: string; deliver: Deliver }[] => {
      const client = mgmt!;
      const seed = makeSeedDelivery({ ddb, mgmt: client, table: TABLE });
      const checked =
        (name: string, deliver: ReturnType<typeof makeUserDelivery>): Deliver =>
        async (frame) => {
          const report = await deliver(USER_ID, frame);
          if (report.delivered !== options.connections) {
            throw new Error(
              `${name}: delivered ${report.delivered}, gone ${report.gone}, failed ${report.failed} (${report.errors.slice(0, 3).join("; ")})`,
            );
          }
        };
      return [
        ...(beforeDeliver
          ? [
              {
                name: `before (${BEFORE_COMMIT}, SDK send per post, concurrency 10)`,
                deliver: checked("before", beforeDeliver({ ddb, mgmt: client, connectionsTable: TABLE, concurrency: 10, logger: quiet })),
              },
            ]
          : []),
        ...options.concurrencies.map((c) => ({
          name: `ours (concurrency ${c})`,
          deliver: checked(`ours(${c})`, makeUserDelivery({ ddb, mgmt: client, connectionsTable: TABLE, concurrency: c, logger: quiet })),
        })),
        {
          name: "seed (Scan, sequential)",
          deliver: async (frame) => {
            const delivered = await seed(USER_ID, frame);
            if (delivered !== options.connections) throw new Error(`seed: posted to ${delivered} of ${options.connections}`);
          },
        },
      ];
    };
    /** Rounds interleave the methods, so drift (GC, a busy neighbour) spreads over all of them. */
    const measureRounds = async (label: string, methods: { name: string; deliver: Deliver }[], repeats: number) => {
      const measured: Measurement[] = methods.map((m) => ({ method: m.name, rates: [] }));
      for (let round = 0; round < repeats; round++) {
        for (const [i, method] of methods.entries()) {
          progress(`${label} round ${round + 1}/${repeats}: ${method.name}`);
          measured[i].rates.push(await measureOnce(host!, options.connections, `${label}-${i}`, options.runTimeoutMs, method.deliver));
        }
      }
      return measured;
    };

    const loopback = methods();
    progress("warm-up");
    for (const method of loopback) await measureOnce(host, options.connections, "warmup", options.runTimeoutMs, method.deliver);
    const measured = await measureRounds("loopback", loopback, options.repeats);

    // On loopback a post costs CPU only, so posting in parallel cannot beat posting in turn. In AWS each
    // post also waits a network round trip: the gateway holds each answer that long (a timer, no CPU).
    await host.request({ cmd: "latency", ms: options.roundTripMs }, "latency");
    const measuredWithRoundTrip = await measureRounds(`+${options.roundTripMs}ms`, methods(), options.repeats);
    return report(options, measured, measuredWithRoundTrip, limit, ready.openMs, beforeDeliver !== undefined);
  } finally {
    await host?.stop();
    mgmt?.destroy();
    ddb.destroy();
    await aws.stop();
  }
}

function report(
  options: FanOutOptions,
  measured: Measurement[],
  measuredWithRoundTrip: Measurement[],
  limit: { rates: number[] },
  gatewayOpenMs: number,
  hasBefore: boolean,
): PartResult {
  const limitRate = median(limit.rates);
  const summary = (rows: Measurement[]) => {
    const first = hasBefore ? 1 : 0;
    const ours = rows.slice(first, first + options.concurrencies.length);
    const seedRate = median(rows[rows.length - 1].rates);
    const best = ours.reduce((a, b) => (median(b.rates) > median(a.rates) ? b : a));
    return {
      seedRate,
      beforeRate: hasBefore ? median(rows[0].rates) : undefined,
      defaultRate: median(ours[0].rates),
      best,
      bestRate: median(best.rates),
    };
  };
  const plain = summary(measured);
  const delayed = summary(measuredWithRoundTrip);
  const row = (name: string, rates: number[], seedRate: number) => {
    const rate = median(rates);
    return [
      name,
      formatNumber(rate),
      formatNumber(Math.min(...rates)),
      formatNumber(Math.max(...rates)),
      formatRatio(rate / seedRate),
      formatRatio(rate / limitRate),
    ];
  };
  const bound = (m: Measurement) => m.method.replace(/^ours \((.*)\)$/, "$1");
  const goalRatio = delayed.beforeRate ? delayed.defaultRate / delayed.beforeRate : undefined;
  return {
    measured: { fanOutLimitPerSecond: limitRate },
    goals: [
      {
        goal: 5,
        measure: `fan-out, +${options.roundTripMs} ms per post: connections/s of the shipped default`,
        before: delayed.beforeRate ? formatNumber(delayed.beforeRate) : "1,355 (issue)",
        after: formatNumber(delayed.defaultRate),
        ratio: formatRatio(delayed.defaultRate / (delayed.beforeRate ?? 1355)),
        target: "≥ 3×",
        met: (goalRatio ?? delayed.defaultRate / 1355) >= 3,
      },
    ],
    title: `Fan-out: one notification to a user with ${formatNumber(options.connections)} open connections`,
    tables: [
      {
        title: `Loopback (median of ${options.repeats} runs)`,
        headers: ["method", "connections/s", "min", "max", "÷ seed", "÷ limit"],
        rows: [
          ...measured.map((m) => row(m.method, m.rates, plain.seedRate)),
          row("limit (raw ws broadcast)", limit.rates, plain.seedRate),
        ],
      },
      {
        title: `With ${options.roundTripMs} ms added to every post (median of ${options.repeats} runs)`,
        headers: ["method", "connections/s", "min", "max", "÷ seed", "÷ limit"],
        rows: measuredWithRoundTrip.map((m) => row(m.method, m.rates, delayed.seedRate)),
      },
      {
        title: "Ratios",
        headers: ["ratio", "loopback", `+${options.roundTripMs} ms per post`],
        rows: [
          [
            `ours (shipped default, concurrency ${options.concurrencies[0]}) ÷ before (goal ≥ 3× with the round trip)`,
            plain.beforeRate ? formatRatio(plain.defaultRate / plain.beforeRate) : "–",
            delayed.beforeRate ? formatRatio(delayed.defaultRate / delayed.beforeRate) : "–",
          ],
          [
            `ours (shipped default, concurrency ${options.concurrencies[0]}) ÷ seed`,
            formatRatio(plain.defaultRate / plain.seedRate),
            formatRatio(delayed.defaultRate / delayed.seedRate),
          ],
          ["ours (shipped default) ÷ limit", formatRatio(plain.defaultRate / limitRate), formatRatio(delayed.defaultRate / limitRate)],
          [
            "ours (best bound) ÷ seed",
            `${formatRatio(plain.bestRate / plain.seedRate)} (${bound(plain.best)})`,
            `${formatRatio(delayed.bestRate / delayed.seedRate)} (${bound(delayed.best)})`,
          ],
          ["ours (best bound) ÷ limit", formatRatio(plain.bestRate / limitRate), formatRatio(delayed.bestRate / limitRate)],
        ],
      },
    ],
    notes: [
      `Each run delivers to the same ${formatNumber(options.connections)} sockets with the same frame and counts only when every client received it exactly once (checked ${DUPLICATE_GRACE_MS} ms after the last one). Loopback runs interleave the methods round by round, after one warm-up.`,
      `Time is from the start of the delivery to the last client's receipt. The connections table also holds ${formatNumber(options.otherUsersRows)} rows of 500 other users: the seed's Scan reads them, the byUser index query does not.`,
      `On loopback a post costs only CPU, so the concurrency bound changes little; the second pass adds ${options.roundTripMs} ms per post (the gateway holds each answer that long: a timer, no CPU, whichever way the post was made), standing in for the Lambda → API Gateway round trip, which is where the bound pays. Best bound: ${bound(plain.best)} on loopback, ${bound(delayed.best)} with the round trip.`,
      `The management client is built as the shipped code builds it, so the SDK's default agent (at most 50 sockets) also bounds posts in flight: bounds above 50 queue inside the client. "before" posts with \`client.send(new PostToConnectionCommand(…))\`; ours with runtime/connectionPoster.ts (the same client's signer, HTTP handler and retry strategy, without the per-call middleware).`,
      `Clients connected through the local gateway's authorizer (HS256 token) and the real \`$connect\` handler into dynalite: ${formatNumber(options.connections)} in ${formatNumber(gatewayOpenMs)} ms (${formatNumber(options.connections / (gatewayOpenMs / 1000))} connections/s, 100 handshakes at a time). Every row is checked to be reachable through the byUser index before measuring.`,
      "The limit is measured against a plain `ws` server with its own clients (the gateway does not expose its server-side sockets), in the same kind of forked process: same count, same frame, same counting code; its clock starts when the server starts sending.",
      "Processes: the gateway (or the plain server) and its clients run in one forked process, as API Gateway runs apart from Lambda; dynalite runs in a third (local/childAws.ts), and the delivery code in the part's own process. The byUser query comes before the posts, so on 2 cores the posting code and the gateway get a core each while posting.",
    ],
  };
}
