/**
 * `npm run bench [-- --quick] [-- --only <part>[,<part>]] [-- --out <file>]`: measures Tidings on this
 * machine and prints RATIOS measured within one run (ours vs. the seed, vs. the raw limit, vs. the smallest
 * size), plus the absolute numbers as facts of this machine. Writes the tables with the machine facts
 * to bench/results.md. Everything talks to 127.0.0.1 only, each part is bounded in count and time, and
 * each part runs in a process of its own (bench/parts.ts lists them).
 */
import { fork } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadAverage, machineFacts } from "./facts";
import { type GoalRow, markdownTable, type PartResult, textTable } from "./lib";
import type { PartReply, PartRequest } from "./partProcess";
import { type Part, PARTS } from "./parts";
import { parseArgs } from "node:util";

/** Whole-run ceiling: the run ends itself even if a server hangs. */
const HARD_LIMIT_MS = 20 * 60_000;

interface Args {
  quick: boolean;
  only: Part[];
  /** Write the results to `out`; otherwise print how they compare with the committed ones. */
  write: boolean;
  out: string;
}

/** The committed results: written only by `npm run bench -- --write`. */
const RESULTS = path.join(__dirname, "results.md");

const USAGE = [
  "usage: npm run bench -- [--quick] [--only <part>[,<part>…]] [--write] [--out <file>]",
  "",
  "Measures Tidings on this machine; each part runs in a process of its own. A plain run prints its tables",
  "and how they compare with the committed bench/results.md; --write writes them there (or to --out).",
  "  --quick   shorter runs",
  "  --only    these parts only",
  "  --write   write the results (bench/results.md unless --out)",
  "  --out     where --write writes",
  "parts:",
  ...PARTS.map((p) => `  ${p.name.padEnd(9)} ${p.summary}`),
].join("\n");

function usage(problem: string): never {
  console.error(`bench: ${problem}\n${USAGE}`);
  process.exit(2);
}

function readArgs(argv: string[]): Args {
  let values: ReturnType<typeof parseBenchArgs>["values"];
  try {
    values = parseBenchArgs(argv).values;
  } catch (error) {
    usage((error as Error).message);
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const only = values.only
    ? values.only.split(",").map((name) => PARTS.find((p) => p.name === name.trim()) ?? usage(`unknown part "${name}"`))
    : PARTS;
  if (values.out && !values.write) usage("--out names where --write writes: give --write too");
  return { quick: values.quick ?? false, only, write: values.write ?? false, out: path.resolve(values.out ?? RESULTS) };
}

function parseBenchArgs(argv: string[]) {
  return parseArgs({
    args: argv,
    strict: true,
    options: {
      quick: { type: "boolean" },
      only: { type: "string" },
      write: { type: "boolean" },
      out: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
}

async function main() {
  const args = readArgs(process.argv.slice(2));
  // The SDK prints a notice about Node 20 on every client otherwise; Lambda runs 22.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
  const hardStop = setTimeout(() => {
    console.error(`bench: still running after ${HARD_LIMIT_MS / 60_000} minutes; stopping.`);
    process.exit(1);
  }, HARD_LIMIT_MS);
  hardStop.unref();

  const facts = machineFacts();
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`;
  console.log(
    `Tidings benchmark: ${facts.cpuModel}, ${facts.cores} cores, ${facts.memory}, Node ${facts.node}, commit ${facts.commit}, load ${facts.loadAverage}`,
  );
  if (os.loadavg()[0] > facts.cores / 2) {
    console.log(
      `  (the machine is busy: load ${os.loadavg()[0].toFixed(1)} on ${facts.cores} cores; absolute numbers will be low, ratios are still comparable within this run)`,
    );
  }
  const sections: string[] = [];
  const failed: string[] = [];
  const measured: Record<string, number> = {};
  const goals: GoalRow[] = [];
  const startedAt = Date.now();
  for (const part of args.only) {
    const partStarted = Date.now();
    console.log(`\n== ${part.name}: ${part.summary}`);
    try {
      const result = await runInOwnProcess({ part: part.name, quick: args.quick, measured });
      Object.assign(measured, result.measured);
      goals.push(...(result.goals ?? []));
      const seconds = ((Date.now() - partStarted) / 1000).toFixed(1);
      console.log(`\n${result.title} (${seconds} s)\n`);
      for (const table of result.tables) console.log(`${textTable(table)}\n`);
      for (const note of result.notes) console.log(`  · ${note}`);
      sections.push(
        [
          `## ${result.title}`,
          `Part \`${part.name}\`, ${seconds} s.`,
          ...result.tables.map(markdownTable),
          result.notes.map((n) => `- ${n}`).join("\n"),
        ].join("\n\n"),
      );
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      failed.push(part.name);
      console.error(`   ${part.name} failed: ${message}`);
      if (process.env.BENCH_DEBUG && error instanceof Error) console.error(error.stack);
      sections.push(`## Part \`${part.name}\`: not measured\n\n${part.summary}: failed with \`${message.replace(/`/g, "'")}\`.`);
    }
  }

  const markdown = [
    "# Tidings benchmark results",
    "Ratios are measured within this one run on this one machine; the absolute numbers are facts of this machine, not claims about AWS.",
    markdownTable({
      headers: ["fact", "value"],
      rows: [
        ["command", `\`${command}\``],
        ["date", facts.date],
        ["git commit", facts.commit],
        ["CPU", facts.cpuModel],
        ["cores", String(facts.cores)],
        ["memory", facts.memory],
        ["Node.js", facts.node],
        ["OS", facts.platform],
        ["load average (1, 5, 15 min) at start", facts.loadAverage],
        ["load average at end", loadAverage()],
        ["total time", `${((Date.now() - startedAt) / 1000).toFixed(0)} s`],
      ],
    }),
    ...goalsSection(goals),
    ...sections,
  ].join("\n\n");
  if (args.write) fs.writeFileSync(args.out, `${markdown}\n`);
  else printComparison(markdown);
  if (goals.length) {
    const rows = [...goals]
      .sort((a, b) => a.goal - b.goal)
      .map((g) => [String(g.goal), g.measure, g.before, g.after, g.ratio, g.target, g.met ? "yes" : "no"]);
    console.log(`\nIssue 12 goals\n${textTable({ headers: ["#", "measure", "before", "after", "after ÷ before", "goal", "met"], rows })}`);
  }
  if (args.write) console.log(`\nWrote ${path.relative(process.cwd(), args.out)} (${((Date.now() - startedAt) / 1000).toFixed(0)} s).`);
  else
    console.log(
      `\nNot written (--write writes ${path.relative(process.cwd(), RESULTS)}); ${((Date.now() - startedAt) / 1000).toFixed(0)} s.`,
    );
  if (failed.length) {
    console.error(`Not measured: ${failed.join(", ")}`);
    process.exitCode = 1;
  }
}

/**
 * Runs one part in a forked process (bench/partProcess.ts). Each part then measures from a fresh heap:
 * run in this process after the others, the pipeline part measured 34–41 notifications/s against 45–50
 * alone, and the fan-out part 2.4–2.7× against 3.3×. Node flags given to the bench (e.g. --cpu-prof)
 * pass on to the part.
 */
function runInOwnProcess(request: PartRequest): Promise<PartResult> {
  return new Promise((resolve, reject) => {
    const child = fork(path.join(__dirname, "partProcess.ts"), [], {
      execArgv: [...process.execArgv, "-r", "ts-node/register/transpile-only"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    let reply: PartReply | undefined;
    child.once("message", (message: PartReply) => {
      reply = message;
    });
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      if (!reply) return reject(new Error(`the part's process exited (${signal ?? `code ${code}`}) without a result`));
      if (reply.ok) return resolve(reply.result);
      const error = new Error(reply.message);
      if (reply.stack) error.stack = reply.stack;
      reject(error);
    });
    child.send(request);
  });
}

/**
 * The goals of issue 12 as this run measured them, then what each change bought (bench/findings.md, kept
 * by hand next to the code it describes, with the profiles that led to each change).
 */
function goalsSection(goals: GoalRow[]): string[] {
  if (!goals.length) return [];
  const findings = path.join(__dirname, "findings.md");
  return [
    "## Issue 12: each goal as this run measured it",
    markdownTable({
      headers: ["#", "measure", "before", "after", "after ÷ before", "goal", "met"],
      rows: [...goals]
        .sort((a, b) => a.goal - b.goal)
        .map((g) => [String(g.goal), g.measure, g.before, g.after, g.ratio, g.target, g.met ? "yes" : "**no**"]),
    }),
    ...(fs.existsSync(findings) ? [fs.readFileSync(findings, "utf8").trim()] : []),
  ];
}

/**
 * Each table row of this run beside the committed one with the same section, table and first cell:
 * the rows whose numbers moved. Ratios are what compare across runs; absolute numbers follow the machine.
 */
function printComparison(markdown: string) {
  if (!fs.existsSync(RESULTS)) return console.log("\nNo committed bench/results.md to compare with.");
  const rowsOf = (text: string) => {
    const rows = new Map<string, string[]>();
    let section = "";
    let table = "";
    for (const line of text.split("\n")) {
      if (line.startsWith("## ")) section = line.slice(3);
      else if (line.startsWith("**") && line.endsWith("**")) table = line;
      else if (line.startsWith("| ") && !/^\| -/.test(line)) {
        const cells = line
          .split("|")
          .slice(1, -1)
          .map((c) => c.trim());
        rows.set(`${section} · ${table} · ${cells[0]}`, cells.slice(1));
      }
    }
    return rows;
  };
  const committed = rowsOf(fs.readFileSync(RESULTS, "utf8"));
  const moved: string[] = [];
  for (const [key, cells] of rowsOf(markdown)) {
    const before = committed.get(key);
    if (before && before.join(" | ") !== cells.join(" | "))
      moved.push(`  ${key}\n    committed: ${before.join(" | ")}\n    this run:  ${cells.join(" | ")}`);
  }
  console.log(`\nCompared with the committed bench/results.md: ${moved.length} row(s) differ${moved.length ? ":" : "."}`);
  for (const line of moved.slice(0, 40)) console.log(line);
}

main().catch((error) => {
  console.error(`bench: ${error instanceof Error ? error.stack : error}`);
  process.exit(1);
});
