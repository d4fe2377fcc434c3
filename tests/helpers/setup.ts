/**
 * Mocha root hooks: the handlers' one-JSON-line-per-decision logs are kept per test and printed only
 * when that test fails, so a passing run reads as a list of behaviours. TIDINGS_TEST_LOGS=1 prints all.
 */
import { format } from "node:util";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";

const print = console.log.bind(console);
let captured: string[] = [];

if (!process.env.TIDINGS_TEST_LOGS) {
  console.log = (...args: unknown[]) => void captured.push(format(...args));
}

export const mochaHooks = {
  beforeEach() {
    captured = [];
  },
  afterEach(this: Mocha.Context) {
    if (this.currentTest?.state === "failed" && captured.length) {
      print(`    --- log lines of "${this.currentTest.title}" ---`);
      for (const line of captured.slice(-200)) print(`    ${line}`);
    }
    captured = [];
  },
};
