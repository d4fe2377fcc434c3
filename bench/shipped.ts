/**
 * Part 2, shipped code: for every inline Lambda of the dev stack, the bytes of its serialized module
 * (the archive's __index.js), and how long a cold `require` of it takes in a fresh Node process; once
 * for all, the bytes of the node_modules packages every archive includes.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { excludedPackages } from "../components/InlineFunction";
import { valueOf } from "../tests/helpers/mocks";
import { formatBytes, formatNumber, median, type PartResult } from "./lib";
import { buildStackUnderMocks } from "./stackUnderMocks";

export interface ShippedCodeOptions {
  /** Fresh processes per function; the median is reported. */
  coldRequireRepeats: number;
}

/** Inside the repo, so the modules' `require`s of node_modules resolve as they would in the archive. */
const OUT_DIR = path.join(__dirname, ".tmp", "shipped");
const REPO_ROOT = path.join(__dirname, "..");

/** Prints the milliseconds one `require` of argv[1] takes, nothing else. */
const COLD_REQUIRE_SCRIPT =
  "const t=process.hrtime.bigint();require(process.argv[1]);process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6))";

function coldRequireMs(file: string): number {
  const output = execFileSync(process.execPath, ["-e", COLD_REQUIRE_SCRIPT, file], {
    cwd: REPO_ROOT,
    encoding: "utf8",
    timeout: 30_000,
    // What a Lambda has: a region and credentials in the environment, nothing that preloads code.
    env: {
      PATH: process.env.PATH ?? "",
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "bench",
      AWS_SECRET_ACCESS_KEY: "bench",
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
    },
  });
  const ms = Number(output);
  if (!Number.isFinite(ms)) throw new Error(`cold require of ${path.basename(file)} printed "${output.slice(0, 200)}"`);
  return ms;
}

function directoryBytes(target: string): { bytes: number; files: number } {
  const stat = fs.statSync(target);
  if (!stat.isDirectory()) return { bytes: stat.size, files: 1 };
  let bytes = 0;
  let files = 0;
  for (const entry of fs.readdirSync(target)) {
    const inner = directoryBytes(path.join(target, entry));
    bytes += inner.bytes;
    files += inner.files;
  }
  return { bytes, files };
}

export async function runShippedCode(options: ShippedCodeOptions, progress: (line: string) => void): Promise<PartResult> {
  progress("building the dev stack under mocks");
  const { functions } = await buildStackUnderMocks();
  if (!functions.length) throw new Error("the stack registered no InlineFunction");
  fs.rmSync(OUT_DIR, { recursive: true, force: true });
  fs.mkdirSync(OUT_DIR, { recursive: true });

  const rows: { name: string; bytes: number; requireMs: number[]; archive: { bytes: number; files: number; packages: string[] } }[] = [];
  const archives = new Map<string, { bytes: number; files: number; packages: string[] }>();
  for (const fn of functions) {
    const name = (await valueOf(fn.urn)).split("::").pop()!;
    const serialized = await pulumi.runtime.serializeFunction(fn.factory, { isFactoryFunction: true });
    const file = path.join(OUT_DIR, `${name.replace(/[^A-Za-z0-9_-]/g, "_")}.js`);
    fs.writeFileSync(file, serialized.text);
    progress(`${name}: ${formatBytes(Buffer.byteLength(serialized.text))}, ${options.coldRequireRepeats} cold require(s)`);
    const requireMs = Array.from({ length: options.coldRequireRepeats }, () => coldRequireMs(file));
    // What CallbackFunction puts next to __index.js: the packages the function declares (all when it does not).
    const key = fn.packages === undefined ? "*" : [...fn.packages].sort().join(",");
    if (!archives.has(key)) archives.set(key, await archiveContents(fn.packages));
    rows.push({ name, bytes: Buffer.byteLength(serialized.text), requireMs, archive: archives.get(key)! });
  }

  const baseline = Math.min(...rows.map((r) => median(r.requireMs)));
  const smallest = Math.min(...rows.map((r) => r.bytes));
  progress("the producer's validator: options measured the same way");
  const validatorRows = validatorOptions(options.coldRequireRepeats, baseline);
  rows.sort((a, b) => b.bytes - a.bytes);
  return {
    title: `Shipped code: ${rows.length} inline Lambdas of the dev stack`,
    tables: [
      {
        headers: [
          "function",
          "serialized bytes",
          "÷ smallest",
          "node_modules in archive",
          `cold require ms (median of ${options.coldRequireRepeats})`,
          "÷ fastest",
        ],
        rows: rows.map((r) => [
          r.name,
          formatNumber(r.bytes),
          `${(r.bytes / smallest).toFixed(2)}×`,
          r.archive.packages.length ? `${formatBytes(r.archive.bytes)} (${r.archive.packages.join(", ")})` : "none",
          formatNumber(median(r.requireMs), 1),
          `${(median(r.requireMs) / baseline).toFixed(2)}×`,
        ]),
      },
      {
        title:
          "The producer API's run-time packages: what each option would ship and cost to require (goal: ≤ 1 MiB, ≤ 1.3× the fastest function)",
        headers: ["option", "bytes on disk", "files", `cold require ms (median of ${options.coldRequireRepeats})`, "÷ fastest function"],
        rows: validatorRows,
      },
    ],
    notes: [
      "Validator options: `zod` as computeCodePaths ships it is the whole package directory (v3, v4, sources, type declarations); \"files Node loads\" is what a file trace (e.g. @vercel/nft) would ship: the CommonJS files `require` actually reads; `zod/mini` is zod's tree-shakable API, which only pays off once bundled. Bundling at deploy time (esbuild) is the option that meets both goals; it needs InlineFunction to build its own archive (CallbackFunction takes no extra assets), so it is left for the change of InlineFunction's code paths.",
      "Serialized bytes: the text `pulumi.runtime.serializeFunction(factory, { isFactoryFunction: true })` produces, i.e. the archive's `__index.js`, with the runtime/ code it reaches inlined by value.",
      "node_modules in archive: `pulumi.runtime.computeCodePaths({ extraExcludePackages: excludedPackages(fn.packages) })`, bytes on disk before zipping: each function ships only the run-time packages it declares (the AWS SDK comes with the Lambda runtime).",
      "Cold require: a fresh `node` process per measurement requires the written module (which runs the factory: SDK clients built, captured values read), timed around `require` only; Node start-up is not included. Measured on Node " +
        process.version +
        ", Lambda runs nodejs22.x.",
    ],
  };
}

/** Prints `{ ms, bytes, files }`: one require of argv[1], and the bytes of the files under node_modules/<argv[2]> it read. */
const TRACE_SCRIPT = `const t=process.hrtime.bigint();require(process.argv[1]);const ms=Number(process.hrtime.bigint()-t)/1e6;
const fs=require("fs");let bytes=0,files=0;for(const f of Object.keys(require.cache))if(f.includes("/node_modules/"+process.argv[2]+"/")){files++;bytes+=fs.statSync(f).size}
process.stdout.write(JSON.stringify({ms,bytes,files}))`;

function validatorOptions(repeats: number, fastestMs: number): string[][] {
  const trace = (specifier: string, pkg: string) =>
    Array.from({ length: repeats }, () => {
      const out = execFileSync(process.execPath, ["-e", TRACE_SCRIPT, specifier, pkg], {
        cwd: REPO_ROOT,
        encoding: "utf8",
        timeout: 30_000,
      });
      return JSON.parse(out) as { ms: number; bytes: number; files: number };
    });
  const zodDir = directoryBytes(path.join(REPO_ROOT, "node_modules", "zod"));
  const full = trace("zod", "zod");
  const mini = trace("zod/mini", "zod");
  const mustache = trace("mustache", "mustache");
  const ms = (runs: { ms: number }[]) => median(runs.map((r) => r.ms));
  return [
    [
      "zod, whole package (shipped today)",
      formatBytes(zodDir.bytes),
      formatNumber(zodDir.files),
      formatNumber(ms(full), 1),
      `${(ms(full) / fastestMs).toFixed(2)}×`,
    ],
    [
      "zod, only the files Node loads",
      formatBytes(full[0].bytes),
      formatNumber(full[0].files),
      formatNumber(ms(full), 1),
      `${(ms(full) / fastestMs).toFixed(2)}×`,
    ],
    [
      "zod/mini, only the files Node loads",
      formatBytes(mini[0].bytes),
      formatNumber(mini[0].files),
      formatNumber(ms(mini), 1),
      `${(ms(mini) / fastestMs).toFixed(2)}×`,
    ],
    [
      "mustache (the other package)",
      formatBytes(mustache[0].bytes),
      formatNumber(mustache[0].files),
      formatNumber(ms(mustache), 1),
      `${(ms(mustache) / fastestMs).toFixed(2)}×`,
    ],
  ];
}

/** The node_modules paths an archive with these run-time packages carries, and their size. */
async function archiveContents(packages: string[] | undefined) {
  const codePaths = await pulumi.runtime.computeCodePaths({ extraExcludePackages: excludedPackages(packages, REPO_ROOT) });
  let bytes = 0;
  let files = 0;
  const names: string[] = [];
  for (const relative of codePaths.keys()) {
    const absolute = path.resolve(REPO_ROOT, relative);
    const size = fs.existsSync(absolute) ? directoryBytes(absolute) : { bytes: 0, files: 0 };
    bytes += size.bytes;
    files += size.files;
    names.push(relative.replace(/^.*node_modules\//, ""));
  }
  return { bytes, files, packages: names };
}
