/**
 * Defence in depth for the producer routes: each function checks again what the gateway checked (the
 * route's scope, from the authorizer context), so a route deployed without its authorizer, or with the
 * wrong scopes, refuses instead of serving anyone.
 */
import type { HttpResult } from "../contracts";
import { type ProducerEvent, producerRefusal, type ProducerScopeNames } from "../producers";
import type { FunctionSpec, RouteKey, Trigger } from "./spec";

type RoutedEvent = ProducerEvent & { routeKey?: string; requestContext?: { routeKey?: string } };

/**
 * `spec` with its handler checking each producer route's scope first: by the event's route key, or the
 * function's one HTTP route when the event names none. A route the function does not serve is 404.
 */
export function guardProducerRoutes<E extends RoutedEvent, R>(spec: FunctionSpec<E, R>, scopes: ProducerScopeNames): FunctionSpec<E, R> {
  const routes = spec.triggers.filter((t): t is Extract<Trigger, { kind: "http" }> => t.kind === "http");
  const create = spec.create;
  return {
    ...spec,
    create: (env, hooks) => {
      const handler = create(env, hooks);
      return async (event: E) => {
        const key = (event?.routeKey ?? event?.requestContext?.routeKey) as RouteKey | undefined;
        const route = key === undefined && routes.length === 1 ? routes[0] : routes.find((r) => r.route === key);
        if (!route) return notServed(key) as R;
        if (route.auth.kind === "producer") {
          const refusal = producerRefusal(event, scopes[route.auth.scope]);
          if (refusal) return refusal as R;
        }
        return handler(event);
      };
    },
  };
}

function notServed(key: string | undefined): HttpResult {
  return {
    statusCode: 404,
    headers: { "content-type": "application/json; charset=utf-8" },
    body: JSON.stringify({ error: "not found", message: `this function serves no route ${JSON.stringify(key ?? "")}` }),
  };
}
