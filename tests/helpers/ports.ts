/** Ports for a process started on fixed ports (`npm start`, `tidings dev`), which cannot be told to take any free one. */
import * as net from "node:net";

/**
 * A port nothing listens on now, below Linux's ephemeral range (32768–60999): npm start binds it seconds
 * later, and in that window a port from the ephemeral range can be handed to any other process's
 * connect() or listen(0) on this busy machine.
 */
export async function freePort(taken: number[] = []): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 12000);
    if (!taken.includes(port) && (await canListen(port))) return port;
  }
  throw new Error("no free port in 20000–31999 after 100 tries");
}

/** Whether a listen on 127.0.0.1:port succeeds now. */
export async function canListen(port: number): Promise<boolean> {
  const server = net.createServer();
  const ok = await new Promise<boolean>((resolve) => {
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => resolve(true));
  });
  if (ok) await new Promise((resolve) => server.close(resolve));
  return ok;
}
