/**
 * The notification service behind `POST /notifications`: validate → settings → contact → content →
 * notification log → EventBridge, one event per channel. Nothing is put on the bus unless every channel
 * that is to be delivered has its content; a retry with the same eventId puts only what is not yet on
 * the bus.
 */
import type { AddressSchema } from "./addresses";
import { randomUUID } from "node:crypto";
import { type EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from "@aws-sdk/client-eventbridge";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { S3Client } from "@aws-sdk/client-s3";
import type { NotificationTypeConfig } from "./config";
import { digestData, digestKeyValue, makeDigests } from "./digests";
import { makeTopicSends, recipientId, type TopicSend } from "./topicSends";
import { type AddressResult, resolveAddress } from "./contacts";
import {
  DELIVERY_STATUS,
  detailTypeFor,
  EVENT_SOURCE,
  type ChannelDelivery,
  type HttpResult,
  type NotificationRequest,
  FEED_CHANNEL,
  type Problem,
  type RenderedContent,
} from "./contracts";
import { slackEscape, slackEscapedData, smsLengthProblem, urlVariableProblems } from "./content";
import { deliveryDigest, requestDigest } from "./deliveryDigest";
import { groupItemId } from "./feed";
import { logDecision, type DecisionLogger, OUTCOME } from "./log";
import { METRIC, makeMetrics, type Metrics } from "./metrics";
import { type CreateAnswer, isStuck, makeNotificationLog, oversizeNotification, STUCK_AFTER_MS } from "./notificationLog";
import { makeProducerGrants } from "./producerGrants";
import {
  type AuthorizerContext,
  allowedTypes,
  type Producer,
  producerEventKey,
  producerOf,
  type ProducerTypes,
  typeRefusal,
} from "./producers";
import type { Scheduler } from "./scheduler";
import { makeScheduledLog } from "./scheduling";
import type { QuietHours } from "./quietHours";
import { isOptedIn } from "./settings";
import type { CallbackEnqueuer } from "./statusCallbacks";
import type { LinkSigner } from "./tracking";
import { contentFromMessage, makeTemplateStore, renderTemplate, templateKey } from "./templates";
import { makeUserRecordsReader } from "./userRecords";
import { channelsOfType, MAX_BODY_BYTES, validateNotificationRequest } from "./validate";

/** EventBridge takes at most 10 entries per PutEvents call. */
export const PUT_EVENTS_BATCH = 10;
/** EventBridge's entry limit, less room for Source and DetailType. */
const MAX_DETAIL_BYTES = 256 * 1024 - 512;

export interface NotificationServiceDeps {
  ddb: DynamoDBDocumentClient;
  s3: S3Client;
  events: EventBridgeClient;
  tables: { contacts: string; settings: string; log: string };
  templatesBucket: string;
  busName: string;
  enabledChannels: string[];
  types: Record<string, NotificationTypeConfig>;
  /** Origins a Slack webhook URL may use besides hooks.slack.com (the local mode's sink). */
  webhookOrigins?: string[];
  /** The address schema of each channel keeping per-user addresses (runtime/addresses.ts). @default Slack's */
  addresses?: Record<string, AddressSchema>;
  /** Callbacks may name this machine (the local mode only). @default false */
  loopbackCallbacks?: boolean;
  /** Days a notification-log row is kept. @default 90 */
  logTtlDays?: number;
  /** How long a loaded template is reused. @default 60000 */
  templateCacheMs?: number;
  logger?: DecisionLogger;
  /** EMF metrics (accepted, skipped.*, queued, duplicate). @default EMF lines on stdout */
  metrics?: Metrics;
  /**
   * A retry of a row still `created`/`pending` this long after its last change, with no delivery in
   * flight, is put on the bus again instead of answering `duplicate` (its event was lost on the way).
   * @default 900000 (15 min)
   */
  stuckAfterMs?: number;
  /** Enqueues a status callback for channels the request decides for good (opted out: unsubscribed). */
  statusCallbacks?: CallbackEnqueuer;
  now?: () => number;
  /**
   * Signs tracking links (runtime/tracking.ts): with it, an actionable notification gains `link` on
   * every channel, and templates can use `{{link}}`.
   */
  links?: LinkSigner;
  /** Adds the open pixel to e-mail HTML (needs `links`). @default false */
  openPixel?: boolean;
  /** The types each producer may send (`tidings:producers`). @default every producer, every type */
  producers?: ProducerTypes;
  /** Scheduled notifications (`sendAt`): what wakes the scheduled sender. @default off: sendAt is refused */
  scheduler?: Scheduler;
  /**
   * Sending to a topic: its subscribers, and what starts the fan-out of a send (puts `{ eventId }` on the
   * fan-out queue). @default off: `topic` is refused
   */
  topics?: { count(topic: string): Promise<number>; fanOut(eventId: string): Promise<void> };
}

/** Outcome of one channel in the 202 answer. */
export type ChannelOutcome = "queued" | "duplicate" | "digested" | `skipped: ${string}` | `invalid_address: ${string}`;
/** What a channel without a template answers. */
const NO_TEMPLATE: ChannelOutcome = "skipped: no template";
/** A channel without a usable address: what the answer says (an invalid one says why) and what is counted. */
const SKIPPED_ADDRESS = {
  missing: { outcome: "skipped: no address", metric: METRIC.skippedNoAddress },
  suppressed: { outcome: "skipped: suppressed", metric: METRIC.skippedSuppressed },
  "opted-out": { outcome: "skipped: opted out at carrier", metric: METRIC.skippedOptedOutAtCarrier },
  // An address the user has not confirmed is none yet.
  unverified: { outcome: "skipped: unverified", metric: METRIC.skippedNoAddress },
  invalid: { outcome: undefined, metric: METRIC.skippedInvalidAddress },
} as const satisfies Record<string, { outcome: ChannelOutcome | undefined; metric: string }>;

/** Serves one request's body, from `caller` (the producer the gateway authorized; undefined in tests that call it directly). */
export type NotificationService = (rawBody: string | undefined, caller?: Producer) => Promise<HttpResult>;

/**
 * Sends a scheduled notification whose time has come, by its notification item's key: "skipped" when it
 * was cancelled (or erased, or already done); throws when a retry may succeed (the Scheduler retries).
 */
export type ScheduledSend = (notificationId: string) => Promise<"sent" | "failed" | "skipped">;

/** One subscriber of a topic send, through the pipeline (the fan-out's `send`). */
export type RecipientSend = (send: TopicSend, userId: string) => Promise<"sent" | "unreachable">;

const JSON_HEADERS = { "content-type": "application/json; charset=utf-8" };

function respond(statusCode: number, body: unknown, headers: Record<string, string> = {}): HttpResult {
  return { statusCode, headers: { ...JSON_HEADERS, ...headers }, body: JSON.stringify(body) };
}

/** What the service decided for one channel before writing anything. */
type Plan =
  | { channel: string; action: "deliver"; delivery: ChannelDelivery }
  | { channel: string; action: "opted-out" }
  | { channel: string; action: "no-address"; reason: Exclude<AddressResult, { ok: true }>["reason"]; field: string; problem: string }
  /** The type (or the template asked for) has no template on this channel: skipped, the others delivered. */
  | { channel: string; action: "no-template"; field: "type" | "template"; problem: string }
  /** The type has a digest: collected into the open one (`digestId`, once collected), sent when it closes. */
  | { channel: string; action: "digest"; digestId?: string };

export function makeNotificationService(deps: NotificationServiceDeps): NotificationService {
  return makeNotificationPipeline(deps).serve;
}

/** The service's pipeline, served to producers (`serve`) and to the Scheduler (`sendScheduled`). */
export function makeNotificationPipeline(deps: NotificationServiceDeps): {
  serve: NotificationService;
  sendScheduled: ScheduledSend;
  sendToRecipient: RecipientSend;
} {
  const now = deps.now ?? Date.now;
  const log = deps.logger ?? logDecision;
  const metrics = deps.metrics ?? makeMetrics();
  const stuckAfterMs = deps.stuckAfterMs ?? STUCK_AFTER_MS;
  const readUser = makeUserRecordsReader({ ddb: deps.ddb, tables: deps.tables });
  const templates = makeTemplateStore({ s3: deps.s3, bucket: deps.templatesBucket, cacheTtlMs: deps.templateCacheMs, now });
  const recordedTypes = makeProducerGrants({ s3: deps.s3, bucket: deps.templatesBucket, cacheTtlMs: deps.templateCacheMs, now });
  const notificationLog = makeNotificationLog({ ddb: deps.ddb, table: deps.tables.log, ttlDays: deps.logTtlDays, now });
  const scheduledLog = makeScheduledLog({ ddb: deps.ddb, table: deps.tables.log, ttlDays: deps.logTtlDays, now });
  const topicSends = makeTopicSends({ ddb: deps.ddb, table: deps.tables.log, ttlDays: deps.logTtlDays, now });
  // Digests close by schedules: without a scheduler (scheduling off) the config refuses a digest.
  const digests = deps.scheduler
    ? makeDigests({ ddb: deps.ddb, table: deps.tables.log, scheduledLog, scheduler: deps.scheduler, ttlDays: deps.logTtlDays, now })
    : undefined;
  const context = {
    enabledChannels: deps.enabledChannels,
    types: deps.types,
    loopbackCallbacks: deps.loopbackCallbacks,
    schedulingNow: deps.scheduler ? now : undefined,
  };

  /** Content for one channel: the literal message, or the template rendered with data. */
  async function contentFor(
    request: NotificationRequest,
    channel: string,
    link: string | undefined,
    locale: string | undefined,
  ): Promise<
    { ok: true; content: RenderedContent } | { ok: false; missingTemplate?: string; missingVariables?: string[]; urlProblems?: Problem[] }
  > {
    if (request.message !== undefined) {
      const content = contentFromMessage(request.message);
      // A literal message is all producer data: on Slack it is plain text, never links or mentions.
      return { ok: true, content: channel === "slack" ? { ...content, text: slackEscape(content.text) } : content };
    }
    const name = request.template ?? request.type;
    const loaded = await templates.load(name, channel, locale);
    if (!loaded.ok) {
      if (loaded.reason === "invalid") throw new Error(loaded.problem); // ours to fix, not the producer's: 500
      return {
        ok: false,
        missingTemplate: `no template for ${request.template ? "template" : "type"} ${name} on channel ${channel} (${templateKey(name, channel)})`,
      };
    }
    // `link` is Tidings' own variable: the tracking link, or empty when there is none (no callback, or
    // tracking off), so a template's `{{#link}}…{{/link}}` renders only when there is one.
    const data = { link: "", ...request.data, ...(link !== undefined ? { link } : {}) };
    const urlProblems = [
      ...urlVariableProblems(loaded.template.html, "html", data),
      ...(channel === "slack" ? urlVariableProblems(loaded.template.text, "slack", data) : []),
    ];
    if (urlProblems.length) return { ok: false, urlProblems };
    const rendered = renderTemplate(loaded.template, channel === "slack" ? slackEscapedData(data) : data);
    return rendered.ok ? { ok: true, content: rendered.content } : { ok: false, missingVariables: rendered.missing };
  }

  /** What one accepted request is about, shared by its phases. */
  interface Job {
    request: NotificationRequest;
    /** The notification's id: the producer's eventId, or producerEventKey's when another producer holds it. */
    eventId: string;
    producer: string | undefined;
    userId: string;
    type: string;
    typeConfig: NotificationTypeConfig | undefined;
    createdAt: string;
    /** The user's quiet hours, read with their settings (decide). */
    quietHours?: QuietHours;
    /** The locale of the templates: the request's, else the user's (decide). */
    locale?: string;
    /** This is a digest being sent (its data is what it collected): its channels are not collected again. */
    digestSend?: true;
    /** The digest of the request its notification item was written with, when the request changed since (a digest's data). */
    fingerprint?: string;
  }
  type Decided = Plan | { channel: string; action: "render"; address: ChannelDelivery["address"] };
  /** A refusal to send back, or the phase's result. */
  type Phase<T> = { ok: true; value: T } | { ok: false; answer: HttpResult };

  /** 1. Every channel decided without writing anything. Round trip 1: settings and contact together. */
  async function decide(job: Job, channels: string[]): Promise<Decided[]> {
    const { request, type, typeConfig } = job;
    const { settings: userSettings, contact } = await readUser(job.userId);
    if (userSettings?.quietHours && userSettings.timeZone) job.quietHours = { ...userSettings.quietHours, timeZone: userSettings.timeZone };
    job.locale = request.locale ?? userSettings?.locale;
    // Opt-in is asked of the type whose content is sent too, when a template is another declared type's.
    const contentType =
      request.template !== undefined && request.template !== type && deps.types[request.template] ? request.template : undefined;
    return channels.map((channel): Decided => {
      const optedIn =
        isOptedIn(userSettings, type, channel, typeConfig) &&
        (contentType === undefined || isOptedIn(userSettings, contentType, channel, deps.types[contentType]));
      if (!optedIn) return { channel, action: "opted-out" };
      const address = resolveAddress(channel, contact, { webhookOrigins: deps.webhookOrigins, addresses: deps.addresses });
      if (!address.ok) return { channel, action: "no-address", reason: address.reason, field: address.field, problem: address.problem };
      return { channel, action: "render", address: address.address };
    });
  }

  /** Whether this channel of the job is collected into a digest (every channel of a digest type but the inbox). */
  const collects = (job: Job, channel: string) => job.typeConfig?.digest !== undefined && !job.digestSend && channel !== FEED_CHANNEL;

  /** 2. Each channel to render gets its content (a 422 naming every problem when any cannot). */
  async function render(job: Job, decided: Decided[]): Promise<Phase<Plan[]>> {
    const { request, eventId, userId, type } = job;
    // Templates are cached after the first load; a cold cache loads every channel's at once.
    const rendered = await Promise.all(
      decided.map(async (d) => {
        if (d.action !== "render" || collects(job, d.channel)) return undefined;
        const link = request.callback !== undefined && deps.links ? await deps.links.click({ eventId, channel: d.channel }) : undefined;
        return { content: await contentFor(request, d.channel, link, job.locale), link };
      }),
    );
    const plans: Plan[] = [];
    const contentProblems: Problem[] = [];
    const missingVariables = new Map<string, string[]>(); // variable → channels whose template uses it
    for (const [index, decision] of decided.entries()) {
      if (decision.action !== "render") {
        plans.push(decision);
        continue;
      }
      const { channel } = decision;
      if (collects(job, channel)) {
        plans.push({ channel, action: "digest" });
        continue;
      }
      const { content, link } = rendered[index]!;
      if (!content.ok) {
        if (content.missingTemplate) {
          // This channel only: the others are delivered (a channel added to the stack does not break the type).
          plans.push({ channel, action: "no-template", field: request.template ? "template" : "type", problem: content.missingTemplate });
          continue;
        }
        for (const variable of content.missingVariables ?? [])
          missingVariables.set(variable, [...(missingVariables.get(variable) ?? []), channel]);
        for (const problem of content.urlProblems ?? [])
          if (!contentProblems.some((p) => p.field === problem.field)) contentProblems.push(problem);
        continue;
      }
      if (channel === "sms") {
        const tooLong = smsLengthProblem(content.content.text, request.message !== undefined ? "message" : "data");
        if (tooLong) {
          contentProblems.push(tooLong);
          continue;
        }
      }
      const delivery = await deliveryOf(job, channel, content.content, link, decision.address);
      if (Buffer.byteLength(JSON.stringify(delivery), "utf8") > MAX_DETAIL_BYTES) {
        contentProblems.push({
          field: "data",
          problem: `the rendered notification for ${channel} is larger than an event may be (256 KB)`,
        });
        continue;
      }
      plans.push({ channel, action: "deliver", delivery });
    }
    // Escalation: the inbox first; its channels wait, and go only if the notification is unread by then.
    const escalation = job.typeConfig?.escalation;
    if (escalation && plans.some((plan) => plan.channel === FEED_CHANNEL && plan.action === "deliver")) {
      const escalateAt = new Date(Date.parse(job.createdAt) + escalation.afterSeconds * 1000).toISOString();
      for (const plan of plans) {
        if (plan.action === "deliver" && escalation.channels.includes(plan.channel)) plan.delivery.escalateAt = escalateAt;
      }
    }
    for (const [variable, usedBy] of missingVariables) {
      contentProblems.push({
        field: `data.${variable}`,
        problem: `is missing: the ${request.template ?? type} template uses it on ${usedBy.join(", ")}`,
      });
    }
    if (contentProblems.length) {
      log({
        component: "notify",
        outcome: OUTCOME.notify.unrenderable,
        eventId,
        userId,
        reason: contentProblems.map((p) => `${p.field}: ${p.problem}`).join("; "),
      });
      return { ok: false, answer: respond(422, { error: "cannot render the notification", eventId, problems: contentProblems }) };
    }
    const untemplated = plans.filter((p): p is Extract<Plan, { action: "no-template" }> => p.action === "no-template");
    if (plans.length > 0 && untemplated.length === plans.length) {
      // Not one channel has content for it: nothing would be sent.
      for (const plan of untemplated) logNoTemplate(job, plan);
      return {
        ok: false,
        answer: respond(422, {
          error: "cannot render the notification",
          eventId,
          problems: untemplated.map((p) => ({ field: p.field, problem: p.problem })),
        }),
      };
    }
    const unreachable = plans.filter((p): p is Extract<Plan, { action: "no-address" }> => p.action === "no-address");
    if (plans.length > 0 && unreachable.length + untemplated.length === plans.length) {
      // Not one channel can reach the user: say so instead of accepting a notification nobody gets.
      for (const plan of unreachable) logSkipped(job, plan);
      return {
        ok: false,
        answer: respond(422, {
          error: "no channel can reach the user",
          eventId,
          problems: unreachable.map((p) => ({ field: `contact.${p.field}`, problem: `${p.channel}: ${p.problem}` })),
        }),
      };
    }
    return { ok: true, value: plans };
  }

  /** One channel's delivery: the event's detail, with the open pixel in an e-mail when it is on. */
  async function deliveryOf(
    job: Job,
    channel: string,
    content: RenderedContent,
    link: string | undefined,
    address: ChannelDelivery["address"],
  ) {
    const { request, eventId, userId } = job;
    const delivery: ChannelDelivery = {
      eventId,
      userId,
      type: job.type,
      channel,
      kind: request.callback ? "actionable" : "feedback",
      content,
      ...(request.callback !== undefined ? { callback: request.callback } : {}),
      ...(link !== undefined ? { link } : {}),
      ...(request.progress !== undefined ? { progress: request.progress } : {}),
      address,
      createdAt: job.createdAt,
      ...(job.typeConfig?.critical ? { critical: true as const } : {}),
      ...(request.groupKey !== undefined
        ? {
            group: {
              key: request.groupKey,
              id: groupItemId(job.producer, request.groupKey),
              ...(request.renotify ? { renotify: true as const } : {}),
            },
          }
        : {}),
    };
    // The user's quiet hours hold it on every channel but the WebSocket (whose feed is not a ping), unless critical.
    if (job.quietHours && channel !== FEED_CHANNEL && !job.typeConfig?.critical) delivery.quietHours = job.quietHours;
    // A non-critical e-mail carries its one-click unsubscribe (critical ones cannot be switched off).
    if (deps.links && channel === "email" && !job.typeConfig?.critical)
      delivery.unsubscribe = await deps.links.unsubscribe({ userId, type: job.type, channel });
    if (deps.openPixel && deps.links && channel === "email" && delivery.content.html !== undefined) {
      const pixel = await deps.links.open({ eventId, channel });
      delivery.content = { ...delivery.content, html: `${delivery.content.html}<img src="${pixel}" width="1" height="1" alt="">` };
    }
    return delivery;
  }

  /**
   * 3. Recorded: round trip 2, one conditional put of the notification's one log item, every channel in
   * it. What each channel's entry answered, or a 422 (too large) or 409 (the eventId is another's).
   */
  async function record(job: Job, plans: Plan[]): Promise<Phase<Map<string, CreateAnswer>> | { ok: false; taken: true }> {
    const { request, eventId, userId, type, producer } = job;
    const written = plans.filter(
      (p): p is Extract<Plan, { action: "deliver" | "opted-out" | "digest" }> =>
        p.action === "deliver" || p.action === "opted-out" || p.action === "digest",
    );
    // Each entry carries the request's digest (a reused eventId must match it) and the delivery's digest
    // (what a worker checks before it sends: runtime/deliveryDigest.ts).
    const fingerprint = job.fingerprint ?? requestDigest(request);
    const shared = (channel: string) => ({
      eventId,
      channel,
      userId,
      type,
      producer,
      callback: request.callback,
      requestDigest: fingerprint,
    });
    const entries = written.map((plan) =>
      plan.action === "digest"
        ? { ...shared(plan.channel), status: DELIVERY_STATUS.digested, digestId: plan.digestId }
        : plan.action === "opted-out"
          ? { ...shared(plan.channel), status: DELIVERY_STATUS.unsubscribed, reason: "opted out" }
          : {
              ...shared(plan.channel),
              status: DELIVERY_STATUS.created,
              delivery: plan.delivery,
              digest: deliveryDigest(plan.delivery),
            },
    );
    // Every channel's content lives in one item (deflated), and DynamoDB keeps items up to 400 KB.
    const oversize = oversizeNotification(entries);
    if (oversize) {
      const field = request.message !== undefined ? "message" : "data";
      const problem = `renders ${oversize.bytes} bytes on ${entries.length} channels in all, as the log keeps them (deflated); one notification may hold at most ${oversize.limit}`;
      log({ component: "notify", outcome: OUTCOME.notify.unrenderable, eventId, userId, reason: `${field}: ${problem}` });
      return { ok: false, answer: respond(422, { error: "cannot render the notification", eventId, problems: [{ field, problem }] }) };
    }
    const answers = await notificationLog.createAll(entries);
    if (answers.some((a) => a.outcome === "taken")) return { ok: false, taken: true };
    // The eventId is bound to its notification: another user or other content makes this a 409, and
    // nothing of this request was written, so nothing of it is ever delivered.
    if (answers.some((a) => a.outcome === "conflict")) return { ok: false, answer: eventIdTaken(eventId, userId) };
    return { ok: true, value: new Map(written.map((plan, i) => [plan.channel, answers[i]])) };
  }

  /** The 409 of an eventId bound to another notification (another user or other content), logged. */
  function eventIdTaken(eventId: string, userId: string): HttpResult {
    log({
      component: "notify",
      outcome: OUTCOME.notify.eventIdConflict,
      eventId,
      userId,
      reason: "eventId already used for a different notification",
    });
    return respond(409, { error: "eventId already used for a different notification", eventId });
  }

  /** A channel without a template, logged. */
  function logNoTemplate(job: Job, plan: Extract<Plan, { action: "no-template" }>) {
    log({
      component: "notify",
      outcome: OUTCOME.notify.noTemplate,
      eventId: job.eventId,
      userId: job.userId,
      channel: plan.channel,
      reason: plan.problem,
    });
  }

  /** A channel the service decided not to deliver, logged and counted. */
  function logSkipped(job: Job, plan: Extract<Plan, { action: "no-address" }>) {
    log({
      component: "notify",
      outcome:
        plan.reason === "missing" || plan.reason === "unverified"
          ? OUTCOME.notify.noAddress
          : plan.reason === "suppressed" || plan.reason === "opted-out"
            ? OUTCOME.notify.suppressed
            : OUTCOME.notify.invalidAddress,
      eventId: job.eventId,
      userId: job.userId,
      channel: plan.channel,
      reason: plan.problem,
    });
  }

  /**
   * What goes on the bus: each delivery its entry did not already move on. A channel still `created` may
   * never have reached the bus (a crash or a failed put after the write): it is put again, and the
   * worker's claim sends it once. The outcomes of the channels decided here are filled in.
   */
  async function settle(job: Job, plans: Plan[], answers: Map<string, CreateAnswer>, outcomes: Record<string, ChannelOutcome>) {
    const { eventId, userId, type, createdAt } = job;
    const toPut: ChannelDelivery[] = [];
    for (const plan of plans) {
      const { channel } = plan;
      if (plan.action === "opted-out") {
        outcomes[channel] = "skipped: opted out";
        metrics.count(METRIC.skippedOptedOut, { channel, type });
        const callback = { eventId, userId, type, channel, status: "unsubscribed" as const, at: createdAt, reason: "opted out" };
        await deps.statusCallbacks?.({ ...callback, producer: job.producer });
        log({ component: "notify", outcome: "skipped", eventId, userId, channel, reason: "opted out" });
      } else if (plan.action === "digest") {
        outcomes[channel] = "digested";
        metrics.count(METRIC.digested, { channel, type });
        log({ component: "notify", outcome: OUTCOME.notify.digested, eventId, userId, channel, reason: plan.digestId });
      } else if (plan.action === "no-template") {
        outcomes[channel] = NO_TEMPLATE;
        metrics.count(METRIC.skippedNoTemplate, { channel, type });
        logNoTemplate(job, plan);
      } else if (plan.action === "no-address") {
        const skipped = SKIPPED_ADDRESS[plan.reason];
        outcomes[channel] = skipped.outcome ?? `invalid_address: ${plan.problem}`;
        metrics.count(skipped.metric, { channel, type });
        logSkipped(job, plan);
      } else {
        const answer = answers.get(channel)!;
        const existing = answer.outcome === "exists" ? answer.existing : undefined;
        if (answer.outcome === "exists" && existing?.status !== "created" && !(existing && isStuck(existing, now(), stuckAfterMs))) {
          outcomes[channel] = "duplicate";
          metrics.count(METRIC.duplicate, { channel, type });
          log({ component: "notify", outcome: "duplicate", eventId, userId, channel, reason: `already ${existing?.status ?? "logged"}` });
          continue;
        }
        // Put again what the row recorded (its digest is what the worker checks), not this retry's copy.
        toPut.push(existing?.delivery ?? plan.delivery);
      }
    }
    return toPut;
  }

  /** 4. Put on the bus: round trip 3, at most 10 entries per PutEvents call, the calls at once. The channels the bus refused. */
  async function put(job: Job, toPut: ChannelDelivery[], outcomes: Record<string, ChannelOutcome>) {
    const { eventId, userId, type } = job;
    const failed: { channel: string; reason: string }[] = [];
    const batches: ChannelDelivery[][] = [];
    for (let start = 0; start < toPut.length; start += PUT_EVENTS_BATCH) batches.push(toPut.slice(start, start + PUT_EVENTS_BATCH));
    await Promise.all(
      batches.map(async (batch) => {
        const entries: PutEventsRequestEntry[] = batch.map((delivery) => ({
          EventBusName: deps.busName,
          Source: EVENT_SOURCE,
          DetailType: detailTypeFor(delivery.channel),
          Detail: JSON.stringify(delivery),
        }));
        let results: { ErrorCode?: string; ErrorMessage?: string }[];
        try {
          const answer = await deps.events.send(new PutEventsCommand({ Entries: entries }));
          results = answer.Entries ?? [];
        } catch (error) {
          const reason = `PutEvents failed: ${(error as Error).name ?? "Error"}`;
          results = batch.map(() => ({ ErrorCode: "RequestFailed", ErrorMessage: reason }));
        }
        for (const [index, delivery] of batch.entries()) {
          const result = results[index];
          const { channel } = delivery;
          if (!result || result.ErrorCode) {
            const reason = result ? `${result.ErrorCode}: ${result.ErrorMessage ?? ""}`.trim() : "no result for the entry";
            failed.push({ channel, reason });
            log({ component: "notify", outcome: "put_failed", eventId, userId, channel, reason });
            continue;
          }
          outcomes[channel] = "queued";
          metrics.count(METRIC.queued, { channel, type });
          log({ component: "notify", outcome: "queued", eventId, userId, channel });
        }
      }),
    );
    return failed;
  }

  /** The channels a digest collects: into the open digest of the producer, user, type and key value. */
  async function collect(job: Job, plans: Plan[]) {
    const collected = plans.filter((p): p is Extract<Plan, { action: "digest" }> => p.action === "digest");
    const digest = job.typeConfig?.digest;
    if (!collected.length || !digest) return;
    if (!digests) throw new Error(`${job.type} has a digest, and scheduling is off: nothing would close it`);
    const digestId = await digests.collect({
      eventId: job.eventId,
      producer: job.producer,
      userId: job.userId,
      type: job.type,
      keyValue: digestKeyValue(digest.key, job.request.data),
      windowSeconds: digest.windowSeconds,
      item: { data: job.request.data ?? {}, at: job.createdAt, channels: collected.map((p) => p.channel) },
    });
    for (const plan of collected) plan.digestId = digestId;
  }

  /** Decided, rendered and recorded under `job.eventId`; "taken" when another producer's notification holds it. */
  async function accept(job: Job) {
    const decided = await decide(job, job.request.channels ?? channelsOfType(job.typeConfig, deps.enabledChannels));
    const plans = await render(job, decided);
    if (!plans.ok) return plans;
    await collect(job, plans.value);
    const answers = await record(job, plans.value);
    if (!answers.ok) return answers;
    return { ok: true as const, plans: plans.value, answers: answers.value };
  }

  const serve: NotificationService = async (rawBody, caller) => {
    const validated = validateNotificationRequest(rawBody, context);
    if (!validated.ok) {
      log({
        component: "notify",
        outcome: OUTCOME.notify.rejected,
        reason: validated.problems
          .map((p) => `${p.field}: ${p.problem}`)
          .join("; ")
          .slice(0, 1000),
      });
      const error = validated.status === 413 ? "request too large" : "invalid request";
      return respond(validated.status, { error, problems: validated.problems });
    }
    const request = validated.request;
    const typeConfig = deps.types[request.type];
    const allowed = await allowedTypes(deps.producers, caller?.id, recordedTypes);
    const refused = typeRefusal(allowed, caller?.id, request.type, typeConfig?.critical === true);
    if (refused) {
      log({ component: "notify", outcome: OUTCOME.notify.forbidden, userId: request.userId, reason: refused });
      return respond(403, { error: "forbidden", message: refused, problems: [{ field: "type", problem: refused }] });
    }
    const eventId = request.eventId ?? randomUUID();
    let job: Job = {
      request,
      eventId,
      producer: caller?.id,
      userId: request.userId,
      type: request.type,
      typeConfig,
      createdAt: new Date(now()).toISOString(),
    };
    if (request.topic !== undefined) return sendToTopic(request, eventId, caller);
    if (request.sendAt !== undefined) return scheduleLater(job, caller);
    let accepted = await accept(job);
    if (!accepted.ok && "taken" in accepted && caller) {
      // Another producer sent this eventId first: this producer's notification is its own, under its own key.
      job = { ...job, eventId: producerEventKey(eventId, caller.id) };
      accepted = await accept(job);
    }
    return deliver(job, accepted, eventId);
  };

  /** Puts what was accepted on the bus: the 202, or the refusal; `eventId` is the producer's. */
  async function deliver(job: Job, accepted: Awaited<ReturnType<typeof accept>>, eventId: string): Promise<HttpResult> {
    if (!accepted.ok) {
      if ("answer" in accepted) return accepted.answer;
      return respond(409, { error: "eventId already used for a different notification", eventId });
    }
    const outcomes: Record<string, ChannelOutcome> = {};
    const failed = await put(job, await settle(job, accepted.plans, accepted.answers, outcomes), outcomes);
    if (failed.length) {
      // The failed rows stay `created`, so the same request again puts exactly those.
      return respond(
        503,
        {
          error: "the event bus did not take every channel; retry with the same eventId",
          retryable: true,
          eventId,
          channels: outcomes,
          failed,
        },
        { "retry-after": "1" },
      );
    }
    for (const channel of Object.keys(outcomes)) metrics.count(METRIC.accepted, { channel, type: job.type });
    return respond(202, { eventId, channels: outcomes });
  }

  /**
   * `sendAt`: the notification item is written with the request and nothing else is decided; its
   * schedule wakes the scheduled sender then. A retry of the same request recreates a schedule that may
   * be missing (a crash between the two writes) and answers the same.
   */
  async function scheduleLater(job: Job, caller: Producer | undefined): Promise<HttpResult> {
    const { request, userId, type } = job;
    const eventId = job.eventId;
    const entry = {
      eventId,
      userId,
      type,
      producer: caller?.id,
      requestDigest: requestDigest(request),
      request,
      sendAt: request.sendAt!,
    };
    let answer = await scheduledLog.schedule(entry);
    if (answer.outcome === "taken" && caller) {
      entry.eventId = producerEventKey(eventId, caller.id);
      answer = await scheduledLog.schedule(entry);
    }
    if (answer.outcome === "taken" || answer.outcome === "conflict" || !answer.schedule) return eventIdTaken(eventId, userId);
    const { schedule } = answer;
    if (schedule.status === "scheduled") {
      try {
        await deps.scheduler!.create(entry.eventId, schedule.sendAt);
      } catch (error) {
        log({ component: "notify", outcome: OUTCOME.notify.scheduleFailed, eventId, userId, reason: describeError(error) });
        return respond(
          503,
          { error: "the schedule could not be created; retry with the same eventId", retryable: true, eventId },
          { "retry-after": "1" },
        );
      }
    }
    log({ component: "notify", outcome: OUTCOME.notify.scheduled, eventId, userId, reason: `send at ${schedule.sendAt}` });
    return respond(202, { eventId, status: schedule.status, sendAt: schedule.sendAt });
  }

  /**
   * `topic`: the send is recorded with its subscriber count and handed to the fan-out, which sends it to
   * each subscriber; the same request again answers the same (and hands it on again, if not done).
   */
  async function sendToTopic(request: NotificationRequest, eventId: string, caller: Producer | undefined): Promise<HttpResult> {
    const topic = request.topic!;
    if (!deps.topics)
      return respond(400, {
        error: "invalid request",
        problems: [{ field: "topic", problem: "cannot be used: topics are off in this stack (tidings:topics.enabled)" }],
      });
    const recipients = await deps.topics.count(topic);
    const entry = { eventId, topic, type: request.type, producer: caller?.id, requestDigest: requestDigest(request), request, recipients };
    let send = await topicSends.record(entry);
    // Another producer's send holds the eventId: this producer's is its own, under its own key.
    if (send === "taken" && caller) send = await topicSends.record({ ...entry, eventId: producerEventKey(eventId, caller.id) });
    if (send === "taken" || send === "conflict")
      return respond(409, { error: "eventId already used for a different notification", eventId });
    if (!send.done) {
      try {
        await deps.topics.fanOut(send.eventId);
      } catch (error) {
        log({ component: "notify", outcome: OUTCOME.notify.putFailed, eventId, reason: `fan-out not started: ${describeError(error)}` });
        return respond(
          503,
          { error: "the fan-out did not start; retry with the same eventId", retryable: true, eventId },
          { "retry-after": "1" },
        );
      }
    }
    log({ component: "notify", outcome: OUTCOME.notify.topic, eventId, reason: `${topic}: ${send.recipients} recipients` });
    return respond(202, { eventId, topic, recipients: send.recipients });
  }

  /** One subscriber: the send's request for them, under their own id, through the pipeline as if it had just arrived. */
  const sendToRecipient: RecipientSend = async (send, userId) => {
    const eventId = recipientId(send.eventId, userId);
    const { topic: _topic, ...request } = send.request;
    const job: Job = {
      request: { ...request, userId, eventId },
      eventId,
      producer: send.producer,
      userId,
      type: send.type,
      typeConfig: deps.types[send.type],
      createdAt: send.createdAt,
    };
    const answer = await deliver(job, await accept(job), eventId);
    // 503 (the bus refused an entry) or a table out of reach: the fan-out retries this page.
    if (answer.statusCode >= 500) throw new Error(`recipient ${eventId}: ${answer.body}`);
    return answer.statusCode === 202 ? "sent" : "unreachable";
  };

  const sendScheduled: ScheduledSend = async (notificationId) => {
    const claimed = await scheduledLog.claimSend(notificationId);
    if (!claimed) {
      // Cancelled, sent already, or erased with its user: the fire has nothing to do.
      log({ component: "scheduled", outcome: OUTCOME.scheduled.skipped, eventId: notificationId, reason: "not scheduled any more" });
      return "skipped";
    }
    const { producer, createdAt, digestItems } = claimed;
    let request = claimed.request;
    if (digestItems) {
      // A digest: what it collected is its data, and it goes to every channel something was collected for.
      const { data, channels } = digestData(digestItems);
      request = { ...request, data, channels };
    }
    const job: Job = {
      ...(digestItems ? { digestSend: true as const, fingerprint: requestDigest(claimed.request) } : {}),
      request,
      eventId: notificationId,
      producer,
      userId: request.userId,
      type: request.type,
      typeConfig: deps.types[request.type],
      createdAt,
    };
    const answer = await deliver(job, await accept(job), notificationId);
    if (answer.statusCode === 503) throw new Error(`scheduled ${notificationId}: ${answer.body}`);
    if (answer.statusCode === 202) {
      await scheduledLog.finish(notificationId, { status: "sent" });
      log({ component: "scheduled", outcome: OUTCOME.scheduled.sent, eventId: notificationId, userId: job.userId });
      return "sent";
    }
    // Refused now as a request would be (no channel reaches the user, content that no longer renders).
    const refusal = JSON.parse(answer.body ?? "{}") as { error?: string; problems?: Problem[] };
    const reason = [refusal.error ?? "refused", ...(refusal.problems ?? []).map((p) => `${p.field}: ${p.problem}`)].join("; ");
    await scheduledLog.finish(notificationId, { status: "failed", reason });
    log({ component: "scheduled", outcome: OUTCOME.scheduled.failed, eventId: notificationId, userId: job.userId, reason });
    return "failed";
  };

  return {
    // A table, bucket or bus that cannot be reached is a 500 that leaks nothing; never an unhandled throw.
    serve: async (rawBody, caller) => {
      try {
        return await serve(rawBody, caller);
      } catch (error) {
        log({ component: "notify", outcome: OUTCOME.notify.error, reason: describeError(error) });
        return respond(500, { error: "internal error; retry with the same eventId" });
      }
    },
    sendScheduled,
    sendToRecipient,
  };
}

function describeError(error: unknown): string {
  const e = error as { name?: string; message?: string } | undefined;
  return `${e?.name ?? "Error"}: ${e?.message ?? String(error)}`.slice(0, 500);
}

/** The API Gateway HTTP API (payload format 2.0) event, as much of it as the service reads. */
export interface HttpApiEvent {
  body?: string | null;
  isBase64Encoded?: boolean;
  headers?: Record<string, string | undefined>;
  requestContext?: { http?: { method?: string; path?: string }; requestId?: string; authorizer?: AuthorizerContext };
}

/**
 * Adapts the service to an HTTP API Lambda integration: decodes base64 bodies (rejecting bytes that are
 * not UTF-8), answers JSON, and turns any unexpected error into a 500 that leaks nothing.
 */
export function makeHttpApiHandler(service: NotificationService, logger: DecisionLogger = logDecision) {
  return async (event: HttpApiEvent): Promise<HttpResult> => {
    try {
      let body = event?.body ?? undefined;
      if (body !== undefined && event.isBase64Encoded) {
        const bytes = Buffer.from(body, "base64");
        if (bytes.length > MAX_BODY_BYTES)
          return respond(413, {
            error: "request too large",
            problems: [{ field: "body", problem: `is ${bytes.length} bytes; the limit is ${MAX_BODY_BYTES}` }],
          });
        try {
          body = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
        } catch {
          return respond(400, { error: "invalid request", problems: [{ field: "body", problem: "is not UTF-8 text" }] });
        }
      }
      return await service(body, producerOf(event));
    } catch (error) {
      logger({ component: "notify", outcome: OUTCOME.notify.error, reason: describeError(error) });
      return respond(500, { error: "internal error; retry with the same eventId" });
    }
  };
}
