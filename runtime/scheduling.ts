/**
 * Scheduled notifications (`POST /notifications` with `sendAt`, `DELETE /notifications/{eventId}`).
 *
 * A scheduled notification is its notification item in the log from the start: the producer's request
 * (deflated), `sendAt` and a schedule status, with no deliveries yet. When its time comes, the scheduled
 * sender claims it (`scheduled` → `sending`) and runs the service's pipeline on the request as if it
 * had just arrived: the user's settings, preferences and contacts are read then, and the pipeline adds
 * each channel to this same item. A cancel moves `scheduled` → `cancelled`. Both are conditional writes
 * on the one status, so a cancel racing the send is one or the other, never both.
 *
 * What wakes the sender is a one-time EventBridge Scheduler schedule per notification (deployed), or the
 * local mode's scheduler: both take the Scheduler API's calls (runtime: `makeEventBridgeScheduler`).
 */
import { deflateRawSync, inflateRawSync } from "node:zlib";
import { type DynamoDBDocumentClient, GetCommand, PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { DigestItem, NotificationRequest } from "./contracts";
import { DEFAULTS } from "./defaults";
import { createdDayShard, NOTIFICATION_ITEM } from "./logItem";
import { inList, isConditionFailure, oldItemOf } from "./logWrites";

/** Where a scheduled notification stands: `sending` once its sender has claimed it, for good. */
export type ScheduleStatus = "scheduled" | "sending" | "sent" | "cancelled" | "failed";

/** The status producers and operators see: a notification being sent is still `scheduled` until it is sent. */
export function shownScheduleStatus(status: ScheduleStatus): Exclude<ScheduleStatus, "sending"> {
  return status === "sending" ? "scheduled" : status;
}

/** The schedule part of a notification item. */
export interface ScheduleRecord {
  sendAt: string;
  status: ScheduleStatus;
  /** Why it failed when its time came (the pipeline refused it: no channel reaches the user, content…). */
  reason?: string;
  updatedAt: string;
}

export interface ScheduledLogDeps {
  ddb: DynamoDBDocumentClient;
  table: string;
  /** Days a notification is kept after its time. @default 90 */
  ttlDays?: number;
  now?: () => number;
}

/** What `schedule` found: created, or the item already under that key (a retry, another's, or another request). */
export type ScheduleAnswer =
  | { outcome: "created"; schedule: ScheduleRecord }
  | { outcome: "exists"; schedule: ScheduleRecord | undefined }
  | { outcome: "taken" }
  | { outcome: "conflict" };

export interface NewSchedule {
  eventId: string;
  userId: string;
  type: string;
  producer: string | undefined;
  requestDigest: string;
  request: NotificationRequest;
  sendAt: string;
  /** A digest (runtime/digests.ts): it collects `digestItems` until it is sent. */
  digest?: true;
}

/** The schedule record of a notification item (its stored request left out); undefined when it was never scheduled. */
export function scheduleOf(item: Record<string, unknown> | undefined): ScheduleRecord | undefined {
  const scheduled = item?.scheduled as (ScheduleRecord & { request?: unknown }) | undefined;
  if (!scheduled) return undefined;
  const { request: _stored, ...record } = scheduled;
  return record;
}

/** The log's scheduled notifications: their items' schedule part, by conditional writes only. */
export function makeScheduledLog(deps: ScheduledLogDeps) {
  const now = deps.now ?? Date.now;
  const ttlSeconds = (deps.ttlDays ?? DEFAULTS.logTtlDays) * 86_400;
  const key = (eventId: string) => ({ eventId, channel: NOTIFICATION_ITEM });

  async function read(eventId: string) {
    const found = await deps.ddb.send(new GetCommand({ TableName: deps.table, Key: key(eventId), ConsistentRead: true }));
    return found.Item;
  }

  /** Moves `scheduled.status` from one of `from` to `to`; the item after, or undefined when it was not in `from`. */
  async function move(
    eventId: string,
    from: ScheduleStatus[],
    to: ScheduleStatus,
    extra: { set?: string[]; names?: Record<string, string>; values?: Record<string, unknown> } = {},
  ) {
    const at = new Date(now()).toISOString();
    const fromList = inList("from", from);
    try {
      const answer = await deps.ddb.send(
        new UpdateCommand({
          TableName: deps.table,
          Key: key(eventId),
          UpdateExpression: `SET ${["#s.#status = :to", "#s.updatedAt = :at", ...(extra.set ?? [])].join(", ")}`,
          ConditionExpression: `#s.#status IN (${fromList.placeholders})`,
          ExpressionAttributeNames: { "#s": "scheduled", "#status": "status", ...extra.names },
          ExpressionAttributeValues: { ":to": to, ":at": at, ...fromList.values, ...extra.values },
          ReturnValues: "ALL_NEW",
        }),
      );
      return answer.Attributes;
    } catch (error) {
      if (isConditionFailure(error)) return undefined;
      throw error;
    }
  }

  return {
    /**
     * Writes the notification item of a scheduled notification (one conditional put). A retry of the
     * same request answers "exists" with its schedule; another producer's item "taken"; another user
     * or request under the eventId "conflict".
     */
    async schedule(entry: NewSchedule): Promise<ScheduleAnswer> {
      const at = new Date(now()).toISOString();
      const schedule: ScheduleRecord = { sendAt: entry.sendAt, status: "scheduled", updatedAt: at };
      let existing: Record<string, unknown> | undefined;
      try {
        await deps.ddb.send(
          new PutCommand({
            TableName: deps.table,
            Item: {
              ...key(entry.eventId),
              userId: entry.userId,
              type: entry.type,
              requestDigest: entry.requestDigest,
              ...(entry.producer !== undefined ? { producer: entry.producer } : {}),
              ...(entry.request.callback !== undefined ? { callback: entry.request.callback } : {}),
              createdAt: at,
              // Kept as long after its time as any notification after its sending.
              ttl: Math.floor(Date.parse(entry.sendAt) / 1000) + ttlSeconds,
              // Empty until sent: the pipeline adds each channel then. No createdDayShard yet, so the
              // reconciler's index does not hold it before there is anything to reconcile.
              deliveries: {},
              scheduled: { ...schedule, request: deflateRawSync(JSON.stringify(entry.request)) },
              ...(entry.digest ? { digestItems: {} } : {}),
            },
            ConditionExpression: "attribute_not_exists(eventId)",
            ReturnValuesOnConditionCheckFailure: "ALL_OLD",
          }),
        );
        return { outcome: "created", schedule };
      } catch (error) {
        if (!isConditionFailure(error)) throw error;
        existing = oldItemOf(error);
      }
      // Only where the store did not return the item (local dynalite): read it.
      existing ??= await read(entry.eventId);
      if (!existing) throw new Error(`the notification item of ${entry.eventId} was there and is gone: retry`);
      if (existing.producer !== undefined && entry.producer !== undefined && existing.producer !== entry.producer)
        return { outcome: "taken" };
      if (existing.userId !== entry.userId || existing.requestDigest !== entry.requestDigest) return { outcome: "conflict" };
      return { outcome: "exists", schedule: scheduleOf(existing) };
    },

    /** The item under `eventId`: its producer and schedule, and whether it is a digest (undefined: no such notification). */
    async find(eventId: string): Promise<{ producer?: string; schedule?: ScheduleRecord; digest?: true } | undefined> {
      const item = await read(eventId);
      if (!item) return undefined;
      return {
        producer: item.producer as string | undefined,
        schedule: scheduleOf(item),
        ...(item.digestItems !== undefined ? { digest: true as const } : {}),
      };
    },

    /** `scheduled` → `cancelled`; undefined when it was not scheduled any more (or is not there). */
    async cancel(eventId: string): Promise<ScheduleRecord | undefined> {
      return scheduleOf(await move(eventId, ["scheduled"], "cancelled"));
    },

    /**
     * The sender's claim: `scheduled` (or `sending`, a fire retried after a crash) → `sending`, with the
     * notification's creation time now, so the reconciler watches it from here. The stored request and
     * its producer, or undefined when it was cancelled, is done, or was erased.
     */
    async claimSend(
      eventId: string,
    ): Promise<
      { request: NotificationRequest; producer?: string; createdAt: string; digestItems?: Record<string, DigestItem> } | undefined
    > {
      const createdAt = new Date(now()).toISOString();
      const item = await move(eventId, ["scheduled", "sending"], "sending", {
        set: ["#createdAt = :createdAt", "#shard = :shard"],
        names: { "#createdAt": "createdAt", "#shard": "createdDayShard" },
        values: { ":createdAt": createdAt, ":shard": createdDayShard(eventId, createdAt) },
      });
      if (!item) return undefined;
      const stored = (item.scheduled as { request: Uint8Array }).request;
      const request = JSON.parse(inflateRawSync(stored).toString("utf8")) as NotificationRequest;
      const digestItems = item.digestItems as Record<string, DigestItem> | undefined;
      return { request, producer: item.producer as string | undefined, createdAt, ...(digestItems ? { digestItems } : {}) };
    },

    /** The end of a claimed send: `sent`, or `failed` with why. */
    async finish(eventId: string, outcome: { status: "sent" } | { status: "failed"; reason: string }): Promise<void> {
      await move(
        eventId,
        ["sending"],
        outcome.status,
        outcome.status === "failed" ? { set: ["#s.reason = :reason"], values: { ":reason": outcome.reason.slice(0, 500) } } : {},
      );
    },
  };
}

export type ScheduledLog = ReturnType<typeof makeScheduledLog>;
