/**
 * Every command a user runs answers `--help` with what it does and exits 0; an unknown option is an
 * error (exit 2) naming it.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { expect } from "chai";

const ROOT = path.join(__dirname, "..");
const run = (script: string, args: string[]) =>
  spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", path.join(ROOT, script), ...args], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" },
  });

describe("the commands' --help", function () {
  this.timeout(60_000);
  for (const [command, script, says] of [
    ["npm start", "local/main.ts", /TIDINGS_API_PORT/],
    ["npm run redrive", "local/redrive-cli.ts", /--rule-dlq/],
    ["npm run bench", "bench/run.ts", /--write/],
    ["npx tidings", "local/cli.ts", /tidings dev/],
  ] as const) {
    it(`${command} -- --help: prints its usage and exits 0`, () => {
      const result = run(script, ["--help"]);
      expect(result.status, result.stderr).to.equal(0);
      expect(result.stdout)
        .to.match(/usage:/)
        .and.to.match(says);
    });
    it(`${command} -- --nonsense: exits 2 naming the option`, () => {
      const result = run(script, ["--nonsense"]);
      expect(result.status).to.equal(2);
      expect(`${result.stdout}${result.stderr}`).to.match(/nonsense/);
    });
  }

  it("npx tidings: a command other than dev, or none, exits 2 with the usage", () => {
    for (const args of [["deploy"], []]) {
      const result = run("local/cli.ts", args);
      expect(result.status, args.join(" ")).to.equal(2);
      expect(result.stderr)
        .to.match(args.length ? /unknown command: deploy/ : /no command given/)
        .and.to.match(/usage: tidings dev/);
    }
  });

  it("npx tidings dev --lambda without a target: exits 2 saying how to write it", () => {
    const result = run("local/cli.ts", ["dev", "--lambda", "pager"]);
    expect(result.status).to.equal(2);
    expect(result.stderr).to.match(/--lambda pager: write it as <function>=<module or url>/);
  });

  it("npx tidings dev outside a Pulumi project: exits 1 naming the missing project file", () => {
    const result = spawnSync(process.execPath, ["-r", "ts-node/register/transpile-only", path.join(ROOT, "local/cli.ts"), "dev"], {
      cwd: path.join(ROOT, "docs"),
      encoding: "utf8",
    });
    expect(result.status).to.equal(1);
    expect(result.stderr).to.match(/the Pulumi project file \(.*docs\/Pulumi\.yaml\) is missing/);
  });
});
