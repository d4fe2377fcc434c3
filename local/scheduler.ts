/**
 * A local stand-in for EventBridge Scheduler's one-time schedules, so the notification service's and
 * the cancel route's Scheduler calls (runtime/scheduler.ts) run here exactly as deployed
 * (AWS_ENDPOINT_URL_SCHEDULER): `CreateSchedule` (`POST /schedules/{Name}`) and `DeleteSchedule`
 * (`DELETE /schedules/{Name}?groupName=`), in the Scheduler's REST-JSON wire format.
 *
 * A schedule with `at(yyyy-mm-ddThh:mm:ss)` in UTC invokes its target (a local function, by ARN) with
 * its Input once, and is deleted (ActionAfterCompletion DELETE). A target that throws is retried with
 * doubling delays up to the schedule's MaximumRetryAttempts, then its Input goes to the schedule's
 * dead-letter queue, as the Scheduler does.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { guardLocalServer } from "./localGuards";

export interface LocalSchedule {
  group: string;
  name: string;
  /** Epoch ms it fires at. */
  at: number;
  targetArn: string;
  input: string;
  deadLetterArn?: string;
  maxRetries: number;
}

export interface LocalSchedulerOptions {
  /** The functions a schedule may invoke, by ARN. */
  targets: Record<string, (input: unknown) => Promise<unknown>>;
  /** Where an Input goes after the retries (the schedule's DeadLetterConfig ARN). */
  deadLetter: (arn: string, body: string) => Promise<void>;
  /** Told of every fire's end. */
  onFire?: (schedule: LocalSchedule, outcome: "done" | "retry" | "dead-lettered", error?: unknown) => void;
  /** First retry's delay, doubled each time (at most a minute). @default 1000 */
  retryDelayMs?: number;
}

export interface LocalScheduler {
  endpoint: string;
  /** The schedules still to fire, soonest first. */
  pending(): LocalSchedule[];
  stop(): Promise<void>;
}

const ACCOUNT_REGION = "us-east-1:000000000000";

export async function startLocalScheduler(options: LocalSchedulerOptions): Promise<LocalScheduler> {
  const schedules = new Map<string, LocalSchedule>();
  const timers = new Set<NodeJS.Timeout>();
  const retryDelayMs = options.retryDelayMs ?? 1000;

  const later = (ms: number, run: () => void) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      run();
    }, ms);
    timers.add(timer);
  };

  async function fire(schedule: LocalSchedule, attempt: number): Promise<void> {
    const target = options.targets[schedule.targetArn];
    try {
      if (!target) throw new Error(`no local function ${schedule.targetArn}`);
      await target(JSON.parse(schedule.input));
      options.onFire?.(schedule, "done");
    } catch (error) {
      if (attempt < schedule.maxRetries) {
        options.onFire?.(schedule, "retry", error);
        later(Math.min(60_000, retryDelayMs * 2 ** attempt), () => void fire(schedule, attempt + 1));
        return;
      }
      options.onFire?.(schedule, "dead-lettered", error);
      if (schedule.deadLetterArn) await options.deadLetter(schedule.deadLetterArn, schedule.input).catch(() => undefined);
    }
  }

  // Schedules may be a year ahead, past what one timer holds: a tick fires those that are due.
  const tick = setInterval(() => {
    const now = Date.now();
    for (const [key, schedule] of schedules) {
      if (schedule.at > now) continue;
      schedules.delete(key); // ActionAfterCompletion: DELETE
      void fire(schedule, 0);
    }
  }, 100);

  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const match = /^\/schedules\/([^/]+)$/.exec(url.pathname);
    const answer = (status: number, body: unknown, errorType?: string) => {
      res.writeHead(status, { "content-type": "application/json", ...(errorType ? { "x-amzn-errortype": errorType } : {}) });
      res.end(JSON.stringify(body));
    };
    if (!match)
      return answer(404, { Message: `${req.method} ${url.pathname} is not a Scheduler operation here` }, "UnknownOperationException");
    const name = decodeURIComponent(match[1]);
    if (req.method === "POST") {
      let body: {
        GroupName?: string;
        ScheduleExpression?: string;
        Target?: { Arn?: string; Input?: string; DeadLetterConfig?: { Arn?: string }; RetryPolicy?: { MaximumRetryAttempts?: number } };
      };
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        return answer(400, { Message: "the body is not JSON" }, "ValidationException");
      }
      const group = body.GroupName ?? "default";
      const at = /^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$/.exec(body.ScheduleExpression ?? "");
      if (!at || !body.Target?.Arn)
        return answer(400, { Message: "a one-time at(...) expression and a target are required here" }, "ValidationException");
      const key = `${group}/${name}`;
      if (schedules.has(key)) return answer(409, { Message: `Schedule ${name} already exists.` }, "ConflictException");
      schedules.set(key, {
        group,
        name,
        at: Date.parse(`${at[1]}Z`),
        targetArn: body.Target.Arn,
        input: body.Target.Input ?? "{}",
        deadLetterArn: body.Target.DeadLetterConfig?.Arn,
        maxRetries: body.Target.RetryPolicy?.MaximumRetryAttempts ?? 185,
      });
      return answer(200, { ScheduleArn: `arn:aws:scheduler:${ACCOUNT_REGION}:schedule/${key}` });
    }
    if (req.method === "DELETE") {
      const key = `${url.searchParams.get("groupName") ?? "default"}/${name}`;
      if (!schedules.delete(key)) return answer(404, { Message: `Schedule ${name} does not exist.` }, "ResourceNotFoundException");
      return answer(200, {});
    }
    return answer(405, { Message: `${req.method} is not a Scheduler operation here` }, "UnknownOperationException");
  });
  guardLocalServer(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));

  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    pending: () => [...schedules.values()].sort((a, b) => a.at - b.at),
    async stop() {
      clearInterval(tick);
      for (const timer of timers) clearTimeout(timer);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
