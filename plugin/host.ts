/**
 * The plugin entry: `pulumi package add <this repository>` starts the package through PulumiPlugin.yaml
 * (runtime: nodejs); the Node.js language host requires the package's main module, which calls
 * `servePlugin()` when it finds itself loaded by Pulumi's run-plugin (see package.ts). The
 * component provider infers the schema from the TypeScript sources under `plugin/`, so the plugin runs
 * from a checkout of the repository (a git URL or a local path), not from the built npm package.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { ComponentProvider, type ComponentProviderOptions, componentProviderHost } from "@pulumi/pulumi/provider/experimental";
import { PLUGIN_COMPONENTS, PLUGIN_NAME } from "./index";

/** The folder the analyzer reads (package.json, tsconfig.json, index.ts): this one, in the sources. */
export function pluginDir(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, "plugin", "index.ts");
    if (path.basename(dir) === "plugin" && fs.existsSync(path.join(dir, "index.ts"))) return dir;
    if (fs.existsSync(candidate)) return path.dirname(candidate);
    if (path.dirname(dir) === dir)
      throw new Error(`tidings plugin: no plugin/index.ts above ${__dirname}: run it from the repository's sources`);
  }
}

/** The package version, from the repository's package.json. */
function packageVersion(): string {
  return JSON.parse(fs.readFileSync(path.join(pluginDir(), "..", "package.json"), "utf8")).version ?? "0.0.0";
}

/** Name, version, components and the sources' folder: what the provider and the host are given. */
function providerOptions(): ComponentProviderOptions {
  // `version` is read by ComponentProvider (it falls back to plugin/package.json, which has none).
  return { name: PLUGIN_NAME, components: PLUGIN_COMPONENTS, dirname: pluginDir(), version: packageVersion() } as ComponentProviderOptions;
}

/** What `pulumi package add` talks to: the components' schema and constructors (the tests call it too). */
export function componentProvider(): ComponentProvider {
  return new ComponentProvider(providerOptions());
}

/** Serves the components over the plugin protocol (blocks for the plugin's lifetime). */
export function servePlugin(): Promise<void> {
  return componentProviderHost(providerOptions());
}
