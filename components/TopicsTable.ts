import * as pulumi from "@pulumi/pulumi";
import { TABLES } from "../runtime/tables";
import type { TidingsComponentOptions } from "./common";
import { type EncryptedTable, type EncryptedTableArgs, type EncryptedTableTransform, encryptedTable, tableOf } from "./EncryptedTable";

/**
 * DynamoDB table `topics` (layout in runtime/tables.ts), encrypted, with point-in-time recovery.
 * An EncryptedTable: see `encryptedTable`, which builds it.
 *
 * @example
 * const table = new TopicsTable("topics", { kmsKeyArn: key.arn });
 */
export class TopicsTable extends pulumi.ComponentResource implements EncryptedTable {
  /** The table's physical name. */
  readonly name: pulumi.Output<string>;
  readonly arn: pulumi.Output<string>;

  constructor(name: string, args: EncryptedTableArgs, opts?: TidingsComponentOptions<EncryptedTableTransform>) {
    super("tidings:index:TopicsTable", name, {}, opts);
    ({ name: this.name, arn: this.arn } = encryptedTable(this, name, TABLES.topics, args, opts));
    this.registerOutputs({ name: this.name, arn: this.arn });
  }

  get table() {
    return tableOf(this).table;
  }
  get layout() {
    return tableOf(this).layout;
  }
  get arns() {
    return tableOf(this).arns;
  }
}
