/**
 * The notification log: one row per eventId×channel (TABLES.notificationLog), the dedupe key of the
 * pipeline and the record of each delivery's status. The service creates rows (`created`, all in one
 * round trip), workers move them on: the claim marks a row `pending`, the send's outcome follows.
 * Conditional writes answer with the row they found (ReturnValuesOnConditionCheckFailure "ALL_OLD"),
 * so nothing reads a row before or after writing it.
 *
 * Before a provider call a worker claims the row (`claim`): a conditional write that only one copy of
 * a message can win while the lease (`claimedUntil`, epoch ms) runs, so two copies of one delivery
 * processed at the same moment (a visibility timeout expiring mid-send, two racing producer requests)
 * make one send. The claimant releases the lease with the status it records after the send; nobody
 * else does (another writer marking the row `pending` must not free a send in flight).
 * A delivered row (sent, opened, clicked) never goes back to created, pending or error, and a late
 * `pending` never hides an `error` a worker recorded.
 */
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { unmarshall } from "@aws-sdk/util-dynamodb";
import { type ChannelDelivery, DELIVERED_STATUSES, DELIVERY_STATUS, type DeliveryStatus, isDelivered, type LogEntry } from "./contracts";
import { makeMetrics, type Metrics } from "./metrics";

/**
 * How long a row may sit `created` or `pending` with no delivery in flight before it counts as stuck:
 * its event was lost on the way (rule DLQ, a crash between put and queue). Far below the queues'
 * retention, above the longest politeness delay (15 min) a healthy row can wait.
 */
export const STUCK_AFTER_MS = 15 * 60_000;

/**
 * A row that should have moved on and has not: still `created`/`pending`, untouched for `stuckAfterMs`,
 * and no worker holding a live claim on it. Such a row may be put on the bus again: the worker's claim
 * keeps the delivery exactly-once if the first copy turns up after all.
 */
export function isStuck(
  row: Pick<LogEntry, "status" | "updatedAt" | "claimedUntil">,
  nowMs: number,
  stuckAfterMs = STUCK_AFTER_MS,
): boolean {
  if (row.status !== "created" && row.status !== "pending") return false;
  if (typeof row.claimedUntil === "number" && row.claimedUntil > nowMs) return false;
  const updated = Date.parse(row.updatedAt);
  return Number.isFinite(updated) && updated <= nowMs - stuckAfterMs;
}

export interface NotificationLogDeps {
  ddb: DynamoDBDocumentClient;
  table: string;
  /** Days a row is kept before DynamoDB expires it. @default 90 */
  ttlDays?: number;
  /** Epoch milliseconds; injectable for tests. */
  now?: () => number;
  /** Where `advance` counts `opened`/`clicked` (EMF). @default EMF lines on stdout */
  metrics?: Metrics;
}

export interface NewLogEntry {
  eventId: string;
  channel: string;
  userId: string;
  type: string;
  status: typeof DELIVERY_STATUS.created | typeof DELIVERY_STATUS.unsubscribed | typeof DELIVERY_STATUS.error;
  reason?: string;
  /** The event detail as put on the bus: kept so the reconciler can put a lost event again. */
  delivery?: ChannelDelivery;
  /** SHA-256 of `delivery`: what a worker checks before it sends (runtime/deliveryDigest.ts). */
  digest?: string;
  /** SHA-256 of the producer's request without eventId: tells a retry from a reused eventId. */
  requestDigest?: string;
}

export interface StatusFields {
  provider?: string;
  providerMessageId?: string;
  reason?: string;
  /** Adds one to `attempts` (a provider call was made). */
  countAttempt?: boolean;
  /** Clears the claim's lease: only for the claimant, recording the outcome of its send. */
  releaseClaim?: boolean;
}

/** What `claim` found: "claimed" = this caller may send; "sent" = already delivered; "busy" = another copy holds the lease. */
export type ClaimResult = "claimed" | "sent" | "busy";

/** A claim and the row as it was before it (attempts made so far, status): no second read needed. */
export interface ClaimAnswer {
  result: ClaimResult;
  /** The row before the claim (undefined inside the log only: there was no row). */
  row: LogEntry | undefined;
}

/** One conditional put's answer: the row that already held eventId×channel comes back with "exists". */
export type CreateAnswer = { outcome: "created" } | { outcome: "exists"; existing: LogEntry | undefined };

/**
 * The item a conditional write found, when it failed: DynamoDB returns it with
 * `ReturnValuesOnConditionCheckFailure: "ALL_OLD"`. Local stand-ins that predate that option (dynalite)
 * return none; callers then read the row.
 */
function oldRowOf(error: unknown): LogEntry | undefined {
  const item = (error as { Item?: Parameters<typeof unmarshall>[0] }).Item;
  return item && typeof item === "object" ? (unmarshall(item) as LogEntry) : undefined;
}

const isConditionFailure = (error: unknown) => (error as { name?: string }).name === "ConditionalCheckFailedException";

/** Final outcomes other than delivery: only the claimant of a new send moves a row off them. */
const OUTCOMES: readonly DeliveryStatus[] = [DELIVERY_STATUS.error, DELIVERY_STATUS.unsubscribed];

/** `:<prefix>0, :<prefix>1, …` for an `IN (…)` condition, with the values to bind. */
function inList(prefix: string, statuses: readonly DeliveryStatus[]): { placeholders: string; values: Record<string, DeliveryStatus> } {
  const values: Record<string, DeliveryStatus> = {};
  statuses.forEach((status, i) => {
    values[`:${prefix}${i}`] = status;
  });
  return { placeholders: Object.keys(values).join(", "), values };
}

export function makeNotificationLog(deps: NotificationLogDeps) {
  const now = deps.now ?? Date.now;
  const ttlSeconds = (deps.ttlDays ?? 90) * 86_400;
  const key = (eventId: string, channel: string) => ({ eventId, channel });

  async function get(eventId: string, channel: string): Promise<LogEntry | undefined> {
    const result = await deps.ddb.send(new GetCommand({ TableName: deps.table, Key: key(eventId, channel), ConsistentRead: true }));
    return result.Item as LogEntry | undefined;
  }

  async function createAll(entries: NewLogEntry[]): Promise<CreateAnswer[]> {
    const at = new Date(now()).toISOString();
    const ttl = Math.floor(now() / 1000) + ttlSeconds;
    const answers = await Promise.all(
      entries.map(async (entry): Promise<CreateAnswer> => {
        try {
          await deps.ddb.send(
            new PutCommand({
              TableName: deps.table,
              Item: { ...entry, createdAt: at, updatedAt: at, attempts: 0, ttl },
              ConditionExpression: "attribute_not_exists(eventId)",
              ReturnValuesOnConditionCheckFailure: "ALL_OLD",
            }),
          );
          return { outcome: "created" };
        } catch (error) {
          if (!isConditionFailure(error)) throw error;
          return { outcome: "exists", existing: oldRowOf(error) };
        }
      }),
    );
    // Only where the store did not return the old row (local dynalite): read it, again all at once.
    return Promise.all(
      answers.map(async (answer, i) =>
        answer.outcome === "exists" && !answer.existing
          ? { outcome: "exists" as const, existing: await get(entries[i].eventId, entries[i].channel) }
          : answer,
      ),
    );
  }

  /** The claim's conditional write; `row` undefined = there is no row. */
  async function tryClaim(eventId: string, channel: string, leaseSeconds: number): Promise<ClaimAnswer> {
    if (!(leaseSeconds > 0)) throw new Error(`claim needs a positive leaseSeconds, got ${leaseSeconds}`);
    const at = now();
    const delivered = inList("delivered", DELIVERED_STATUSES);
    try {
      const answer = await deps.ddb.send(
        new UpdateCommand({
          TableName: deps.table,
          Key: key(eventId, channel),
          UpdateExpression: "SET #claimedUntil = :until, #updatedAt = :updatedAt, #status = :pending",
          ConditionExpression: `attribute_exists(eventId) AND NOT (#status IN (${delivered.placeholders})) AND (attribute_not_exists(#claimedUntil) OR #claimedUntil <= :now)`,
          ExpressionAttributeNames: { "#claimedUntil": "claimedUntil", "#updatedAt": "updatedAt", "#status": "status" },
          ExpressionAttributeValues: {
            ":until": at + leaseSeconds * 1000,
            ":updatedAt": new Date(at).toISOString(),
            ":now": at,
            ":pending": DELIVERY_STATUS.pending,
            ...delivered.values,
          },
          ReturnValues: "ALL_OLD",
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      );
      return { result: "claimed", row: answer.Attributes as LogEntry };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const row = oldRowOf(error) ?? (await get(eventId, channel));
      return { result: row && isDelivered(row.status) ? "sent" : "busy", row };
    }
  }

  return {
    /**
     * Conditional puts of new rows, all at once (one round trip; dynalite has no TransactWriteItems and
     * each row stands alone). A row already holding eventId×channel is left as it is and returned.
     */
    createAll,

    /** Conditional put of one row: "exists" when eventId×channel is already logged (an idempotent retry). */
    async create(entry: NewLogEntry): Promise<"created" | "exists"> {
      const [answer] = await createAll([entry]);
      return answer.outcome;
    },

    /**
     * Deletes a row this request created moments ago (still `created` or `unsubscribed`, with its
     * request digest) when the request turns out to reuse another notification's eventId.
     */
    async discard(eventId: string, channel: string, requestDigest: string): Promise<void> {
      try {
        await deps.ddb.send(
          new DeleteCommand({
            TableName: deps.table,
            Key: key(eventId, channel),
            ConditionExpression: "#requestDigest = :digest AND #status IN (:created, :unsubscribed)",
            ExpressionAttributeNames: { "#requestDigest": "requestDigest", "#status": "status" },
            ExpressionAttributeValues: { ":digest": requestDigest, ":created": "created", ":unsubscribed": "unsubscribed" },
          }),
        );
      } catch (error) {
        if ((error as { name?: string }).name !== "ConditionalCheckFailedException") throw error;
      }
    },

    get,

    /**
     * Claims eventId×channel for one send for `leaseSeconds` and marks it `pending` (a worker has it):
     * succeeds only when the row exists, is not delivered yet and nobody holds an unexpired lease.
     * Answers with the row as it was before, from the write itself (ReturnValues / ALL_OLD), so the
     * caller needs no read first. Throws when there is no row.
     */
    async claim(eventId: string, channel: string, leaseSeconds: number): Promise<ClaimAnswer & { row: LogEntry }> {
      const answer = await tryClaim(eventId, channel, leaseSeconds);
      if (!answer.row) throw new Error(`cannot claim ${eventId}/${channel}: the notification log has no row for it`);
      return answer as ClaimAnswer & { row: LogEntry };
    },

    /**
     * `claim` of a row the service created: `row` undefined (and nothing written) when there is none.
     * Workers use it: a delivery without a row was not accepted by the service, and is never sent.
     */
    claimExisting: tryClaim,

    /** Every channel's row of one notification (the status API). */
    async rowsOf(eventId: string): Promise<LogEntry[]> {
      const out = await deps.ddb.send(
        new QueryCommand({
          TableName: deps.table,
          KeyConditionExpression: "#eventId = :eventId",
          ExpressionAttributeNames: { "#eventId": "eventId" },
          ExpressionAttributeValues: { ":eventId": eventId },
          ConsistentRead: true,
        }),
      );
      return (out.Items ?? []) as LogEntry[];
    },

    /**
     * One page of rows still `created`/`pending` and untouched since `olderThan` (ISO), for the
     * reconciler. A filtered Scan: the log has no status index, and the reconciler runs rarely.
     */
    async scanUnfinished(olderThan: string, startKey?: Record<string, unknown>, pageSize = 500) {
      const out = await deps.ddb.send(
        new ScanCommand({
          TableName: deps.table,
          FilterExpression: "#status IN (:created, :pending) AND #updatedAt <= :olderThan",
          ExpressionAttributeNames: { "#status": "status", "#updatedAt": "updatedAt" },
          ExpressionAttributeValues: { ":created": DELIVERY_STATUS.created, ":pending": DELIVERY_STATUS.pending, ":olderThan": olderThan },
          ExclusiveStartKey: startKey,
          Limit: pageSize,
        }),
      );
      return { rows: (out.Items ?? []) as LogEntry[], nextKey: out.LastEvaluatedKey };
    },

    /**
     * The reconciler takes a stuck row: a conditional write that succeeds only while the row is still
     * `created`/`pending`, unchanged since `seenUpdatedAt` and unclaimed, so a worker that got there
     * first (or another reconciler run) wins. "reput": count one more put, the row stays `pending`;
     * "expire": give up with `error` and `reason`. false = the row moved on meanwhile.
     */
    async takeStuck(row: LogEntry, action: "reput" | "expire", reason?: string): Promise<boolean> {
      const at = now();
      const names: Record<string, string> = { "#status": "status", "#updatedAt": "updatedAt", "#claimedUntil": "claimedUntil" };
      const values: Record<string, unknown> = {
        ":created": DELIVERY_STATUS.created,
        ":pending": DELIVERY_STATUS.pending,
        ":seen": row.updatedAt,
        ":now": at,
        ":updatedAt": new Date(at).toISOString(),
      };
      let expression: string;
      if (action === "reput") {
        names["#reputs"] = "reputs";
        values[":one"] = 1;
        values[":pendingStatus"] = DELIVERY_STATUS.pending;
        expression = "SET #status = :pendingStatus, #updatedAt = :updatedAt ADD #reputs :one";
      } else {
        names["#reason"] = "reason";
        values[":error"] = DELIVERY_STATUS.error;
        values[":reason"] = reason ?? "stuck";
        names["#delivery"] = "delivery";
        expression = "SET #status = :error, #updatedAt = :updatedAt, #reason = :reason REMOVE #delivery";
      }
      try {
        await deps.ddb.send(
          new UpdateCommand({
            TableName: deps.table,
            Key: key(row.eventId, row.channel),
            UpdateExpression: expression,
            ConditionExpression:
              "#status IN (:created, :pending) AND #updatedAt = :seen AND (attribute_not_exists(#claimedUntil) OR #claimedUntil <= :now)",
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
          }),
        );
        return true;
      } catch (error) {
        if ((error as { name?: string }).name === "ConditionalCheckFailedException") return false;
        throw error;
      }
    },

    /**
     * Moves a row to `status`, recording provider, message id and reason when given. "kept" = nothing
     * changed: the row is delivered, or holds an outcome and this write is not the claimant's.
     */
    async setStatus(eventId: string, channel: string, status: DeliveryStatus, fields: StatusFields = {}): Promise<"updated" | "kept"> {
      const names: Record<string, string> = { "#status": "status", "#updatedAt": "updatedAt" };
      const values: Record<string, unknown> = { ":status": status, ":updatedAt": new Date(now()).toISOString() };
      const sets = ["#status = :status", "#updatedAt = :updatedAt"];
      for (const field of ["provider", "providerMessageId", "reason"] as const) {
        if (fields[field] !== undefined) {
          names[`#${field}`] = field;
          values[`:${field}`] = fields[field];
          sets.push(`#${field} = :${field}`);
        }
      }
      let expression = `SET ${sets.join(", ")}`;
      if (fields.releaseClaim) {
        names["#claimedUntil"] = "claimedUntil";
        expression += " REMOVE #claimedUntil";
        // Decided for good: the content kept for the reconciler (personal data) is not needed any more.
        if (status === "sent" || status === "error") {
          names["#delivery"] = "delivery";
          expression += ", #delivery";
        }
      }
      if (fields.countAttempt) {
        names["#attempts"] = "attempts";
        values[":one"] = 1;
        expression += " ADD #attempts :one";
      }
      // Writes can arrive late: the service marks a row `pending` after its put, by which time a worker
      // may have recorded the outcome. Nothing undoes a delivery, and only the claimant (recording its
      // own send) may move a row off an outcome (`error`, `unsubscribed`).
      const kept = isDelivered(status) ? [] : fields.releaseClaim ? DELIVERED_STATUSES : [...DELIVERED_STATUSES, ...OUTCOMES];
      let condition: string | undefined;
      if (kept.length) {
        const list = inList("kept", kept);
        Object.assign(values, list.values);
        condition = `attribute_not_exists(#status) OR NOT (#status IN (${list.placeholders}))`;
      }
      try {
        await deps.ddb.send(
          new UpdateCommand({
            TableName: deps.table,
            Key: key(eventId, channel),
            UpdateExpression: expression,
            ConditionExpression: condition,
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
          }),
        );
        return "updated";
      } catch (error) {
        if ((error as { name?: string }).name === "ConditionalCheckFailedException") return "kept";
        throw error;
      }
    },

    /**
     * Records what the user did with a delivered notification: `opened` (read in the feed, e-mail pixel)
     * or `clicked` (tracking link). Forward only: opened only after sent, clicked after sent or opened;
     * "kept" when the row is not there or already further on (or not delivered yet).
     */
    async advance(
      eventId: string,
      channel: string,
      status: typeof DELIVERY_STATUS.opened | typeof DELIVERY_STATUS.clicked,
    ): Promise<"updated" | "kept"> {
      // DELIVERED_STATUSES is in order: a row moves on only from a delivered status before this one.
      const from = inList("from", DELIVERED_STATUSES.slice(0, DELIVERED_STATUSES.indexOf(status)));
      const values: Record<string, unknown> = { ":status": status, ":at": new Date(now()).toISOString(), ...from.values };
      try {
        await deps.ddb
          .send(
            new UpdateCommand({
              TableName: deps.table,
              Key: key(eventId, channel),
              UpdateExpression: "SET #status = :status, #updatedAt = :at, #when = if_not_exists(#when, :at)",
              ConditionExpression: `attribute_exists(eventId) AND #status IN (${from.placeholders})`,
              ExpressionAttributeNames: { "#status": "status", "#updatedAt": "updatedAt", "#when": `${status}At` },
              ExpressionAttributeValues: values,
              ReturnValues: "ALL_NEW",
            }),
          )
          .then((out) => {
            // Counted here, where the transition happens, whoever records it (feed, pixel, tracking link).
            const type = typeof out?.Attributes?.type === "string" ? out.Attributes.type : undefined;
            (deps.metrics ?? makeMetrics()).count(status, { channel, type });
          });
        return "updated";
      } catch (error) {
        if ((error as { name?: string }).name === "ConditionalCheckFailedException") return "kept";
        throw error;
      }
    },
  };
}

export type NotificationLog = ReturnType<typeof makeNotificationLog>;
