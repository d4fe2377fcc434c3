/**
 * Small pieces the benchmark parts share: what a part reports, timing, statistics and table rendering.
 * Nothing here talks to the network.
 */

/** One table of a part's report. Cells are already formatted. */
export interface Table {
  title?: string;
  headers: string[];
  rows: string[][];
}

/** What a part hands back: tables, plus notes a reader needs to interpret them (method, caveats). */
export interface PartResult {
  title: string;
  tables: Table[];
  notes: string[];
  /** Numbers later parts of the same run may compare against (e.g. the fan-out limit). */
  measured?: Record<string, number>;
  /** This part's lines of the issue-12 goals table at the top of the results. */
  goals?: GoalRow[];
}

/** One goal of issue 12 as this run measured it. */
export interface GoalRow {
  /** The goal's number in the issue (1–6). */
  goal: number;
  measure: string;
  before: string;
  after: string;
  /** after ÷ before, formatted; "–" when there is no before. */
  ratio: string;
  /** The goal's bound, e.g. "≤ 16". */
  target: string;
  met: boolean;
}

export const now = (): number => performance.now();

/** Middle value (mean of the two middle ones for an even count). */
export function median(values: number[]): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** Nearest-rank percentile (p in 0–100) of unsorted values. */
export function percentile(values: number[], p: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1];
}

export function formatNumber(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return "–";
  return value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function formatRatio(value: number): string {
  if (!Number.isFinite(value)) return "–";
  if (value !== 0 && Math.abs(value) < 0.1) return `${value.toPrecision(2)}×`;
  return `${value >= 10 ? value.toFixed(1) : value.toFixed(2)}×`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(2)} MiB`;
}

/** Runs `task` over `items`, at most `limit` at a time, in order of start. */
export async function mapBounded<T, R>(items: T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return results;
}

/** Rejects with `message` after `ms`, so a stuck step ends the part instead of hanging the run. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${message} (after ${ms} ms)`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Markdown table. */
export function markdownTable(table: Table): string {
  const escapeCell = (cell: string) => cell.replace(/\|/g, "\\|");
  const lines = [
    `| ${table.headers.map(escapeCell).join(" | ")} |`,
    `| ${table.headers.map((_, i) => (i === 0 ? "---" : "---:")).join(" | ")} |`,
    ...table.rows.map((row) => `| ${row.map(escapeCell).join(" | ")} |`),
  ];
  return (table.title ? `**${table.title}**\n\n` : "") + lines.join("\n");
}

/** Fixed-width table for the terminal: first column left-aligned, the others right-aligned. */
export function textTable(table: Table): string {
  const widths = table.headers.map((h, i) => Math.max(h.length, ...table.rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join("  ");
  return [
    ...(table.title ? [table.title] : []),
    line(table.headers),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...table.rows.map(line),
  ].join("\n");
}
