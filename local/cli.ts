#!/usr/bin/env node
/**
 * The `tidings` command of the package: `npx tidings dev` runs your own composition locally
 * (local/dev.ts). The local servers it needs are not dependencies of the deployed stack: they are the
 * package's optional peer dependencies, and a missing one is named with the command that installs it.
 */
import { parseArgs } from "node:util";

const HELP = [
  "usage: tidings dev [--stack <name>] [--program <file>] [--lambda <function>=<module|url>]... [--help]",
  "",
  "Runs your Pulumi program's Tidings composition on this machine, every server on 127.0.0.1: the",
  "channels it adds in code with their real worker code, inline providers in-process, its templates, the",
  "inbox, the SES inbox, the ops page and a sink page per channel. Run it in the Pulumi project's folder.",
  "",
  "  --stack <name>     the stack whose config (Pulumi.<name>.yaml) the program reads (default dev)",
  "  --program <file>   the module that composes the stack (default Pulumi.yaml's main, else index.ts)",
  "  --lambda f=target  what the function f of a lambda provider (its ARN, name or Pulumi resource name)",
  "                     runs: a module (./sender.ts exports handler; ./sender.ts#send another export), or",
  "                     a URL the invocation is POSTed to as JSON. Repeatable.",
  "",
  "environment: TIDINGS_API_PORT (4000), TIDINGS_WS_PORT (4001), TIDINGS_SES_PORT (4002)",
].join("\n");

/** The local servers of the local mode: optional peer dependencies of the package. */
const LOCAL_SERVERS = ["dynalite", "fauxqs", "aws-ses-v2-local", "ws", "yaml"];

async function main(args: string[]): Promise<number> {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${HELP}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(HELP);
    return 0;
  }
  if (positionals[0] !== "dev" || positionals.length > 1) {
    console.error(`${positionals.length ? `unknown command: ${positionals.join(" ")}` : "no command given"}\n\n${HELP}`);
    return 2;
  }
  const lambdas: Record<string, string> = {};
  for (const pair of values.lambda ?? []) {
    const at = pair.indexOf("=");
    if (at < 1 || at === pair.length - 1) {
      console.error(`--lambda ${pair}: write it as <function>=<module or url>\n\n${HELP}`);
      return 2;
    }
    lambdas[pair.slice(0, at)] = pair.slice(at + 1);
  }
  const missing = LOCAL_SERVERS.filter((name) => !resolvable(name));
  if (missing.length) {
    console.error(
      `tidings dev runs on local servers the deployed stack does not need; install them first:\n  npm install --save-dev ${missing.join(" ")}`,
    );
    return 1;
  }
  // Loaded once the servers are known to be there: the local mode requires them.
  const { startDev } = require("./dev") as typeof import("./dev");
  const { makeConsoleLogger, startupBanner, stopOnSignals } = require("./console") as typeof import("./console");
  const startedAt = Date.now();
  const { tidings, unserved } = await startDev({ stack: values.stack, program: values.program, lambdas, logger: makeConsoleLogger() });
  const [type] = Object.keys(tidings.config.notificationTypes);
  console.log(
    startupBanner(tidings, Date.now() - startedAt, {
      demoUsers: "alice (every address), bob (e-mail)",
      example: { userId: "alice", type },
    }),
  );
  for (const arn of unserved) console.log(`  note: nothing runs ${arn} locally; deliveries through it fail until you pass --lambda`);
  stopOnSignals(tidings);
  return -1;
}

function parse(args: string[]) {
  return parseArgs({
    args,
    strict: true,
    allowPositionals: true,
    options: {
      help: { type: "boolean", short: "h" },
      stack: { type: "string" },
      program: { type: "string" },
      lambda: { type: "string", multiple: true },
    },
  });
}

function resolvable(name: string): boolean {
  try {
    require.resolve(name);
    return true;
  } catch (error) {
    // fauxqs is ESM-only: it resolves through `import`, not `require` (ERR_PACKAGE_PATH_NOT_EXPORTED).
    return (error as NodeJS.ErrnoException).code === "ERR_PACKAGE_PATH_NOT_EXPORTED";
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exit(code);
  },
  (error) => {
    console.error(`tidings dev could not start: ${error instanceof Error ? error.message : error}`);
    process.exit(1);
  },
);
