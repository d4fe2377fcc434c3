/**
 * One structured JSON line per decision (eventId, userId, channel, outcome, reason), so CloudWatch
 * Logs Insights and the local console read the same thing. Secrets (webhook URLs, tokens) are never
 * passed here.
 */
import type { ErrorFrame } from "./contracts";

/**
 * Every outcome a component logs, per component: the one list the handlers write and the local console
 * (local/console.ts) reads. Values are what appears in the `outcome` field of the JSON line.
 */
export const OUTCOME = {
  /** The producer API, per request or per channel. */
  notify: {
    queued: "queued",
    skipped: "skipped",
    duplicate: "duplicate",
    noAddress: "no_address",
    suppressed: "suppressed",
    noTemplate: "no_template",
    invalidAddress: "invalid_address",
    rejected: "rejected",
    unrenderable: "unrenderable",
    putFailed: "put_failed",
    eventIdConflict: "eventid_conflict",
    forbidden: "forbidden",
    scheduled: "scheduled",
    scheduleFailed: "schedule_failed",
    cancelled: "cancelled",
    /** A channel collected into a digest (its id in `reason`). */
    digested: "digested",
    /** A topic send accepted and handed to the fan-out. */
    topic: "topic",
    error: "error",
  },
  /** The topic fan-out: a page of subscribers handed to the pipeline. */
  fanout: { page: "page", invalid: "invalid", error: "error" },
  /** The scheduled sender, when a scheduled notification's time comes. */
  scheduled: { sent: "sent", failed: "failed", skipped: "skipped" },
  /** A channel worker, per SQS record. */
  worker: {
    sent: "sent",
    retry: "retry",
    delayed: "delayed",
    skipped: "skipped",
    duplicate: "duplicate",
    busy: "busy",
    failed: "failed",
    invalid: "invalid",
    refused: "refused",
    callbackEnqueueFailed: "callback_enqueue_failed",
    error: "error",
  },
  /** Status callbacks to the producer's URL. */
  "status-callback": { sent: "sent", retry: "retry", invalid: "invalid" },
  "websocket-authorizer": { allow: "allow", deny: "deny" },
  "websocket-connect": { connected: "connected", refused: "refused", error: "error" },
  "websocket-disconnect": { disconnected: "disconnected", error: "error" },
  "websocket-broadcast": { broadcast: "broadcast", refused: "refused" },
  "websocket-delivery": { cleanupFailed: "cleanup-failed" },
  /** Chat in a room (`sendmessage`). */
  "websocket-chat": { sent: "sent", refused: "refused" },
  /** `$default` logs the error frame's code it answered with. */
  "websocket-default": {
    invalidJson: "invalid_json",
    missingAction: "missing_action",
    unknownAction: "unknown_action",
  } satisfies Record<string, ErrorFrame["error"]>,
  /** Puts events of rows stuck `created`/`pending` on the bus again, or gives up on them. */
  reconciler: { reput: "reput", putFailed: "put_failed", expired: "expired", done: "done", error: "error" },
  /** The producer's status API. */
  status: { error: "error" },
  /** The end user's API: feed changes, preferences, devices. */
  "user-api": {
    read: "read",
    archived: "archived",
    syncFailed: "sync-failed",
    preferences: "preferences",
    deviceRegistered: "device-registered",
    deviceRemoved: "device-removed",
    unsubscribed: "unsubscribed",
    unsubscribeRefused: "unsubscribe-refused",
    /** A self-service contact request (PUT /me/contact, verify, the e-mail link), with its answer's status. */
    contact: "contact",
    error: "error",
  },
  /** Tracking links: what the user did with a delivered notification. */
  tracking: { opened: "opened", clicked: "clicked", refused: "refused" },
  /** SES bounces and complaints, recorded on the contact. */
  "email-feedback": { suppressed: "suppressed", ignored: "ignored", invalid: "invalid" },
  /** The producer's contact routes and erasure. */
  "user-data": { contactSaved: "contact-saved", userErased: "user-erased", error: "error" },
  /** The local mode's EventBridge bus (AWS logs these itself). */
  eventbridge: { queued: "queued", retried: "retried", deadLettered: "dead-lettered", unmatched: "unmatched" },
  /** The local mode's SQS pollers, standing in for event source mappings and redrive. */
  "local-sqs": { deadLettered: "dead-lettered", error: "error" },
  /** The local mode's EventBridge Scheduler stand-in (a fire that failed: retried, or dead-lettered). */
  "local-scheduler": { retry: "retry", deadLettered: "dead-lettered" },
  /** The local mode's API Gateway WebSocket stand-in. */
  "local-gateway": { error: "error" },
} as const;

export type LogComponent = keyof typeof OUTCOME;
export type OutcomeOf<C extends LogComponent> = (typeof OUTCOME)[C][keyof (typeof OUTCOME)[C]];

interface DecisionFields {
  eventId?: string;
  userId?: string;
  channel?: string;
  reason?: string;
  [field: string]: unknown;
}

/** One decision: a component and one of its outcomes, plus what identifies the notification. */
export type Decision = { [C in LogComponent]: DecisionFields & { component: C; outcome: OutcomeOf<C> } }[LogComponent];

export type DecisionLogger = (decision: Decision) => void;

/** Default logger: a JSON line on stdout. Local mode injects a coloured one. */
export function logDecision(decision: Decision): void {
  console.log(JSON.stringify({ time: new Date().toISOString(), ...decision }));
}
