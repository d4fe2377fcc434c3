import * as fs from "node:fs";
import * as path from "node:path";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { childOf, policyDocument, type ScopedStatement, type TidingsComponentOptions, type Transform } from "./common";

export interface InlineFunctionArgs<E, R> {
  /**
   * Runs once per cold start inside Lambda: builds SDK clients, reads captured Outputs with `.get()`,
   * and returns the handler from a `runtime/` factory. Serialized by value by Pulumi.
   */
  factory: () => (event: E) => Promise<R>;
  /** What the function may do, each statement scoped to named ARNs. Logging is added here. */
  statements: ScopedStatement[];
  /**
   * Packages of the program's dependencies the handler requires at run time (the AWS SDK aside, which
   * Lambda provides); the others stay out of this function's archive. Omit to ship every dependency.
   * @example packages: ["jose"]
   */
  packages?: string[];
  /** @default 10 */
  timeoutSeconds?: number;
  /** @default 256 */
  memorySize?: number;
  description?: string;
  /** @default 14 */
  logRetentionDays?: pulumi.Input<number>;
  /** KMS key for the log group and environment variables. */
  kmsKeyArn?: pulumi.Input<string>;
  environment?: pulumi.Input<Record<string, pulumi.Input<string>>>;
}

/** The resources of an InlineFunction a transform can change. */
export interface InlineFunctionTransform<E = any, R = any> {
  function?: Transform<aws.lambda.CallbackFunctionArgs<E, R>>;
  role?: Transform<aws.iam.RoleArgs>;
  logGroup?: Transform<aws.cloudwatch.LogGroupArgs>;
}

/**
 * Every inline Lambda Tidings creates. The tests serialize each one's factory and execute the
 * produced module; keeping them here means a new function cannot escape that test.
 */
export const inlineFunctions: InlineFunction<any, any>[] = [];

/**
 * Packages left out of an archive: the ones the Lambda runtime ships (AWS SDK v3) or that only run at
 * deploy time (Pulumi), and, when `packages` is given, every other dependency not named there. Read
 * from the program's package.json, so a consumer stack's own dependencies count.
 */
export function excludedPackages(packages?: string[], programDir = process.cwd()): string[] {
  const file = path.join(programDir, "package.json");
  if (!fs.existsSync(file)) return [];
  const dependencies = Object.keys({ ...JSON.parse(fs.readFileSync(file, "utf8")).dependencies });
  const providedOrDeployOnly = (name: string) => /^@(aws-sdk|pulumi|smithy)\//.test(name);
  return dependencies.filter((name) => providedOrDeployOnly(name) || (packages !== undefined && !packages.includes(name)));
}

/**
 * A Lambda from an inline callback, with its own role whose only policy is the statements given (plus
 * writing to its own log group), and a log group with a retention period.
 *
 * @example
 * new InlineFunction("connect", {
 *   factory: () => makeConnectHandler({ ddb: DynamoDBDocumentClient.from(new DynamoDBClient({})), table: table.name.get() }),
 *   statements: [{ Action: ["dynamodb:PutItem"], Resource: [table.arn] }],
 * }, { parent: this });
 */
export class InlineFunction<E, R> extends pulumi.ComponentResource {
  readonly function: aws.lambda.CallbackFunction<E, R>;
  readonly role: aws.iam.Role;
  readonly logGroup: aws.cloudwatch.LogGroup;
  readonly factory: () => (event: E) => Promise<R>;
  readonly statements: ScopedStatement[];
  /** The run-time packages its archive carries (undefined: every dependency). */
  readonly packages?: string[];

  constructor(name: string, args: InlineFunctionArgs<E, R>, opts?: TidingsComponentOptions<InlineFunctionTransform<E, R>>) {
    super("tidings:index:InlineFunction", name, {}, opts);
    const transform = opts?.transform;
    const withTransform = childOf(this);
    this.factory = args.factory;
    this.packages = args.packages;

    this.logGroup = new aws.cloudwatch.LogGroup(
      ...withTransform(transform?.logGroup, `${name}-logs`, {
        retentionInDays: args.logRetentionDays ?? 14,
        kmsKeyId: args.kmsKeyArn,
      }),
    );
    this.statements = [
      { Action: ["logs:CreateLogStream", "logs:PutLogEvents"], Resource: [pulumi.interpolate`${this.logGroup.arn}:*`] },
      ...args.statements,
    ];
    this.role = new aws.iam.Role(
      ...withTransform(transform?.role, `${name}-role`, {
        assumeRolePolicy: aws.iam.assumeRolePolicyForPrincipal({ Service: "lambda.amazonaws.com" }),
        inlinePolicies: [{ name: "scoped", policy: policyDocument(this.statements) }],
      }),
    );
    this.function = new aws.lambda.CallbackFunction<E, R>(
      ...withTransform(transform?.function, name, {
        callbackFactory: args.factory,
        role: this.role,
        runtime: aws.lambda.Runtime.NodeJS22dX,
        architectures: ["arm64"],
        timeout: args.timeoutSeconds ?? 10,
        memorySize: args.memorySize ?? 256,
        description: args.description,
        kmsKeyArn: args.kmsKeyArn,
        environment: args.environment ? { variables: args.environment } : undefined,
        loggingConfig: { logFormat: "JSON", logGroup: this.logGroup.name },
        codePathOptions: { extraExcludePackages: excludedPackages(args.packages) },
      }),
    );
    inlineFunctions.push(this);
    this.registerOutputs({ arn: this.function.arn, roleArn: this.role.arn });
  }
}
