/**
 * Part 4, pipeline: the whole local mode in this process (`startLocalTidings`), under a sustained load
 * of producer requests, measured where the notifications come out: the SES store, the SNS and Slack
 * sinks and the users' WebSocket clients. Every notification carries its eventId in the rendered text,
 * so each delivery is matched to the request that caused it.
 */
import { fork } from "node:child_process";
import * as os from "node:os";
import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { WebSocket } from "ws";
import * as path from "node:path";
import type { LocalTidings } from "../local/tidings";
import { startLocalAwsInChild } from "../local/childAws";
import { epochNow } from "./fanoutProtocol";
import { formatNumber, formatRatio, mapBounded, now, type PartResult, percentile, sleep } from "./lib";
import type { LoadCommand, LoadReport } from "./pipelineLoad";

export interface PipelineOptions {
  /** How long producers keep sending. */
  durationMs: number;
  /** Users the load is spread over; each has an e-mail, a phone, a Slack webhook and one open WebSocket. */
  users: number;
  /** Producer requests in flight at once. */
  concurrentRequests: number;
  /** Raw ws broadcast rate measured by the fan-out part in this run, for the ratio. */
  fanOutLimitPerSecond?: number;
}

const CHANNELS = ["websocket", "email", "sms", "slack"] as const;
type Channel = (typeof CHANNELS)[number];
const EVENT_ID = /bench-[0-9]+-[a-f0-9]{8}/;
/** How often the in-process sinks are looked at: the resolution of their latencies. */
const SINK_POLL_MS = 5;
/** After the load stops, how long deliveries still in the queues may take to arrive. */
const DRAIN_MS = 20_000;
/** The drain also ends when nothing new arrived for this long (failed deliveries never will). */
const DRAIN_IDLE_MS = 5_000;
/** Decisions that are not a step forward, counted to explain missing deliveries. */
const PROGRESS_OUTCOMES = ["queued", "sent", "connected", "allow", "disconnected"];

interface Delivery {
  at: number;
  latencyMs: number;
}

/** CPU time per accepted notification, ms, by process, from the first request to the end of the drain. */
interface CpuPerNotification {
  /** The bench's process: the Lambdas' code and the stand-ins for EventBridge, API Gateway and the sinks. */
  lambdas: number;
  /** The local AWS child: dynalite, fauxqs, aws-ses-v2-local. */
  aws: number;
  producers: number;
}

/** What one run reports besides its tables, for the before/after comparison. */
interface RunNumbers {
  cpu: CpuPerNotification;
  acceptedPerSecond: number;
  deliveriesPerSecond: number;
  worstP99: number;
  worstP50: number;
  delivered: number;
  accepted: number;
}

/**
 * Runs the load against the code of this checkout and, first, against BEFORE_COMMIT's local mode and
 * runtime (extracted by the `calls` part's git archive), so the ratio comes from one run.
 */
export async function runPipeline(options: PipelineOptions, progress: (line: string) => void): Promise<PartResult> {
  const { BEFORE_COMMIT, extractBefore } = require("./awsCalls") as typeof import("./awsCalls");
  const beforeRoot = extractBefore(progress);
  let before: RunNumbers | undefined;
  if (beforeRoot) {
    progress(`before (${BEFORE_COMMIT}):`);
    before = (await runPipelineOnce(options, progress, beforeRoot)).numbers;
  }
  progress("after (this checkout):");
  const after = await runPipelineOnce(options, progress, path.resolve(__dirname, ".."));
  const n = after.numbers;
  const row = (label: string, b: number | undefined, a: number, digits = 1) => [
    label,
    b === undefined ? "–" : formatNumber(b, digits),
    formatNumber(a, digits),
    b === undefined ? "–" : formatRatio(a / b),
  ];
  after.result.goals = [
    {
      goal: 4,
      measure: "local pipeline: accepted notifications/s, 4 channels",
      before: before ? formatNumber(before.acceptedPerSecond, 1) : "10.5 (issue)",
      after: formatNumber(n.acceptedPerSecond, 1),
      ratio: formatRatio(n.acceptedPerSecond / (before?.acceptedPerSecond ?? 10.5)),
      target: "≥ 100",
      met: n.acceptedPerSecond >= 100,
    },
    {
      goal: 4,
      measure: "local pipeline: p99 request → delivery, slowest channel, ms",
      before: before ? formatNumber(before.worstP99) : "2,800 (issue)",
      after: formatNumber(n.worstP99),
      ratio: formatRatio(n.worstP99 / (before?.worstP99 ?? 2800)),
      target: "≤ 1,000",
      met: n.worstP99 <= 1000,
    },
  ];
  after.result.tables.unshift({
    title: `Before (${BEFORE_COMMIT}) and after, same load, same run`,
    headers: ["measure", "before", "after", "after ÷ before"],
    rows: [
      row("producer requests accepted (202) per second (goal ≥ 100)", before?.acceptedPerSecond, n.acceptedPerSecond),
      row("deliveries per second, all four channels (goal ≥ 400)", before?.deliveriesPerSecond, n.deliveriesPerSecond),
      row("p50 request → delivery, slowest channel, ms", before?.worstP50, n.worstP50, 0),
      row("p99 request → delivery, slowest channel, ms (goal ≤ 1,000)", before?.worstP99, n.worstP99, 0),
      row("CPU ms per accepted notification: the Lambdas' code and the local stand-ins (one process)", before?.cpu.lambdas, n.cpu.lambdas),
      row("CPU ms per accepted notification: local AWS (dynalite, fauxqs, SES; one process)", before?.cpu.aws, n.cpu.aws),
      row("CPU ms per accepted notification: producers (one process)", before?.cpu.producers, n.cpu.producers),
      row(
        `notifications/s all processes could sustain with all ${os.availableParallelism()} cores busy (CPU ceiling)`,
        before ? cpuCeiling(before.cpu) : undefined,
        cpuCeiling(n.cpu),
      ),
      row(
        "delivered ÷ accepted × 4",
        before ? before.delivered / Math.max(1, before.accepted * 4) : undefined,
        n.delivered / Math.max(1, n.accepted * 4),
        3,
      ),
    ],
  });
  return after.result;
}

export async function runPipelineOnce(
  options: PipelineOptions,
  progress: (line: string) => void,
  root: string,
): Promise<{ result: PartResult; numbers: RunNumbers }> {
  const { startLocalTidings } = require(path.join(root, "local/tidings")) as typeof import("../local/tidings");
  progress("starting the local AWS servers in a child process, then the local mode (dev config with rate and per-user limits lifted)");
  // dynalite, fauxqs and SES get a core of their own, as AWS runs apart from the Lambdas.
  const localAws = await startLocalAwsInChild();
  // "<component> <channel>: <outcome> (<reason>)" → count, for the notes when deliveries are missing.
  const setbacks = new Map<string, number>();
  // E-mail is recorded when SES accepts it (the SES store is in the child process).
  let recordEmail: (eventId: string) => void = () => undefined;
  const tidings = await startLocalTidings({
    localAws,
    metrics: { count: () => undefined, latency: () => undefined },
    wrapProvider: (channel, provider) =>
      channel !== "email"
        ? provider
        : {
            name: provider.name,
            async send(delivery) {
              const result = await provider.send(delivery);
              if (result.outcome === "sent") recordEmail(delivery.eventId);
              return result;
            },
          },
    apiPort: 0,
    wsPort: 0,
    sesPort: 0,
    stateFile: false,
    seed: false,
    logger: (decision) => {
      if (PROGRESS_OUTCOMES.includes(decision.outcome)) return;
      const key = `${decision.component}${decision.channel ? ` ${decision.channel}` : ""}: ${decision.outcome}${decision.reason ? ` (${String(decision.reason).slice(0, 120)})` : ""}`;
      if (setbacks.size < 200 || setbacks.has(key)) setbacks.set(key, (setbacks.get(key) ?? 0) + 1);
    },
    editConfig: (raw) => {
      // The dev config throttles sms and slack to 1/s and caps messages per user per hour: by design, and
      // not what this part measures. The channels' concurrency stays as configured.
      for (const channel of Object.values(raw.channels ?? {}) as Record<string, unknown>[]) {
        delete channel.ratePerSecond;
        delete channel.perUser;
      }
    },
  });
  const sockets: WebSocket[] = [];
  let poller: NodeJS.Timeout | undefined;
  try {
    const missing = CHANNELS.filter((c) => !tidings.channels.some((ch) => ch.name === c));
    if (missing.length) throw new Error(`the dev config does not enable ${missing.join(", ")}`);
    const users = Array.from({ length: options.users }, (_, i) => `bench-user-${i}`);
    await seedContacts(tidings, users);

    // When each channel first delivered each eventId (epoch ms); the latencies follow once the
    // producers report when each request started.
    const receivedAt: Record<Channel, Map<string, number>> = { websocket: new Map(), email: new Map(), sms: new Map(), slack: new Map() };
    const duplicates: Record<Channel, number> = { websocket: 0, email: 0, sms: 0, slack: 0 };
    const record = (channel: Channel, text: string) => {
      const eventId = EVENT_ID.exec(text)?.[0];
      if (!eventId) return;
      if (receivedAt[channel].has(eventId)) duplicates[channel]++;
      else receivedAt[channel].set(eventId, epochNow());
    };

    progress(`${users.length} users: contacts seeded, opening one WebSocket each`);
    await mapBounded(users, 20, async (userId) => {
      const token = await tidings.signToken(userId);
      const socket = new WebSocket(`${tidings.endpoints.websocket}/?token=${token}`, { perMessageDeflate: false });
      sockets.push(socket);
      socket.on("message", (data) => record("websocket", String(data)));
      await new Promise<void>((resolve, reject) => {
        socket.once("open", () => resolve());
        socket.once("error", reject);
      });
    });

    recordEmail = (eventId) => record("email", eventId);
    const cursors = {
      sms: tidings.sinks.sns.received.length,
      slack: tidings.sinks.slack.received.length,
    };
    poller = setInterval(() => {
      const sms = tidings.sinks.sns.received;
      for (; cursors.sms < sms.length; cursors.sms++) record("sms", sms[cursors.sms].message);
      const slack = tidings.sinks.slack.received;
      for (; cursors.slack < slack.length; cursors.slack++) record("slack", JSON.stringify(slack[cursors.slack].body));
    }, SINK_POLL_MS);

    progress(
      `producing for ${options.durationMs / 1000} s, ${options.concurrentRequests} requests in flight (producers in their own process)`,
    );
    // The before tree names one producer scope (auth.producerScope); this one a scope per route.
    const auth = tidings.config.auth as { scopes?: Record<string, string>; producerScope?: string };
    const scope = auth.scopes ? Object.values(auth.scopes).join(" ") : (auth.producerScope ?? "notifications:send");
    const producerToken = await tidings.signToken("bench-producer", { scope });
    const cpuAtStart = { lambdas: process.cpuUsage(), aws: await localAws.cpuUsage() };
    const load = await runLoad({
      url: tidings.endpoints.notifications,
      token: producerToken,
      users,
      durationMs: options.durationMs,
      concurrency: options.concurrentRequests,
    });
    const statuses = new Map<number | string, number>();
    const sentAt = new Map<string, number>();
    for (const [eventId, startedAt, status] of load.requests) {
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
      if (status === 202) sentAt.set(eventId, startedAt);
    }
    const accepted = sentAt.size;
    const producedMs = load.endedAt - load.startedAt;

    progress(`${accepted} accepted; waiting up to ${DRAIN_MS / 1000} s for the queues to drain`);
    const drainDeadline = now() + DRAIN_MS;
    const total = () => CHANNELS.reduce((sum, c) => sum + receivedAt[c].size, 0);
    let lastTotal = total();
    let lastChangeAt = now();
    while (now() < drainDeadline && now() - lastChangeAt < DRAIN_IDLE_MS && CHANNELS.some((c) => receivedAt[c].size < accepted)) {
      await sleep(50);
      if (total() !== lastTotal) [lastTotal, lastChangeAt] = [total(), now()];
    }
    clearInterval(poller);
    poller = undefined;
    const cpuMicros = {
      lambdas: microsSince(cpuAtStart.lambdas, process.cpuUsage()),
      aws: microsSince(cpuAtStart.aws, await localAws.cpuUsage()),
      producers: load.cpuMicros,
    };
    const perNotification = (micros: number) => micros / 1000 / Math.max(1, accepted);
    const cpu: CpuPerNotification = {
      lambdas: perNotification(cpuMicros.lambdas),
      aws: perNotification(cpuMicros.aws),
      producers: perNotification(cpuMicros.producers),
    };

    const delivered = Object.fromEntries(
      CHANNELS.map((channel) => {
        const deliveries = new Map<string, Delivery>();
        for (const [eventId, at] of receivedAt[channel]) {
          const started = sentAt.get(eventId);
          if (started !== undefined) deliveries.set(eventId, { at, latencyMs: at - started });
        }
        return [channel, deliveries];
      }),
    ) as Record<Channel, Map<string, Delivery>>;
    const startedAt = load.startedAt;
    return report(options, { accepted, statuses, producedMs, startedAt, delivered, duplicates, setbacks, cpu });
  } finally {
    if (poller) clearInterval(poller);
    for (const socket of sockets) socket.terminate();
    await tidings.stop();
    await localAws.stop();
  }
}

function microsSince(start: NodeJS.CpuUsage, end: NodeJS.CpuUsage): number {
  return end.user - start.user + (end.system - start.system);
}

/** Accepted notifications per second all processes together could sustain if every core were busy. */
function cpuCeiling(cpu: CpuPerNotification): number {
  return (os.availableParallelism() * 1000) / (cpu.lambdas + cpu.aws + cpu.producers);
}

async function seedContacts(tidings: LocalTidings, users: string[]) {
  await mapBounded(users, 10, (userId, i) =>
    tidings.clients.ddb.send(
      new PutCommand({
        TableName: tidings.tables.contacts,
        Item: {
          userId,
          email: `${userId}@example.com`,
          phone: `+1555${String(1_000_000 + i).slice(1)}`,
          external_channels: { slack: { webhookUrl: `${tidings.endpoints.slackSink}/services/T0BENCH/B0BENCH/${userId}` } },
        },
      }),
    ),
  );
}

/** Runs the producers in a forked process (bench/pipelineLoad.ts) and returns their report. */
function runLoad(command: LoadCommand): Promise<LoadReport> {
  const child = fork(path.join(__dirname, "pipelineLoad.ts"), [], {
    execArgv: ["-r", "ts-node/register/transpile-only"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  return new Promise<LoadReport>((resolve, reject) => {
    child.once("message", (answer: { ok: true; report: LoadReport } | { ok: false; error: string }) => {
      child.disconnect();
      if (answer.ok) resolve(answer.report);
      else reject(new Error(`producers: ${answer.error}`));
    });
    child.once("exit", (code) => reject(new Error(`the producers' process exited (code ${code}) before reporting`)));
    child.send(command);
  });
}

function report(
  options: PipelineOptions,
  run: {
    accepted: number;
    statuses: Map<number | string, number>;
    producedMs: number;
    startedAt: number;
    delivered: Record<Channel, Map<string, Delivery>>;
    duplicates: Record<Channel, number>;
    setbacks: Map<string, number>;
    cpu: CpuPerNotification;
  },
): { result: PartResult; numbers: RunNumbers } {
  const requestRate = run.accepted / (run.producedMs / 1000);
  const rows = CHANNELS.map((channel) => {
    const deliveries = [...run.delivered[channel].values()];
    const lastAt = Math.max(...deliveries.map((d) => d.at));
    // Delivered per second from the first request to the last delivery of the channel.
    const rate = deliveries.length ? deliveries.length / ((lastAt - run.startedAt) / 1000) : 0;
    const latencies = deliveries.map((d) => d.latencyMs);
    return {
      channel,
      count: deliveries.length,
      rate,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      duplicates: run.duplicates[channel],
    };
  });
  const websocket = rows.find((r) => r.channel === "websocket")!;
  const totalRate = rows.reduce((sum, r) => sum + (Number.isFinite(r.rate) ? r.rate : 0), 0);
  const statusText = [...run.statuses].map(([status, count]) => `${status}: ${count}`).join(", ");
  const numbers: RunNumbers = {
    cpu: run.cpu,
    acceptedPerSecond: requestRate,
    deliveriesPerSecond: totalRate,
    worstP99: Math.max(...rows.map((r) => r.p99)),
    worstP50: Math.max(...rows.map((r) => r.p50)),
    delivered: rows.reduce((sum, r) => sum + r.count, 0),
    accepted: run.accepted,
  };
  const result: PartResult = {
    title: `Pipeline: ${options.durationMs / 1000} s of producer load through the local mode`,
    tables: [
      {
        headers: ["channel", "delivered", "of accepted", "notifications/s", "÷ accepted/s", "p50 ms", "p99 ms", "duplicates"],
        rows: rows.map((r) => [
          r.channel,
          formatNumber(r.count),
          `${((r.count / Math.max(1, run.accepted)) * 100).toFixed(1)}%`,
          formatNumber(r.rate, 1),
          formatRatio(r.rate / requestRate),
          formatNumber(r.p50),
          formatNumber(r.p99),
          String(r.duplicates),
        ]),
      },
      {
        title: "Totals and ratios",
        headers: ["measure", "value"],
        rows: [
          ["producer requests accepted (202) per second", formatNumber(requestRate, 1)],
          ["deliveries per second, all four channels", formatNumber(totalRate, 1)],
          ...(options.fanOutLimitPerSecond
            ? [
                [
                  "websocket notifications/s ÷ raw ws broadcast frames/s (fan-out limit)",
                  formatRatio(websocket.rate / options.fanOutLimitPerSecond),
                ],
              ]
            : []),
        ],
      },
    ],
    notes: [
      `Load: ${options.concurrentRequests} concurrent \`POST /notifications\` (Bearer dev token, type order.shipped, its templates, unique eventId) for ${options.durationMs / 1000} s over ${options.users} users; answers: ${statusText}.`,
      "Config: Pulumi.dev.yaml with every channel's `ratePerSecond` and `perUser` limit removed (they throttle sms and slack to 1/s by design); queue settings and each channel's `maxConcurrency` as configured. Push is disabled in the dev config.",
      `Latency: from the start of the request to the delivery. WebSocket: on the client's message event. E-mail: when aws-ses-v2-local accepted the SendEmail. SMS (SNS sink) and Slack (webhook sink) are looked at every ${SINK_POLL_MS} ms, so their latencies are up to ${SINK_POLL_MS} ms late. Rate: deliveries ÷ time from the first request to the channel's last delivery (including up to ${DRAIN_MS / 1000} s of drain).`,
      `CPU: each process's user + system time from the first request to the end of the drain (process.cpuUsage; the local AWS child reports its own over IPC), divided by the accepted notifications. The CPU ceiling is ${os.availableParallelism()} cores × 1,000 ms ÷ their sum: the rate no arrangement of these processes on this machine can pass without less CPU per notification.`,
      ...(run.setbacks.size
        ? [
            "Decisions other than queued/sent during the run (count, most frequent first): " +
              [...run.setbacks]
                .sort((a, b) => b[1] - a[1])
                .slice(0, 6)
                .map(([what, count]) => `${count}× ${what}`)
                .join("; ") +
              ".",
          ]
        : []),
      "Processes: dynalite, fauxqs and aws-ses-v2-local run in a child process (local/childAws.ts), as AWS runs apart from the Lambdas; the producers (`POST /notifications` loops) run in a third process (bench/pipelineLoad.ts), as callers never share the service's CPU; the producer API, EventBridge stand-in, pollers, workers, gateway, sinks and the users' WebSocket clients share the bench's process. The machine is shared with other work (see the load average above): the numbers say what the code costs relative to each other, not what AWS would sustain.",
    ],
  };
  return { result, numbers };
}
