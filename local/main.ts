/**
 * `npm start`: Tidings on this machine. Prints the endpoints, seeds the demo users, logs each
 * notification's path, and stops every server on Ctrl-C or SIGTERM.
 */
import { parseArgs } from "node:util";
import { makeConsoleLogger, startupBanner, stopOnSignals } from "./console";
import { startLocalTidings } from "./tidings";

const HELP = [
  "usage: npm start [-- --help]",
  "",
  "Runs the whole of Tidings on this machine, every server on 127.0.0.1, described by Pulumi.dev.yaml",
  "as `pulumi up` would deploy it. Ctrl-C (or SIGTERM) stops everything.",
  "",
  "environment:",
  "  TIDINGS_API_PORT  the producer API, the end-user API and the local pages (default 4000)",
  "  TIDINGS_WS_PORT   the WebSocket API (default 4001)",
  "  TIDINGS_SES_PORT  the SES inbox (default 4002)",
].join("\n");

async function main() {
  let help = false;
  try {
    help =
      parseArgs({ args: process.argv.slice(2), strict: true, options: { help: { type: "boolean", short: "h" } } }).values.help ?? false;
  } catch (error) {
    console.error(`${(error as Error).message}\n${HELP}`);
    process.exit(2);
  }
  if (help) {
    console.log(HELP);
    return;
  }
  const startedAt = Date.now();
  const tidings = await startLocalTidings({ logger: makeConsoleLogger() });
  console.log(
    startupBanner(tidings, Date.now() - startedAt, {
      demoUsers: "alice (e-mail, phone, Slack), bob (e-mail)",
      example: {
        userId: "alice",
        type: "order.shipped",
        data: { orderId: "A-1001", carrier: "DHL", trackingUrl: "https://track.example.com/A-1001" },
        callback: "https://shop.example.com/orders/A-1001",
      },
    }),
  );
  stopOnSignals(tidings);
}

main().catch((error) => {
  console.error(`Tidings could not start: ${error instanceof Error ? error.message : error}`);
  process.exit(1);
});
