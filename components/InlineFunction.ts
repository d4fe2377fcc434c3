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
// biome-ignore lint/suspicious/noExplicitAny: a transform written without the handler's event and result types applies to any function
export interface InlineFunctionTransform<E = any, R = any> {
  function?: Transform<aws.lambda.CallbackFunctionArgs<E, R>>;
  role?: Transform<aws.iam.RoleArgs>;
  logGroup?: Transform<aws.cloudwatch.LogGroupArgs>;
}

/**
 * Every inline Lambda Tidings creates. The tests serialize each one's factory and execute the
 * produced module; keeping them here means a new function cannot escape that test.
 */
export const inlineFunctions: InlineFunction<never, unknown>[] = [];

/** Never in an archive: Lambda's Node.js runtime ships the AWS SDK v3 (with its @smithy parts); Pulumi runs at deploy time only. */
const PROVIDED_OR_DEPLOY_ONLY = /^@(aws-sdk|smithy|pulumi)\//;

/** Names in the `dependencies` of a package.json, or none when there is no such file. */
function dependenciesOf(file: string): string[] {
  if (!fs.existsSync(file)) return [];
  return Object.keys({ ...JSON.parse(fs.readFileSync(file, "utf8")).dependencies });
}

/** Tidings' own package.json: up from this file, in the repository (`components/`) and built (`dist/components/`) alike. */
function ownPackage(): { name: string; file: string } {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const file = path.join(dir, "package.json");
    if (fs.existsSync(file)) return { name: JSON.parse(fs.readFileSync(file, "utf8")).name, file };
  }
  throw new Error(`InlineFunction: no package.json above ${__dirname}`);
}

/**
 * What goes into one function's archive besides the serialized handler (Pulumi's `codePathOptions`).
 *
 * Pulumi serializes the handler and the Tidings code it reaches by value when that code is the program's
 * own (this repository), and as `require("tidings/runtime/…")` when Tidings is installed in the program's
 * `node_modules`: then the archive carries the `tidings` package itself. Either way it carries the
 * run-time `packages` the handler needs (found in the program's tree, through Tidings' own dependencies
 * when installed) and leaves out every other dependency of the program and of Tidings, the AWS SDK and Pulumi.
 *
 * @param packages npm packages the handler requires at run time besides the AWS SDK; undefined = every dependency.
 * @param programDir the Pulumi program's folder, whose package.json Pulumi starts from. @default process.cwd()
 */
export function codePathOptions(packages?: string[], programDir = process.cwd()): pulumi.runtime.CodePathOptions {
  const own = ownPackage();
  const installed = __dirname.split(path.sep).includes("node_modules");
  const candidates = new Set([...dependenciesOf(path.join(programDir, "package.json")), ...dependenciesOf(own.file)]);
  const wanted = new Set(packages ?? [...candidates].filter((name) => !PROVIDED_OR_DEPLOY_ONLY.test(name)));
  if (installed) wanted.add(own.name);
  return {
    extraIncludePackages: [...wanted],
    extraExcludePackages: [...candidates].filter((name) => !wanted.has(name)),
  };
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
  /** What Pulumi puts in the archive besides the serialized handler (see `codePathOptions()`). */
  readonly codePathOptions: pulumi.runtime.CodePathOptions;

  constructor(name: string, args: InlineFunctionArgs<E, R>, opts?: TidingsComponentOptions<InlineFunctionTransform<E, R>>) {
    super("tidings:index:InlineFunction", name, {}, opts);
    const transform = opts?.transform;
    const withTransform = childOf(this);
    this.factory = args.factory;
    this.packages = args.packages;
    this.codePathOptions = codePathOptions(args.packages);

    this.logGroup = new aws.cloudwatch.LogGroup(
      ...withTransform(transform?.logGroup, `${name}-logs`, {
        retentionInDays: args.logRetentionDays ?? 14,
        kmsKeyId: args.kmsKeyArn,
      }),
    );
    const region = aws.getRegionOutput({}, { parent: this }).region;
    this.statements = [
      { Action: ["logs:CreateLogStream", "logs:PutLogEvents"], Resource: [pulumi.interpolate`${this.logGroup.arn}:*`] },
      ...args.statements.map((statement) => (isKeyUse(statement) ? { ...statement, Condition: viaServices(region) } : statement)),
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
        // A copy: CallbackFunction adds to the lists it is given.
        codePathOptions: { ...this.codePathOptions, extraExcludePackages: [...(this.codePathOptions.extraExcludePackages ?? [])] },
      }),
    );
    inlineFunctions.push(this);
    this.registerOutputs({ arn: this.function.arn, roleArn: this.role.arn });
  }
}

/** A statement granting only KMS actions: the function uses the key through a service, never directly. */
function isKeyUse(statement: ScopedStatement): boolean {
  return statement.Action.length > 0 && statement.Action.every((action) => action.startsWith("kms:")) && !statement.Condition;
}

/**
 * The services through which a Tidings function may use the key (`kms:ViaService`): the encrypted
 * tables, queues, secret, bucket, bus and its own environment. A stolen role session cannot call
 * kms:Decrypt on ciphertext it exfiltrated.
 */
export function viaServices(region: pulumi.Input<string>) {
  return pulumi.output(region).apply((r) => ({
    StringEquals: {
      "kms:ViaService": ["dynamodb", "sqs", "secretsmanager", "s3", "events", "sns", "lambda"].map(
        (service) => `${service}.${r}.amazonaws.com`,
      ),
    },
  }));
}
