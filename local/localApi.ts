/**
 * The local API port (4000): the producer API and the end-user API of the description (local/httpRouter.ts),
 * plus what only the local mode has: `POST /dev/token`, `GET /dev/config`, `/dev/faults`, the ops page and the inbox
 * page. Answers only to a loopback Host (DNS rebinding) and loopback pages (Origin), and no page may frame it
 * (local/localGuards.ts).
 */
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { isE164 } from "../runtime/validate";
import { readBoundedBody } from "./httpBody";
import { guardLocalServer, parseDevTokenRequest } from "./localGuards";
import type { FaultRegistry } from "./faults";
import type { DevTokenOptions } from "./tokens";

export type DevTokenClaims = Pick<DevTokenOptions, "scope" | "rooms" | "issuedAt" | "expiresIn">;

export interface LocalApiOptions {
  port: number;
  /** The description's routes: true when one answered. */
  routes: (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => Promise<boolean>;
  signToken: (userId: string, claims?: DevTokenClaims) => Promise<string>;
  websocketUrl: string;
  /** The /ops routes (local/opsPage.ts): true when it answered. */
  ops: (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => Promise<boolean>;
  /** `/dev/faults`: providers failing on purpose (local/faults.ts). */
  faults: Pick<FaultRegistry, "handle">;
  /** `POST /dev/sms/stop` `{ phone }`: the holder of a number replies STOP (the SNS sink opts it out). */
  smsStop: (phone: string) => void;
  /** `POST /dev/ses/bounce`: SES's bounce or complaint played (local/sesFeedback.ts), when the stack handles them. */
  sesFeedback?: (body: string) => Promise<{ status: number; body: unknown }>;
  /** `/sinks/<name>`: what the SMS, Slack and push sinks received (local/sinkPages.ts); true when it answered. */
  sinkPages: (req: http.IncomingMessage, res: http.ServerResponse, url: URL) => boolean;
}

const INBOX_DIR = path.join(__dirname, "inbox");
const STATIC_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
};
/** The dev routes' bodies are small. */
const MAX_DEV_BODY_BYTES = 16 * 1024;

export async function startLocalApi(options: LocalApiOptions) {
  const server = http.createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      if (url.pathname.startsWith("/ops") && (await options.ops(req, res, url))) return;
      if (url.pathname.startsWith("/sinks/") && options.sinkPages(req, res, url)) return;
      if (req.method === "POST" && url.pathname === "/dev/token") {
        const request = parseDevTokenRequest((await readBoundedBody(req, MAX_DEV_BODY_BYTES)).body);
        if (!request.ok) return json(res, 400, request.error);
        return json(res, 200, { token: await options.signToken(request.userId, { scope: request.scope, rooms: request.rooms }) });
      }
      if (req.method === "GET" && url.pathname === "/dev/config") return json(res, 200, { websocketUrl: options.websocketUrl });
      if (url.pathname === "/dev/faults") {
        const answer = options.faults.handle(req.method ?? "GET", (await readBoundedBody(req, MAX_DEV_BODY_BYTES)).body);
        return json(res, answer.status, answer.body);
      }
      if (req.method === "POST" && url.pathname === "/dev/sms/stop") {
        let phone: unknown;
        try {
          phone = JSON.parse((await readBoundedBody(req, MAX_DEV_BODY_BYTES)).body || "{}")?.phone;
        } catch {
          phone = undefined;
        }
        if (typeof phone !== "string" || !isE164(phone)) {
          return json(res, 400, { error: "invalid request", problems: [{ field: "phone", problem: "must be an E.164 number" }] });
        }
        options.smsStop(phone);
        return json(res, 200, { phone, optedOut: true });
      }
      if (req.method === "POST" && url.pathname === "/dev/ses/bounce") {
        if (!options.sesFeedback) {
          return json(res, 404, {
            error: "not found",
            problems: [
              { field: "path", problem: "the email channel does not handle SES bounces here (tidings:emailFeedback, provider ses)" },
            ],
          });
        }
        const answer = await options.sesFeedback((await readBoundedBody(req, MAX_DEV_BODY_BYTES)).body ?? "");
        return json(res, answer.status, answer.body);
      }
      if (await options.routes(req, res, url)) return;
      if (req.method === "GET") return serveStatic(url.pathname, res);
      // What API Gateway answers for a request no route matches.
      return json(res, 404, { message: "Not Found" });
    } catch (error) {
      if (!res.headersSent) json(res, 500, { error: "internal", message: String(error) });
      else res.end();
    }
  });
  guardLocalServer(server);
  // Outlive clients' idle keep-alive (undici: 4 s), so a loaded server never closes a socket a client is
  // reusing at that moment (the soak saw ECONNRESET with Node's 5 s default). API Gateway waits longer still.
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, "127.0.0.1", () => resolve());
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export function json(res: http.ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

function serveStatic(pathname: string, res: http.ServerResponse) {
  const relative = pathname === "/" ? "index.html" : pathname.replace(/^\/+/, "");
  const file = path.resolve(INBOX_DIR, relative);
  if (!file.startsWith(INBOX_DIR + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
    return json(res, 404, { error: "not_found", message: `${pathname} is not here` });
  }
  res.writeHead(200, { "content-type": STATIC_TYPES[path.extname(file)] ?? "application/octet-stream" });
  res.end(fs.readFileSync(file));
}
