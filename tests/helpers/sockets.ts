/**
 * WebSocket client helpers for tests against the local gateway (local/gateway.ts): open a socket (or
 * learn the HTTP status that refused it) and read frames one at a time.
 */
import WebSocket from "ws";

/** Opens a socket; resolves once open, or rejects with `{ status }` of a refused upgrade. */
export function openSocket(url: string, headers?: Record<string, string>): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { headers });
    ws.once("open", () => resolve(ws));
    ws.once("unexpected-response", (_req, res) => {
      res.resume();
      reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode }));
    });
    ws.once("error", reject);
  });
}

/** The HTTP status an upgrade ends with: 101 when it opened (the socket is then closed). */
export async function upgradeStatus(url: string, headers?: Record<string, string>): Promise<number> {
  try {
    const ws = await openSocket(url, headers);
    ws.terminate();
    return 101;
  } catch (error) {
    const status = (error as { status?: number }).status;
    if (status === undefined) throw error;
    return status;
  }
}

export interface FrameReader {
  /** The next text frame, waiting up to `timeoutMs`. */
  next(timeoutMs?: number): Promise<string>;
  /** The next frame parsed as JSON. */
  nextJson(timeoutMs?: number): Promise<any>;
  /** Frames received and not read yet. */
  readonly queued: number;
}

/** Collects a socket's text frames from now on, so a test can read them in order. */
export function frames(ws: WebSocket): FrameReader {
  const queue: string[] = [];
  const waiting: ((frame: string) => void)[] = [];
  ws.on("message", (data) => {
    const frame = data.toString();
    const waiter = waiting.shift();
    if (waiter) waiter(frame);
    else queue.push(frame);
  });
  const next = (timeoutMs = 2000): Promise<string> => {
    const queued = queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const waiter = (frame: string) => {
        clearTimeout(timer);
        resolve(frame);
      };
      const timer = setTimeout(() => {
        waiting.splice(waiting.indexOf(waiter), 1);
        reject(new Error(`no frame within ${timeoutMs} ms`));
      }, timeoutMs);
      waiting.push(waiter);
    });
  };
  return {
    next,
    nextJson: async (timeoutMs) => JSON.parse(await next(timeoutMs)),
    get queued() {
      return queue.length;
    },
  };
}

/** Polls `condition` until it holds. */
export async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 3000, what = "condition"): Promise<void> {
  const start = Date.now();
  while (!(await condition())) {
    if (Date.now() - start > timeoutMs) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * `count` connects at once to `url`: the sockets that opened (left open for the caller to close) and
 * how many were refused, by status.
 */
export async function connectAtOnce(url: string, count: number): Promise<{ open: WebSocket[]; refused: Record<number, number> }> {
  const outcomes = await Promise.all(
    Array.from({ length: count }, () =>
      openSocket(url).then(
        (ws) => ({ ws }),
        (error: { status?: number }) => {
          if (error.status === undefined) throw error;
          return { status: error.status };
        },
      ),
    ),
  );
  const refused: Record<number, number> = {};
  const open: WebSocket[] = [];
  for (const outcome of outcomes) {
    if ("ws" in outcome) open.push(outcome.ws);
    else refused[outcome.status] = (refused[outcome.status] ?? 0) + 1;
  }
  return { open, refused };
}
