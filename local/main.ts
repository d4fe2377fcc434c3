/**
 * `npm start`: Tidings on this machine. Prints the endpoints, seeds the demo users, logs each
 * notification's path, and stops every server on Ctrl-C or SIGTERM.
 */
import { parseArgs } from "node:util";
import { makeConsoleLogger } from "./console";
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
  const e = tidings.endpoints;
  console.log(
    [
      "",
      `Tidings is running locally (${Date.now() - startedAt} ms). Channels: ${tidings.channels.map((c) => c.name).join(", ")}`,
      "",
      `  producer API   POST ${e.notifications}   (Authorization: Bearer <token>)`,
      `  dev token      POST ${e.devToken}   {"userId":"alice"} (end user) or {"userId":"svc-orders","scope":"${tidings.config.auth.scopes.send}"} (producer)`,
      `  inbox page     ${e.inbox}`,
      `  ops page       ${e.ops}   (queues, DLQs, metrics, deliveries, redrive)`,
      `  WebSocket      ${e.websocket}/?token=<token>`,
      `  SES inbox      ${e.sesInbox}`,
      `  sent by SMS    ${e.sinkPages.sms}`,
      `  sent to Slack  ${e.sinkPages.slack}`,
      `  sent by push   ${e.sinkPages.push}`,
      `  sink servers   Slack sink ${e.slackSink}   SNS sink ${e.snsSink}`,
      `  faults         POST ${e.api}/dev/faults {"channel":"email","mode":"retryable"}   (DELETE to clear)`,
      "",
      "  Demo users: alice (e-mail, phone, Slack), bob (e-mail). Try:",
      `  TOKEN=$(curl -s -X POST ${e.devToken} -d '{"userId":"svc-orders","scope":"${tidings.config.auth.scopes.send}"}' | sed 's/.*"token":"\\([^"]*\\)".*/\\1/')`,
      `  curl -s -X POST ${e.notifications} -H "authorization: Bearer $TOKEN" \\`,
      `    -d '{"userId":"alice","type":"order.shipped","data":{"orderId":"A-1001","carrier":"DHL","trackingUrl":"https://track.example.com/A-1001"},"callback":"https://shop.example.com/orders/A-1001"}'`,
      "",
      "  Ctrl-C stops everything.",
      "",
    ].join("\n"),
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`\n${signal}: stopping Tidings…`);
    await tidings.stop();
    console.log("stopped.");
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}

main().catch((error) => {
  console.error(`Tidings could not start: ${error instanceof Error ? error.message : error}`);
  process.exit(1);
});
