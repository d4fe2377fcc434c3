// The stack's own config (Pulumi.dev.yaml) under the mocks, with a signing secret of the test's in
// place of the encrypted one.
import * as fs from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";

export const stackConfig: Record<string, unknown> = {
  ...parse(fs.readFileSync(path.join(__dirname, "..", "Pulumi.dev.yaml"), "utf8")).config,
  "tidings:tokenSigningSecret": "a-test-signing-secret-of-the-example-0123456789abcdef",
};
