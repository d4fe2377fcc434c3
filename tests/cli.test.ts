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
});
