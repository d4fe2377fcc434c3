import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { childOf, type TidingsComponentOptions, type Transform } from "./common";

export interface EncryptionKeyArgs {
  /** @default "Tidings data at rest" */
  description?: string;
  /** @default 30 */
  deletionWindowInDays?: number;
}

/** The resources of an EncryptionKey a transform can change. */
export interface EncryptionKeyTransform {
  key?: Transform<aws.kms.KeyArgs>;
}

/**
 * The customer managed KMS key that encrypts every table, queue, topic and log group of a Tidings stack.
 * Its key policy lets the account administer it and lets exactly the AWS services that write to
 * encrypted Tidings resources on our behalf use it: EventBridge (rule → encrypted queue), CloudWatch
 * (alarm → encrypted topic), SNS and CloudWatch Logs.
 *
 * @example
 * const key = new EncryptionKey("tidings");
 * new ContactsTable("contacts", { kmsKeyArn: key.arn });
 */
export class EncryptionKey extends pulumi.ComponentResource {
  readonly key: aws.kms.Key;
  readonly arn: pulumi.Output<string>;

  constructor(name: string, args: EncryptionKeyArgs = {}, opts?: TidingsComponentOptions<EncryptionKeyTransform>) {
    super("tidings:index:EncryptionKey", name, {}, opts);
    const account = aws.getCallerIdentityOutput({}, { parent: this });
    const region = aws.getRegionOutput({}, { parent: this });
    this.key = new aws.kms.Key(
      ...childOf(this)(opts?.transform?.key, name, {
        description: args.description ?? "Tidings data at rest",
        enableKeyRotation: true,
        deletionWindowInDays: args.deletionWindowInDays ?? 30,
        policy: pulumi
          .all([account.accountId, region.region])
          .apply(([accountId, regionName]) => JSON.stringify(keyPolicy(accountId, regionName))),
      }),
    );
    this.arn = this.key.arn;
    this.registerOutputs({ arn: this.arn });
  }
}

/**
 * In a key policy, `Resource: "*"` means "this key" (AWS requires that form), so these statements are
 * the allow-listed exception to "no `*` resource" in the graph tests.
 */
export function keyPolicy(accountId: string, region: string) {
  const use = ["kms:Decrypt", "kms:GenerateDataKey*", "kms:Encrypt", "kms:ReEncrypt*", "kms:DescribeKey"];
  const sourceAccount = { StringEquals: { "aws:SourceAccount": accountId } };
  return {
    Version: "2012-10-17",
    Statement: [
      { Sid: "AccountAdministers", Effect: "Allow", Principal: { AWS: `arn:aws:iam::${accountId}:root` }, Action: "kms:*", Resource: "*" },
      {
        Sid: "EventBridgeToEncryptedQueues",
        Effect: "Allow",
        Principal: { Service: "events.amazonaws.com" },
        Action: ["kms:Decrypt", "kms:GenerateDataKey*"],
        Resource: "*",
        Condition: sourceAccount,
      },
      {
        Sid: "AlarmsToEncryptedTopic",
        Effect: "Allow",
        Principal: { Service: "cloudwatch.amazonaws.com" },
        Action: ["kms:Decrypt", "kms:GenerateDataKey*"],
        Resource: "*",
        Condition: sourceAccount,
      },
      {
        Sid: "SnsDelivery",
        Effect: "Allow",
        Principal: { Service: "sns.amazonaws.com" },
        Action: ["kms:Decrypt", "kms:GenerateDataKey*"],
        Resource: "*",
        Condition: sourceAccount,
      },
      {
        Sid: "EncryptedLogGroups",
        Effect: "Allow",
        Principal: { Service: `logs.${region}.amazonaws.com` },
        Action: use,
        Resource: "*",
        Condition: { ArnLike: { "kms:EncryptionContext:aws:logs:arn": `arn:aws:logs:${region}:${accountId}:log-group:*` } },
      },
    ],
  };
}
