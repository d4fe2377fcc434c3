/**
 * `tidings dev`: your own composition on this machine. The Pulumi program of the project (its
 * `Pulumi.yaml` `main`, or the module given) runs under `tidings/testing`'s mocks with the stack file's
 * config, as `pulumi preview` would run it; what it composed (the config it read, every channel it
 * built, config's and code's, and its templates' folders) then runs in the local mode, as `npm start`
 * runs this repository's stack:
 * - channels added in code run their real worker code; inline providers run in-process;
 * - a `lambda` provider's function is called through the local Lambda Invoke endpoint, which runs the
 *   handler module or forwards to the URL that `--lambda <function>=<module|url>` names;
 * - a channel of your own with a webhook address posts to the local sink, with a page at `/sinks/<channel>`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import YAML from "yaml";
import { type ComposedStack, observeCompositions } from "../components/compose";
import type { ProviderConfig } from "../runtime/providers/table";
import type { ChannelDescription } from "../runtime/system";
import { outputValue, settle, useMocks } from "../testing";
import type { LocalLambdaHandler } from "./lambdaInvoke";
import { type LocalComposition, type LocalTidingsOptions, startLocalTidings } from "./tidings";
import { registerTypeScript } from "./typescript";

export interface DevOptions {
  /** The Pulumi project's folder. @default the current directory */
  cwd?: string;
  /** The module that composes the stack. @default Pulumi.yaml's `main`, else index.ts or index.js */
  program?: string;
  /** The stack whose config file (`Pulumi.<stack>.yaml`) the program reads. @default "dev" */
  stack?: string;
  /**
   * What each `lambda` provider's function runs locally, by its ARN, function name or Pulumi resource
   * name: a module (`./sender.ts`, its `handler` export; `./sender.ts#send` names another) or a URL the
   * invocation's payload is POSTed to as JSON, its JSON answer being the function's.
   * @example lambdas: { "teams-sender": "./sender.ts", pager: "http://127.0.0.1:9000/invoke" }
   */
  lambdas?: Record<string, string>;
}

/** A composition as the local mode runs it, from what the program composed (its channels described, their Outputs resolved). */
export async function composedLocally(stack: ComposedStack): Promise<LocalComposition> {
  const channels: Record<string, ChannelDescription> = {};
  for (const [name, channel] of Object.entries(stack.channels)) channels[name] = await outputValue(channel.describe());
  return { config: stack.config, extraTemplatesDirs: stack.extraTemplatesDirs, channels };
}

/** Runs the project's program under mocks and returns what it composed. */
export async function loadComposition(options: Pick<DevOptions, "cwd" | "program" | "stack"> = {}): Promise<LocalComposition> {
  const cwd = path.resolve(options.cwd ?? process.cwd());
  const project = readYaml(path.join(cwd, "Pulumi.yaml"), "the Pulumi project file") as { name?: string; main?: string };
  const stack = options.stack ?? "dev";
  const stackFile = path.join(cwd, `Pulumi.${stack}.yaml`);
  const { config, secrets } = stackConfig(readYaml(stackFile, `the config of stack ${stack}`) as { config?: Record<string, unknown> });
  useMocks({ config, secrets, project: project.name ?? path.basename(cwd), stack });
  registerTypeScript();
  const program = programFile(cwd, options.program ?? project.main);
  const composed: ComposedStack[] = [];
  const stopObserving = observeCompositions((stack) => composed.push(stack));
  // The program's relative paths (templates folders, file reads) are the project's, as under `pulumi up`.
  const previous = process.cwd();
  process.chdir(cwd);
  // A program loaded before (a second load in one process) runs again, as a new `pulumi preview` would.
  for (const file of Object.keys(require.cache)) {
    if (file.startsWith(`${cwd}${path.sep}`) && !file.includes(`${path.sep}node_modules${path.sep}`)) delete require.cache[file];
  }
  try {
    const exported = require(program);
    // A program may export its body as a function (`export = async () => { … }`), which Pulumi runs.
    if (typeof exported === "function") await exported();
    else if (typeof exported?.default === "function") await exported.default();
  } finally {
    stopObserving();
    process.chdir(previous);
    // Every registration done (each function's bundle included), also when the program threw: nothing
    // of it is left running to fail later.
    await settle().catch(() => undefined);
  }
  if (composed.length !== 1) {
    throw new Error(
      composed.length === 0
        ? `${path.relative(cwd, program)} composed no Tidings stack: call createTidingsStack (or new Tidings) in it`
        : `${path.relative(cwd, program)} composed ${composed.length} Tidings stacks; tidings dev runs one`,
    );
  }
  const composition = await composedLocally(composed[0]);
  composition.extraTemplatesDirs = composition.extraTemplatesDirs.map((dir) => path.resolve(cwd, dir));
  return composition;
}

/** Loads the composition and starts it locally, its `lambda` providers served as `lambdas` says. */
export async function startDev(options: DevOptions & Omit<LocalTidingsOptions, "composition" | "lambdaHandlers"> = {}) {
  const { cwd: given, program, stack, lambdas, ...local } = options;
  const cwd = path.resolve(given ?? process.cwd());
  const composition = await loadComposition({ cwd, program, stack });
  const functionArns = lambdaFunctionArns(composition);
  const lambdaHandlers: Record<string, LocalLambdaHandler> = {};
  for (const [key, target] of Object.entries(lambdas ?? {})) {
    const arn = functionArns.find((candidate) => namesFunction(candidate, key));
    if (!arn) {
      throw new Error(
        `--lambda ${key}: no lambda provider of the composition is that function (${functionArns.join(", ") || "it has none"})`,
      );
    }
    lambdaHandlers[arn] = lambdaHandler(target, cwd);
  }
  const tidings = await startLocalTidings({ stateFile: path.join(cwd, ".tidings-local.json"), ...local, composition, lambdaHandlers });
  const unserved = functionArns.filter((arn) => !lambdaHandlers[arn]);
  return { tidings, composition, unserved };
}

/** Every function ARN the composition's `lambda` providers invoke. */
function lambdaFunctionArns(composition: LocalComposition): string[] {
  const arns = new Set<string>();
  for (const channel of Object.values(composition.channels)) {
    for (const value of [channel.values.provider, channel.values.fallback]) {
      const config = value ? (JSON.parse(value) as ProviderConfig) : undefined;
      if (config?.type === "lambda" && config.functionArn) arns.add(config.functionArn);
    }
  }
  return [...arns];
}

/** `key` names the function: its ARN, its name, or the Pulumi resource name its physical name was made from. */
function namesFunction(arn: string, key: string): boolean {
  const name = arn.split(":function:")[1]?.split(":")[0] ?? "";
  return arn === key || name === key || (name.startsWith(`${key}-`) && /^[0-9a-f]{7}$/.test(name.slice(key.length + 1)));
}

/** A handler module's export, or a URL the payload is POSTed to. */
function lambdaHandler(target: string, cwd: string): LocalLambdaHandler {
  if (/^https?:\/\//.test(target)) {
    return async (event) => {
      const response = await fetch(target, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(event),
      });
      const text = await response.text();
      if (!response.ok) throw new Error(`${target} answered ${response.status}: ${text.slice(0, 200)}`);
      return text ? JSON.parse(text) : null;
    };
  }
  const [file, exportName = "handler"] = target.split("#");
  const loaded = require(path.resolve(cwd, file));
  const handler = loaded[exportName] ?? (exportName === "handler" ? loaded.default : undefined);
  if (typeof handler !== "function") throw new Error(`--lambda ${target}: ${file} exports no function ${exportName}`);
  return async (event) => handler(event);
}

/** The stack file's config as the mocks take it: every `secure:` value a placeholder (it is not decrypted here), marked secret. */
function stackConfig(doc: { config?: Record<string, unknown> }): { config: Record<string, unknown>; secrets: string[] } {
  const config: Record<string, unknown> = {};
  const secrets: string[] = [];
  for (const [key, value] of Object.entries(doc?.config ?? {})) {
    const secure = value && typeof value === "object" && "secure" in value;
    config[key] = secure ? "tidings-dev-placeholder-for-a-secret-not-decrypted-locally" : value;
    if (secure) secrets.push(key);
  }
  return { config, secrets };
}

function programFile(cwd: string, main: string | undefined): string {
  const candidates = main ? [main, path.join(main, "index.ts"), path.join(main, "index.js")] : ["index.ts", "index.js"];
  for (const candidate of candidates) {
    const file = path.resolve(cwd, candidate);
    if (fs.existsSync(file) && fs.statSync(file).isFile()) return file;
  }
  throw new Error(`no program to run in ${cwd}: tried ${candidates.join(", ")} (name it with --program, or main in Pulumi.yaml)`);
}

function readYaml(file: string, what: string): unknown {
  if (!fs.existsSync(file)) throw new Error(`${what} (${file}) is missing`);
  return YAML.parse(fs.readFileSync(file, "utf8")) ?? {};
}
