/**
 * Local stand-ins for the delivery endpoints no npm server covers, bound to 127.0.0.1:
 * - `startSnsSink()`: the SNS query-protocol actions the SMS and push providers call (Publish to a
 *   phone number or an endpoint, CreatePlatformEndpoint), answering with the XML the AWS SDK parses.
 * - `startSlackSink()`: an incoming-webhook receiver: Slack's (`/services/…`), and any channel's of your
 *   own at `/hooks/<channel>/…` (a Teams, Discord or Mattermost webhook: any JSON body).
 * Both record what they receive and can be told to fail the next requests, so tests and the local
 * mode see retries, permanent failures and disabled devices without an AWS account.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { randomUUID } from "node:crypto";

/** "retryable" = the provider should try again (5xx / throttling); "permanent" = it should give up. */
export type InjectedFailure = "retryable" | "permanent";

export interface SnsSinkMessage {
  action: "Publish";
  messageId: string;
  phoneNumber?: string;
  targetArn?: string;
  message: string;
  messageStructure?: string;
  /** MessageAttributes by name → StringValue. */
  attributes: Record<string, string>;
  /** When the sink received it (ISO-8601). */
  at: string;
}

export interface SnsSinkEndpoint {
  endpointArn: string;
  platformApplicationArn: string;
  token: string;
  enabled: boolean;
}

export interface SnsSink {
  /** Give this to SNSClient as `endpoint` (or AWS_ENDPOINT_URL_SNS). */
  endpoint: string;
  /** Every successful Publish, in order. */
  received: SnsSinkMessage[];
  /** Platform endpoints created, by ARN. */
  endpoints: Map<string, SnsSinkEndpoint>;
  /** Fails the next `count` requests (any action). */
  failNext(count: number, kind: InjectedFailure): void;
  /** The holder of this number replied STOP: a Publish to it answers OptedOut from now on. */
  optOut(phoneNumber: string): void;
  /** Publishing to this token's endpoint answers EndpointDisabled from now on. */
  disableToken(token: string): void;
  stop(): Promise<void>;
}

const SNS_XMLNS = "http://sns.amazonaws.com/doc/2010-03-31/";
const E164 = /^\+[1-9]\d{1,14}$/;

export async function startSnsSink(options: { port?: number } = {}): Promise<SnsSink> {
  const received: SnsSinkMessage[] = [];
  const endpoints = new Map<string, SnsSinkEndpoint>();
  const failures: InjectedFailure[] = [];
  const disabledTokens = new Set<string>();
  const optedOut = new Set<string>();

  const server = createServer(async (req, res) => {
    const params = new URLSearchParams(await readBody(req));
    const action = params.get("Action") ?? "";
    const requestId = randomUUID();
    const reply = (status: number, xml: string) => {
      res.writeHead(status, { "content-type": "text/xml" }).end(xml);
    };
    const error = (status: number, type: "Sender" | "Receiver", code: string, message: string) =>
      reply(
        status,
        `<ErrorResponse xmlns="${SNS_XMLNS}"><Error><Type>${type}</Type><Code>${code}</Code><Message>${escapeXml(message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
      );
    const ok = (result: string) =>
      reply(
        200,
        `<${action}Response xmlns="${SNS_XMLNS}"><${action}Result>${result}</${action}Result><ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata></${action}Response>`,
      );

    const injected = failures.shift();
    if (injected === "retryable") return error(500, "Receiver", "InternalError", "injected failure: try again");
    if (injected === "permanent") return error(400, "Sender", "InvalidParameter", "injected failure: invalid parameter");

    if (action === "CreatePlatformEndpoint") {
      const applicationArn = params.get("PlatformApplicationArn") ?? "";
      const token = params.get("Token") ?? "";
      if (!applicationArn.includes(":app/") || !token) {
        return error(400, "Sender", "InvalidParameter", "Invalid parameter: PlatformApplicationArn and Token are required");
      }
      // Idempotent like SNS: the same application and token give the same endpoint.
      const existing = [...endpoints.values()].find((e) => e.platformApplicationArn === applicationArn && e.token === token);
      const endpointArn = existing?.endpointArn ?? `${applicationArn.replace(":app/", ":endpoint/")}/${randomUUID()}`;
      if (!existing) endpoints.set(endpointArn, { endpointArn, platformApplicationArn: applicationArn, token, enabled: true });
      return ok(`<EndpointArn>${escapeXml(endpointArn)}</EndpointArn>`);
    }

    if (action === "Publish") {
      const phoneNumber = params.get("PhoneNumber") ?? undefined;
      const targetArn = params.get("TargetArn") ?? undefined;
      const message = params.get("Message");
      if (message === null) return error(400, "Sender", "InvalidParameter", "Invalid parameter: Message");
      if (phoneNumber !== undefined && !E164.test(phoneNumber)) {
        return error(400, "Sender", "InvalidParameter", "Invalid parameter: PhoneNumber Reason: input incorrectly formatted");
      }
      if (phoneNumber !== undefined && optedOut.has(phoneNumber)) {
        return error(400, "Sender", "OptedOut", "Phone number is opted out");
      }
      if (targetArn !== undefined) {
        const endpoint = endpoints.get(targetArn);
        if (!endpoint) return error(404, "Sender", "NotFound", "Endpoint does not exist");
        if (!endpoint.enabled || disabledTokens.has(endpoint.token)) {
          endpoint.enabled = false;
          return error(400, "Sender", "EndpointDisabled", "Endpoint is disabled");
        }
      }
      if (phoneNumber === undefined && targetArn === undefined) {
        return error(400, "Sender", "InvalidParameter", "Invalid parameter: PhoneNumber or TargetArn is required");
      }
      const messageId = randomUUID();
      received.push({
        action: "Publish",
        messageId,
        phoneNumber,
        targetArn,
        message,
        messageStructure: params.get("MessageStructure") ?? undefined,
        attributes: messageAttributes(params),
        at: new Date().toISOString(),
      });
      return ok(`<MessageId>${messageId}</MessageId>`);
    }

    return error(400, "Sender", "InvalidAction", `The action ${action || "(none)"} is not valid for this local SNS sink`);
  });

  await listen(server, options.port ?? 0);
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    endpoints,
    failNext(count, kind) {
      for (let i = 0; i < count; i++) failures.push(kind);
    },
    disableToken(token) {
      disabledTokens.add(token);
    },
    optOut(phoneNumber) {
      optedOut.add(phoneNumber);
    },
    stop: () => close(server),
  };
}

/** `MessageAttributes.entry.N.Name` / `.Value.StringValue` → { name: value }. */
function messageAttributes(params: URLSearchParams): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (let i = 1; params.has(`MessageAttributes.entry.${i}.Name`); i++) {
    attributes[params.get(`MessageAttributes.entry.${i}.Name`)!] = params.get(`MessageAttributes.entry.${i}.Value.StringValue`) ?? "";
  }
  return attributes;
}

/** A Block Kit block as the sink received it: only the fields tests read are named. */
export interface SlackBlock {
  type: string;
  elements?: Record<string, unknown>[];
  [field: string]: unknown;
}

export interface SlackSinkPost {
  path: string;
  /** The incoming-webhook payload: `text`, or `blocks`, or both. */
  body: { text?: string; blocks?: SlackBlock[]; [field: string]: unknown };
  /** When the sink received it (ISO-8601). */
  at: string;
}

/** A post to a channel's own webhook (`/hooks/<channel>/…`), whatever its JSON. */
export interface WebhookSinkPost {
  channel: string;
  path: string;
  body: unknown;
  at: string;
}

export interface SlackSink {
  /** Base URL, e.g. http://127.0.0.1:PORT */
  url: string;
  /** A webhook URL on this sink that accepts posts: `/services/T…/B…/<secret>`. */
  webhookUrl(secret?: string): string;
  received: SlackSinkPost[];
  /** A webhook URL on this sink for a channel of your own: `/hooks/<channel>/<user>`. */
  hookUrl(channel: string, user: string): string;
  /** What the channels of your own posted to their `/hooks/<channel>/…` URLs. */
  hooks: WebhookSinkPost[];
  /** Fails the next `count` posts: retryable = 500 (or 429 with `status: 429`), permanent = 404 no_service. */
  failNext(count: number, kind: InjectedFailure | 429 | 500 | 503 | 400 | 404 | 410): void;
  stop(): Promise<void>;
}

export async function startSlackSink(options: { port?: number; rejectUnknownPaths?: boolean } = {}): Promise<SlackSink> {
  const received: SlackSinkPost[] = [];
  const hooks: WebhookSinkPost[] = [];
  const failures: number[] = [];
  const knownPaths = new Set<string>();
  const bodies: Record<number, string> = {
    400: "invalid_payload",
    404: "no_service",
    410: "channel_is_archived",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
  };

  const server = createServer(async (req, res) => {
    const path = req.url ?? "/";
    const raw = await readBody(req);
    const answer = (status: number) => {
      const headers: Record<string, string> = { "content-type": "text/plain" };
      if (status === 429) headers["retry-after"] = "1";
      res.writeHead(status, headers).end(status === 200 ? "ok" : (bodies[status] ?? "error"));
    };
    const hook = /^\/hooks\/([a-z][a-z0-9-]*)\/./.exec(path);
    if (req.method !== "POST" || !(path.startsWith("/services/") || hook)) return answer(404);
    if (options.rejectUnknownPaths && !hook && !knownPaths.has(path)) return answer(404);
    const injected = failures.shift();
    if (injected) return answer(injected);
    let body: SlackSinkPost["body"] | null;
    try {
      body = JSON.parse(raw);
    } catch {
      return answer(400);
    }
    if (hook) {
      hooks.push({ channel: hook[1], path, body, at: new Date().toISOString() });
      return answer(200);
    }
    if (typeof body?.text !== "string" && !Array.isArray(body?.blocks)) return answer(400);
    received.push({ path, body, at: new Date().toISOString() });
    answer(200);
  });

  await listen(server, options.port ?? 0);
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    webhookUrl(secret = randomUUID().replace(/-/g, "").slice(0, 24)) {
      const path = `/services/T0LOCAL/B0LOCAL/${secret}`;
      knownPaths.add(path);
      return `${url}${path}`;
    },
    received,
    hookUrl: (channel, user) => `${url}/hooks/${channel}/${encodeURIComponent(user)}`,
    hooks,
    failNext(count, kind) {
      const status = kind === "retryable" ? 500 : kind === "permanent" ? 404 : kind;
      for (let i = 0; i < count; i++) failures.push(status);
    },
    stop: () => close(server),
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
