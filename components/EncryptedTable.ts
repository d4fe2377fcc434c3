import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { keyAttributes, projectionOf, type TableLayout } from "../runtime/tables";
import { childOf, nodesOf, type ResourceRef, setNodes, type TidingsComponentOptions, type Transform } from "./common";

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
 * What every Tidings table is: ConnectionsTable, ContactsTable, SettingsTable, NotificationLogTable,
 * PolitenessTable and FeedTable. Each of those classes extends ComponentResource directly (Pulumi's
 * analyzer only infers a schema for such classes) and builds its table with `encryptedTable`, the one
 * implementation of the behaviour: on-demand, encrypted with the stack's CMK, point-in-time recovery
 * on, TTL where the layout has one.
 */
export interface EncryptedTable extends pulumi.ComponentResource, ResourceRef {
  readonly name: pulumi.Output<string>;
  readonly arn: pulumi.Output<string>;
  /** The DynamoDB table. */
  readonly table: aws.dynamodb.Table;
  readonly layout: TableLayout;
  /** ARNs an IAM statement needs to reach the table and its indexes. */
  readonly arns: pulumi.Output<string>[];
}

interface TableNodes {
  table: aws.dynamodb.Table;
  layout: TableLayout;
}

/**
 * Builds the table of a table component (`this`) and returns its name and ARN, which the component
 * registers as its outputs. Its table and layout are read back with `tableOf(this)`.
 */
export function encryptedTable(
  component: pulumi.ComponentResource,
  name: string,
  layout: TableLayout,
  args: EncryptedTableArgs,
  opts?: TidingsComponentOptions<EncryptedTableTransform>,
): ResourceRef & { name: pulumi.Output<string>; arn: pulumi.Output<string> } {
  const table = new aws.dynamodb.Table(
    ...childOf(component)(opts?.transform?.table, name, {
      billingMode: "PAY_PER_REQUEST",
      hashKey: layout.hashKey,
      rangeKey: layout.rangeKey,
      attributes: keyAttributes(layout).map((attr) => ({ name: attr, type: "S" })),
      globalSecondaryIndexes: Object.entries(layout.indexes ?? {}).map(([indexName, index]) => {
        const projection = projectionOf(index);
        return {
          name: indexName,
          keySchemas: [
            { attributeName: index.hashKey, keyType: "HASH" },
            { attributeName: index.rangeKey, keyType: "RANGE" },
          ],
          projectionType: projection.ProjectionType,
          nonKeyAttributes: projection.NonKeyAttributes,
        };
      }),
      ttl: layout.ttlAttribute ? { attributeName: layout.ttlAttribute, enabled: true } : undefined,
      serverSideEncryption: { enabled: true, kmsKeyArn: args.kmsKeyArn },
      pointInTimeRecovery: { enabled: args.pointInTimeRecovery ?? true },
      deletionProtectionEnabled: args.deletionProtection ?? false,
    } as aws.dynamodb.TableArgs),
  );
  setNodes<TableNodes>(component, { table, layout });
  return { name: table.name, arn: table.arn };
}

/** A table component's DynamoDB table and layout (kept off its schema outputs). */
export function tableOf(component: pulumi.ComponentResource): TableNodes & { arns: pulumi.Output<string>[] } {
  const { table, layout } = nodesOf<TableNodes>(component);
  return { table, layout, arns: [table.arn, pulumi.interpolate`${table.arn}/index/*`] };
}
