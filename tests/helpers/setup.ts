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
  // EMF metric lines (runtime/metrics.ts) go to stdout directly, as in Lambda: kept like the decisions.
  const write = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (typeof chunk === "string" && chunk.startsWith('{"_aws":')) {
      captured.push(chunk.trimEnd());
      return true;
    }
    return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stdout.write;
}

let currentTest = "(no test yet)";
// A rejection nobody handles ends a parallel worker without a word: say which test ran last, and what
// it was, before the worker ends as it would have.
process.on("unhandledRejection", (reason) => {
  print(`unhandled rejection (last test: ${currentTest}):`, reason);
  throw reason;
});

export const mochaHooks = {
  beforeEach(this: Mocha.Context) {
    captured = [];
    currentTest = this.currentTest?.fullTitle() ?? currentTest;
  },
  afterEach(this: Mocha.Context) {
    if (this.currentTest?.state === "failed" && captured.length) {
      print(`    --- log lines of "${this.currentTest.title}" ---`);
      for (const line of captured.slice(-200)) print(`    ${line}`);
    }
    captured = [];
  },
};
