/**
 * Runs one part of `npm run bench` in this process, forked by bench/run.ts: a part starts with a fresh
 * heap and module cache, so what earlier parts loaded and left behind (the "before" tree, thousands of
 * sockets, garbage) does not slow it. Progress goes to the shared stdout; the result goes back over IPC.
 */
import type { PartResult } from "./lib";
import { PARTS } from "./parts";

/** What bench/run.ts sends: the part to run and what earlier parts measured. */
export interface PartRequest {
  part: string;
  quick: boolean;
  measured: Record<string, number>;
}

/** What this process answers, once. */
export type PartReply = { ok: true; result: PartResult } | { ok: false; message: string; stack?: string };

process.once("message", async (request: PartRequest) => {
  let reply: PartReply;
  try {
    const part = PARTS.find((p) => p.name === request.part);
    if (!part) throw new Error(`no part named "${request.part}"`);
    const result = await part.run(request.quick, (line) => console.log(`   ${line}`), request.measured);
    reply = { ok: true, result };
  } catch (error) {
    reply = error instanceof Error ? { ok: false, message: error.message, stack: error.stack } : { ok: false, message: String(error) };
  }
  // Parts may leave handles open (agents, timers); the reply is all the parent waits for.
  process.send?.(reply, () => process.exit(0));
});
