import * as pulumi from "@pulumi/pulumi";

/**
 * A user mistake in how a component is composed. One type, with a sentence that says what to do.
 */
export class TidingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TidingsError";
  }
}

/**
 * Lets a user change any underlying resource's args without forking the component: either a partial
 * object merged over the defaults, or a function that edits the args in place.
 */
export type Transform<T> = Partial<T> | ((args: T, opts: pulumi.CustomResourceOptions) => void);

export function applyTransform<T extends object>(
  transform: Transform<T> | undefined,
  args: T,
  opts: pulumi.CustomResourceOptions = {},
): [T, pulumi.CustomResourceOptions] {
  if (typeof transform === "function") {
    transform(args, opts);
    return [args, opts];
  }
  return [{ ...args, ...(transform ?? {}) }, opts];
}

/**
 * `new Resource(...childOf(this)(transform, name, args))`: applies the user's transform and makes the
 * resource a child of the component.
 */
export function childOf(parent: pulumi.Resource) {
  return <T extends object>(transform: Transform<T> | undefined, name: string, args: T) => {
    const [finalArgs, finalOpts] = applyTransform(transform, args, {});
    return [name, finalArgs, { ...finalOpts, parent }] as const;
  };
}

/** An IAM statement Tidings grants: always Allow, always scoped to named resources. */
export interface ScopedStatement {
  /** Allow unless said otherwise; a Deny narrows what an Allow on `*` permits (SMS publish). */
  Effect?: "Allow" | "Deny";
  Action: string[];
  Resource: pulumi.Input<pulumi.Input<string>[]>;
  Condition?: pulumi.Input<Record<string, unknown>>;
}

/** Renders scoped statements as a policy document (JSON string output). */
export function policyDocument(statements: ScopedStatement[]): pulumi.Output<string> {
  return pulumi.output(statements.map((s) => pulumi.output(s))).apply((resolved) =>
    JSON.stringify({
      Version: "2012-10-17",
      Statement: resolved.map((s) => ({ Effect: "Allow", ...s })),
    }),
  );
}
