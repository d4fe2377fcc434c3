/**
 * How an InlineFunction's code becomes its Lambda archive: Pulumi serializes the factory (as
 * `aws.lambda.CallbackFunction` does), then esbuild bundles that module with every package it requires
 * into one minified `index.js`. Only the AWS SDK v3 (`@aws-sdk/*`, `@smithy/*`) stays outside: the
 * nodejs22.x runtime provides it, and bundling it would make every archive megabytes larger.
 *
 * Why bundle: the run-time packages as Pulumi's code paths ship them are whole package folders (zod
 * alone is 5.86 MiB, v3 and v4, sources and types) that Lambda unzips and Node reads file by file at
 * cold start; bundled, a function ships the few hundred KiB it uses (bench/results.md, "Shipped code").
 */
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as esbuild from "esbuild";

/** Packages the Lambda Node.js runtime provides: required at run time, never bundled. */
export const RUNTIME_PROVIDED = ["@aws-sdk/*", "@smithy/*"];

/** The archive's only file, and so the handler's module: `index.<exportName>`. */
export const BUNDLE_FILE = "index.js";

/** One function's code as it is shipped. */
export interface FunctionBundle {
  /** The bundle: the archive's `index.js`. */
  text: string;
  /** The export Lambda calls: the handler is `index.<exportName>`. */
  exportName: string;
  /** The module Pulumi serialized from the factory, before bundling (what CallbackFunction would ship as `__index.js`). */
  serialized: string;
  /** Whether a secret Output was captured (the archive is then a secret in the state). */
  containsSecrets: boolean;
}

/**
 * Serializes a factory as `aws.lambda.CallbackFunction` does (captured Outputs are read at deploy time
 * and their values written into the module), then bundles it. Equal serialized text gives the same
 * bundle, byte for byte, so `pulumi preview` shows no diff.
 */
export async function bundleFactory(name: string, factory: () => unknown, resolveDir: string = programDir()): Promise<FunctionBundle> {
  const serialized = await pulumi.runtime.serializeFunction(factory, {
    serialize: () => true,
    exportName: "handler",
    isFactoryFunction: true,
    allowSecrets: true,
  });
  const text = await bundleModule(serialized.text, resolveDir).catch((error: Error) => {
    throw new Error(
      `Lambda function "${name}": bundling its code failed (a package it requires must be installed where the program runs, ${resolveDir}): ${error.message}`,
    );
  });
  return { text, exportName: serialized.exportName, serialized: serialized.text, containsSecrets: serialized.containsSecrets };
}

/**
 * Bundles serialized text once per process: a program (and a test suite, whose mocks resolve every
 * archive) builds the same function many times, and esbuild's work is the same each time.
 */
const bundles = new Map<string, Promise<string>>();

/**
 * @param external packages left as `require`s. @default RUNTIME_PROVIDED (the bench also measures the AWS SDK bundled in: `[]`)
 */
export function bundleModule(text: string, resolveDir: string, external: string[] = RUNTIME_PROVIDED): Promise<string> {
  const key = createHash("sha256").update(resolveDir).update("\0").update(external.join(",")).update("\0").update(text).digest("hex");
  let bundle = bundles.get(key);
  if (!bundle) {
    bundle = build(text, resolveDir, external);
    bundles.set(key, bundle);
    // A failed build is not remembered: the next evaluation reports its own error.
    bundle.catch(() => bundles.delete(key));
  }
  return bundle;
}

async function build(contents: string, resolveDir: string, external: string[]): Promise<string> {
  const result = await esbuild.build({
    stdin: { contents, resolveDir, sourcefile: BUNDLE_FILE, loader: "js" },
    // Serialized code requires tidings' runtime by package name when tidings is installed
    // (`require("tidings/runtime/…")`) and its dependencies by name: found from the program's folder
    // first, as Node would there, then next to tidings itself (a program run from another folder, the
    // multi-language plugin's host).
    nodePaths: packageSearchPaths(),
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node22",
    // Fewer bytes for Node to read and parse at every cold start. No source map: the producer API's
    // would be 1.9 MB (its archive over 1 MiB), and NODE_OPTIONS=--enable-source-maps reads and parses
    // it at every cold start. No keepNames either: it adds 12% of calls run at load, for stack traces.
    minify: true,
    external,
    // The program's tsconfig.json does not apply: `strict`/`alwaysStrict` there would make esbuild emit
    // "use strict", and Pulumi's serialized closures use `with`, which strict mode forbids.
    tsconfigRaw: {},
    // `legalComments` off: the bundle is deployed, not distributed, and the comments are bytes at every cold start.
    legalComments: "none",
    charset: "utf8",
    plugins: external.length ? [zodEnglishOnly, sdkByPackageName] : [zodEnglishOnly],
    write: false,
    logLevel: "silent",
  });
  return result.outputFiles[0].text;
}

/**
 * Pulumi's serializer writes the SDK's requires as the files it found (`@aws-sdk/client-dynamodb/
 * dist-cjs/index.js`), which reach into the layout of the SDK the Lambda runtime provides: a release
 * adding an `exports` map would refuse them. The bundle requires the package by name instead, which is
 * the same file (every SDK v3 package's `main` is `dist-cjs/index.js`) and what the package promises.
 */
const sdkByPackageName: esbuild.Plugin = {
  name: "sdk-by-package-name",
  setup(build) {
    build.onResolve({ filter: /^@(aws-sdk|smithy)\/[^/]+\/dist-cjs\/index\.js$/ }, (args) => ({
      path: args.path.replace(/\/dist-cjs\/index\.js$/, ""),
      external: true,
    }));
  },
};

/**
 * zod's entry points re-export its error messages in every language it has (`z.locales`, 45 of them, 43%
 * of the bundled bytes, all parsed at every cold start); Tidings writes its own messages and zod's
 * default is English (`z.config(z.locales.en())`, which stays). As webpack users drop moment's locales,
 * the bundle keeps only `en`: `z.locales.en` works, the other languages are absent. A zod that moves
 * this file is bundled whole, as before.
 */
const zodEnglishOnly: esbuild.Plugin = {
  name: "zod-english-only",
  setup(build) {
    build.onResolve({ filter: /^\.\.\/locales\/index\.cjs$/ }, (args) => {
      if (!/[\\/]zod[\\/]v4[\\/]/.test(args.importer)) return undefined;
      const english = path.join(args.resolveDir, "..", "locales", "en.cjs");
      return fs.existsSync(english) ? { path: english, namespace: "zod-locales" } : undefined;
    });
    build.onLoad({ filter: /.*/, namespace: "zod-locales" }, (args) => ({
      contents: `exports.en = require(${JSON.stringify(args.path)}).default;`,
      resolveDir: path.dirname(args.path),
      loader: "js",
    }));
  },
};

/** The Pulumi program's folder: Pulumi runs the program there and resolves its code paths from it. */
export function programDir(): string {
  return process.cwd();
}

/** The node_modules folders around tidings' own package: where its dependencies are installed. */
function packageSearchPaths(): string[] {
  const paths: string[] = [];
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const modules = path.basename(dir) === "node_modules" ? dir : path.join(dir, "node_modules");
    if (fs.existsSync(modules) && !paths.includes(modules)) paths.push(modules);
  }
  return paths;
}
