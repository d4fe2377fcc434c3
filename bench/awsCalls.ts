/**
 * Part `calls`: what one notification costs in AWS calls, counted rather than timed (so the numbers do
 * not depend on how busy the machine is). Every SDK v3 client here is a `Client` of `@smithy/core/client`,
 * so one wrapper around `Client.prototype.send` sees every command of every client; it can also hold each
 * call for a fixed latency, standing in for the network between a Lambda and DynamoDB or EventBridge.
 *
 * Measured for the code of this checkout ("after") and, in the same run, for the code of BEFORE_COMMIT
 * ("before"): its `runtime/`, `local/`, templates and dev config are extracted with `git archive` into
 * bench/.tmp/before/ and run the same way, against the same kind of local servers.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { formatNumber, formatRatio, median, now, type PartResult, sleep, type Table } from "./lib";

/** main when this work started: the producer path the issue measured (10 sequential round trips, 27 calls). */
export const BEFORE_COMMIT = "5f49123";
const REPO_ROOT = path.resolve(__dirname, "..");
const CHANNELS = ["websocket", "email", "sms", "slack"];

interface Call {
  scope: "producer" | "worker";
  command: string;
  startedAt: number;
  endedAt: number;
  /** DynamoDB capacity units the call consumed, as the table reported them (ReturnConsumedCapacity). */
  capacityUnits?: number;
}

/**
 * One wrapper for the whole process: records calls while `recording`, adds `latencyMs` to each. Calls
 * made without `send` are counted where they are signed: the websocket worker posts to connections
 * through the client's signer and HTTP handler directly (runtime/connectionPoster.ts), one signature per
 * HTTP attempt, as `send` makes one call per command.
 */
function installCounter() {
  const { Client } = require("@smithy/core/client") as { Client: { prototype: { send: (...args: any[]) => Promise<unknown> } } };
  const { SignatureV4 } = require("@smithy/signature-v4") as {
    SignatureV4: { prototype: { sign: (...args: any[]) => Promise<unknown> } };
  };
  const scope = new AsyncLocalStorage<"producer">();
  const insideSend = new AsyncLocalStorage<true>();
  const state = { recording: false, latencyMs: 0, calls: [] as Call[] };
  const original = Client.prototype.send;
  const originalSign = SignatureV4.prototype.sign;
  Client.prototype.send = async function (this: unknown, ...args: any[]) {
    const name = String(args[0]?.constructor?.name ?? "unknown").replace(/Command$/, "");
    // DynamoDB commands name their table, so a politeness update is told from a log update.
    const table = typeof args[0]?.input?.TableName === "string" ? ` ${args[0].input.TableName.replace(/^tidings-local-/, "")}` : "";
    const command = `${name}${table}`;
    // SQS is the event source mapping (receive, delete) and EventBridge's target (send) here: AWS's
    // own traffic, not calls of ours; the issue leaves it out too.
    const isInfrastructure = /^(ReceiveMessage|DeleteMessage|DeleteMessageBatch|SendMessage|SendMessageBatch|GetQueueAttributes)$/.test(
      name,
    );
    const call: Call = { scope: scope.getStore() ?? "worker", command, startedAt: now(), endedAt: 0 };
    const input = args[0]?.input;
    const isDynamoDb = input && (typeof input.TableName === "string" || typeof input.RequestItems === "object");
    if (isDynamoDb && input.ReturnConsumedCapacity === undefined) input.ReturnConsumedCapacity = "TOTAL";
    if (state.latencyMs > 0 && !isInfrastructure) await sleep(state.latencyMs);
    try {
      const output: any = await insideSend.run(true, () => original.apply(this, args));
      if (isDynamoDb)
        call.capacityUnits = [output?.ConsumedCapacity ?? []].flat().reduce((sum: number, c: any) => sum + (c?.CapacityUnits ?? 0), 0);
      return output;
    } finally {
      call.endedAt = now();
      if (state.recording && !isInfrastructure) state.calls.push(call);
    }
  };
  SignatureV4.prototype.sign = async function (this: unknown, ...args: any[]) {
    const path = String(args[0]?.path ?? "");
    if (insideSend.getStore() || !path.includes("/@connections/")) return originalSign.apply(this, args);
    const call: Call = { scope: scope.getStore() ?? "worker", command: "PostToConnection", startedAt: now(), endedAt: 0 };
    if (state.latencyMs > 0) await sleep(state.latencyMs);
    try {
      return await originalSign.apply(this, args);
    } finally {
      call.endedAt = now();
      if (state.recording) state.calls.push(call);
    }
  };
  return {
    state,
    inProducer: <T>(task: () => Promise<T>) => scope.run("producer", task),
    uninstall: () => {
      Client.prototype.send = original;
      SignatureV4.prototype.sign = originalSign;
    },
  };
}

/** Longest chain of calls each starting after the previous one ended: the sequential round trips. */
export function sequentialRoundTrips(calls: { startedAt: number; endedAt: number }[]): number {
  const sorted = [...calls].sort((a, b) => a.startedAt - b.startedAt);
  const depth: number[] = [];
  for (let i = 0; i < sorted.length; i++) {
    depth[i] = 1;
    for (let j = 0; j < i; j++) if (sorted[j].endedAt <= sorted[i].startedAt) depth[i] = Math.max(depth[i], depth[j] + 1);
  }
  return Math.max(0, ...depth);
}

interface Variant {
  label: string;
  root: string;
}

/** DynamoDB capacity units one notification consumed, producer and workers together. */
interface CapacityUnits {
  read: number;
  write: number;
}

interface Measured {
  producerCalls: Map<string, number>;
  workerCalls: Map<string, number>;
  roundTrips: number;
  requestMs: number;
  requestMsWithLatency: number;
  roundTripsWithLatency: number;
  /** With the dev templates (order.shipped). */
  capacity: CapacityUnits;
  /** With RECEIPT_TYPE: the same notification with an e-mail of RECEIPT_EMAIL_BYTES. */
  receiptCapacity: CapacityUnits;
}

/**
 * A type like order.shipped whose e-mail is the size of a real one: order.shipped's templates carry a
 * few hundred bytes, where a shop's receipt, with its layout and inline styles, carries tens of KB. What a
 * worker's update of the log costs grows with the content kept in it, so capacity is measured with both.
 */
const RECEIPT_TYPE = "bench.receipt";
const RECEIPT_EMAIL_BYTES = 20 * 1024;

/** The receipt's e-mail template: order.shipped's, inside the markup of a typical transactional e-mail. */
function receiptEmailTemplate(orderShipped: { subject: string; text: string; html: string }): {
  subject: string;
  text: string;
  html: string;
} {
  const cell =
    'style="padding:12px 16px;border-bottom:1px solid #e5e7eb;font-family:Helvetica,Arial,sans-serif;font-size:14px;color:#374151"';
  const rows: string[] = [];
  for (let i = 1; rows.join("").length < RECEIPT_EMAIL_BYTES - 2_500; i++)
    rows.push(
      `<tr><td ${cell}>Item ${i}: {{carrier}} parcel, size ${(i % 5) + 1}</td><td ${cell} align="right">${i} × ${(i * 7.3).toFixed(2)} EUR</td></tr>`,
    );
  const html = `<!doctype html><html><body style="margin:0;background:#f3f4f6"><table role="presentation" width="100%" cellpadding="0" cellspacing="0"><tr><td align="center"><table role="presentation" width="600" style="background:#ffffff;border-radius:8px">
<tr><td colspan="2" style="padding:24px 16px;font-family:Helvetica,Arial,sans-serif;font-size:20px;font-weight:bold;color:#111827">${orderShipped.html}</td></tr>
${rows.join("\n")}
<tr><td colspan="2" style="padding:24px 16px;font-family:Helvetica,Arial,sans-serif;font-size:12px;color:#6b7280">You receive this e-mail because you ordered from our shop. Order {{orderId}}. Questions? Reply to this e-mail.</td></tr>
</table></td></tr></table></body></html>`;
  return { subject: orderShipped.subject, text: orderShipped.text, html };
}

const isDynamoDbRead = (command: string) => /^(Get|BatchGet|Query|Scan)\b/.test(command);

export interface CallsOptions {
  /** Notifications measured per variant (after one warm-up); the counts must agree. */
  repeats: number;
  /** Added to every AWS call in the latency pass. */
  latencyMs: number;
}

export async function runAwsCalls(options: CallsOptions, progress: (line: string) => void): Promise<PartResult> {
  const variants: Variant[] = [];
  const before = extractBefore(progress);
  if (before) variants.push({ label: `before (${BEFORE_COMMIT})`, root: before });
  variants.push({ label: "after (this checkout)", root: REPO_ROOT });
  const counter = installCounter();
  const results = new Map<string, Measured>();
  try {
    for (const variant of variants) {
      progress(`${variant.label}: starting its local mode`);
      results.set(variant.label, await measure(variant, options, counter, progress));
    }
  } finally {
    counter.uninstall();
  }
  return report(variants, results, options, Boolean(before));
}

/** `git archive` of BEFORE_COMMIT's runtime, local mode, templates and dev config; undefined without git. */
export function extractBefore(progress: (line: string) => void): string | undefined {
  const dir = path.join(__dirname, ".tmp", "before");
  try {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir, { recursive: true });
    const tar = execFileSync("git", ["archive", BEFORE_COMMIT, "runtime", "local", "templates", "Pulumi.dev.yaml", "Pulumi.yaml"], {
      cwd: REPO_ROOT,
      maxBuffer: 64 * 1024 * 1024,
    });
    execFileSync("tar", ["-x", "-C", dir], { input: tar });
    return dir;
  } catch (error) {
    progress(`cannot extract ${BEFORE_COMMIT} (${(error as Error).message.split("\n")[0]}); "before" falls back to the issue's numbers`);
    return undefined;
  }
}

async function measure(
  variant: Variant,
  options: CallsOptions,
  counter: ReturnType<typeof installCounter>,
  progress: (line: string) => void,
): Promise<Measured> {
  const { startLocalTidings } = require(path.join(variant.root, "local/tidings")) as typeof import("../local/tidings");
  const { makeNotificationService } = require(path.join(variant.root, "runtime/notify")) as typeof import("../runtime/notify");
  const { EventBridgeClient } = require("@aws-sdk/client-eventbridge") as typeof import("@aws-sdk/client-eventbridge");
  const { PutCommand } = require("@aws-sdk/lib-dynamodb") as typeof import("@aws-sdk/lib-dynamodb");
  const { PutObjectCommand } = require("@aws-sdk/client-s3") as typeof import("@aws-sdk/client-s3");
  const { WebSocket } = require("ws") as typeof import("ws");

  const sent = new Map<string, Set<string>>();
  const waiters = new Map<string, () => void>();
  const quiet = { count: () => undefined, latency: () => undefined };
  // The receipt's templates: order.shipped's, with its e-mail inside a receipt's markup.
  const templateOf = (channel: string) =>
    JSON.parse(fs.readFileSync(path.join(variant.root, "templates", "order.shipped", `${channel}.json`), "utf8"));
  const receiptTemplates = CHANNELS.map((channel) => ({
    channel,
    template: channel === "email" ? receiptEmailTemplate(templateOf(channel)) : templateOf(channel),
  }));
  const receiptDir = fs.mkdtempSync(path.join(os.tmpdir(), "tidings-bench-templates-"));
  fs.mkdirSync(path.join(receiptDir, RECEIPT_TYPE));
  for (const { channel, template } of receiptTemplates)
    fs.writeFileSync(path.join(receiptDir, RECEIPT_TYPE, `${channel}.json`), JSON.stringify(template));
  const tidings = await startLocalTidings({
    metrics: quiet, // ignored by "before", which has no metrics
    // The receipt's templates as a stack's own folder: the local mode checks every type's templates at start.
    extraTemplatesDirs: [receiptDir],
    apiPort: 0,
    wsPort: 0,
    sesPort: 0,
    stateFile: false,
    seed: false,
    pollWaitSeconds: 1,
    logger: (d) => {
      if (d.component !== "worker" || d.outcome !== "sent" || typeof d.eventId !== "string") return;
      const channels = sent.get(d.eventId) ?? new Set<string>();
      channels.add(String(d.channel));
      sent.set(d.eventId, channels);
      if (channels.size === CHANNELS.length) waiters.get(d.eventId)?.();
    },
    editConfig: (raw) => {
      // Pacing only delays; it makes no AWS call. Politeness stays as configured (email, sms).
      for (const channel of Object.values<Record<string, unknown>>(raw.channels ?? {})) delete channel.ratePerSecond;
      raw.notificationTypes[RECEIPT_TYPE] = { channels: CHANNELS };
    },
  });
  // The receipt's templates, uploaded as well for a "before" that reads no extraTemplatesDirs.
  for (const { channel, template } of receiptTemplates) {
    await tidings.clients.s3.send(
      new PutObjectCommand({
        Bucket: "tidings-local-templates",
        Key: `templates/${RECEIPT_TYPE}/${channel}.json`,
        Body: JSON.stringify(template),
      }),
    );
  }
  // One user per notification: the dev config's per-user politeness (sms: 5 an hour) would otherwise
  // delay the later ones; each user's first delivery takes its politeness token as a real one does.
  const users = Array.from({ length: 2 + 3 * options.repeats }, (_, i) => `calls-user-${i}`);
  const sockets: InstanceType<typeof WebSocket>[] = [];
  try {
    for (const [i, userId] of users.entries()) {
      await tidings.clients.ddb.send(
        new PutCommand({
          TableName: tidings.tables.contacts,
          Item: {
            userId,
            email: `${userId}@example.com`,
            phone: `+1555000${String(i).padStart(4, "0")}`,
            external_channels: { slack: { webhookUrl: `${tidings.endpoints.slackSink}/services/T0CALLS/B0CALLS/${userId}` } },
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
    // Built as local/tidings.ts builds it (same clients, tables, bucket and bus), so calls made inside it
    // can be told apart from the workers'.
    const service = makeNotificationService({
      ddb: tidings.clients.ddb,
      s3: tidings.clients.s3,
      events: new EventBridgeClient({}),
      tables: { contacts: tidings.tables.contacts, settings: tidings.tables.settings, log: tidings.tables.notificationLog },
      templatesBucket: "tidings-local-templates",
      busName: "tidings-local",
      enabledChannels: tidings.channels.map((c) => c.name),
      types: tidings.config.notificationTypes,
      webhookOrigins: [tidings.endpoints.slackSink],
      logger: () => undefined,
      metrics: quiet,
    } as Parameters<typeof makeNotificationService>[0]);

    let n = 0;
    const once = async (latencyMs: number, type = "order.shipped") => {
      const eventId = `calls-${variant.label.split(" ")[0]}-${n++}`;
      const delivered = new Promise<void>((resolve) => waiters.set(eventId, resolve));
      counter.state.calls = [];
      counter.state.latencyMs = latencyMs;
      counter.state.recording = true;
      const started = now();
      const answer = await counter.inProducer(() =>
        service(
          JSON.stringify({
            eventId,
            userId: users[n - 1],
            type,
            channels: CHANNELS,
            data: { orderId: eventId, carrier: "DHL", trackingUrl: "https://track.example.com/p/1" },
            callback: "https://shop.example.com/orders/1",
          }),
        ),
      );
      const requestMs = now() - started;
      if (answer.statusCode !== 202) throw new Error(`${variant.label}: the request was answered ${answer.statusCode} ${answer.body}`);
      await Promise.race([
        delivered,
        sleep(20_000).then(() => {
          throw new Error(`${variant.label}: ${eventId} not sent on every channel within 20 s (${[...(sent.get(eventId) ?? [])]})`);
        }),
      ]);
      await sleep(50); // nothing of the worker's should still be in flight; anything late would show as a count change
      counter.state.recording = false;
      counter.state.latencyMs = 0;
      const calls = counter.state.calls;
      const tally = (scope: Call["scope"]) => {
        const counts = new Map<string, number>();
        for (const call of calls) if (call.scope === scope) counts.set(call.command, (counts.get(call.command) ?? 0) + 1);
        return counts;
      };
      const capacity: CapacityUnits = { read: 0, write: 0 };
      for (const call of calls)
        if (call.capacityUnits !== undefined) capacity[isDynamoDbRead(call.command) ? "read" : "write"] += call.capacityUnits;
      return {
        producerCalls: tally("producer"),
        workerCalls: tally("worker"),
        roundTrips: sequentialRoundTrips(calls.filter((c) => c.scope === "producer")),
        requestMs,
        capacity,
      };
    };

    await once(0); // warm-up: templates loaded and cached, connections opened
    const plain = [];
    for (let i = 0; i < options.repeats; i++) plain.push(await once(0));
    const slow = [];
    for (let i = 0; i < options.repeats; i++) slow.push(await once(options.latencyMs));
    await once(0, RECEIPT_TYPE); // warm-up: its templates loaded
    const receipts = [];
    for (let i = 0; i < options.repeats; i++) receipts.push(await once(0, RECEIPT_TYPE));
    const signature = (m: { producerCalls: Map<string, number>; workerCalls: Map<string, number> }) =>
      JSON.stringify([[...m.producerCalls].sort(), [...m.workerCalls].sort()]);
    const distinct = new Set([...plain, ...slow, ...receipts].map(signature));
    const capacities = new Set([...plain, ...slow].map((m) => JSON.stringify(m.capacity)));
    const receiptCapacities = new Set(receipts.map((m) => JSON.stringify(m.capacity)));
    if (capacities.size > 1 || receiptCapacities.size > 1)
      progress(`${variant.label}: capacity units differ between notifications: ${[...capacities, ...receiptCapacities].join(" | ")}`);
    if (distinct.size > 1) progress(`${variant.label}: counts differ between notifications: ${[...distinct].join(" | ")}`);
    progress(
      `${variant.label}: ${sum(plain[0].producerCalls)} producer + ${sum(plain[0].workerCalls)} worker calls, ${slow[0].roundTrips} sequential round trips`,
    );
    return {
      producerCalls: plain[0].producerCalls,
      workerCalls: plain[0].workerCalls,
      roundTrips: median(plain.map((m) => m.roundTrips)),
      requestMs: median(plain.map((m) => m.requestMs)),
      requestMsWithLatency: median(slow.map((m) => m.requestMs)),
      roundTripsWithLatency: median(slow.map((m) => m.roundTrips)),
      capacity: plain[0].capacity,
      receiptCapacity: receipts[0].capacity,
    };
  } finally {
    for (const socket of sockets) socket.terminate();
    await tidings.stop();
    fs.rmSync(receiptDir, { recursive: true, force: true });
  }
}

const sum = (counts: Map<string, number>) => [...counts.values()].reduce((a, b) => a + b, 0);

/** The DynamoDB capacity rows of the summary: write and read units, with the dev templates and with a receipt-sized e-mail. */
function capacityRows(before: Measured | undefined, after: Measured): string[][] {
  const row = (label: string, units: (m: Measured) => number) => [
    label,
    before ? formatNumber(units(before)) : "–",
    formatNumber(units(after)),
    before ? formatRatio(units(after) / units(before)) : "–",
    "",
  ];
  return [
    row("DynamoDB write units per notification (tables; dev templates)", (m) => m.capacity.write),
    row("DynamoDB read units per notification (tables; dev templates)", (m) => m.capacity.read),
    row(
      `DynamoDB write units per notification (tables; a ${RECEIPT_EMAIL_BYTES / 1024} KB receipt e-mail)`,
      (m) => m.receiptCapacity.write,
    ),
  ];
}

/** The issue's numbers for today's main, used when BEFORE_COMMIT cannot be run. */
const ISSUE_BEFORE = { calls: 27, roundTrips: 10, requestMs: 81, requestMsWithLatency: 598 };

function report(variants: Variant[], results: Map<string, Measured>, options: CallsOptions, beforeMeasured: boolean): PartResult {
  const commands = [
    ...new Set(variants.flatMap((v) => [...results.get(v.label)!.producerCalls.keys(), ...results.get(v.label)!.workerCalls.keys()])),
  ].sort();
  const cell = (counts: Map<string, number>, command: string) => String(counts.get(command) ?? 0);
  const perCommand: Table = {
    title: "AWS SDK commands per 4-channel notification (order.shipped to websocket, email, sms, slack)",
    headers: ["command", ...variants.flatMap((v) => [`${v.label}: producer`, `${v.label}: workers`])],
    rows: [
      ...commands.map((command) => [
        command,
        ...variants.flatMap((v) => [cell(results.get(v.label)!.producerCalls, command), cell(results.get(v.label)!.workerCalls, command)]),
      ]),
      [
        "total",
        ...variants.flatMap((v) => [String(sum(results.get(v.label)!.producerCalls)), String(sum(results.get(v.label)!.workerCalls))]),
      ],
    ],
  };
  const after = results.get(variants[variants.length - 1].label)!;
  const before = beforeMeasured ? results.get(variants[0].label)! : undefined;
  const total = (m: Measured) => sum(m.producerCalls) + sum(m.workerCalls);
  const politenessOf = (m: Measured | undefined) => (m ? (m.workerCalls.get("Update politeness") ?? 0) : 0);
  const beforeTotal = before ? total(before) : ISSUE_BEFORE.calls;
  const beforeTrips = before ? before.roundTripsWithLatency : ISSUE_BEFORE.roundTrips;
  const beforeSlowMs = before ? before.requestMsWithLatency : ISSUE_BEFORE.requestMsWithLatency;
  const summary: Table = {
    title: "Goals",
    headers: ["measure", "before", "after", "after ÷ before", "goal"],
    rows: [
      [
        "AWS SDK commands per notification, politeness off (as the issue counts)",
        String(beforeTotal - politenessOf(before)),
        String(total(after) - politenessOf(after)),
        formatRatio((total(after) - politenessOf(after)) / (beforeTotal - politenessOf(before))),
        "≤ 16",
      ],
      [
        "AWS SDK commands per notification, per-user politeness on email and sms",
        before ? String(beforeTotal) : "–",
        String(total(after)),
        before ? formatRatio(total(after) / beforeTotal) : "–",
        "",
      ],
      [
        "producer: sequential AWS round trips",
        String(beforeTrips),
        String(after.roundTripsWithLatency),
        formatRatio(after.roundTripsWithLatency / beforeTrips),
        "≤ 3",
      ],
      [
        `producer request ms, +${options.latencyMs} ms per AWS call (median of ${options.repeats})`,
        formatNumber(beforeSlowMs),
        formatNumber(after.requestMsWithLatency),
        formatRatio(after.requestMsWithLatency / beforeSlowMs),
        "",
      ],
      ...capacityRows(before, after),
      [
        `producer request ms, loopback (median of ${options.repeats})`,
        formatNumber(before ? before.requestMs : ISSUE_BEFORE.requestMs),
        formatNumber(after.requestMs),
        formatRatio(after.requestMs / (before ? before.requestMs : ISSUE_BEFORE.requestMs)),
        "",
      ],
    ],
  };
  const callsBefore = beforeTotal - politenessOf(before);
  const callsAfter = total(after) - politenessOf(after);
  return {
    title: "AWS calls and round trips per notification",
    goals: [
      {
        goal: 1,
        measure: "producer: sequential AWS round trips",
        before: String(beforeTrips),
        after: String(after.roundTripsWithLatency),
        ratio: formatRatio(after.roundTripsWithLatency / beforeTrips),
        target: "≤ 3",
        met: after.roundTripsWithLatency <= 3,
      },
      {
        goal: 2,
        measure: "AWS SDK commands per 4-channel notification, politeness off",
        before: String(callsBefore),
        after: String(callsAfter),
        ratio: formatRatio(callsAfter / callsBefore),
        target: "≤ 16",
        met: callsAfter <= 16,
      },
    ],
    tables: [summary, perCommand],
    notes: [
      `"before" is ${beforeMeasured ? `commit ${BEFORE_COMMIT} (main when this work started), extracted with git archive and run in this same process right before "after"` : `the issue's numbers (commit ${BEFORE_COMMIT} could not be extracted)`}. Both run the dev config with pacing (ratePerSecond) lifted, which makes no calls; per-user politeness stays on for email and sms (one conditional UpdateItem each per fresh delivery).`,
      "Counted by wrapping `Client.prototype.send` of `@smithy/core/client`, which every SDK v3 client here inherits, and, for the posts to connections the websocket worker makes without `send` (runtime/connectionPoster.ts), `SignatureV4.prototype.sign` (one signature per HTTP attempt). Left out, as in the issue: SQS commands (EventBridge's delivery to the queue, the event source mapping's receive and delete). The Slack provider posts its webhook with fetch, not the SDK: one more call per notification, on top of these counts (as in the issue's).",
      `Sequential round trips: with ${options.latencyMs} ms held before every AWS call, the longest chain of the producer's calls in which each starts after the previous one ended (a count, not a time, so a busy machine does not change it). The request time with that latency is printed beside it.`,
      "One warm-up notification first (templates loaded from S3 and cached, clients connected); every measured notification must show the same counts.",
      `Capacity units: every DynamoDB command is sent with \`ReturnConsumedCapacity: "TOTAL"\` and the units the table reports (dynalite computes them as DynamoDB does: 1 KB write units, 4 KB read units, the larger of the item before and after a write) are added up per notification. Index writes are not included (dynalite does not report them): the "before" log also copied every write whole into its byUser index (projection ALL), so its true write cost is about twice the table's; "after"'s indexes take the keys and \`unfinishedChannels\` only. The receipt: type ${RECEIPT_TYPE}, order.shipped's templates with its e-mail inside ${RECEIPT_EMAIL_BYTES / 1024} KB of a receipt's markup (layout, inline styles, one row per item), the size of a shop's transactional e-mail; sent to the same four channels, one warm-up first.`,
    ],
  };
}
