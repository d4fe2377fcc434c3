/**
 * The documentation stays true (issue 22): the configuration reference is what the schema generates,
 * the README teaches in ten minutes (short, every local page named, no placeholders), and every link
 * between the documents resolves.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { expect } from "chai";
import { CONFIG_DOC, configReference } from "../local/configReference";
import { configKeys } from "../runtime/configSchema";

const ROOT = path.join(__dirname, "..");
const read = (file: string) => fs.readFileSync(path.join(ROOT, file), "utf8");

describe("the documentation", () => {
  it("docs/configuration.md is the reference the config schema generates, with every key described", () => {
    expect(fs.readFileSync(CONFIG_DOC, "utf8"), "npm run docs -- --write").to.equal(configReference());
    const rows = configReference()
      .split("\n")
      .filter((l) => l.startsWith("| `tidings:"));
    expect(rows.map((r) => r.slice(3, r.indexOf("`", 3)).replace(/^tidings:/, "")).sort()).to.deep.equal([...new Set(configKeys())].sort());
    expect(
      rows.filter((r) => r.endsWith("|  |")),
      "keys without a description in runtime/configSchema.ts",
    ).to.deep.equal([]);
  });

  it("the README is short, names every local page, and has no placeholders", () => {
    const readme = read("README.md");
    expect(readme.split("\n").length).to.be.at.most(260);
    for (const page of [
      "/notifications",
      "/dev/token",
      "/ops",
      "/sinks/sms",
      "/sinks/slack",
      "/sinks/push",
      "/dev/faults",
      "127.0.0.1:4002",
      "ws://127.0.0.1:4001",
    ]) {
      expect(readme, page).to.include(page);
    }
    expect(readme).to.not.match(/<org>|TODO|TBD|example\.invalid/);
    expect(readme).to.include("```mermaid");
  });

  it("every relative link of the README and docs/ resolves", () => {
    const files = ["README.md", ...fs.readdirSync(path.join(ROOT, "docs")).map((f) => `docs/${f}`)];
    const broken: string[] = [];
    for (const file of files.filter((f) => f.endsWith(".md"))) {
      for (const [, target] of read(file).matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)) {
        if (/^https?:/.test(target)) continue;
        if (!fs.existsSync(path.join(ROOT, path.dirname(file), target))) broken.push(`${file} → ${target}`);
      }
    }
    expect(broken).to.deep.equal([]);
  });
});
