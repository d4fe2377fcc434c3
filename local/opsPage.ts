/**
 * The local ops page (`GET /ops` on the producer API port): per channel queue depth, DLQ depths, sent
 * and failed counts and a delivery-latency sparkline, all read from the same EMF metric lines the
 * Lambdas print (runtime/metrics.ts), the latest deliveries at every sink, and a redrive button per DLQ.
 *
 *   GET  /ops           the page (plain HTML + a small script polling /ops/state)
 *   GET  /ops/state     the JSON the page draws
 *   POST /ops/redrive   `{ "channel": "email", "dlq": "queue" | "rule" }` → `{ channel, dlq, moved, failed }`;
 *                       `{ "dlq": "schedules" }` hands the fires the scheduled sender never took to it again
 *   POST /ops/cancel    `{ "notificationId": "…" }` → what `DELETE /notifications/{eventId}` answers its producer
 *   GET  /ops/notifications?status=&channel=&userId=&type=&eventId=&limit= → `{ items: [{ eventId, userId,
 *        type, channels: { email: { status, reason, tries, provider } } }] }`, those needing an operator first
 */
import type { Fault } from "./faults";
import type * as http from "node:http";
import { GetQueueAttributesCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { type EmfLine, metricValues, parseEmfLine } from "../runtime/metrics";
import { redrive, redriveRuleDeadLetters, redriveScheduleFires } from "../runtime/redrive";
import type { TopicSendStatus } from "../runtime/statusApi";
import { listNotifications, OPS_STATUSES, type OpsNotificationDetail, opsQuery } from "./opsNotifications";
import type { SlackSink, SnsSink } from "./sinks";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";

/** Latency samples kept per channel for the sparkline. */
const SPARK_POINTS = 60;
/** Deliveries kept per sink in the ops state. */
const LATEST = 10;

export interface ChannelCounters {
  queued: number;
  sent: number;
  failed: number;
  retried: number;
  duplicate: number;
  skipped: number;
  reconciled: number;
  /** The latest delivery latencies (ms), oldest first. */
  latencies: number[];
}

/** A channel's last hour, minute by minute (oldest first), as CloudWatch would chart it from the same metrics. */
export interface ChannelHour {
  /** Deliveries sent in each of the last 60 minutes, the current one last. */
  deliveriesPerMinute: number[];
  /** failed / (sent + failed) over the hour; 0 when nothing ended. */
  errorRate: number;
  /** Delivery latency percentiles over the hour (ms, nearest rank); null without a delivery. */
  p50: number | null;
  p99: number | null;
}

interface MinuteBucket {
  sent: number;
  failed: number;
  latencies: number[];
}

const MINUTE_MS = 60_000;
/** Latency samples a minute keeps for the percentiles. */
const SAMPLES_PER_MINUTE = 1_000;

/** The value at rank ceil(p·n) of the sorted samples (nearest rank), or null for none. */
export function percentile(samples: number[], p: number): number | null {
  if (samples.length === 0) return null;
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)];
}

/** Aggregates EMF lines per channel; `write` is the metrics sink the local handlers get. */
export function makeOpsCollector(options: { echo?: (line: string) => void } = {}) {
  const channels = new Map<string, ChannelCounters>();
  // Per channel, minute (epoch minute of the EMF timestamp) → what ended in it.
  const minutes = new Map<string, Map<number, MinuteBucket>>();
  const bucket = (channel: string, at: number) => {
    let byMinute = minutes.get(channel);
    if (!byMinute) {
      byMinute = new Map();
      minutes.set(channel, byMinute);
    }
    const minute = Math.floor(at / MINUTE_MS);
    let b = byMinute.get(minute);
    if (!b) {
      b = { sent: 0, failed: 0, latencies: [] };
      byMinute.set(minute, b);
      for (const old of byMinute.keys()) if (old <= minute - 60) byMinute.delete(old);
    }
    return b;
  };
  const counters = (channel: string) => {
    let c = channels.get(channel);
    if (!c) {
      c = { queued: 0, sent: 0, failed: 0, retried: 0, duplicate: 0, skipped: 0, reconciled: 0, latencies: [] };
      channels.set(channel, c);
    }
    return c;
  };
  function ingest(line: EmfLine) {
    const c = counters(String(line.channel));
    const minute = bucket(String(line.channel), Number(line._aws?.Timestamp) || Date.now());
    for (const { name, value } of metricValues(line)) {
      if (name === "sent") minute.sent += value;
      if (name === "failed") minute.failed += value;
      if (name === "deliveryLatency" && minute.latencies.length < SAMPLES_PER_MINUTE) minute.latencies.push(value);
      if (name === "deliveryLatency") {
        c.latencies.push(value);
        if (c.latencies.length > SPARK_POINTS) c.latencies.shift();
      } else if (name === "queued" || name === "sent" || name === "failed" || name === "retried" || name === "duplicate") c[name] += value;
      else if (name.startsWith("skipped.")) c.skipped += value;
      else if (name.startsWith("reconciled.")) c.reconciled += value;
    }
  }
  return {
    /** The EMF line as a Lambda would print it. */
    write(line: string) {
      options.echo?.(line);
      const parsed = parseEmfLine(line);
      if (parsed) ingest(parsed);
    },
    counters(channel: string): ChannelCounters {
      const c = counters(channel);
      return { ...c, latencies: [...c.latencies] };
    },
    /** The channel's last 60 minutes up to `now`: deliveries per minute, error rate, p50 and p99 latency. */
    hour(channel: string, now = Date.now()): ChannelHour {
      const current = Math.floor(now / MINUTE_MS);
      const byMinute = minutes.get(channel) ?? new Map<number, MinuteBucket>();
      const window = Array.from({ length: 60 }, (_, i) => byMinute.get(current - 59 + i));
      const sent = window.reduce((sum, b) => sum + (b?.sent ?? 0), 0);
      const failed = window.reduce((sum, b) => sum + (b?.failed ?? 0), 0);
      const latencies = window.flatMap((b) => b?.latencies ?? []);
      return {
        deliveriesPerMinute: window.map((b) => b?.sent ?? 0),
        errorRate: sent + failed === 0 ? 0 : failed / (sent + failed),
        p50: percentile(latencies, 0.5),
        p99: percentile(latencies, 0.99),
      };
    },
  };
}

export type OpsCollector = ReturnType<typeof makeOpsCollector>;

export interface OpsChannel {
  name: string;
  queueUrl: string;
  deadLetterQueueUrl: string;
  ruleDeadLetterQueueUrl: string;
}

export interface OpsPageDeps {
  collector: OpsCollector;
  sqs: SQSClient;
  channels: OpsChannel[];
  sinks: { sesEndpoint: string; sns: SnsSink; slack: SlackSink };
  /** The faults set with POST /dev/faults (local/faults.ts), shown per channel. */
  faults?: () => Fault[];
  /** The notification log, which the notifications list reads. */
  log?: { ddb: DynamoDBDocumentClient; table: string };
  /** The topic sends in the log, newest first, each with its recipients' counts. */
  topicSends?: () => Promise<TopicSendStatus[]>;
  /** One notification by its key in the log: what each channel sent, and its timeline. */
  detail?: (notificationId: string) => Promise<OpsNotificationDetail | undefined>;
  /** Scheduled notifications still to send (soonest first), and their cancel; absent when scheduling is off. */
  scheduled?: {
    list(): Promise<ScheduledRow[]>;
    cancel(notificationId: string): Promise<{ status: number; body: unknown }>;
    /** The schedules' DLQ: fires the Scheduler could not hand the scheduled sender. */
    deadLetterQueueUrl: string;
    /** Hands one fire (a DLQ message's body) to the scheduled sender; throws when it fails again. */
    fire(body: string): Promise<void>;
  };
}

/** One scheduled notification as the ops page lists it. */
export interface ScheduledRow {
  /** The notification's key in the log (the producer's eventId, or its own key when another's held it). */
  notificationId: string;
  /** The eventId its producer sent. */
  eventId: string;
  sendAt: string;
  userId?: string;
  type?: string;
  producer?: string;
  /** A digest waiting for its window to close: how many notifications it has collected. */
  collected?: number;
}

export interface Delivery {
  at?: string;
  to: string;
  text: string;
}

/** Messages on a queue: visible, in flight and delayed (what the ops page, the soak and the tests count). */
export async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<number> {
  const out = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"],
    }),
  );
  const a = out.Attributes ?? {};
  return (
    Number(a.ApproximateNumberOfMessages ?? 0) +
    Number(a.ApproximateNumberOfMessagesNotVisible ?? 0) +
    Number(a.ApproximateNumberOfMessagesDelayed ?? 0)
  );
}

/** The latest deliveries at each sink: SES store, SNS SMS and push, Slack webhooks. */
async function latestDeliveries(deps: OpsPageDeps): Promise<Record<"email" | "sms" | "slack" | "push", Delivery[]>> {
  let email: Delivery[] = [];
  try {
    const store = (await (await fetch(`${deps.sinks.sesEndpoint}/store`)).json()) as {
      emails?: { at?: number; subject?: string; destination?: { to?: string[] } }[];
    };
    email = (store.emails ?? []).slice(-LATEST).map((e) => ({
      at: typeof e.at === "number" ? new Date(e.at * 1000).toISOString() : undefined,
      to: [...(e.destination?.to ?? [])].join(", "),
      text: String(e.subject ?? ""),
    }));
  } catch {
    // The SES server is optional for the page.
  }
  const sns = deps.sinks.sns.received;
  const sms = sns.filter((m) => m.phoneNumber).slice(-LATEST);
  const push = sns.filter((m) => m.targetArn).slice(-LATEST);
  const slack = deps.sinks.slack.received.slice(-LATEST);
  const tail = (path: string) => path.replace(/^.*\//, "…/");
  return {
    email: email.reverse(),
    sms: sms.map((m) => ({ to: m.phoneNumber!, text: m.message })).reverse(),
    push: push.map((m) => ({ to: m.targetArn!, text: m.message.slice(0, 300) })).reverse(),
    // The webhook path's last segment is a secret: show only that it is there.
    slack: slack.map((p) => ({ to: tail(p.path).replace(/[^/…]+$/, "•••"), text: String(p.body?.text ?? "") })).reverse(),
  };
}

export async function opsState(deps: OpsPageDeps) {
  const channels = await Promise.all(
    deps.channels.map(async (c) => ({
      name: c.name,
      queueDepth: await queueDepth(deps.sqs, c.queueUrl),
      deadLetterDepth: await queueDepth(deps.sqs, c.deadLetterQueueUrl),
      ruleDeadLetterDepth: await queueDepth(deps.sqs, c.ruleDeadLetterQueueUrl),
      ...deps.collector.counters(c.name),
      hour: deps.collector.hour(c.name),
    })),
  );
  const faults = deps.faults?.() ?? [];
  for (const channel of channels) {
    // The stack's DlqAlarm: one message in either DLQ is an ALARM.
    Object.assign(channel, {
      alarm: channel.deadLetterDepth + channel.ruleDeadLetterDepth > 0 ? "ALARM" : "OK",
      fault: faults.find((f) => f.channel === channel.name)?.mode ?? null,
    });
  }
  return {
    channels,
    deliveries: await latestDeliveries(deps),
    scheduled: (await deps.scheduled?.list()) ?? [],
    topicSends: (await deps.topicSends?.()) ?? [],
    // The stack's schedules DlqAlarm: a fire in it is an ALARM, until a redrive hands it to the sender.
    ...(deps.scheduled ? { schedulesDeadLetterDepth: await queueDepth(deps.sqs, deps.scheduled.deadLetterQueueUrl) } : {}),
  };
}

function send(res: http.ServerResponse, status: number, type: string, body: string) {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
  res.end(body);
}
const sendJson = (res: http.ServerResponse, status: number, body: unknown) =>
  send(res, status, "application/json; charset=utf-8", JSON.stringify(body));

/** Handles the /ops routes; false for any other request. */
export async function handleOpsRequest(
  deps: OpsPageDeps,
  req: http.IncomingMessage,
  res: http.ServerResponse,
  url: URL,
  readBody: () => Promise<string | undefined>,
): Promise<boolean> {
  if (req.method === "GET" && (url.pathname === "/ops" || url.pathname === "/ops/")) {
    send(res, 200, "text/html; charset=utf-8", OPS_HTML);
    return true;
  }
  if (req.method === "GET" && url.pathname === "/ops/state") {
    sendJson(res, 200, await opsState(deps));
    return true;
  }
  if (req.method === "GET" && url.pathname === "/ops/notifications") {
    const parsed = opsQuery(
      url.searchParams,
      deps.channels.map((c) => c.name),
    );
    if (!parsed.ok) sendJson(res, 400, { error: "invalid request", problems: parsed.problems });
    else if (!deps.log) sendJson(res, 404, { error: "not found", message: "this ops page has no notification log" });
    else sendJson(res, 200, await listNotifications(deps.log.ddb, deps.log.table, parsed.query));
    return true;
  }
  const detailPath = /^\/ops\/notifications\/([^/]+)$/.exec(url.pathname);
  if (req.method === "GET" && detailPath) {
    const id = decodeURIComponent(detailPath[1]);
    const detail = deps.detail ? await deps.detail(id) : undefined;
    if (detail) sendJson(res, 200, detail);
    else sendJson(res, 404, { error: "not found", problems: [{ field: "notificationId", problem: `no notification ${id} in the log` }] });
    return true;
  }
  if (req.method === "POST" && url.pathname === "/ops/cancel") {
    let body: { notificationId?: unknown };
    try {
      body = JSON.parse((await readBody()) ?? "{}");
    } catch {
      sendJson(res, 400, { error: "invalid request", problems: [{ field: "body", problem: "is not JSON" }] });
      return true;
    }
    if (!deps.scheduled) {
      sendJson(res, 404, { error: "not found", message: "scheduling is off (tidings:scheduling.enabled)" });
      return true;
    }
    if (typeof body?.notificationId !== "string" || body.notificationId === "") {
      sendJson(res, 400, {
        error: "invalid request",
        problems: [{ field: "notificationId", problem: "is required: a scheduled notification's id" }],
      });
      return true;
    }
    const answer = await deps.scheduled.cancel(body.notificationId);
    sendJson(res, answer.status, answer.body);
    return true;
  }
  if (req.method === "POST" && url.pathname === "/ops/redrive") {
    let body: { channel?: unknown; dlq?: unknown; eventId?: unknown };
    try {
      body = JSON.parse((await readBody()) ?? "{}");
    } catch {
      sendJson(res, 400, { error: "invalid request", problems: [{ field: "body", problem: "is not JSON" }] });
      return true;
    }
    if (body?.dlq === "schedules") {
      if (!deps.scheduled) {
        sendJson(res, 404, { error: "not found", message: "scheduling is off (tidings:scheduling.enabled)" });
        return true;
      }
      const result = await redriveScheduleFires(deps.sqs, deps.scheduled.deadLetterQueueUrl, deps.scheduled.fire);
      sendJson(res, 200, { dlq: "schedules", moved: result.moved, failed: result.failed });
      return true;
    }
    const channel = deps.channels.find((c) => c.name === body?.channel);
    if (!channel) {
      sendJson(res, 400, {
        error: "invalid request",
        problems: [{ field: "channel", problem: `must be one of: ${deps.channels.map((c) => c.name).join(", ")}` }],
      });
      return true;
    }
    if (body.dlq !== "queue" && body.dlq !== "rule") {
      sendJson(res, 400, { error: "invalid request", problems: [{ field: "dlq", problem: 'must be "queue", "rule" or "schedules"' }] });
      return true;
    }
    // One notification's messages only: its deliveries' eventId, on the channel queue's DLQ.
    const eventId = body.eventId;
    if (eventId !== undefined && (typeof eventId !== "string" || eventId === "" || body.dlq !== "queue")) {
      sendJson(res, 400, {
        error: "invalid request",
        problems: [{ field: "eventId", problem: 'must be a notification\'s key in the log, with dlq "queue"' }],
      });
      return true;
    }
    const result =
      body.dlq === "rule"
        ? await redriveRuleDeadLetters(deps.sqs, channel)
        : await redrive(
            deps.sqs,
            { queueUrl: channel.queueUrl, deadLetterQueueUrl: channel.deadLetterQueueUrl },
            { method: "copy", ...(typeof eventId === "string" ? { eventId } : {}) },
          );
    sendJson(res, 200, {
      channel: channel.name,
      dlq: body.dlq,
      moved: result.method === "copy" ? result.moved : 0,
      failed: result.method === "copy" ? result.failed : [],
    });
    return true;
  }
  return false;
}

const OPS_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Tidings ops</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 1.5rem; color: #1d2330; }
  table { border-collapse: collapse; margin-bottom: 1.5rem; }
  th, td { padding: .35rem .7rem; border-bottom: 1px solid #dde; text-align: right; }
  th:first-child, td:first-child { text-align: left; }
  .alert { color: #b00020; font-weight: 600; }
  svg { vertical-align: middle; }
  section { display: inline-block; vertical-align: top; margin: 0 1.5rem 1rem 0; min-width: 16rem; }
  li { margin: .2rem 0; }
  small { color: #667; }
</style>
</head>
<body>
<h1>Tidings ops</h1>
<p><small>Counts and latencies come from the EMF metric lines the handlers print; depths from the local SQS. Refreshes every second.</small></p>
<table id="channels">
  <thead><tr><th>channel</th><th>queue</th><th>DLQ</th><th>rule DLQ</th><th>sent</th><th>failed</th><th>retried</th><th>latency (ms)</th><th></th><th>DLQ alarm</th><th>fault (POST /dev/faults)</th></tr></thead>
  <tbody></tbody>
</table>
<h2>Last hour</h2>
<table id="hour">
  <thead><tr><th>channel</th><th>deliveries per minute (60 min)</th><th>error rate</th><th>p50 (ms)</th><th>p99 (ms)</th></tr></thead>
  <tbody></tbody>
</table>
<h2>Notifications</h2>
<form id="filters">
  <label>status <select name="status"><option value="">any</option>${OPS_STATUSES.map((status) => `<option>${status}</option>`).join("")}</select></label>
  <label>channel <select name="channel"><option value="">any</option></select></label>
  <label>user <input name="userId" size="12"></label>
  <label>type <input name="type" size="14"></label>
  <label>eventId <input name="eventId" size="16"></label>
</form>
<table id="notifications">
  <thead><tr><th>eventId</th><th>user</th><th>type</th><th>created</th><th>channels: status (tries) reason</th></tr></thead>
  <tbody></tbody>
</table>
<section id="detail" aria-live="polite" hidden>
  <h3 id="detail-title"></h3>
  <table id="detail-channels">
    <thead><tr><th>channel</th><th>status (tries)</th><th>reason</th><th>sent to</th><th>what it sent</th><th></th></tr></thead>
    <tbody></tbody>
  </table>
  <h4>Timeline</h4>
  <ol id="detail-timeline"></ol>
</section>
<h2>Topic sends</h2>
<table id="topic-sends">
  <thead><tr><th>eventId</th><th>topic</th><th>type</th><th>recipients</th><th>sent</th><th>skipped</th><th>failed</th><th>pending</th></tr></thead>
  <tbody></tbody>
</table>
<h2>Scheduled, and digests waiting to close</h2>
<p id="schedules-dlq" hidden>Fires the scheduled sender never took: <strong id="schedules-dlq-depth">0</strong> <button type="button" id="schedules-redrive">Redrive schedules DLQ</button></p>
<table id="scheduled">
  <thead><tr><th>eventId</th><th>user</th><th>type</th><th>producer</th><th>send at</th><th></th></tr></thead>
  <tbody></tbody>
</table>
<h2>Latest deliveries</h2>
<div id="deliveries"></div>
<p id="message" role="status"></p>
<script>
const tbody = document.querySelector("#channels tbody");
document.getElementById("schedules-redrive").onclick = async () => {
  const r = await fetch("/ops/redrive", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ dlq: "schedules" }) });
  const j = await r.json();
  document.getElementById("message").textContent = r.ok ? "Schedules DLQ: handed " + j.moved + " fire(s) to the sender" + (j.failed.length ? ", " + j.failed.length + " failed again" : "") + "." : JSON.stringify(j);
  refresh();
};
function sparkline(values) {
  if (!values.length) return "<small>–</small>";
  const w = 120, h = 24, max = Math.max(...values, 1);
  const step = values.length > 1 ? w / (values.length - 1) : 0;
  const points = values.map((v, i) => (i * step).toFixed(1) + "," + (h - (v / max) * h).toFixed(1)).join(" ");
  const last = values[values.length - 1];
  return '<svg class="spark" width="' + w + '" height="' + h + '" aria-label="latency"><polyline fill="none" stroke="#3461c1" stroke-width="1.5" points="' + points + '"/></svg> <span class="latest">' + Math.round(last) + "</span>";
}
function cell(text, alert) { const td = document.createElement("td"); td.textContent = String(text); if (alert) td.className = "alert"; return td; }
function button(channel, dlq, depth) {
  const b = document.createElement("button");
  b.textContent = "Redrive " + (dlq === "rule" ? "rule DLQ" : "DLQ");
  b.dataset.channel = channel; b.dataset.dlq = dlq; b.disabled = depth === 0;
  b.onclick = async () => {
    b.disabled = true;
    const r = await fetch("/ops/redrive", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ channel, dlq }) });
    const j = await r.json();
    document.getElementById("message").textContent = r.ok ? "Moved " + j.moved + " message(s) of " + channel + " back to its queue." : JSON.stringify(j);
    refresh();
  };
  return b;
}
/** Deliveries per minute as 60 bars, the current minute last (plain SVG). */
function bars(values) {
  const max = Math.max(1, ...values), w = 180, h = 28, step = w / values.length;
  const rects = values.map((v, i) => '<rect x="' + (i * step).toFixed(1) + '" y="' + (h - (v / max) * h).toFixed(1) + '" width="' + Math.max(1, step - 0.5).toFixed(1) + '" height="' + ((v / max) * h).toFixed(1) + '" fill="#3461c1"/>').join("");
  return '<svg class="bars" width="' + w + '" height="' + h + '" role="img" aria-label="deliveries per minute, the last 60 minutes: ' + values.reduce((a, b) => a + b, 0) + ' in all">' + rects + "</svg>";
}
async function refresh() {
  const state = await (await fetch("/ops/state")).json();
  document.querySelector("#hour tbody").replaceChildren(...state.channels.map((c) => {
    const tr = document.createElement("tr"); tr.dataset.channel = c.name;
    const chart = document.createElement("td"); chart.innerHTML = bars(c.hour.deliveriesPerMinute);
    tr.append(cell(c.name), chart, cell((c.hour.errorRate * 100).toFixed(1) + " %", c.hour.errorRate > 0), cell(c.hour.p50 ?? "–"), cell(c.hour.p99 ?? "–"));
    return tr;
  }));
  tbody.replaceChildren(...state.channels.map((c) => {
    const tr = document.createElement("tr");
    tr.dataset.channel = c.name;
    tr.append(cell(c.name), cell(c.queueDepth), cell(c.deadLetterDepth, c.deadLetterDepth > 0), cell(c.ruleDeadLetterDepth, c.ruleDeadLetterDepth > 0),
      cell(c.sent), cell(c.failed, c.failed > 0), cell(c.retried));
    const spark = document.createElement("td"); spark.innerHTML = sparkline(c.latencies); tr.append(spark);
    const actions = document.createElement("td"); actions.append(button(c.name, "queue", c.deadLetterDepth), " ", button(c.name, "rule", c.ruleDeadLetterDepth)); tr.append(actions);
    tr.append(cell(c.alarm, c.alarm === "ALARM"));
    const fault = document.createElement("td");
    const select = document.createElement("select");
    select.setAttribute("aria-label", "fault for " + c.name);
    for (const mode of ["none", "retryable", "permanent", "timeout"]) { const o = document.createElement("option"); o.value = mode; o.textContent = mode; select.append(o); }
    select.value = c.fault ?? "none";
    select.onchange = async () => {
      const others = (await (await fetch("/dev/faults")).json()).faults.filter((f) => f.channel !== c.name);
      await fetch("/dev/faults", { method: "DELETE" });
      for (const f of others) await fetch("/dev/faults", { method: "POST", body: JSON.stringify(f) });
      if (select.value !== "none") await fetch("/dev/faults", { method: "POST", body: JSON.stringify({ channel: c.name, mode: select.value }) });
      refresh();
    };
    fault.append(select); tr.append(fault);
    return tr;
  }));
  document.querySelector("#topic-sends tbody").replaceChildren(...state.topicSends.map((t) => {
    const tr = document.createElement("tr");
    tr.append(...[t.eventId, t.topic, t.type, t.recipients, t.sent, t.skipped, t.failed, t.pending].map((v) => cell(String(v))));
    return tr;
  }));
  const schedulesDlq = document.getElementById("schedules-dlq");
  schedulesDlq.hidden = state.schedulesDeadLetterDepth === undefined;
  document.getElementById("schedules-dlq-depth").textContent = String(state.schedulesDeadLetterDepth ?? 0);
  schedulesDlq.dataset.alarm = state.schedulesDeadLetterDepth > 0 ? "ALARM" : "OK";
  document.querySelector("#scheduled tbody").replaceChildren(...state.scheduled.map((n) => {
    const tr = document.createElement("tr");
    tr.dataset.notification = n.notificationId;
    const type = n.collected === undefined ? (n.type ?? "") : (n.type ?? "") + " (digest of " + n.collected + ")";
    tr.append(cell(n.eventId), cell(n.userId ?? ""), cell(type), cell(n.producer ?? ""), cell(n.sendAt));
    const actions = document.createElement("td");
    // A digest closes by itself: its notifications are collected, and cancelling it would leave them unsent.
    if (n.collected !== undefined) { tr.append(actions); return tr; }
    const b = document.createElement("button");
    b.textContent = "Cancel";
    b.onclick = async () => {
      b.disabled = true;
      const r = await fetch("/ops/cancel", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ notificationId: n.notificationId }) });
      const j = await r.json();
      document.getElementById("message").textContent = r.ok ? "Cancelled " + n.eventId + "." : JSON.stringify(j);
      refresh();
    };
    actions.append(b); tr.append(actions);
    return tr;
  }));
  const channelFilter = document.querySelector("#filters [name=channel]");
  if (channelFilter.options.length === 1) for (const c of state.channels) { const o = document.createElement("option"); o.textContent = c.name; channelFilter.append(o); }
  const query = new URLSearchParams();
  for (const [key, value] of new FormData(document.getElementById("filters"))) if (value) query.set(key, String(value));
  const list = await (await fetch("/ops/notifications?" + query)).json();
  document.querySelector("#notifications tbody").replaceChildren(...(list.items ?? []).map((n) => {
    const tr = document.createElement("tr");
    tr.dataset.event = n.eventId;
    const open = document.createElement("td");
    const button = document.createElement("button");
    button.type = "button"; button.className = "open"; button.textContent = n.eventId;
    button.setAttribute("aria-label", "Details of " + n.eventId);
    button.onclick = () => { openDetail = n.notificationId; showDetail(); };
    open.append(button);
    tr.append(open, cell(n.userId), cell(n.type), cell(n.createdAt));
    const td = document.createElement("td"); td.style.textAlign = "left";
    const lines = Object.entries(n.channels).map(([name, c]) => {
      const div = document.createElement("div"); div.dataset.channel = name;
      div.textContent = name + ": " + c.status + " (" + c.tries + ")" + (c.reason ? " " + c.reason : "");
      if (c.status === "error" || c.status === "dead-lettered") div.className = "alert";
      return div;
    });
    if (n.status) { const div = document.createElement("div"); div.textContent = n.status + (n.sendAt ? " for " + n.sendAt : ""); lines.push(div); }
    td.append(...lines); tr.append(td);
    return tr;
  }));
  const root = document.getElementById("deliveries");
  root.replaceChildren(...Object.entries(state.deliveries).map(([sink, items]) => {
    const section = document.createElement("section"); section.dataset.sink = sink;
    const h = document.createElement("h3"); h.textContent = sink + " (" + items.length + ")";
    const ul = document.createElement("ul");
    for (const d of items) { const li = document.createElement("li"); li.textContent = d.to + ": " + d.text; ul.append(li); }
    section.append(h, ul); return section;
  }));
}
/** One notification: each channel's status, what it sent, a redrive of its dead letters, and its timeline. */
let openDetail = null;
async function showDetail() {
  if (!openDetail) return;
  const r = await fetch("/ops/notifications/" + encodeURIComponent(openDetail));
  const section = document.getElementById("detail");
  if (!r.ok) { section.hidden = true; return; }
  const d = await r.json();
  section.hidden = false;
  section.dataset.event = d.eventId;
  document.getElementById("detail-title").textContent = "Notification " + d.eventId + " for " + d.userId + " (" + d.type + ")";
  document.querySelector("#detail-channels tbody").replaceChildren(...Object.entries(d.channels).map(([name, c]) => {
    const tr = document.createElement("tr"); tr.dataset.channel = name;
    const sent = d.sent[name] || {};
    const content = sent.content ? (sent.content.subject ? sent.content.subject + ": " : "") + (sent.content.text || "") : "";
    tr.append(cell(name), cell(c.status + " (" + c.tries + ")"), cell(c.reason || ""), cell(sent.to || ""), cell(content));
    const actions = document.createElement("td");
    if (c.status === "dead-lettered") {
      const b = document.createElement("button"); b.type = "button"; b.textContent = "Redrive this notification";
      b.onclick = async () => {
        b.disabled = true;
        const answer = await fetch("/ops/redrive", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ channel: name, dlq: "queue", eventId: d.notificationId }) });
        const j = await answer.json();
        document.getElementById("message").textContent = answer.ok ? "Redrove " + j.moved + " message(s) of " + d.eventId + " on " + name + "." : JSON.stringify(j);
        refresh(); showDetail();
      };
      actions.append(b);
    }
    tr.append(actions);
    return tr;
  }));
  document.getElementById("detail-timeline").replaceChildren(...d.timeline.map((step) => {
    const li = document.createElement("li");
    li.textContent = step.at.slice(11, 23) + " " + step.component + " " + step.outcome + (step.channel ? " " + step.channel : "") + (step.reason ? ": " + step.reason : "");
    return li;
  }));
}
refresh(); setInterval(() => { refresh(); showDetail(); }, 1000);
</script>
</body>
</html>
`;
