/**
 * Many real `ws` clients and a counter of the frames they receive, so every fan-out run can prove that
 * each client got the frame exactly once before its number is believed.
 */
import { WebSocket } from "ws";
import { mapBounded, now } from "./lib";

/** Counts, per run id, how often each client received that run's frame. */
export class FrameCounter {
  private readonly runs = new Map<
    string,
    { perClient: Uint16Array; total: number; expected: number; lastAt: number; resolve?: (at: number) => void }
  >();
  /** Frames that named no run in progress (or were not JSON): each one is a bug in the delivery. */
  strays = 0;

  constructor(private readonly clientCount: number) {}

  /** Starts counting `runId`; the promise resolves with the time the last client received it. */
  expect(runId: string): Promise<number> {
    return new Promise((resolve) => {
      this.runs.set(runId, { perClient: new Uint16Array(this.clientCount), total: 0, expected: this.clientCount, lastAt: 0, resolve });
    });
  }

  onFrame(clientIndex: number, data: unknown) {
    let id: unknown;
    try {
      id = JSON.parse(String(data)).id;
    } catch {
      this.strays++;
      return;
    }
    const run = typeof id === "string" ? this.runs.get(id) : undefined;
    if (!run) {
      this.strays++;
      return;
    }
    run.perClient[clientIndex]++;
    run.total++;
    if (run.total === run.expected) {
      run.lastAt = now();
      run.resolve?.(run.lastAt);
    }
  }

  /** How many clients got the frame never, and more than once. */
  check(runId: string): { received: number; missing: number; duplicated: number } {
    const run = this.runs.get(runId);
    if (!run) throw new Error(`No run "${runId}" was started`);
    let missing = 0;
    let duplicated = 0;
    for (const count of run.perClient) {
      if (count === 0) missing++;
      else if (count > 1) duplicated++;
    }
    return { received: run.total, missing, duplicated };
  }
}

export interface ClientPool {
  sockets: WebSocket[];
  counter: FrameCounter;
  /** Milliseconds it took to open them all. */
  openMs: number;
  close(): Promise<void>;
}

/** Opens `count` clients to `url`, `parallel` handshakes at a time; every client feeds one counter. */
export async function openClients(url: string, count: number, parallel = 100): Promise<ClientPool> {
  const counter = new FrameCounter(count);
  const sockets: WebSocket[] = [];
  const started = now();
  try {
    await mapBounded(
      Array.from({ length: count }, (_, i) => i),
      parallel,
      (index) =>
        new Promise<void>((resolve, reject) => {
          const socket = new WebSocket(url, { perMessageDeflate: false });
          sockets.push(socket);
          socket.on("message", (data) => counter.onFrame(index, data));
          socket.once("open", () => resolve());
          socket.once("unexpected-response", (_req, res) =>
            reject(new Error(`client ${index}: the handshake was answered ${res.statusCode}`)),
          );
          socket.once("error", reject);
        }),
    );
  } catch (error) {
    for (const s of sockets) s.terminate();
    throw error;
  }
  const openMs = now() - started;
  return {
    sockets,
    counter,
    openMs,
    async close() {
      await Promise.all(
        sockets.map(
          (socket) =>
            new Promise<void>((resolve) => {
              if (socket.readyState === WebSocket.CLOSED) return resolve();
              socket.once("close", () => resolve());
              socket.terminate();
            }),
        ),
      );
    },
  };
}
