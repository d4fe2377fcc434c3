import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { keyAttributes, type TableLayout } from "../runtime/tables";
import { childOf, type ResourceRef, type TidingsComponentOptions, type Transform } from "./common";

export interface EncryptedTableArgs {
  /** KMS key encrypting the table (customer managed). */
  kmsKeyArn: pulumi.Input<string>;
  /** @default true */
  pointInTimeRecovery?: boolean;
  /** Protect against `pulumi destroy` of a table with user data. @default false */
  deletionProtection?: boolean;
}

/** The resources of a table component a transform can change. */
export interface EncryptedTableTransform {
  table?: Transform<aws.dynamodb.TableArgs>;
}

/**
 * Base of every Tidings table: on-demand, encrypted with the stack's CMK, point-in-time recovery on,
 * TTL where the layout has one. Concrete tables (ConnectionsTable, ContactsTable, …) fix the layout.
 */
export abstract class EncryptedTable extends pulumi.ComponentResource implements ResourceRef {
  readonly table: aws.dynamodb.Table;
  readonly name: pulumi.Output<string>;
  readonly arn: pulumi.Output<string>;
  readonly layout: TableLayout;

  protected constructor(
    type: string,
    name: string,
    layout: TableLayout,
    args: EncryptedTableArgs,
    opts?: TidingsComponentOptions<EncryptedTableTransform>,
  ) {
    super(type, name, {}, opts);
    this.layout = layout;

    this.table = new aws.dynamodb.Table(
      ...childOf(this)(opts?.transform?.table, name, {
        billingMode: "PAY_PER_REQUEST",
        hashKey: layout.hashKey,
        rangeKey: layout.rangeKey,
        attributes: keyAttributes(layout).map((attr) => ({ name: attr, type: "S" })),
        globalSecondaryIndexes: Object.entries(layout.indexes ?? {}).map(([indexName, index]) => ({
          name: indexName,
          keySchemas: [
            { attributeName: index.hashKey, keyType: "HASH" },
            { attributeName: index.rangeKey, keyType: "RANGE" },
          ],
          projectionType: "ALL",
        })),
        ttl: layout.ttlAttribute ? { attributeName: layout.ttlAttribute, enabled: true } : undefined,
        serverSideEncryption: { enabled: true, kmsKeyArn: args.kmsKeyArn },
        pointInTimeRecovery: { enabled: args.pointInTimeRecovery ?? true },
        deletionProtectionEnabled: args.deletionProtection ?? false,
      } as aws.dynamodb.TableArgs),
    );
    this.name = this.table.name;
    this.arn = this.table.arn;
    this.registerOutputs({ name: this.name, arn: this.arn });
  }

  /** ARNs an IAM statement needs to reach the table and its indexes. */
  get arns(): pulumi.Output<string>[] {
    return [this.arn, pulumi.interpolate`${this.arn}/index/*`];
  }
}
