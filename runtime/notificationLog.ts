/**
 * The notification log (TABLES.notificationLog): the dedupe key of the pipeline and the record of each
 * delivery's status. ONE item per notification (key eventId + the fixed sort key NOTIFICATION_ITEM)
 * holds what the notification is (userId, type, requestDigest, createdAt, ttl) and, in the map
 * `deliveries`, one record per channel: status, digest, the delivery kept for the reconciler, reason,
 * attempts, claim lease, provider details, timestamps. The producer writes it with one conditional Put;
 * workers claim and record outcomes with conditional UpdateItems on their channel's path
 * (`deliveries.<channel>.…`), so four channels cost one write, not four. Callers see one `LogEntry` per
 * channel (the notification's fields plus the channel's record), as when each channel had its own row.
 * Conditional writes answer with the item they found (ReturnValuesOnConditionCheckFailure "ALL_OLD"),
 * so nothing reads before or after writing.
 *
 * Before a provider call a worker claims its channel (`claim`): a conditional write that only one copy of
 * a message can win while the lease (`claimedUntil`, epoch ms) runs, so two copies of one delivery
 * processed at the same moment (a visibility timeout expiring mid-send, two racing producer requests)
 * make one send. The claimant releases the lease with the status it records after the send; nobody
 * else does (another writer marking the channel `pending` must not free a send in flight).
 * A delivered channel (sent, opened, clicked) never goes back to created, pending or error, and a late
 * `pending` never hides an `error` a worker recorded.
 *
 * The set `unfinishedChannels` names the channels still `created`/`pending`, kept by the same writes, so
 * the reconciler can filter on it (a map of channels cannot be filtered by its values). It reads it from
 * the byCreatedDay index (TABLES.notificationLog), which holds nothing else: `createdDayShard` spreads a
 * day's notifications over RECONCILE_SHARDS index keys, so no single key takes every write of the day.
 *
 * Rows of the earlier layout (one item per eventId×channel, sort key = the channel) are still read and
 * moved on: every write that finds no notification item tries the channel's own row, so a delivery
 * accepted before an upgrade is still claimed, recorded and tracked. They carry no `createdDayShard`, so
 * the reconciler does not see them (README, "Upgrading a deployed stack").
 */
import { type DynamoDBDocumentClient, GetCommand, PutCommand, paginateQuery, QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { batchGetAll, batchWriteAll } from "./batches";
import { DEFAULTS } from "./defaults";
import { DELIVERED_STATUSES, DELIVERY_STATUS, type DeliveryStatus, isDelivered, type LogEntry } from "./contracts";
import {
  dayShardKey,
  daysBetween,
  entriesOf,
  entryOf,
  type Item,
  isUnfinished,
  type NewLogEntry,
  NOTIFICATION_ITEM,
  notificationItem,
  RECONCILE_SHARDS,
  recordOf,
} from "./logItem";
import {
  expressionOf,
  inList,
  isConditionFailure,
  oldItemOf,
  OUTCOMES,
  type Target,
  targetOf,
  type Update,
  type Written,
} from "./logWrites";

export {
  createdDayShard,
  isStuck,
  MAX_ITEM_BYTES,
  type NewLogEntry,
  NOTIFICATION_ITEM,
  notificationItem,
  oversizeNotification,
  RECONCILE_SHARDS,
  STUCK_AFTER_MS,
} from "./logItem";
import { makeMetrics, type Metrics } from "./metrics";
import { TABLES } from "./tables";
import { type ScheduleRecord, scheduleOf } from "./scheduling";

/** Most keys one BatchGetItem takes. */
const BATCH_GET_LIMIT = 100;
/** Most requests one BatchWriteItem takes. */
const BATCH_WRITE_LIMIT = 25;

export interface NotificationLogDeps {
  ddb: DynamoDBDocumentClient;
  table: string;
  /** Days a notification is kept before DynamoDB expires it. @default 90 */
  ttlDays?: number;
  /** Epoch milliseconds; injectable for tests. */
  now?: () => number;
  /** Where `advance` counts `opened`/`clicked` (EMF). @default EMF lines on stdout */
  metrics?: Metrics;
}

export interface StatusFields {
  provider?: string;
  providerMessageId?: string;
  reason?: string;
  /** `delayed`: until when (ISO-8601); any other status clears it. */
  until?: string;
  /** Adds one to `attempts` (a provider call was made). */
  countAttempt?: boolean;
  /** Clears the claim's lease: only for the claimant, recording the outcome of its send. */
  releaseClaim?: boolean;
}

/** What `claim` found: "claimed" = this caller may send; "sent" = already delivered; "busy" = another copy holds the lease. */
export type ClaimResult = "claimed" | "sent" | "busy";

/** A claim and the channel's entry as it was before it (attempts made so far, status): no second read needed. */
export interface ClaimAnswer {
  result: ClaimResult;
  /** The entry before the claim (undefined inside the log only: the notification has no such channel). */
  row: LogEntry | undefined;
}

/**
 * One channel's answer from `createAll`: "exists" = the notification already holds the channel (an
 * idempotent retry), with its entry; "conflict" = the eventId is bound to another notification (another
 * user, or a request with other content), and nothing was written; "taken" = another producer's
 * notification holds the eventId (nothing written: the caller keeps its own under producerEventKey).
 */
export type CreateAnswer =
  | { outcome: "created" }
  | { outcome: "exists"; existing: LogEntry | undefined }
  | { outcome: "conflict" }
  | { outcome: "taken" };

/** A notification item's own fields, with its schedule when it was scheduled (`sendAt`). */
export interface NotificationFields {
  userId: string;
  type: string;
  createdAt: string;
  producer?: string;
  schedule?: ScheduleRecord;
  /** A digest (runtime/digests.ts): how many notifications it has collected. */
  collected?: number;
}

export function makeNotificationLog(deps: NotificationLogDeps) {
  const now = deps.now ?? Date.now;
  const ttlSeconds = (deps.ttlDays ?? DEFAULTS.logTtlDays) * 86_400;

  async function getItem(eventId: string, channel: string): Promise<Item | undefined> {
    const result = await deps.ddb.send(new GetCommand({ TableName: deps.table, Key: { eventId, channel }, ConsistentRead: true }));
    return result.Item as Item | undefined;
  }

  /** Items by key (at most BATCH_GET_LIMIT), read consistently. */
  async function getItems(keys: { eventId: string; channel: string }[]): Promise<Item[]> {
    const found = await batchGetAll(deps.ddb, {
      [deps.table]: { Keys: keys.map(({ eventId, channel }) => ({ eventId, channel })), ConsistentRead: true },
    });
    return (found[deps.table] ?? []) as Item[];
  }

  /** The notification item of `eventId`, read consistently. */
  const readNotification = (eventId: string) => getItem(eventId, NOTIFICATION_ITEM);

  /** One channel's entry: from the notification item, or from a row of the earlier layout when there is no item. */
  async function get(eventId: string, channel: string): Promise<LogEntry | undefined> {
    const item = await readNotification(eventId);
    if (item) return entryOf(item, channel);
    return entryOf(await getItem(eventId, channel), channel);
  }

  async function attempt(target: Target, update: Update): Promise<Written> {
    try {
      const answer = await deps.ddb.send(
        new UpdateCommand({
          TableName: deps.table,
          Key: target.key,
          UpdateExpression: expressionOf(update),
          ConditionExpression: update.condition,
          ExpressionAttributeNames: target.names,
          ExpressionAttributeValues: update.values,
          ReturnValues: update.returnValues,
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      );
      return { ok: true, item: answer.Attributes as Item | undefined, target };
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      return { ok: false, item: oldItemOf(error), target };
    }
  }

  /**
   * A conditional update of one channel's entry: in the notification item; where that write finds no
   * item (or the store does not say what it found), on the channel's row of the earlier layout, whose
   * condition needs the row to exist, so it never writes where there is no row.
   */
  async function write(eventId: string, channel: string, build: (target: Target) => Update): Promise<Written> {
    const nested = targetOf(eventId, channel, true);
    const first = await attempt(nested, build(nested));
    if (first.ok || first.item) return first;
    const legacy = targetOf(eventId, channel, false);
    return attempt(legacy, build(legacy));
  }

  /** Adds the unfinished-set bookkeeping for `status` to an update of the notification item. */
  function trackUnfinished(target: Target, update: Update, status: DeliveryStatus): Update {
    if (!target.nested) return update;
    target.names["#unfinished"] = "unfinishedChannels";
    update.values[":channelSet"] = new Set([target.channel]);
    if (isUnfinished(status)) update.add = [...(update.add ?? []), "#unfinished :channelSet"];
    else update.del = [...(update.del ?? []), "#unfinished :channelSet"];
    return update;
  }

  /** Adds channels a retry names that the notification item lacks (the user's settings changed in between). */
  async function addChannel(entry: NewLogEntry, at: string): Promise<CreateAnswer> {
    const target = targetOf(entry.eventId, entry.channel, true);
    target.names["#userId"] = "userId";
    const update = trackUnfinished(
      target,
      {
        set: ["#deliveries.#ch = :record"],
        condition: "attribute_exists(#deliveries) AND attribute_not_exists(#deliveries.#ch) AND #userId = :userId",
        values: { ":record": recordOf(entry, at), ":userId": entry.userId },
      },
      entry.status,
    );
    const written = await attempt(target, update);
    if (written.ok) return { outcome: "created" };
    return { outcome: "exists", existing: entryOf(written.item ?? (await readNotification(entry.eventId)), entry.channel) };
  }

  /** The conditional put of one notification's item, and what each of its channels found. */
  async function createNotification(entries: NewLogEntry[]): Promise<CreateAnswer[]> {
    const at = new Date(now()).toISOString();
    const item = notificationItem(entries, at, Math.floor(now() / 1000) + ttlSeconds);
    let existing: Item | undefined;
    try {
      await deps.ddb.send(
        new PutCommand({
          TableName: deps.table,
          Item: item,
          ConditionExpression: "attribute_not_exists(eventId)",
          ReturnValuesOnConditionCheckFailure: "ALL_OLD",
        }),
      );
      return entries.map(() => ({ outcome: "created" }));
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      // Only where the store did not return the item (local dynalite): read it.
      existing = oldItemOf(error) ?? (await readNotification(item.eventId));
    }
    if (!existing) throw new Error(`the notification item of ${item.eventId} was there and is gone: retry`);
    // An eventId is its producer's: another producer's notification leaves this one to its own key.
    // Items written before producers were recorded belong to whoever sends the same request again.
    const [{ userId, requestDigest, producer }] = entries;
    const owner = existing.producer as string | undefined;
    if (owner !== undefined && producer !== undefined && owner !== producer) return entries.map(() => ({ outcome: "taken" }));
    // The eventId is bound to its notification: another user or other content is a conflict.
    if (existing.userId !== userId || (existing.requestDigest !== undefined && existing.requestDigest !== requestDigest))
      return entries.map(() => ({ outcome: "conflict" }));
    return Promise.all(
      entries.map(async (entry): Promise<CreateAnswer> => {
        const found = entryOf(existing, entry.channel);
        return found ? { outcome: "exists", existing: found } : addChannel(entry, at);
      }),
    );
  }

  async function createAll(entries: NewLogEntry[]): Promise<CreateAnswer[]> {
    const byEvent = new Map<string, number[]>();
    for (const [i, entry] of entries.entries()) byEvent.set(entry.eventId, [...(byEvent.get(entry.eventId) ?? []), i]);
    const answers: CreateAnswer[] = new Array(entries.length);
    await Promise.all(
      [...byEvent.values()].map(async (indexes) => {
        const created = await createNotification(indexes.map((i) => entries[i]));
        indexes.forEach((index, j) => {
          answers[index] = created[j];
        });
      }),
    );
    return answers;
  }

  /** The claim's conditional write; `row` undefined = the notification has no entry for the channel. */
  async function tryClaim(eventId: string, channel: string, leaseSeconds: number): Promise<ClaimAnswer> {
    if (!(leaseSeconds > 0)) throw new Error(`claim needs a positive leaseSeconds, got ${leaseSeconds}`);
    const at = now();
    const delivered = inList("delivered", DELIVERED_STATUSES);
    const written = await write(eventId, channel, (target) => {
      const [claimedUntil, status] = [target.at("claimedUntil"), target.at("status")];
      return trackUnfinished(
        target,
        {
          set: [`${claimedUntil} = :until`, `${target.at("updatedAt")} = :updatedAt`, `${status} = :pending`],
          condition: `${target.exists} AND NOT (${status} IN (${delivered.placeholders})) AND (attribute_not_exists(${claimedUntil}) OR ${claimedUntil} <= :now)`,
          values: {
            ":until": at + leaseSeconds * 1000,
            ":updatedAt": new Date(at).toISOString(),
            ":now": at,
            ":pending": DELIVERY_STATUS.pending,
            ...delivered.values,
          },
          returnValues: "ALL_OLD",
        },
        DELIVERY_STATUS.pending,
      );
    });
    if (written.ok) return { result: "claimed", row: entryOf(written.item, channel) };
    const row = written.item ? entryOf(written.item, channel) : await get(eventId, channel);
    return { result: row && isDelivered(row.status) ? "sent" : "busy", row };
  }

  /**
   * One notification as the status API shows it: every channel's entry, and its schedule when it was
   * scheduled (`sendAt`); one consistent Query of its partition.
   */
  async function notificationOf(eventId: string): Promise<{ rows: LogEntry[]; item?: NotificationFields }> {
    const out = await deps.ddb.send(
      new QueryCommand({
        TableName: deps.table,
        KeyConditionExpression: "#eventId = :eventId",
        ExpressionAttributeNames: { "#eventId": "eventId" },
        ExpressionAttributeValues: { ":eventId": eventId },
        ConsistentRead: true,
      }),
    );
    const items = (out.Items ?? []) as Item[];
    const item = items.find((found) => found.channel === NOTIFICATION_ITEM);
    if (!item) return { rows: items.flatMap(entriesOf) };
    const schedule = scheduleOf(item);
    const fields: NotificationFields = {
      userId: item.userId as string,
      type: item.type as string,
      createdAt: item.createdAt as string,
      ...(item.producer !== undefined ? { producer: item.producer as string } : {}),
      ...(schedule ? { schedule } : {}),
      ...(item.digestItems !== undefined ? { collected: Object.keys(item.digestItems as object).length } : {}),
    };
    return { rows: items.flatMap(entriesOf), item: fields };
  }

  /** A conditional update whose answer is only whether it applied. */
  const applied = async (eventId: string, channel: string, build: (target: Target) => Update) => (await write(eventId, channel, build)).ok;

  return {
    /**
     * Writes new entries: one conditional put of one item per notification (all channels in one round
     * trip; dynalite has no TransactWriteItems, and one item needs none). When the notification is
     * there already, each channel it holds is answered with its entry ("exists"), a channel it lacks is
     * added, and a notification of another user or request digest answers "conflict" (nothing written).
     */
    createAll,

    /** Writes one channel's entry: "exists" when the notification already holds it (an idempotent retry). */
    async create(entry: NewLogEntry): Promise<CreateAnswer["outcome"]> {
      const [answer] = await createAll([entry]);
      return answer.outcome;
    },

    get,

    /**
     * Claims eventId×channel for one send for `leaseSeconds` and marks it `pending` (a worker has it):
     * succeeds only when the entry exists, is not delivered yet and nobody holds an unexpired lease.
     * Answers with the entry as it was before, from the write itself (ReturnValues / ALL_OLD), so the
     * caller needs no read first. Throws when there is no entry.
     */
    async claim(eventId: string, channel: string, leaseSeconds: number): Promise<ClaimAnswer & { row: LogEntry }> {
      const answer = await tryClaim(eventId, channel, leaseSeconds);
      if (!answer.row) throw new Error(`cannot claim ${eventId}/${channel}: the notification log has no row for it`);
      return answer as ClaimAnswer & { row: LogEntry };
    },

    /**
     * `claim` of an entry the service created: `row` undefined (and nothing written) when there is none.
     * Workers use it: a delivery without an entry was not accepted by the service, and is never sent.
     */
    claimExisting: tryClaim,

    /** Every channel's entry of one notification: one consistent Query of its partition. */
    async rowsOf(eventId: string): Promise<LogEntry[]> {
      return (await notificationOf(eventId)).rows;
    },

    notificationOf,

    /** The channel entries of each notification (by its item; at most BATCH_GET_LIMIT a call), read consistently. */
    async entriesFor(eventIds: string[]): Promise<Map<string, LogEntry[]>> {
      const found = new Map<string, LogEntry[]>();
      for (let at = 0; at < eventIds.length; at += BATCH_GET_LIMIT) {
        const items = await getItems(eventIds.slice(at, at + BATCH_GET_LIMIT).map((eventId) => ({ eventId, channel: NOTIFICATION_ITEM })));
        for (const item of items) found.set(item.eventId, entriesOf(item));
      }
      return found;
    },

    /**
     * Entries still `created`/`pending` and untouched since `olderThan` (ISO), of notifications created
     * from `createdFrom` (ISO) to `olderThan`, in pages, for the reconciler. It queries byCreatedDay,
     * each day's shards in turn, for notifications with unfinished channels (reading a few bytes per
     * notification of the window, not the table), then fetches those items whole.
     */
    async *unfinishedBetween(createdFrom: string, olderThan: string): AsyncGenerator<LogEntry[]> {
      if (createdFrom > olderThan) return;
      const index = "byCreatedDay";
      const { hashKey, rangeKey } = TABLES.notificationLog.indexes[index];
      for (const day of daysBetween(createdFrom, olderThan)) {
        for (let shard = 0; shard < RECONCILE_SHARDS; shard++) {
          const pages = paginateQuery(
            { client: deps.ddb },
            {
              TableName: deps.table,
              IndexName: index,
              KeyConditionExpression: "#bucket = :bucket AND #created BETWEEN :from AND :to",
              FilterExpression: "attribute_exists(#unfinished)",
              ProjectionExpression: "eventId, channel",
              ExpressionAttributeNames: { "#bucket": hashKey, "#created": rangeKey, "#unfinished": "unfinishedChannels" },
              ExpressionAttributeValues: { ":bucket": dayShardKey(day, shard), ":from": createdFrom, ":to": olderThan },
            },
          );
          for await (const page of pages) {
            const keys = (page.Items ?? []) as { eventId: string; channel: string }[];
            for (let start = 0; start < keys.length; start += BATCH_GET_LIMIT) {
              const rows = (await getItems(keys.slice(start, start + BATCH_GET_LIMIT)))
                .flatMap(entriesOf)
                .filter((row) => isUnfinished(row.status) && typeof row.updatedAt === "string" && row.updatedAt <= olderThan);
              if (rows.length) yield rows;
            }
          }
        }
      }
    },

    /**
     * Deletes every item of `userId` (account erasure): the notification items and rows of the earlier
     * layout alike, found through the keys-only userEventIds index. A delivery still on its way to the
     * user is then refused by its worker, which sends only what the log holds. Answers how many items
     * were deleted.
     */
    async eraseUser(userId: string): Promise<number> {
      const index = "userEventIds";
      let erased = 0;
      const pages = paginateQuery(
        { client: deps.ddb },
        {
          TableName: deps.table,
          IndexName: index,
          KeyConditionExpression: "#user = :user",
          ExpressionAttributeNames: { "#user": TABLES.notificationLog.indexes[index].hashKey },
          ExpressionAttributeValues: { ":user": userId },
        },
      );
      for await (const page of pages) {
        const keys = ((page.Items ?? []) as Item[]).map(({ eventId, channel }) => ({ eventId, channel }));
        for (let start = 0; start < keys.length; start += BATCH_WRITE_LIMIT) {
          const batch = keys.slice(start, start + BATCH_WRITE_LIMIT);
          await batchWriteAll(deps.ddb, { [deps.table]: batch.map((Key) => ({ DeleteRequest: { Key } })) });
          erased += batch.length;
        }
      }
      return erased;
    },

    /**
     * The reconciler takes a stuck entry: a conditional write that succeeds only while it is still
     * `created`/`pending`, unchanged since `seenUpdatedAt` and unclaimed, so a worker that got there
     * first (or another reconciler run) wins. "reput": count one more put, the entry stays `pending`;
     * "expire": give up with `error` and `reason`. false = the entry moved on meanwhile.
     */
    async takeStuck(row: LogEntry, action: "reput" | "expire", reason?: string): Promise<boolean> {
      const at = now();
      return applied(row.eventId, row.channel, (target) => {
        const [status, updatedAt, claimedUntil] = [target.at("status"), target.at("updatedAt"), target.at("claimedUntil")];
        const update: Update = {
          set: [`${updatedAt} = :updatedAt`],
          condition: `${target.exists} AND ${status} IN (:created, :pending) AND ${updatedAt} = :seen AND (attribute_not_exists(${claimedUntil}) OR ${claimedUntil} <= :now)`,
          values: {
            ":created": DELIVERY_STATUS.created,
            ":pending": DELIVERY_STATUS.pending,
            ":seen": row.updatedAt,
            ":now": at,
            ":updatedAt": new Date(at).toISOString(),
          },
        };
        if (action === "reput") {
          update.set.push(`${status} = :pending`);
          update.add = [`${target.at("reputs")} :one`];
          update.values[":one"] = 1;
          return trackUnfinished(target, update, DELIVERY_STATUS.pending);
        }
        update.set.push(`${status} = :error`, `${target.at("reason")} = :reason`);
        update.remove = [target.at("delivery")];
        update.values[":error"] = DELIVERY_STATUS.error;
        update.values[":reason"] = reason ?? "stuck";
        return trackUnfinished(target, update, DELIVERY_STATUS.error);
      });
    },

    /**
     * Moves an entry to `status`, recording provider, message id and reason when given. "kept" = nothing
     * changed: there is no entry, it is delivered, or it holds an outcome and this write is not the claimant's.
     */
    async setStatus(eventId: string, channel: string, status: DeliveryStatus, fields: StatusFields = {}): Promise<"updated" | "kept"> {
      const updatedAt = new Date(now()).toISOString();
      // Writes can arrive late: a worker may have recorded the outcome already. Nothing undoes a
      // delivery, and only the claimant (recording its own send) may move an entry off an outcome.
      const kept = isDelivered(status) ? [] : fields.releaseClaim ? DELIVERED_STATUSES : [...DELIVERED_STATUSES, ...OUTCOMES];
      const ok = await applied(eventId, channel, (target) => {
        const statusPath = target.at("status");
        const update: Update = {
          set: [`${statusPath} = :status`, `${target.at("updatedAt")} = :updatedAt`],
          condition: target.exists,
          values: { ":status": status, ":updatedAt": updatedAt },
        };
        for (const field of ["provider", "providerMessageId", "reason", "until"] as const) {
          if (fields[field] === undefined) continue;
          update.set.push(`${target.at(field)} = :${field}`);
          update.values[`:${field}`] = fields[field];
        }
        // A later status clears an earlier reason: a `sent` after two failed tries does not keep theirs.
        update.remove = [
          ...(fields.reason === undefined ? [target.at("reason")] : []),
          ...(fields.until === undefined ? [target.at("until")] : []),
        ];
        if (fields.releaseClaim) {
          update.remove.push(target.at("claimedUntil"));
          // Decided for good: the content kept for the reconciler (personal data) is not needed any more.
          if (status === "sent" || status === "error") update.remove.push(target.at("delivery"));
        }
        if (fields.countAttempt) {
          update.add = [`${target.at("attempts")} :one`];
          update.values[":one"] = 1;
        }
        if (kept.length) {
          const list = inList("kept", kept);
          Object.assign(update.values, list.values);
          update.condition += ` AND (attribute_not_exists(${statusPath}) OR NOT (${statusPath} IN (${list.placeholders})))`;
        }
        return trackUnfinished(target, update, status);
      });
      return ok ? "updated" : "kept";
    },

    /**
     * Records what the user did with a delivered notification: `opened` (read in the feed, e-mail pixel)
     * or `clicked` (tracking link). Forward only: opened only after sent, clicked after sent or opened;
     * "kept" when the entry is not there or already further on (or not delivered yet).
     */
    async advance(
      eventId: string,
      channel: string,
      status: typeof DELIVERY_STATUS.opened | typeof DELIVERY_STATUS.clicked,
    ): Promise<"updated" | "kept"> {
      // DELIVERED_STATUSES is in order: an entry moves on only from a delivered status before this one.
      const from = inList("from", DELIVERED_STATUSES.slice(0, DELIVERED_STATUSES.indexOf(status)));
      const written = await write(eventId, channel, (target) => {
        const [statusPath, when] = [target.at("status"), target.at(`${status}At`)];
        return {
          set: [`${statusPath} = :status`, `${target.at("updatedAt")} = :at`, `${when} = if_not_exists(${when}, :at)`],
          condition: `${target.exists} AND ${statusPath} IN (${from.placeholders})`,
          values: { ":status": status, ":at": new Date(now()).toISOString(), ...from.values },
          returnValues: "ALL_NEW",
        };
      });
      if (!written.ok) return "kept";
      // Counted here, where the transition happens, whoever records it (feed, pixel, tracking link).
      const type = typeof written.item?.type === "string" ? written.item.type : undefined;
      (deps.metrics ?? makeMetrics()).count(status, { channel, type });
      return "updated";
    },
  };
}

export type NotificationLog = ReturnType<typeof makeNotificationLog>;
