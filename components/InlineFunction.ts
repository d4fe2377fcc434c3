import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { BUNDLE_FILE, bundleFactory, type FunctionBundle } from "./bundle";
import { DEFAULTS } from "../runtime/defaults";
import type { FunctionSpec } from "../runtime/system/spec";
import { childOf, policyDocument, type ScopedStatement, type TidingsComponentOptions, type Transform } from "./common";

export interface InlineFunctionArgs<E, R> {
  /**
   * Runs once per cold start inside Lambda: builds SDK clients, reads captured Outputs with `.get()`,
   * and returns the handler from a `runtime/` factory. Serialized by value by Pulumi.
   */
  factory: () => (event: E) => Promise<R>;
  /** What the function may do, each statement scoped to named ARNs. Logging is added here. */
  statements: ScopedStatement[];
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
  /** The system description's entry this function was built from (runtime/system/), when it was. */
  spec?: FunctionSpec<E, R>;
}

/** The resources of an InlineFunction a transform can change. */
export interface InlineFunctionTransform {
  /**
   * The Lambda function's args (`aws.lambda.Function`'s, since Tidings bundles each function itself):
   * `code` is the bundled archive and `handler` is `index.handler`; change memory, timeout, layers, VPC
   * or tracing here.
   * @example function: { memorySize: 512, tracingConfig: { mode: "Active" } }
   */
  function?: Transform<aws.lambda.FunctionArgs>;
  role?: Transform<aws.iam.RoleArgs>;
  logGroup?: Transform<aws.cloudwatch.LogGroupArgs>;
}

/**
 * Every inline Lambda Tidings creates. The tests serialize each one's factory and execute the
 * produced module; keeping them here means a new function cannot escape that test.
 */
export const inlineFunctions: InlineFunction<never, unknown>[] = [];

/**
 * A Lambda from an inline callback, with its own role whose only policy is the statements given (plus
 * writing to its own log group), and a log group with a retention period.
 *
 * Its code is built at deploy time: Pulumi serializes the factory (as `aws.lambda.CallbackFunction`
 * would), and esbuild bundles that module with every package it requires into the archive's only file,
 * `index.js` (handler `index.handler`). The AWS SDK (`@aws-sdk/*`, `@smithy/*`) stays external: the
 * nodejs22.x runtime provides it. Nothing needs declaring: what the code requires is what ships.
 *
 * @example
 * new InlineFunction("connect", {
 *   factory: () => makeConnectHandler({ ddb: DynamoDBDocumentClient.from(new DynamoDBClient({})), connectionsTable: table.name.get(), ttlSeconds: 7200 }),
 *   statements: [{ Action: ["dynamodb:PutItem"], Resource: [table.arn] }],
 * }, { parent: this });
 */
export class InlineFunction<E, R> extends pulumi.ComponentResource {
  /** The component's name: the function's logical name, `<name>-role` its role's. */
  readonly name: string;
  readonly function: aws.lambda.Function;
  readonly role: aws.iam.Role;
  readonly logGroup: aws.cloudwatch.LogGroup;
  readonly factory: () => (event: E) => Promise<R>;
  readonly statements: ScopedStatement[];
  /** The description it was built from (its triggers and uses), when it was built from one. */
  readonly spec?: FunctionSpec<E, R>;
  /** The code as shipped: the bundle that is the archive's `index.js` (tidings/testing's `shippedCode` reads it). */
  readonly bundle: Promise<FunctionBundle>;

  constructor(name: string, args: InlineFunctionArgs<E, R>, opts?: TidingsComponentOptions<InlineFunctionTransform>) {
    super("tidings:index:InlineFunction", name, {}, opts);
    const transform = opts?.transform;
    const withTransform = childOf(this);
    this.name = name;
    this.factory = args.factory;
    this.spec = args.spec;
    this.bundle = bundleFactory(name, args.factory);

    this.logGroup = new aws.cloudwatch.LogGroup(
      ...withTransform(transform?.logGroup, `${name}-logs`, {
        retentionInDays: args.logRetentionDays ?? DEFAULTS.logRetentionDays,
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
    this.function = new aws.lambda.Function(
      ...withTransform(transform?.function, name, {
        code: this.archive(name),
        handler: this.bundle.then((bundle) => `${BUNDLE_FILE.replace(/\.js$/, "")}.${bundle.exportName}`),
        role: this.role.arn,
        runtime: aws.lambda.Runtime.NodeJS22dX,
        architectures: ["arm64"],
        timeout: args.timeoutSeconds ?? 10,
        memorySize: args.memorySize ?? 256,
        description: args.description,
        kmsKeyArn: args.kmsKeyArn,
        environment: args.environment ? { variables: args.environment } : undefined,
        loggingConfig: { logFormat: "JSON", logGroup: this.logGroup.name },
      }),
    );
    inlineFunctions.push(this);
    this.registerOutputs({ arn: this.function.arn, roleArn: this.role.arn });
  }

  /**
   * The archive: one file, the bundle. A secret Output the factory captured makes the archive a secret
   * in the state, and the user is told, as CallbackFunction does.
   */
  private archive(name: string): pulumi.Output<pulumi.asset.Archive> {
    const archive = pulumi.output(this.bundle).apply((bundle): pulumi.Input<pulumi.asset.Archive> => {
      const files = new pulumi.asset.AssetArchive({ [BUNDLE_FILE]: new pulumi.asset.StringAsset(bundle.text) });
      if (!bundle.containsSecrets) return files;
      pulumi.log.warn(
        `A secret value was captured into the code of the Lambda function '${name}': it is stored as a Pulumi secret, but readable in the deployment package. Read secrets at run time (Secrets Manager) instead.`,
        this,
      );
      return pulumi.secret(files);
    });
    return archive as pulumi.Output<pulumi.asset.Archive>;
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
