/**
 * Reading a request body on the local servers without buffering a huge one: at most one byte past the
 * limit, so a handler can answer 413 by size. `overflow` says the rest was left unread: answer with
 * `connection: close`, or the unread bytes would be parsed as the next request on a kept-alive socket.
 */
import type { IncomingMessage } from "node:http";

export interface BoundedBody {
  /** The body (at most `limitBytes + 1` bytes of it); undefined when empty. */
  body?: string;
  /** The body was longer than `limitBytes`. */
  overflow: boolean;
}

export async function readBoundedBody(req: IncomingMessage, limitBytes: number): Promise<BoundedBody> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    chunks.push(buffer.subarray(0, Math.max(0, limitBytes + 1 - size)));
    size += buffer.length;
    if (size > limitBytes) {
      req.resume();
      break;
    }
  }
  return { body: chunks.length ? Buffer.concat(chunks).toString("utf8") : undefined, overflow: size > limitBytes };
}
