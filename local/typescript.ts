/**
 * Lets `require` load a project's TypeScript (`tidings dev` runs a Pulumi program and its handlers as
 * `pulumi up` would). esbuild, already a dependency for the Lambda bundles, strips the types one file at
 * a time; nothing is type-checked, as with ts-node's transpile-only mode. A loader registered before
 * (ts-node, tsx) is left in place.
 */
import * as fs from "node:fs";
import { transformSync } from "esbuild";

export function registerTypeScript(): void {
  // biome-ignore lint/suspicious/noExplicitAny: node's CommonJS loader hooks are untyped
  const extensions = require.extensions as Record<string, (module: any, filename: string) => void>;
  for (const extension of [".ts", ".mts", ".cts"]) {
    if (extensions[extension]) continue;
    extensions[extension] = (module, filename) => {
      const { code } = transformSync(fs.readFileSync(filename, "utf8"), {
        loader: "ts",
        format: "cjs",
        target: `node${process.versions.node.split(".")[0]}`,
        sourcefile: filename,
        sourcemap: "inline",
      });
      module._compile(code, filename);
    };
  }
}
