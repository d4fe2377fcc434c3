/**
 * The README's Python and YAML examples ("Use Tidings in your own stack") against the component
 * package's schema (plugin/schema.json, itself checked against what Pulumi infers): every property they
 * set or read must exist, so the examples cannot drift from the components.
 */
import { expect } from "chai";
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";

const ROOT = path.join(__dirname, "..");
const schema = JSON.parse(fs.readFileSync(path.join(ROOT, "plugin", "schema.json"), "utf8"));
const readme = fs.readFileSync(path.join(ROOT, "docs", "composing.md"), "utf8");
const section = readme.slice(readme.indexOf("## Use Tidings in your own stack"));

function codeBlocks(language: string): string[] {
  return [...section.matchAll(new RegExp(`\`\`\`${language}\\n([\\s\\S]*?)\`\`\``, "g"))].map((m) => m[1]);
}

type Property = { type?: string; $ref?: string; items?: Property; additionalProperties?: Property };

function typeOf(ref: string) {
  return schema.types[ref.replace("#/types/", "")];
}

/** Problems of `value` against a schema property, at `where`. */
function check(value: unknown, property: Property, where: string): string[] {
  if (typeof value === "string" && value.startsWith("${")) return []; // a reference, resolved by Pulumi
  if (property.$ref?.startsWith("#/types/")) {
    const type = typeOf(property.$ref);
    if (type.enum || typeof value !== "object" || value === null) return [];
    return checkObject(value as Record<string, unknown>, type.properties, where);
  }
  if (property.type === "array" && Array.isArray(value)) return value.flatMap((item, i) => check(item, property.items!, `${where}[${i}]`));
  if (property.type === "object" && property.additionalProperties && typeof value === "object" && value !== null) {
    return Object.entries(value).flatMap(([key, item]) => check(item, property.additionalProperties!, `${where}.${key}`));
  }
  return [];
}

function checkObject(value: Record<string, unknown>, properties: Record<string, Property>, where: string): string[] {
  return Object.entries(value).flatMap(([key, item]) =>
    properties[key] ? check(item, properties[key], `${where}.${key}`) : [`${where}.${key}: no such property in the schema`],
  );
}

const camel = (name: string) => name.replace(/_$/, "").replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

describe("README examples for other languages use the schema's property names", () => {
  it("has the section, with one Python and one YAML program", () => {
    expect(readme).to.contain("## Use Tidings in your own stack");
    expect(codeBlocks("python")).to.have.length(1);
    expect(codeBlocks("yaml").filter((b) => /runtime: yaml/.test(b))).to.have.length(1);
  });

  it("YAML: every resource type, property and output exists", () => {
    const program = YAML.parse(codeBlocks("yaml").find((b) => /runtime: yaml/.test(b))!);
    const problems: string[] = [];
    for (const [name, resource] of Object.entries<any>(program.resources)) {
      const token = String(resource.type).replace(/^tidings:(?!index:)/, "tidings:index:");
      const definition = schema.resources[token];
      if (!definition) {
        problems.push(`${name}: no resource type ${resource.type}`);
        continue;
      }
      problems.push(...checkObject(resource.properties ?? {}, definition.inputProperties, name));
      for (const required of definition.requiredInputs ?? []) {
        if (!(required in (resource.properties ?? {}))) problems.push(`${name}: required input ${required} missing`);
      }
    }
    for (const [output, expression] of Object.entries<string>(program.outputs ?? {})) {
      const [, resource, property] = /^\$\{(\w+)\.(\w+)\}$/.exec(expression) ?? [];
      const token = String(program.resources[resource]?.type).replace(/^tidings:(?!index:)/, "tidings:index:");
      if (!schema.resources[token]?.properties?.[property]) problems.push(`outputs.${output}: ${expression} is not an output`);
    }
    expect(problems).to.deep.equal([]);
  });

  it("Python: every keyword, dict key and attribute is a schema name (in snake_case) or a channel/type name", () => {
    const code = codeBlocks("python")[0];
    const tidings = schema.resources["tidings:index:Tidings"];
    const known = new Set<string>([
      ...Object.values<any>(schema.resources).flatMap((r) => Object.keys(r.inputProperties ?? {})),
      ...Object.values<any>(schema.types).flatMap((t) => Object.keys(t.properties ?? {})),
    ]);
    // Map keys that are data, not properties: the channels and notification types the example declares.
    const data = new Set(["websocket", "email", "slack", "pager", "order.shipped", "security.alert"]);
    const problems: string[] = [];
    const call = /tidings\.(\w+)\(\s*"[^"]+",([\s\S]*)\n\)/.exec(code)!;
    expect(call, "a tidings.<Component>(...) call").to.not.equal(null);
    const resource = schema.resources[`tidings:index:${call[1]}`];
    expect(resource, call[1]).to.be.an("object");
    const topLevel = [...call[2].matchAll(/^ {4}(\w+)=/gm)].map((m) => m[1]);
    for (const keyword of topLevel) if (!resource.inputProperties[camel(keyword)]) problems.push(`${call[1]}(${keyword}=…)`);
    for (const required of resource.requiredInputs) {
      if (!topLevel.map(camel).includes(required)) problems.push(`${call[1]}: required ${required} missing`);
    }
    for (const [, key] of call[2].matchAll(/"([\w.]+)":/g)) {
      if (!data.has(key) && !known.has(camel(key))) problems.push(`"${key}": no such property in the schema`);
    }
    for (const [, attribute] of code.matchAll(/\bstack\.(\w+)/g)) {
      if (!tidings.properties[camel(attribute)]) problems.push(`stack.${attribute}: not an output`);
    }
    expect(problems).to.deep.equal([]);
    expect(topLevel.length).to.be.greaterThan(4);
  });
});
