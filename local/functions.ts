/**
 * How the local mode runs a function of the description: an instance built by its factory on its
 * first invocation (as a Lambda cold start), its invocations attributed to it (the IAM tests and the
 * bench read which function sent a call), and a queue trigger as a poller with an instance per
 * concurrent batch.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { Env, FunctionSpec, Hooks, SystemFunction } from "../runtime/system";
import { type SqsHandler, startSqsPoller } from "./sqsPoller";

/** Told of every finished invocation: the function's description and how long it took. */
export type OnInvocation = (fn: string, durationMs: number) => void;

/**
 * A function's handler as a Lambda instance holds it: built by its factory on the first invocation
 * (the environment is complete by then), then reused. Queues get an instance per concurrent batch.
 */
export function lazyInstances(hooks: Hooks, environments: Map<string, Env>, onInvocation: OnInvocation | undefined) {
  return <E, R>(spec: FunctionSpec<E, R>, env: Env) => {
    let handler: ((event: E) => Promise<R>) | undefined;
    return (event: E) =>
      invocations.run(spec.description, () => {
        if (!handler) {
          environments.set(spec.description, { ...env });
          handler = spec.create({ ...env }, hooks);
        }
        return timed(spec.description, () => handler!(event), onInvocation);
      });
  };
}

/** Runs one invocation, telling `onInvocation` how long it took. */
async function timed<R>(fn: string, run: () => Promise<R>, onInvocation: OnInvocation | undefined): Promise<R> {
  if (!onInvocation) return run();
  const started = performance.now();
  try {
    return await run();
  } finally {
    onInvocation(fn, performance.now() - started);
  }
}

/**
 * The function whose invocation is running (its description), for whatever it calls: the tests read
 * it to tell which function sent an AWS call (their IAM check), as CloudTrail tells which role did.
 */
export const invocations = new AsyncLocalStorage<string>();

/** A queue trigger: a poller with the trigger's batch size and concurrency, an instance of the function per concurrent batch. */
export function startQueueTrigger(
  spec: SystemFunction["spec"],
  env: Env,
  hooks: Hooks,
  environments: Map<string, Env>,
  onInvocation: OnInvocation | undefined,
  sqs: SQSClient,
  queueUrl: string,
  pollWaitSeconds: number | undefined,
  callbacks: Pick<Parameters<typeof startSqsPoller>[0], "onOutcome" | "onError">,
): () => Promise<void> {
  const trigger = spec.triggers.find((t) => t.kind === "queue");
  if (trigger?.kind !== "queue") throw new Error(`function ${spec.name} has no queue trigger`);
  const poller = startSqsPoller({
    sqs,
    queueUrl,
    createHandler: () => {
      environments.set(spec.description, env);
      const handler = spec.create(env, hooks) as unknown as SqsHandler;
      return (event) => invocations.run(spec.description, () => timed(spec.description, () => handler(event), onInvocation));
    },
    batchSize: trigger.batchSize,
    concurrency: trigger.maxConcurrency,
    waitTimeSeconds: pollWaitSeconds ?? 1,
    ...callbacks,
  });
  return () => poller.stop();
}
