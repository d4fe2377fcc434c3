/**
 * The stack's adapter of the system's description (runtime/system/): a FunctionSpec becomes an
 * InlineFunction whose role's policy is the spec's uses, each naming the ARN of the resource bound to
 * it, and whose code runs the spec's factory with the identifiers of the same resources. What a function
 * may touch and what it is told about are one list.
 */
import * as pulumi from "@pulumi/pulumi";
import type { Env, FunctionSpec, ResourceName, Use, ValueName } from "../runtime/system/spec";
import { type ScopedStatement, type TidingsComponentOptions, TidingsError } from "./common";
import { InlineFunction, type InlineFunctionTransform } from "./InlineFunction";

/** A resource a function uses: the identifier its code is given, and the ARN its policy names. */
export interface Bound {
  /** A table's or bus's name, a queue's URL, a secret's ARN, the WebSocket management endpoint… */
  id: pulumi.Input<string>;
  /** The ARN `Use.part` is appended to (`<arn>/index/byUser`, `<arn>/templates/*`). */
  arn: pulumi.Input<string>;
}

/** The resources (and values) a component binds to its functions' descriptions. */
export interface Bindings {
  resources: Partial<Record<ResourceName, Bound>>;
  values?: Partial<Record<ValueName, pulumi.Input<string>>>;
}

/**
 * The IAM statements of a description's uses, each on the ARN of the resource bound to its name. Uses
 * with the same actions and condition share one statement.
 */
export function statementsOf(spec: Pick<FunctionSpec, "name" | "uses">, bindings: Bindings): ScopedStatement[] {
  const statements = new Map<string, ScopedStatement & { Resource: pulumi.Input<string>[] }>();
  for (const use of spec.uses) {
    const key = JSON.stringify([[...use.actions].sort(), use.condition]);
    const arn = arnOf(spec.name, use, bindings);
    const seen = statements.get(key);
    if (seen) seen.Resource.push(arn);
    else statements.set(key, { Action: [...use.actions], Resource: [arn], ...(use.condition ? { Condition: use.condition } : {}) });
  }
  return [...statements.values()];
}

function arnOf(name: string, use: Use, bindings: Bindings): pulumi.Input<string> {
  const bound = bindings.resources[use.resource];
  if (!bound) throw new TidingsError(`Function "${name}" uses ${use.resource}, which its component was not given.`);
  return use.part ? pulumi.interpolate`${bound.arn}/${use.part}` : bound.arn;
}

/** The environment a description's factory is given: the identifier of each resource it uses, and its values. */
export function envOf(spec: Pick<FunctionSpec, "name" | "uses" | "values">, bindings: Bindings): pulumi.Output<Env> {
  const env: Record<string, pulumi.Input<string>> = {};
  for (const use of spec.uses) {
    const bound = bindings.resources[use.resource];
    if (!bound) throw new TidingsError(`Function "${spec.name}" uses ${use.resource}, which its component was not given.`);
    env[use.resource] = bound.id;
  }
  for (const value of spec.values ?? []) {
    const given = bindings.values?.[value];
    if (given === undefined) throw new TidingsError(`Function "${spec.name}" needs ${value}, which its component was not given.`);
    env[value] = given;
  }
  return pulumi.output(env) as pulumi.Output<Env>;
}

export interface DescribedFunctionArgs {
  kmsKeyArn: pulumi.Input<string>;
  logRetentionDays?: pulumi.Input<number>;
  /** Grants on resources outside the stack (a provider's SES identities, SNS, a Lambda function). */
  extraStatements?: ScopedStatement[];
}

/**
 * The Lambda of one described function. Its factory captures the spec's `create` and the environment
 * (an Output, read with `.get()` at cold start), nothing else: it is serialized by value.
 */
export function describedFunction<E, R>(
  name: string,
  spec: FunctionSpec<E, R>,
  bindings: Bindings,
  args: DescribedFunctionArgs,
  opts: TidingsComponentOptions<InlineFunctionTransform>,
): InlineFunction<E, R> {
  const create = spec.create;
  const env = envOf(spec, bindings);
  return new InlineFunction<E, R>(
    name,
    {
      description: spec.description,
      factory: () => create(env.get()),
      statements: [...statementsOf(spec, bindings), ...(args.extraStatements ?? [])],
      timeoutSeconds: spec.timeoutSeconds,
      memorySize: spec.memorySize,
      kmsKeyArn: args.kmsKeyArn,
      logRetentionDays: args.logRetentionDays,
      spec,
    },
    opts,
  );
}
