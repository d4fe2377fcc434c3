/**
 * Reads a Pulumi stack file's `tidings:` keys (without the prefix): how the local mode and the tests
 * get the same config `pulumi up` validates. The signing secret is never read from a file here.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";
import { tidingsKeys } from "../runtime/config";

export const DEV_STACK_FILE = path.join(__dirname, "..", "Pulumi.dev.yaml");

export function readStackFile(file: string = DEV_STACK_FILE): Record<string, any> {
  const doc = YAML.parse(fs.readFileSync(file, "utf8")) ?? {};
  return tidingsKeys(doc.config ?? {}) as Record<string, any>;
}
