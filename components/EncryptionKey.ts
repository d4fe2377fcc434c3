import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { iamPrincipalOf } from "../runtime/producers";
import { childOf, type TidingsComponentOptions, type Transform } from "./common";

export interface EncryptionKeyArgs {
  /** @default "Tidings data at rest" */
  description?: string;
  /** @default 30 */
  deletionWindowInDays?: number;
  /**
   * The IAM roles or users that administer the key (policy, rotation, deletion) and cannot read data
   * with it (`tidings:kms.adminArns`). Whoever runs `pulumi up` must be one of them: AWS refuses a key
   * policy its creator could not change again.
   * @default the principal running `pulumi up` (its role, for an assumed-role session)
   * @example adminArns: ["arn:aws:iam::123456789012:role/platform-admins"]
   */
  adminArns?: pulumi.Input<string[]>;
}

/** The resources of an EncryptionKey a transform can change. */
export interface EncryptionKeyTransform {
  key?: Transform<aws.kms.KeyArgs>;
}

/**
 * The customer managed KMS key that encrypts every table, queue, topic and log group of a Tidings stack.
 * Its key policy splits administration (`adminArns`) from use (IAM policies of the account's roles),
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
          .all([account.accountId, account.arn, region.region, args.adminArns])
          .apply(([accountId, callerArn, regionName, adminArns]) =>
            JSON.stringify(keyPolicy(accountId, regionName, adminArns?.length ? adminArns : [iamPrincipalOf(callerArn)])),
          ),
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
 * - Administration (`adminArns`, default whoever runs `pulumi up`) is split from use: administrators
 *   hold the admin actions, and use the key only through Lambda and Secrets Manager, for what they
 *   deploy there themselves (functions' environment, the signing secret they set in config). They
 *   cannot read the stack's data (tables, queues, topics, logs): key use for the account's principals
 *   excludes them by `aws:PrincipalArn`. No principal is both by default.
 * - Use goes to the account's other principals through their IAM policies (each Tidings function's role
 *   grants itself Decrypt/GenerateDataKey with `kms:ViaService`, see InlineFunction).
 * - Each AWS service principal may use the key only for this account's resources of the kind it
 *   serves (`aws:SourceArn`), so another account's rule or alarm cannot borrow it (confused deputy).
 */
export function keyPolicy(accountId: string, region: string, adminArns: string[]) {
  if (adminArns.length === 0) throw new Error("keyPolicy: at least one administrator ARN is needed");
  const use = ["kms:Decrypt", "kms:GenerateDataKey*", "kms:Encrypt", "kms:ReEncrypt*", "kms:DescribeKey"];
  // A role's requests carry its ARN with its path; a role named without one matches under any path.
  const adminPatterns = adminArns.flatMap((a) => {
    const role = /^(arn:aws[a-z-]*:iam::\d{12}:role\/)([^/]+)$/.exec(a);
    return role ? [a, `${role[1]}*/${role[2]}`] : [a];
  });
  const from = (...sourceArns: string[]) => ({
    StringEquals: { "aws:SourceAccount": accountId },
    ArnLike: { "aws:SourceArn": sourceArns.length === 1 ? sourceArns[0] : sourceArns },
  });
  const arn = (service: string, resource: string) => `arn:aws:${service}:${region}:${accountId}:${resource}`;
  return {
    Version: "2012-10-17",
    Statement: [
      { Sid: "KeyAdministration", Effect: "Allow", Principal: { AWS: adminArns }, Action: KEY_ADMIN_ACTIONS, Resource: "*" },
      {
        // What `pulumi up` itself encrypts: functions' environment variables, the signing secret's value.
        Sid: "AdministratorsDeployThroughLambdaAndSecretsManager",
        Effect: "Allow",
        Principal: { AWS: adminArns },
        Action: ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey*", "kms:CreateGrant"],
        Resource: "*",
        Condition: { StringEquals: { "kms:ViaService": [`lambda.${region}.amazonaws.com`, `secretsmanager.${region}.amazonaws.com`] } },
      },
      {
        Sid: "KeyUseThroughIamPoliciesExceptAdministrators",
        Effect: "Allow",
        Principal: { AWS: `arn:aws:iam::${accountId}:root` },
        Action: use,
        Resource: "*",
        Condition: { ArnNotLike: { "aws:PrincipalArn": adminPatterns } },
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
        // SES event publishing (bounces, complaints) to the encrypted email-feedback topic.
        Sid: "SesEventsToEncryptedTopic",
        Effect: "Allow",
        Principal: { Service: "ses.amazonaws.com" },
        Action: ["kms:Decrypt", "kms:GenerateDataKey*"],
        Resource: "*",
        Condition: from(arn("ses", "configuration-set/*")),
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
