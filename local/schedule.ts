/**
 * A schedule trigger on this machine: runs a function at the times an EventBridge schedule expression
 * names. `rate(<n> minute|minutes|hour|hours|day|days)` runs every n units from start; `cron(min hour
 * day-of-month month day-of-week year)` runs at each UTC minute the fields match (numbers, `*`, `?`,
 * lists, ranges and `/` steps; `L`, `W` and `#` are refused, naming the field).
 */

const UNIT_MS: Record<string, number> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** What runs the schedule: stop() ends it. */
export interface LocalSchedule {
  stop(): void;
}

/** Milliseconds between runs of a `rate(...)` expression, or undefined for a `cron(...)` one. */
export function rateMs(expression: string): number | undefined {
  const rate = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  if (!rate) return undefined;
  return Number(rate[1]) * UNIT_MS[rate[2].replace(/s$/, "")];
}

const FIELDS = [
  { name: "minutes", min: 0, max: 59, of: (d: Date) => d.getUTCMinutes() },
  { name: "hours", min: 0, max: 23, of: (d: Date) => d.getUTCHours() },
  { name: "day-of-month", min: 1, max: 31, of: (d: Date) => d.getUTCDate() },
  { name: "month", min: 1, max: 12, of: (d: Date) => d.getUTCMonth() + 1 },
  { name: "day-of-week", min: 1, max: 7, of: (d: Date) => d.getUTCDay() + 1 },
  { name: "year", min: 1970, max: 2199, of: (d: Date) => d.getUTCFullYear() },
];

/** A matcher of the UTC minutes a `cron(...)` expression names. Throws naming the field it cannot read. */
export function cronMatcher(expression: string): (at: Date) => boolean {
  const body = /^cron\((.+)\)$/.exec(expression)?.[1];
  const parts = body?.trim().split(/\s+/) ?? [];
  if (parts.length !== 6)
    throw new Error(`schedule "${expression}": a cron expression has 6 fields (minutes hours day-of-month month day-of-week year)`);
  const sets = parts.map((part, i) => {
    const field = FIELDS[i];
    if (part === "*" || part === "?") return undefined;
    const values = new Set<number>();
    for (const item of part.split(",")) {
      const m = /^(\*|\d+)(?:-(\d+))?(?:\/(\d+))?$/.exec(item);
      if (!m)
        throw new Error(`schedule "${expression}": the ${field.name} field "${part}" uses a form the local mode does not run (L, W, #)`);
      const from = m[1] === "*" ? field.min : Number(m[1]);
      const to = m[2] !== undefined ? Number(m[2]) : m[3] !== undefined || m[1] === "*" ? field.max : from;
      for (let v = from; v <= to; v += Number(m[3] ?? 1)) values.add(v);
    }
    return values;
  });
  return (at) => sets.every((set, i) => !set || set.has(FIELDS[i].of(at)));
}

/** Runs `run` on the expression's schedule until stopped; a run that fails is reported, the next still comes. */
export function startSchedule(expression: string, run: () => Promise<unknown>, onError: (error: unknown) => void): LocalSchedule {
  const every = rateMs(expression);
  const safeRun = () => void run().catch(onError);
  if (every !== undefined) {
    const timer = setInterval(safeRun, every);
    timer.unref();
    return { stop: () => clearInterval(timer) };
  }
  const matches = cronMatcher(expression);
  let timer: NodeJS.Timeout;
  const next = () => {
    const now = Date.now();
    timer = setTimeout(
      () => {
        if (matches(new Date())) safeRun();
        next();
      },
      60_000 - (now % 60_000),
    );
    timer.unref();
  };
  next();
  return { stop: () => clearTimeout(timer) };
}
