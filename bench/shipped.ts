/**
 * Part 2, shipped code: for every inline Lambda of the dev stack, its archive (the bundle InlineFunction
 * builds: one index.js) and how long a cold `require` of it takes in a fresh Node process, next to the
 * same measures of what was shipped before bundling (Pulumi's serialized module plus whole node_modules
 * package folders), measured in the same run. Then what bundling bought per run-time package.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { bundleModule, RUNTIME_PROVIDED } from "../components/bundle";
import { outputValue, shippedCode } from "../testing";
import { formatBytes, formatNumber, formatRatio, median, type PartResult } from "./lib";
import { buildStackUnderMocks } from "./stackUnderMocks";

export interface ShippedCodeOptions {
  /** Fresh processes per function and measure; the median is reported. */
  coldRequireRepeats: number;
}

/** Inside the repo: the AWS SDK (and, for the serialized modules of before, every package) resolves from its node_modules. */
const OUT_DIR = path.join(__dirname, ".tmp", "shipped");
const REPO_ROOT = path.join(__dirname, "..");
/** The issue's goal: every archive at most this many bytes. */
const ARCHIVE_LIMIT = 1024 * 1024;
/** The issue's goal: the producer API's cold require at most this many times the fastest function's. */
const PRODUCER_RATIO_LIMIT = 1.3;
const PRODUCER = "producer-api-service";

/** Prints the milliseconds one `require` of each argument takes together, nothing else. */
const COLD_REQUIRE_SCRIPT =
  "const t=process.hrtime.bigint();for(const m of process.argv.slice(1))require(m);process.stdout.write(String(Number(process.hrtime.bigint()-t)/1e6))";

/** The SDK packages the producer API cannot do without: its log and settings (DynamoDB) and the bus. */
const LEAST_PRODUCER_SDK = ["@aws-sdk/client-dynamodb", "@aws-sdk/lib-dynamodb", "@aws-sdk/client-eventbridge"];

function coldRequireMs(modules: string[]): number {
  const output = execFileSync(process.execPath, ["-e", COLD_REQUIRE_SCRIPT, ...modules], {
    cwd: OUT_DIR,
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
  if (!Number.isFinite(ms)) throw new Error(`cold require of ${modules.join(", ")} printed "${output.slice(0, 200)}"`);
  return ms;
}

function directoryBytes(target: string): number {
  const stat = fs.statSync(target);
  if (!stat.isDirectory()) return stat.size;
  return fs.readdirSync(target).reduce((sum, entry) => sum + directoryBytes(path.join(target, entry)), 0);
}

/** The packages a module requires by name, without their subpaths. */
function requiredPackages(text: string): string[] {
  const names = [...text.matchAll(/require\("([^"./][^"]*)"\)/g)].map(([, specifier]) =>
    specifier.startsWith("@") ? specifier.split("/").slice(0, 2).join("/") : specifier.split("/")[0],
  );
  return [...new Set(names)];
}

const isRuntimeProvided = (name: string) => RUNTIME_PROVIDED.some((pattern) => name.startsWith(pattern.replace("*", "")));
const isNodeBuiltin = (name: string) => !fs.existsSync(path.join(REPO_ROOT, "node_modules", name));

interface Row {
  name: string;
  bytes: number;
  beforeBytes: number;
  beforePackages: string[];
  requireMs: number[];
  sdkMs: number[];
  beforeRequireMs: number[];
}

export async function runShippedCode(options: ShippedCodeOptions, progress: (line: string) => void): Promise<PartResult> {
  progress("building the dev stack under mocks (every function's bundle included)");
  const { functions } = await buildStackUnderMocks();
  if (!functions.length) throw new Error("the stack registered no InlineFunction");
  fs.rmSync(OUT_DIR, { recursive: true, force: true });
  fs.mkdirSync(OUT_DIR, { recursive: true });

  const rows: Row[] = [];
  for (const fn of functions) {
    const name = (await outputValue(fn.urn)).split("::").pop()!;
    const code = await shippedCode(fn);
    const base = name.replace(/[^A-Za-z0-9_-]/g, "_");
    const bundleFile = path.join(OUT_DIR, `${base}.bundle.js`);
    const serializedFile = path.join(OUT_DIR, `${base}.serialized.js`);
    fs.writeFileSync(bundleFile, code.text);
    fs.writeFileSync(serializedFile, code.serialized);
    // Before: CallbackFunction's archive, the serialized module and the whole folders of the packages it requires.
    const beforePackages = requiredPackages(code.serialized).filter((p) => !isRuntimeProvided(p) && !isNodeBuiltin(p));
    const beforeBytes =
      Buffer.byteLength(code.serialized) +
      beforePackages.reduce((sum, p) => sum + directoryBytes(path.join(REPO_ROOT, "node_modules", p)), 0);
    // The AWS SDK packages the bundle requires: what the Lambda runtime loads for it, outside the archive.
    const sdk = [...new Set([...code.text.matchAll(/require\("(@(?:aws-sdk|smithy)\/[^"]+)"\)/g)].map((m) => m[1]))];
    progress(
      `${name}: ${formatBytes(code.bytes)} bundled (before ${formatBytes(beforeBytes)}), ${options.coldRequireRepeats}× 3 cold requires`,
    );
    const row: Row = { name, bytes: code.bytes, beforeBytes, beforePackages, requireMs: [], sdkMs: [], beforeRequireMs: [] };
    // Interleaved, so a busy moment of the machine weighs on every measure alike.
    for (let i = 0; i < options.coldRequireRepeats; i++) {
      row.requireMs.push(coldRequireMs([bundleFile]));
      row.beforeRequireMs.push(coldRequireMs([serializedFile]));
      row.sdkMs.push(sdk.length ? coldRequireMs(sdk) : 0);
    }
    rows.push(row);
  }

  const fastest = Math.min(...rows.map((r) => median(r.requireMs)));
  const fastestBefore = Math.min(...rows.map((r) => median(r.beforeRequireMs)));
  progress("the AWS SDK bundled in too, for the producer API and the fastest function");
  const fastestRow = rows.reduce((a, b) => (median(a.requireMs) <= median(b.requireMs) ? a : b));
  const sdkRows: string[][] = [];
  for (const row of [rows.find((r) => r.name === PRODUCER), fastestRow].filter((r): r is Row => r !== undefined)) {
    const serialized = fs.readFileSync(path.join(OUT_DIR, `${row.name.replace(/[^A-Za-z0-9_-]/g, "_")}.serialized.js`), "utf8");
    const whole = await bundleModule(serialized, REPO_ROOT, []);
    const file = path.join(OUT_DIR, `${row.name.replace(/[^A-Za-z0-9_-]/g, "_")}.with-sdk.js`);
    fs.writeFileSync(file, whole);
    const ms: number[] = [];
    const external: number[] = [];
    for (let i = 0; i < options.coldRequireRepeats; i++) {
      ms.push(coldRequireMs([file]));
      external.push(coldRequireMs([path.join(OUT_DIR, `${row.name.replace(/[^A-Za-z0-9_-]/g, "_")}.bundle.js`)]));
    }
    sdkRows.push([
      row.name,
      formatBytes(row.bytes),
      formatNumber(median(external), 1),
      formatBytes(Buffer.byteLength(whole)),
      formatNumber(median(ms), 1),
    ]);
  }
  progress("what bundling bought per run-time package");
  const packageRows = await packagesBundled(options.coldRequireRepeats);
  rows.sort((a, b) => b.bytes - a.bytes);
  const producer = rows.find((r) => r.name === PRODUCER);
  const largest = rows[0];
  const producerRatio = producer ? median(producer.requireMs) / fastest : Number.NaN;
  const producerSdkRatio = producer ? median(producer.sdkMs) / fastest : Number.NaN;
  // The least the producer needs whatever else changes: it reads and writes DynamoDB and puts events.
  progress(`the least SDK the producer needs (${LEAST_PRODUCER_SDK.join(", ")}), alone`);
  const leastSdkMs = median(Array.from({ length: options.coldRequireRepeats }, () => coldRequireMs(LEAST_PRODUCER_SDK)));
  const leastSdkRatio = leastSdkMs / fastest;
  // The issue says "the smallest function's": the smallest archive is not the fastest to require (what it
  // requires from the SDK decides), so the goal is held to the stricter of the two and both are printed.
  const smallest = rows[rows.length - 1];
  const producerSmallestRatio = producer ? median(producer.requireMs) / median(smallest.requireMs) : Number.NaN;
  const largestBefore = rows.reduce((a, b) => (a.beforeBytes >= b.beforeBytes ? a : b));
  const producerBeforeRatio = producer ? median(producer.beforeRequireMs) / fastestBefore : Number.NaN;
  return {
    goals: [
      {
        goal: 3,
        measure: `largest Lambda archive (${largest.name}; before: ${largestBefore.name}, serialized + node_modules)`,
        before: formatBytes(largestBefore.beforeBytes),
        after: formatBytes(largest.bytes),
        ratio: formatRatio(largest.bytes / largestBefore.beforeBytes),
        target: "≤ 1 MiB",
        met: largest.bytes <= ARCHIVE_LIMIT,
      },
      {
        goal: 3,
        measure: `${PRODUCER} cold require ÷ fastest function's (AWS SDK packages alone: ${producerSdkRatio.toFixed(2)}×, the least it needs, DynamoDB and EventBridge: ${leastSdkRatio.toFixed(2)}×; ÷ the smallest archive's, ${smallest.name}: ${producerSmallestRatio.toFixed(2)}×)`,
        before: `${producerBeforeRatio.toFixed(2)}×`,
        after: `${producerRatio.toFixed(2)}×`,
        ratio: formatRatio(producerRatio / producerBeforeRatio),
        target: `≤ ${PRODUCER_RATIO_LIMIT}×`,
        met: producerRatio <= PRODUCER_RATIO_LIMIT,
      },
    ],
    title: `Shipped code: ${rows.length} inline Lambdas of the dev stack, bundled`,
    tables: [
      {
        title: `Goals: every archive ≤ 1 MiB (largest: ${largest.name}, ${formatBytes(largest.bytes)}: ${largest.bytes <= ARCHIVE_LIMIT ? "met" : "NOT met"}); ${PRODUCER} cold require ≤ ${PRODUCER_RATIO_LIMIT}× the fastest function's (${producerRatio.toFixed(2)}×: ${producerRatio <= PRODUCER_RATIO_LIMIT ? "met" : "NOT met"}; the AWS SDK packages it requires alone: ${producerSdkRatio.toFixed(2)}×)`,
        headers: [
          "function",
          "archive (index.js)",
          "before: serialized + node_modules",
          `cold require ms (median of ${options.coldRequireRepeats})`,
          "÷ fastest",
          "of which AWS SDK ms",
          "before: cold require ms",
          "before ÷ fastest before",
        ],
        rows: rows.map((r) => [
          r.name,
          formatBytes(r.bytes),
          `${formatBytes(r.beforeBytes)}${r.beforePackages.length ? ` (${r.beforePackages.join(", ")})` : ""}`,
          formatNumber(median(r.requireMs), 1),
          `${(median(r.requireMs) / fastest).toFixed(2)}×`,
          formatNumber(median(r.sdkMs), 1),
          formatNumber(median(r.beforeRequireMs), 1),
          `${(median(r.beforeRequireMs) / fastestBefore).toFixed(2)}×`,
        ]),
      },
      {
        title:
          "What bundling bought, per run-time package: the whole package folder required from node_modules (before) against the same package bundled and minified (now)",
        headers: [
          "package",
          "before: bytes on disk",
          "before: files",
          `before: cold require ms (median of ${options.coldRequireRepeats})`,
          "bundled bytes",
          "bundled: cold require ms",
        ],
        rows: packageRows,
      },
      {
        title: "Why the AWS SDK stays external: the same functions with the SDK bundled in too",
        headers: [
          "function",
          "archive, SDK external",
          `cold require ms (median of ${options.coldRequireRepeats})`,
          "archive, SDK bundled",
          "cold require ms",
        ],
        rows: sdkRows,
      },
    ],
    notes: [
      "Archive: the bundle `InlineFunction` deploys as the function's only file, `index.js` (esbuild: Pulumi's serialized factory and every package it requires, minified, CommonJS, node22; `@aws-sdk/*` and `@smithy/*` external because the nodejs22.x runtime provides them). Bytes before zipping.",
      "Before (measured in the same run from the same functions): what `aws.lambda.CallbackFunction` shipped, the serialized module (`__index.js`) plus the whole folders of the node_modules packages it requires (the AWS SDK aside), and the cold require of that serialized module resolving those packages from node_modules. The issue measured the producer API at 5.97 MiB and 2.69× (211 ms against 83 ms).",
      'Cold require: a fresh `node` process per measurement requires the module (which runs the factory: SDK clients built, captured values read), timed around `require` only; Node start-up is not included. "Of which AWS SDK": a fresh process requiring only the SDK packages the bundle requires, i.e. the part of the cold require that comes from the Lambda runtime\'s SDK, not from the archive. Measures interleaved per function. Node ' +
        process.version +
        "; Lambda runs nodejs22.x.",
    ],
  };
}

/** Each run-time package as node_modules shipped it and bundled alone, with its require cost both ways. */
async function packagesBundled(repeats: number): Promise<string[][]> {
  const rows: string[][] = [];
  for (const name of ["zod", "mustache", "jose"]) {
    const folder = path.join(REPO_ROOT, "node_modules", name);
    const files = (fs.readdirSync(folder, { recursive: true }) as string[]).filter((f) =>
      fs.statSync(path.join(folder, f)).isFile(),
    ).length;
    // Bundled as InlineFunction bundles (zod with its English messages only).
    const text = await bundleModule(`module.exports = require(${JSON.stringify(name)});`, REPO_ROOT);
    const bundled = path.join(OUT_DIR, `package-${name}.js`);
    fs.writeFileSync(bundled, text);
    const before: number[] = [];
    const after: number[] = [];
    for (let i = 0; i < repeats; i++) {
      before.push(coldRequireMs([name]));
      after.push(coldRequireMs([bundled]));
    }
    rows.push([
      name,
      formatBytes(directoryBytes(folder)),
      formatNumber(files),
      formatNumber(median(before), 1),
      formatBytes(Buffer.byteLength(text)),
      formatNumber(median(after), 1),
    ]);
  }
  return rows;
}
