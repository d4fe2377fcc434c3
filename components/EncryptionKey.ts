import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { childOf, type TidingsComponentOptions, type Transform } from "./common";

export interface EncryptionKeyArgs {
  /** @default "Tidings data at rest" */
  description?: string;
  /** @default 30 */
  deletionWindowInDays?: number;
  /**
   * The principal that administers the key (policy, rotation, deletion) but cannot use it.
   * @default the account root, which delegates to IAM
   * @example adminArn: "arn:aws:iam::123456789012:role/platform-admins"
   */
  adminArn?: pulumi.Input<string>;
}

/** The resources of an EncryptionKey a transform can change. */
export interface EncryptionKeyTransform {
  key?: Transform<aws.kms.KeyArgs>;
}

/**
 * The customer managed KMS key that encrypts every table, queue, topic and log group of a Tidings stack.
 * Its key policy splits administration (`adminArn`) from use (IAM policies of the account's roles),
 * and lets exactly the AWS services that write to encrypted Tidings resources on our behalf use it,
 * each for this account's resources only (`aws:SourceArn`): EventBridge (encrypted bus, rule →
 * encrypted queue), CloudWatch (alarm → encrypted topic), SNS and CloudWatch Logs.
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
          .all([account.accountId, region.region, args.adminArn])
          .apply(([accountId, regionName, adminArn]) => JSON.stringify(keyPolicy(accountId, regionName, adminArn))),
      }),
    );
    this.arn = this.key.arn;
    this.registerOutputs({ arn: this.arn });
  }
}

/** What administers a key and nothing more: a key admin cannot decrypt data with it. */
export const KEY_ADMIN_ACTIONS = [
  "kms:Create*",
  "kms:Describe*",
  "kms:Enable*",
  "kms:List*",
  "kms:Put*",
  "kms:Update*",
  "kms:Revoke*",
  "kms:Disable*",
  "kms:Get*",
  "kms:Delete*",
  "kms:TagResource",
  "kms:UntagResource",
  "kms:ScheduleKeyDeletion",
  "kms:CancelKeyDeletion",
  "kms:RotateKeyOnDemand",
];

/**
 * In a key policy, `Resource: "*"` means "this key" (AWS requires that form), so these statements are
 * the allow-listed exception to "no `*` resource" in the graph tests.
 *
 * - Administration (the `adminArn` principal, default the account root) is split from use: the admin
 *   statement holds no Decrypt/Encrypt/GenerateDataKey.
 * - Use goes to principals of the account through their IAM policies (each Tidings function's role
 *   grants itself Decrypt/GenerateDataKey with `kms:ViaService`, see InlineFunction).
 * - Each AWS service principal may use the key only for this account's resources of the kind it
 *   serves (`aws:SourceArn`), so another account's rule or alarm cannot borrow it (confused deputy).
 */
export function keyPolicy(accountId: string, region: string, adminArn = `arn:aws:iam::${accountId}:root`) {
  const use = ["kms:Decrypt", "kms:GenerateDataKey*", "kms:Encrypt", "kms:ReEncrypt*", "kms:DescribeKey"];
  const from = (...sourceArns: string[]) => ({
    StringEquals: { "aws:SourceAccount": accountId },
    ArnLike: { "aws:SourceArn": sourceArns.length === 1 ? sourceArns[0] : sourceArns },
  });
  const arn = (service: string, resource: string) => `arn:aws:${service}:${region}:${accountId}:${resource}`;
  return {
    Version: "2012-10-17",
    Statement: [
      { Sid: "KeyAdministration", Effect: "Allow", Principal: { AWS: adminArn }, Action: KEY_ADMIN_ACTIONS, Resource: "*" },
      {
        Sid: "KeyUseThroughIamPolicies",
        Effect: "Allow",
        Principal: { AWS: `arn:aws:iam::${accountId}:root` },
        Action: use,
        Resource: "*",
      },
      {
        Sid: "GrantsForAwsResources",
        Effect: "Allow",
        Principal: { AWS: `arn:aws:iam::${accountId}:root` },
        Action: ["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
        Resource: "*",
        Condition: { Bool: { "kms:GrantIsForAWSResource": "true" } },
      },
      {
        // The encrypted bus and its rules' encrypted target queues; DescribeKey so `pulumi up` can attach the key.
        Sid: "EventBridgeBusAndRules",
        Effect: "Allow",
        Principal: { Service: "events.amazonaws.com" },
        Action: ["kms:Decrypt", "kms:GenerateDataKey*", "kms:DescribeKey"],
        Resource: "*",
        Condition: from(arn("events", "event-bus/*"), arn("events", "rule/*")),
      },
      {
        Sid: "AlarmsToEncryptedTopic",
        Effect: "Allow",
        Principal: { Service: "cloudwatch.amazonaws.com" },
        Action: ["kms:Decrypt", "kms:GenerateDataKey*"],
        Resource: "*",
        Condition: from(arn("cloudwatch", "alarm:*")),
      },
      {
        Sid: "SnsDelivery",
        Effect: "Allow",
        Principal: { Service: "sns.amazonaws.com" },
        Action: ["kms:Decrypt", "kms:GenerateDataKey*"],
        Resource: "*",
        Condition: from(arn("sns", "*")),
      },
      {
        Sid: "EncryptedLogGroups",
        Effect: "Allow",
        Principal: { Service: `logs.${region}.amazonaws.com` },
        Action: use,
        Resource: "*",
        Condition: {
          ArnLike: {
            "kms:EncryptionContext:aws:logs:arn": arn("logs", "log-group:*"),
            "aws:SourceArn": arn("logs", "log-group:*"),
          },
        },
      },
    ],
  };
}
