/**
 * docs/configuration.md, generated from the config schema so it cannot drift: every `tidings:*` key
 * (runtime/configSchema.ts `configKeys`), its type, bounds and default read from the schema itself,
 * and its description from the JSDoc comment on the key in that file.
 *
 *   npm run docs            prints whether docs/configuration.md is up to date (exit 1 when not)
 *   npm run docs -- --write writes it
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { parseArgs } from "node:util";
import ts from "typescript";
import { configSchema } from "../runtime/configSchema";

const ROOT = path.join(__dirname, "..");
const SCHEMA_FILE = path.join(ROOT, "runtime", "configSchema.ts");
export const CONFIG_DOC = path.join(ROOT, "docs", "configuration.md");

// biome-ignore lint/suspicious/noExplicitAny: zod's internal definitions, walked for their shape only
type ZodAny = any;

interface KeyInfo {
  key: string;
  type: string;
  default?: string;
}

/** Every leaf key with its type and default, as the schema parses it. */
function keysOf(schema: ZodAny, prefix: string, inherited?: string): KeyInfo[] {
  const def = schema._zod.def;
  if (def.type === "default" || def.type === "prefault") {
    const value = def.type === "default" ? JSON.stringify(def.defaultValue) : inherited;
    return keysOf(def.innerType, prefix, value);
  }
  if (def.type === "optional" || def.type === "nullable") return keysOf(def.innerType, prefix, inherited);
  if (def.type === "object") {
    return Object.entries(def.shape).flatMap(([key, value]) => keysOf(value, prefix ? `${prefix}.${key}` : key));
  }
  if (def.type === "record") return keysOf(def.valueType, `${prefix}.<name>`);
  return [{ key: prefix, type: typeOf(schema), default: inherited }];
}

function typeOf(schema: ZodAny): string {
  const def = schema._zod.def;
  const bounds = (def.checks ?? [])
    .map((c: ZodAny) => c._zod?.def ?? c)
    .filter((c: ZodAny) => c.check === "greater_than" || c.check === "less_than" || c.check === "min_length" || c.check === "max_length")
    .map((c: ZodAny) =>
      c.check === "greater_than"
        ? `≥ ${c.value}`
        : c.check === "less_than"
          ? `≤ ${c.value}`
          : c.check === "min_length"
            ? `≥ ${c.minimum} long`
            : `≤ ${c.maximum} long`,
    );
  const suffix = bounds.length ? ` (${bounds.join(", ")})` : "";
  switch (def.type) {
    case "enum":
      return Object.values(def.entries)
        .map((v) => `\`${v}\``)
        .join(" \\| ");
    case "literal":
      return def.values.join(", ");
    case "array":
      return `list of ${typeOf(def.element)}${suffix}`;
    case "string":
      return `string${def.format ? ` (${def.format})` : ""}${suffix}`;
    case "number":
      return `number${suffix}`;
    default:
      return `${def.type}${suffix}`;
  }
}

/**
 * The JSDoc of each key in runtime/configSchema.ts, by its dotted path: a key's path is its property
 * names up to the schema function that holds it, prefixed by where that function is used (a record's
 * values add `<name>`).
 */
function descriptions(): Map<string, string> {
  const source = ts.createSourceFile(SCHEMA_FILE, fs.readFileSync(SCHEMA_FILE, "utf8"), ts.ScriptTarget.Latest, true);
  const prefixOf = new Map<string, string>([["configSchema", ""]]);
  const found: { fn: string; local: string; text: string }[] = [];
  const uses: { fn: string; inFn: string; local: string }[] = [];

  /** The dotted path of `node` inside its function: property names outward, `<name>` for each z.record between. */
  function localPath(node: ts.Node): { fn: string; path: string } {
    const parts: string[] = [];
    let fn = "";
    for (let at: ts.Node | undefined = node; at; at = at.parent) {
      if (ts.isPropertyAssignment(at)) parts.unshift(at.name.getText(source));
      if (ts.isCallExpression(at) && at.expression.getText(source).replace(/\s/g, "") === "z.record" && at !== node)
        parts.unshift("<name>");
      if (ts.isFunctionDeclaration(at)) {
        fn = at.name?.getText(source) ?? "";
        break;
      }
    }
    return { fn, path: parts.join(".") };
  }

  function visit(node: ts.Node) {
    if (ts.isPropertyAssignment(node)) {
      const doc = ts
        .getJSDocCommentsAndTags(node)
        .map((d) => (typeof d.comment === "string" ? d.comment : ""))
        .join(" ");
      if (doc) {
        const { fn, path } = localPath(node);
        found.push({ fn, local: path, text: firstSentence(doc) });
      }
    }
    if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && /Schema$/.test(node.expression.text)) {
      const { fn, path } = localPath(node);
      uses.push({ fn: node.expression.text, inFn: fn, local: path });
    }
    ts.forEachChild(node, visit);
  }
  visit(source);
  // Resolve each schema function's prefix from where it is used (repeat until every use resolves).
  for (let round = 0; round < 5; round++) {
    for (const use of uses) {
      const outer = prefixOf.get(use.inFn);
      if (outer === undefined || prefixOf.has(use.fn)) continue;
      prefixOf.set(use.fn, [outer, use.local].filter(Boolean).join("."));
    }
  }
  const byKey = new Map<string, string>();
  for (const entry of found) {
    const prefix = prefixOf.get(entry.fn);
    if (prefix === undefined) continue;
    byKey.set([prefix, entry.local].filter(Boolean).join("."), entry.text);
  }
  return byKey;
}

function firstSentence(doc: string): string {
  const text = doc
    .replace(/\s+/g, " ")
    .replace(/@\w+.*$/, "")
    .trim();
  const end = text.search(/\.(\s|$)/);
  return (end === -1 ? text : text.slice(0, end + 1)).replace(/\|/g, "\\|");
}

/** The generated reference, as docs/configuration.md holds it. */
export function configReference(): string {
  const docs = descriptions();
  const describe = (key: string) => {
    // A record's values (`producers.<name>`) are described where the record is.
    return docs.get(key) ?? (key.endsWith(".<name>") ? (docs.get(key.slice(0, -".<name>".length)) ?? "") : "");
  };
  const rows = keysOf(configSchema(), "").map(
    (k) => `| \`tidings:${k.key}\` | ${k.type} | ${k.default === undefined ? "" : `\`${k.default}\``} | ${describe(k.key)} |`,
  );
  return [
    "# Configuration reference",
    "",
    "Every `tidings:*` stack config key, generated from the config schema (`runtime/configSchema.ts`) by",
    "`npm run docs -- --write`; a test fails when this file and the schema differ. `<name>` stands for a",
    "channel's or a notification type's name. Set keys with `pulumi config set --path` or in",
    "`Pulumi.<stack>.yaml`; the local mode reads `Pulumi.dev.yaml`.",
    "",
    "| key | type | default | what |",
    "| --- | --- | --- | --- |",
    ...rows,
    "",
  ].join("\n");
}

if (require.main === module) {
  const { values } = parseArgs({ options: { write: { type: "boolean" }, help: { type: "boolean", short: "h" } } });
  if (values.help) {
    console.log("npm run docs [-- --write]: checks (or writes) docs/configuration.md against the config schema.");
  } else if (values.write) {
    fs.writeFileSync(CONFIG_DOC, configReference());
    console.log(`wrote ${path.relative(ROOT, CONFIG_DOC)}`);
  } else {
    const current = fs.existsSync(CONFIG_DOC) ? fs.readFileSync(CONFIG_DOC, "utf8") : "";
    const fresh = current === configReference();
    console.log(fresh ? "docs/configuration.md is up to date" : "docs/configuration.md is out of date: npm run docs -- --write");
    process.exitCode = fresh ? 0 : 1;
  }
}
