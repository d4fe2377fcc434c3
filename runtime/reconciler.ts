/**
 * The reconciler, run on a schedule: nothing stays `created` or `pending` for ever. It finds log rows
 * untouched for `stuckAfterMs` with no delivery in flight (no live claim) and either puts their event on
 * the bus again (the worker's claim keeps the delivery exactly-once if the first copy turns up after
 * all) or, after `maxReputs` puts, marks them `error` with a reason. Each action is taken with a
 * conditional write on the row, so a worker that moved it meanwhile, or a second run, wins.
 * Counts what it did as EMF metrics `reconciled.reput` and `reconciled.expired` per channel.
 */
import { DEFAULTS } from "./defaults";
import { type EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { detailTypeFor, EVENT_SOURCE, type LogEntry } from "./contracts";
import { type DecisionLogger, logDecision, OUTCOME } from "./log";
import { METRIC, makeMetrics, type Metrics } from "./metrics";
import { isStuck, type NotificationLog, STUCK_AFTER_MS } from "./notificationLog";
import type { CallbackEnqueuer } from "./statusCallbacks";

export interface ReconcilerDeps {
  log: Pick<NotificationLog, "unfinishedBetween" | "takeStuck">;
  events: EventBridgeClient;
  busName: string;
  /** @default 900000 (15 min) */
  stuckAfterMs?: number;
  /** Puts of one row before it is given up as `error`. @default 3 */
  maxReputs?: number;
  /** Rows looked at per run, so one run stays within its timeout. @default 5000 */
  maxRowsPerRun?: number;
  /**
   * How far back a run looks, by creation time: notifications created earlier are not read again. Each
   * run reads the log's index for this window, so the cost of a run follows the window, not the table.
   * It must outlast a stuck row's reputs (stuckAfterMs × (maxReputs + 1)) and any pause of the schedule.
   * @default 86400000 (24 h)
   */
  lookBackMs?: number;
  metrics?: Metrics;
  /** Tells the producer about rows given up as `error`. */
  statusCallbacks?: CallbackEnqueuer;
  logger?: DecisionLogger;
  now?: () => number;
}

export interface ReconcileReport {
  scanned: number;
  reput: number;
  expired: number;
  /** Rows whose event the bus refused this time; they are tried again next run. */
  putFailed: number;
}

export function makeReconciler(deps: ReconcilerDeps): () => Promise<ReconcileReport> {
  const now = deps.now ?? Date.now;
  const stuckAfterMs = deps.stuckAfterMs ?? STUCK_AFTER_MS;
  const maxReputs = deps.maxReputs ?? DEFAULTS.reconciler.maxReputs;
  const maxRows = deps.maxRowsPerRun ?? 5000;
  const lookBackMs = deps.lookBackMs ?? DEFAULTS.reconciler.lookBackHours * 3_600_000;
  const metrics = deps.metrics ?? makeMetrics();
  const logger = deps.logger ?? logDecision;

  return async () => {
    const report: ReconcileReport = { scanned: 0, reput: 0, expired: 0, putFailed: 0 };
    const at = now();
    const olderThan = new Date(at - stuckAfterMs).toISOString();
    const createdFrom = new Date(at - lookBackMs).toISOString();
    for await (const rows of deps.log.unfinishedBetween(createdFrom, olderThan)) {
      const toPut: LogEntry[] = [];
      for (const row of rows) {
        report.scanned++;
        if (!isStuck(row, at, stuckAfterMs)) continue;
        const ids = { eventId: row.eventId, userId: row.userId, channel: row.channel };
        const dimensions = { channel: row.channel, type: row.type };
        const giveUp = !row.delivery
          ? "lost before it reached the bus, and no content was kept to put it again"
          : (row.reputs ?? 0) >= maxReputs
            ? `still ${row.status} after ${row.reputs} puts by the reconciler`
            : undefined;
        if (giveUp) {
          if (await deps.log.takeStuck(row, "expire", giveUp)) {
            report.expired++;
            metrics.count(METRIC.reconciledExpired, dimensions);
            logger({ component: "reconciler", outcome: "expired", ...ids, reason: giveUp });
            const at = new Date(now()).toISOString();
            await deps.statusCallbacks?.({ ...ids, type: row.type, status: "error", at, reason: giveUp, producer: row.producer });
          }
        } else if (await deps.log.takeStuck(row, "reput")) {
          toPut.push(row);
        }
      }
      for (let start = 0; start < toPut.length; start += 10) {
        const batch = toPut.slice(start, start + 10);
        let results: { ErrorCode?: string }[];
        try {
          const answer = await deps.events.send(
            new PutEventsCommand({
              Entries: batch.map((row) => ({
                EventBusName: deps.busName,
                Source: EVENT_SOURCE,
                DetailType: detailTypeFor(row.channel),
                Detail: JSON.stringify(row.delivery),
              })),
            }),
          );
          results = answer.Entries ?? [];
        } catch (error) {
          results = batch.map(() => ({ ErrorCode: (error as Error)?.name ?? "Error" }));
        }
        batch.forEach((row, i) => {
          const ids = { eventId: row.eventId, userId: row.userId, channel: row.channel };
          if (!results[i] || results[i].ErrorCode) {
            report.putFailed++;
            logger({
              component: "reconciler",
              outcome: OUTCOME.reconciler.putFailed,
              ...ids,
              reason: results[i]?.ErrorCode ?? "no result",
            });
            return;
          }
          report.reput++;
          metrics.count(METRIC.reconciledReput, { channel: row.channel, type: row.type });
          logger({ component: "reconciler", outcome: OUTCOME.reconciler.reput, ...ids, reason: `${row.status} since ${row.updatedAt}` });
        });
      }
      if (report.scanned >= maxRows) break;
    }
    logger({ component: "reconciler", outcome: OUTCOME.reconciler.done, reason: JSON.stringify(report) });
    return report;
  };
}
