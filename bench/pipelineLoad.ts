/**
 * The producers of the pipeline benchmark, in their own process (forked by pipeline.ts): the system
 * under test keeps its process to itself, as a service's callers never share its CPU. Sends
 * `POST /notifications` in `concurrency` loops for `durationMs`, then reports each request's eventId,
 * start time (epoch ms, comparable across processes) and answer. Talks to its parent over IPC only.
 */
import { randomBytes } from "node:crypto";
import * as http from "node:http";
import { epochNow } from "./fanoutProtocol";

export interface LoadCommand {
  url: string;
  token: string;
  users: string[];
  durationMs: number;
  concurrency: number;
}

/** One request: eventId, when it started (epoch ms), and the status code or the error. */
export type LoadRequest = [eventId: string, startedAt: number, status: number | string];

export interface LoadReport {
  requests: LoadRequest[];
  startedAt: number;
  endedAt: number;
  /** CPU time (user + system, µs) this process spent producing. */
  cpuMicros: number;
}

async function produce(command: LoadCommand): Promise<LoadReport> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: command.concurrency });
  const requests: LoadRequest[] = [];
  const cpuAtStart = process.cpuUsage();
  let sequence = 0;
  const startedAt = epochNow();
  const deadline = startedAt + command.durationMs;
  await Promise.all(
    Array.from({ length: command.concurrency }, async () => {
      while (epochNow() < deadline) {
        const n = sequence++;
        const eventId = `bench-${n}-${randomBytes(4).toString("hex")}`;
        const body = JSON.stringify({
          eventId,
          userId: command.users[n % command.users.length],
          type: "order.shipped",
          data: { orderId: eventId, carrier: "DHL", trackingUrl: "https://track.example.com/p/1" },
          callback: "https://shop.example.com/orders/1",
        });
        const sentAt = epochNow();
        const status = await post(agent, command.url, command.token, body).catch((error) => `error: ${error.code ?? error.message}`);
        requests.push([eventId, sentAt, status]);
      }
    }),
  );
  const endedAt = epochNow();
  agent.destroy();
  const cpu = process.cpuUsage(cpuAtStart);
  return { requests, startedAt, endedAt, cpuMicros: cpu.user + cpu.system };
}

function post(agent: http.Agent, url: string, token: string, body: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: "POST",
        agent,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error("no answer in 30 s")));
    req.on("error", reject);
    req.end(body);
  });
}

if (process.send) {
  process.on("message", (command: LoadCommand) => {
    produce(command).then(
      (report) => process.send!({ ok: true, report }),
      (error) => process.send!({ ok: false, error: String(error) }),
    );
  });
  process.on("disconnect", () => process.exit(0));
}
