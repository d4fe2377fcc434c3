/**
 * The code's layout, from its own imports: data flows one way. No import circle; `runtime/` knows
 * nothing of Pulumi, of the components or of the local mode; the components know nothing of the local
 * mode or the plugin; nothing shipped or benchmarked imports the tests.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { expect } from "chai";

const ROOT = path.join(__dirname, "..");
const SOURCE_DIRS = ["runtime", "components", "local", "plugin", "bench"];
const TOP_FILES = ["index.ts", "package.ts", "stack.ts", "testing.ts"];

function sourceFiles(): string[] {
  const files = TOP_FILES.map((f) => path.join(ROOT, f));
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) files.push(full);
    }
  };
  for (const dir of SOURCE_DIRS) walk(path.join(ROOT, dir));
  return files;
}

/** Every module a file imports or requires by a literal relative path, resolved to a file of the tree. */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(file, "utf8");
  const specifiers = [...text.matchAll(/(?:from|import|require)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)].map((m) => m[1]);
  const resolved: string[] = [];
  for (const specifier of specifiers) {
    const base = path.resolve(path.dirname(file), specifier);
    const candidate = [`${base}.ts`, path.join(base, "index.ts"), base].find((c) => fs.existsSync(c) && fs.statSync(c).isFile());
    if (candidate?.endsWith(".ts")) resolved.push(candidate);
  }
  return resolved;
}

/** Package imports of a file (`@pulumi/pulumi`, …), literal only. */
function packagesOf(file: string): string[] {
  const text = fs.readFileSync(file, "utf8");
  return [...text.matchAll(/(?:from|require\()\s*["']([^."'][^"']*)["']/g)].map((m) => m[1]);
}

const rel = (file: string) => path.relative(ROOT, file).split(path.sep).join("/");

describe("the code's structure (its imports)", () => {
  const graph = new Map(sourceFiles().map((file) => [file, importsOf(file)]));

  it("has no import circle", () => {
    const circles: string[] = [];
    const state = new Map<string, "open" | "done">();
    const stack: string[] = [];
    const visit = (file: string) => {
      state.set(file, "open");
      stack.push(file);
      for (const next of graph.get(file) ?? []) {
        if (state.get(next) === "open") circles.push([...stack.slice(stack.indexOf(next)), next].map(rel).join(" → "));
        else if (!state.has(next)) visit(next);
      }
      stack.pop();
      state.set(file, "done");
    };
    for (const file of graph.keys()) if (!state.has(file)) visit(file);
    expect(circles).to.deep.equal([]);
  });

  it("keeps each folder's imports one way", () => {
    const forbidden: Record<string, string[]> = {
      "runtime/": ["components/", "local/", "plugin/", "bench/", "tests/", "stack.ts", "testing.ts"],
      "components/": ["local/", "plugin/", "bench/", "tests/", "stack.ts", "testing.ts", "index.ts", "package.ts"],
      "local/": ["plugin/", "bench/", "tests/"],
      "plugin/": ["local/", "bench/", "tests/"],
      "bench/": ["tests/"],
    };
    const wrong: string[] = [];
    for (const [file, imports] of graph) {
      const from = rel(file);
      const rules = Object.entries(forbidden).find(([prefix]) => from.startsWith(prefix))?.[1] ?? [];
      for (const target of imports.map(rel)) {
        if (rules.some((rule) => target.startsWith(rule))) wrong.push(`${from} → ${target}`);
      }
    }
    expect(wrong).to.deep.equal([]);
  });

  it("keeps Pulumi out of the runtime: handlers run without it", () => {
    const runtime = [...graph.keys()].filter((file) => rel(file).startsWith("runtime/"));
    const pulumi = runtime.filter((file) => packagesOf(file).some((name) => name.startsWith("@pulumi/")));
    expect(pulumi.map(rel)).to.deep.equal([]);
  });
});
