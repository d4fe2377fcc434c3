import * as pulumi from "@pulumi/pulumi";
import { TABLES } from "../runtime/tables";
import { type TidingsComponentOptions, withOldType } from "./common";
import { type EncryptedTable, type EncryptedTableArgs, type EncryptedTableTransform, encryptedTable, tableOf } from "./EncryptedTable";

/**
 * DynamoDB table `feed` (layout in runtime/tables.ts): every websocket-channel notification stored for
 * its user until its TTL, with read and archive state. Encrypted, with point-in-time recovery.
 * An EncryptedTable: see `encryptedTable`, which builds it.
 *
 * @example
 * const table = new FeedTable("feed", { kmsKeyArn: key.arn });
 */
export class FeedTable extends pulumi.ComponentResource implements EncryptedTable {
  /** The table's physical name. */
  readonly name: pulumi.Output<string>;
  readonly arn: pulumi.Output<string>;

  constructor(name: string, args: EncryptedTableArgs, opts?: TidingsComponentOptions<EncryptedTableTransform>) {
    super("tidings:index:FeedTable", name, {}, withOldType("tidings:aws:FeedTable", opts));
    ({ name: this.name, arn: this.arn } = encryptedTable(this, name, TABLES.feed, args, opts));
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
