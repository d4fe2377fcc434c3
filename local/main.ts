/**
 * `npm start`: Tidings on this machine. Prints the endpoints, seeds the demo users, logs each
 * notification's path, and stops every server on Ctrl-C or SIGTERM.
 */
import { makeConsoleLogger } from "./console";
import { startLocalTidings } from "./tidings";

async function main() {
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
      `  Slack sink     ${e.slackSink}   SNS sink ${e.snsSink}`,
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
