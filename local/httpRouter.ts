/**
 * The local adapter of the description's HTTP routes: matches a request to a route as API Gateway
 * does (the most specific route key wins; nothing matches: 404 `{"message":"Not Found"}`), checks the
 * route's auth as the stack's gateway would, and hands the function the same API Gateway HTTP API
 * (payload 2.0) event a Lambda receives, with `pathParameters` and the authorizer's context.
 */
import type * as http from "node:http";
import type { TokenVerifier } from "../runtime/authorizer";
import type { HttpAnswer, HttpRequestEvent } from "../runtime/http";
import type { HttpRoute, RouteAuth } from "../runtime/system";
import { readBoundedBody } from "./httpBody";
import { producerScopeProblem } from "./localGuards";

/** A function serving routes: the Lambda handler the description's factory built. */
export type HttpHandler = (event: HttpRequestEvent & Record<string, unknown>) => Promise<HttpAnswer>;

export interface LocalRoute extends HttpRoute {
  handler: HttpHandler;
  /** Largest body the function reads (API Gateway takes up to 10 MB; the function answers 413 above its own limit). */
  maxBodyBytes: number;
}

/** What a producer route's gateway check decided: the authorizer's context, or the answer to send. */
export type ProducerCheck = { ok: true; claims: Record<string, unknown>; scopes: string[] } | { ok: false; status: number; body: unknown };

export interface RouterOptions {
  routes: LocalRoute[];
  /**
   * The producer routes' gateway check (the stack's IAM or JWT authorizer; locally a Bearer token
   * standing in for either): the scope the route needs is `auth.scope`, resolved to its name.
   */
  checkProducer: (req: http.IncomingMessage, auth: Extract<RouteAuth, { kind: "producer" }>) => Promise<ProducerCheck>;
}

interface Compiled {
  route: LocalRoute;
  method: string;
  pattern: RegExp;
  params: string[];
  /** Higher is more specific: literal segments before parameters before a greedy `{proxy+}`. */
  rank: number[];
}

function compile(route: LocalRoute): Compiled {
  const [method, path] = route.route.split(" ") as [string, string];
  const params: string[] = [];
  const rank: number[] = [method === "ANY" ? 0 : 1];
  const source = path
    .split("/")
    .filter(Boolean)
    .map((segment) => {
      const greedy = /^\{(\w+)\+\}$/.exec(segment);
      if (greedy) {
        params.push(greedy[1]);
        rank.unshift(0);
        return "(.+)";
      }
      const param = /^\{(\w+)\}$/.exec(segment);
      if (param) {
        params.push(param[1]);
        rank.unshift(1);
        return "([^/]+)";
      }
      rank.unshift(2);
      return segment.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
    });
  return { route, method, pattern: new RegExp(`^/${source.join("/")}/?$`), params, rank };
}

function moreSpecific(a: Compiled, b: Compiled): number {
  for (let i = 0; i < Math.max(a.rank.length, b.rank.length); i++) {
    const diff = (b.rank[i] ?? -1) - (a.rank[i] ?? -1);
    if (diff) return diff;
  }
  return 0;
}

/** `(req, res, url) → handled?`: answers a request that matches one of the routes. */
export function makeHttpRouter(options: RouterOptions) {
  const compiled = options.routes.map(compile).sort(moreSpecific);

  return async (req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<boolean> => {
    const method = (req.method ?? "GET").toUpperCase();
    let found: { route: Compiled; values: string[] } | undefined;
    for (const candidate of compiled) {
      if (candidate.method !== "ANY" && candidate.method !== method) continue;
      const match = candidate.pattern.exec(url.pathname);
      if (match) {
        found = { route: candidate, values: match.slice(1) };
        break;
      }
    }
    if (!found) return false;
    const { route } = found.route;
    let authorizer: Record<string, unknown> | undefined;
    if (route.auth.kind === "producer") {
      const check = await options.checkProducer(req, route.auth);
      if (!check.ok) {
        res.writeHead(check.status, { "content-type": "application/json" });
        res.end(JSON.stringify(check.body));
        return true;
      }
      authorizer = { jwt: { claims: check.claims, scopes: check.scopes } };
    }
    const sourceIp = req.socket.remoteAddress;
    const { body, overflow } = await readBoundedBody(req, route.maxBodyBytes);
    const pathParameters = Object.fromEntries(found.route.params.map((name, i) => [name, safeDecode(found.values[i])]));
    const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(",") : v]));
    const event = {
      version: "2.0",
      routeKey: route.route,
      rawPath: url.pathname,
      rawQueryString: url.search.replace(/^\?/, ""),
      headers,
      body,
      isBase64Encoded: false,
      pathParameters,
      requestContext: {
        http: { method, path: url.pathname, sourceIp },
        routeKey: route.route,
        ...(authorizer ? { authorizer } : {}),
      },
    };
    const answer = await route.handler(event);
    // The rest of an oversized body was not read: close the connection rather than read it as the next request.
    res.writeHead(answer.statusCode, { ...(answer.headers ?? {}), ...(overflow ? { connection: "close" } : {}) });
    if (answer.body === undefined) res.end();
    else res.end(answer.isBase64Encoded ? Buffer.from(answer.body, "base64") : answer.body);
    return true;
  };
}

/** A path parameter as API Gateway passes it: decoded, or as given when it does not decode. */
function safeDecode(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/** The local stand-in for the producer API's gateway auth: a Bearer token with the route's scope. */
export function bearerProducerCheck(verify: TokenVerifier, scopeName: (auth: Extract<RouteAuth, { kind: "producer" }>) => string) {
  return async (req: http.IncomingMessage, auth: Extract<RouteAuth, { kind: "producer" }>): Promise<ProducerCheck> => {
    const token = /^Bearer (.+)$/i.exec(req.headers.authorization ?? "")?.[1];
    const check = await verify(token);
    if (!check.ok)
      return { ok: false, status: 401, body: { error: "unauthorized", message: `A valid Bearer token is required (${check.reason})` } };
    const missingScope = producerScopeProblem(check.scopes, scopeName(auth));
    if (missingScope) return { ok: false, status: 403, body: missingScope };
    return { ok: true, claims: { sub: check.userId, scope: check.scopes.join(" ") }, scopes: check.scopes };
  };
}
