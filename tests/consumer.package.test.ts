/**
 * Tidings as a platform team gets it: `npm pack`, the tarball installed into a project outside this
 * repository, a consumer program compiled against the installed types with Pulumi's template tsconfig
 * (strict, no skipLibCheck), the README's composition evaluated under `tidings/testing`'s mocks, and
 * every inline Lambda's shipped code run
 * with plain `node` from a folder that holds only its archive (the bundled `index.js`), with no
 * node_modules but the AWS SDK on NODE_PATH, as the Lambda runtime provides it.
 *
 * Installing: the tarball is unpacked into the consumer's node_modules (a real folder, not a link), and
 * what `npm install` would put next to it, every package of this repository's lockfile that is not
 * dev-only, is linked from this repository's node_modules: no network, no dependence on what the npm
 * cache holds. The consumer's code runs with --preserve-symlinks, so every package resolves its
 * imports from the consumer's tree as it would after a real install (and Pulumi finds `tidings` there).
 */
import { execFile, execFileSync, spawnSync } from "node:child_process";
import { promisify } from "node:util";
import * as fs from "node:fs";
import { builtinModules } from "node:module";
import * as os from "node:os";
import * as path from "node:path";
import { expect } from "chai";
import YAML from "yaml";
import { CreateBucketCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import { type LocalAws, startLocalAws } from "../local/aws";
import { type EventBridgeEvent, type LocalEventBus, startEventBus } from "../local/eventBridge";
import { type LocalSecretsManager, startSecretsManager } from "../local/secretsManager";
import { type SnsSink, startSnsSink } from "../local/sinks";
import { signDevToken } from "../local/tokens";
import { installPacked, packTidings } from "./helpers/packed";
import { TEST_PRODUCER_ARN } from "./helpers/shipped";

const REPO = path.join(__dirname, "..");
const SECRET = "consumer-test-signing-secret-0123456789abcdef";

/** docs/composing.md: how to use Tidings in your own stack; the test runs what it shows. */
const COMPOSING = fs.readFileSync(path.join(REPO, "docs", "composing.md"), "utf8");
/** The code block in `lang` whose first line is `firstLine`. */
function readmeBlock(lang: string, firstLine: string, text = COMPOSING): string {
  const block = [...text.matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)].find(([, l, body]) => l === lang && body.startsWith(`${firstLine}\n`));
  if (!block) throw new Error(`docs/composing.md has no ${lang} block starting with ${firstLine}`);
  return block[2];
}
/** The ```json block that follows the mention of `name`. */
function readmeFile(name: string): string {
  const at = COMPOSING.indexOf(`\`${name}\``);
  const block = /```json\n([\s\S]*?)^```$/m.exec(COMPOSING.slice(at));
  if (at < 0 || !block) throw new Error(`docs/composing.md shows no ${name}`);
  return block[1];
}

/** The consumer's composition, `notifications.ts` in the README's "Use Tidings in your own stack". */
const PROGRAM = readmeBlock("ts", "// notifications.ts");
/** The consumer's Pulumi entry point. */
const INDEX = readmeBlock("ts", "// index.ts: the program; the unit test below builds the stack from notifications.ts under mocks instead");
/** The consumer's unit test as the README shows it (compiled here; check.ts below runs the same checks and more). */
const UNIT_TEST = readmeBlock("ts", 'import { expect } from "chai";');
/** The stack config the README shows (`Pulumi.prod.yaml`), which names the added channel in a type. */
const STACK_CONFIG: Record<string, unknown> = YAML.parse(readmeBlock("yaml", "# Pulumi.prod.yaml")).config;
/** The consumer's own template for that type on that channel, in its project's `templates/` folder. */
const TEMPLATE = { file: "templates/appointment.reminder/sms.json", text: readmeFile("templates/appointment.reminder/sms.json") };

/** A consumer check in the README unit test's style, under the README's stack config: mocks, the stack, settle, the shipped code. */
const CHECK = `
import * as fs from "node:fs";
import { builtinModules } from "node:module";
import { inlineFunctions, shippedCode, settle, useMocks, outputValue, ofType } from "tidings/testing";
import { readStackConfig, type ProviderResult } from "tidings";
import type { ChannelDelivery } from "tidings/runtime/contracts";
import { tidingsStack } from "./notifications";

async function main(out: string) {
  const resources = useMocks({
    config: { ...${JSON.stringify(STACK_CONFIG)}, "tidings:tokenSigningSecret": "${SECRET}" },
    secrets: ["tidings:tokenSigningSecret"],
  });
  const tidings = tidingsStack();
  await settle();
  const functions = [];
  for (const fn of inlineFunctions) {
    functions.push({ name: await outputValue(fn.function.name), ...(await shippedCode(fn)) });
  }
  const accepted: ProviderResult = { outcome: "sent" };
  const delivery: Pick<ChannelDelivery, "channel"> = { channel: "sms" };
  fs.writeFileSync(out, JSON.stringify({
    functions,
    channels: Object.keys(tidings.channels),
    queues: ofType(resources, "aws:sqs/queue:Queue").map((q) => q.name),
    api: await outputValue(tidings.api.function.function.name),
    authorizer: await outputValue(tidings.websocket.functions.authorizer.function.name),
    smsWorker: await outputValue(tidings.channels.sms.worker.function.name),
    secretArn: await outputValue(tidings.websocket.secret.arn),
    types: readStackConfig().config.notificationTypes,
    templates: tidings.templates.templates.map(({ key, content }) => ({ key, content })),
    outputs: {
      tables: await outputValue(tidings.outputs.tables),
      templatesBucket: await outputValue(tidings.outputs.templatesBucket),
      eventBusName: await outputValue(tidings.outputs.eventBusName),
    },
    checked: [accepted.outcome, delivery.channel],
  }));
}
main(process.argv[2]).catch((error) => { console.error(error); process.exit(1); });
`;

/** Runs a shipped handler (`index.handler`) from its archive folder with plain node, and prints its answer as JSON. */
const RUN_LAMBDA = `
const [dir, handler, eventJson] = process.argv.slice(2);
const [file, exportName] = handler.split(".");
const mod = require(require("node:path").join(dir, file + ".js"));
if (typeof mod[exportName] !== "function") throw new Error("no " + exportName + " exported");
if (eventJson === undefined) { process.stdout.write(JSON.stringify({ loaded: true })); return; }
// Exits once answered, as Lambda freezes the process: the SDK's keep-alive sockets would hold it open.
Promise.resolve(mod[exportName](JSON.parse(eventJson))).then(
  (result) => process.stdout.write(JSON.stringify({ result }), () => process.exit(0)),
  (error) => { console.error(error); process.exit(1); },
);
`;

interface Shipped {
  name: string;
  text: string;
  exportName: string;
  handler: string;
  files: Record<string, string>;
  bytes: number;
  serialized: string;
}
interface Checked {
  functions: Shipped[];
  channels: string[];
  queues: string[];
  api: string;
  authorizer: string;
  smsWorker: string;
  secretArn: string;
  types: Record<string, { channels?: string[] }>;
  templates: { key: string; content: string }[];
  outputs: { tables: Record<string, string>; templatesBucket: string; eventBusName: string };
}

describe("tidings as an installed package (npm pack → a consumer project)", function () {
  this.timeout(240_000);
  let tmp: string;
  let consumer: string;
  let runtimeModules: string;
  let checked: Checked;
  const lambdaDirs = new Map<string, string>();
  const handlers = new Map<string, string>();
  const timings: string[] = [];
  const timed = <T>(what: string, work: () => T): T => {
    const start = Date.now();
    const result = work();
    timings.push(`${what} ${((Date.now() - start) / 1000).toFixed(1)} s`);
    return result;
  };

  before(() => {
    tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), "consumer-stack-")));
    consumer = path.join(tmp, "consumer");
    const modules = path.join(consumer, "node_modules");
    // `npm pack` runs `prepare` (the build) and lists what ships.
    const filename = timed("npm pack (build included)", () => packTidings(tmp));
    installPacked(consumer, path.join(tmp, filename), ["typescript", "@types/node", "chai", "@types/chai", "@types/mocha"]);
    const manifest = JSON.parse(fs.readFileSync(path.join(modules, "tidings", "package.json"), "utf8"));
    for (const name of Object.keys(manifest.dependencies)) {
      expect(fs.existsSync(path.join(modules, name)), `${name}, a dependency of tidings, is installed`).to.equal(true);
    }

    fs.writeFileSync(
      path.join(consumer, "package.json"),
      JSON.stringify({
        name: "consumer",
        private: true,
        dependencies: {
          tidings: `file:../${filename}`,
          "@pulumi/pulumi": manifest.dependencies["@pulumi/pulumi"],
          "@pulumi/aws": manifest.dependencies["@pulumi/aws"],
        },
      }),
    );
    // Pulumi's aws-typescript template settings as they are: strict, and neither skipLibCheck nor
    // esModuleInterop, so every declaration the package pulls in is checked (zod's would need the latter:
    // runtime/config.ts writes its types out). `types` only adds the test's mocha globals.
    fs.writeFileSync(
      path.join(consumer, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          outDir: "bin",
          target: "es2020",
          module: "commonjs",
          moduleResolution: "node",
          sourceMap: true,
          experimentalDecorators: true,
          noFallthroughCasesInSwitch: true,
          noImplicitReturns: true,
          forceConsistentCasingInFileNames: true,
          types: ["node", "mocha"],
        },
        files: ["index.ts", "notifications.ts", "check.ts", "test/notifications.test.ts"],
      }),
    );
    fs.writeFileSync(path.join(consumer, "notifications.ts"), PROGRAM);
    fs.writeFileSync(path.join(consumer, "index.ts"), INDEX);
    fs.writeFileSync(path.join(consumer, "check.ts"), CHECK);
    fs.mkdirSync(path.join(consumer, "test"));
    fs.writeFileSync(path.join(consumer, "test", "notifications.test.ts"), UNIT_TEST);
    fs.mkdirSync(path.join(consumer, path.dirname(TEMPLATE.file)), { recursive: true });
    fs.writeFileSync(path.join(consumer, TEMPLATE.file), TEMPLATE.text);
    fs.writeFileSync(path.join(tmp, "run-lambda.js"), RUN_LAMBDA);

    // What the Lambda runtime provides: the AWS SDK v3, nothing else.
    runtimeModules = path.join(tmp, "lambda-runtime", "node_modules");
    fs.mkdirSync(runtimeModules, { recursive: true });
    for (const scope of ["@aws-sdk", "@smithy"]) {
      fs.symlinkSync(path.join(REPO, "node_modules", scope), path.join(runtimeModules, scope), "dir");
    }
  });

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
    console.info(`      consumer test timings: ${timings.join(", ")}`);
  });

  it("ships only the built package: dist (JS, .d.ts, templates, the local mode's pages), README and package.json", () => {
    const listed = JSON.parse(execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: REPO, encoding: "utf8" }));
    const files: string[] = listed[0].files.map((f: { path: string }) => f.path);
    expect(files).to.include.members(["package.json", "README.md", "dist/package.js", "dist/package.d.ts", "dist/testing.js"]);
    expect(files).to.include.members(["dist/runtime/worker.js", "dist/runtime/contracts.d.ts", "dist/templates/order.shipped/email.json"]);
    // `tidings dev`: the local mode, its command and its inbox page.
    expect(files).to.include.members(["dist/local/cli.js", "dist/local/dev.js", "dist/local/tidings.js", "dist/local/inbox/index.html"]);
    const unexpected = files.filter(
      (f) =>
        !["package.json", "README.md", "LICENSE"].includes(f) &&
        !/^dist\/.+\.(js|d\.ts|json)$/.test(f) &&
        !/^dist\/local\/inbox\/[\w.-]+\.(html|css|js)$/.test(f),
    );
    expect(unexpected).to.deep.equal([]);
    // Not the repository's own stack, tests, bench, or `npm start` and its tools.
    expect(
      files.filter(
        (f) =>
          /^dist\/(tests|bench)\/|^dist\/index\.|^dist\/local\/(main|redrive-cli|configReference)\.|Pulumi\.|\.ts$/.test(f) &&
          !f.endsWith(".d.ts"),
      ),
    ).to.deep.equal([]);
  });

  it("declares its types with packages a consumer has: every import of a .d.ts is a dependency with types, or node's", () => {
    const dist = path.join(consumer, "node_modules", "tidings", "dist");
    const missing: string[] = [];
    for (const file of fs.readdirSync(dist, { recursive: true }) as string[]) {
      if (!file.endsWith(".d.ts")) continue;
      const text = fs.readFileSync(path.join(dist, file), "utf8");
      for (const [, specifier] of text.matchAll(/(?:from |import\()"([^".][^"]*)"/g)) {
        if (specifier.startsWith("node:")) continue;
        const name = specifier.startsWith("@") ? specifier.split("/").slice(0, 2).join("/") : specifier.split("/")[0];
        const dir = path.join(consumer, "node_modules", name);
        const manifest = fs.existsSync(dir) ? JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) : undefined;
        const typed = manifest && (manifest.types || manifest.typings || fs.existsSync(path.join(dir, "index.d.ts")) || manifest.exports);
        const atTypes = fs.existsSync(path.join(consumer, "node_modules", "@types", name.replace(/^@/, "").replace("/", "__")));
        if (!typed && !atTypes) missing.push(`${file} imports ${specifier}`);
      }
    }
    expect(missing).to.deep.equal([]);
  });

  it("compiles a consumer program, the README's unit test and ours against the installed types with Pulumi's template tsconfig (strict, every declaration checked)", () => {
    const tsc = timed("tsc --strict", () =>
      spawnSync(process.execPath, [path.join(consumer, "node_modules", "typescript", "bin", "tsc"), "-p", consumer], { encoding: "utf8" }),
    );
    expect(tsc.stdout + tsc.stderr, "tsc output").to.equal("");
    expect(tsc.status).to.equal(0);
  });

  it("evaluates the README composition under tidings/testing's mocks: the default stack plus a channel added in code, its template, a type naming it", () => {
    const out = path.join(tmp, "checked.json");
    const run = timed("composition under mocks", () =>
      spawnSync(process.execPath, ["--preserve-symlinks", path.join(consumer, "bin", "check.js"), out], {
        cwd: consumer,
        encoding: "utf8",
      }),
    );
    expect(run.status, run.stderr).to.equal(0);
    checked = JSON.parse(fs.readFileSync(out, "utf8"));
    expect(checked.channels.sort()).to.deep.equal(["email", "sms", "websocket"]);
    expect(checked.queues).to.include.members(["sms-queue", "sms-dlq", "sms-rule-dlq"]);
    expect(checked.types["appointment.reminder"].channels).to.deep.equal(["sms"]);
    // The consumer's own template, from its project's folder, next to the package's own.
    const keys = checked.templates.map((t) => t.key);
    expect(checked.templates.find((t) => t.key === TEMPLATE.file)?.content).to.equal(TEMPLATE.text);
    expect(keys).to.include("templates/order.shipped/sms.json");
    expect(checked.functions.length).to.be.greaterThan(8);
  });

  it("bundles every Lambda from the consumer's tree: tidings' built runtime, zod, jose and mustache inlined, only the AWS SDK required", () => {
    const requires = (text: string) => [...new Set([...text.matchAll(/require\("([^"]+)"\)/g)].map((m) => m[1]))];
    for (const fn of checked.functions) {
      // Pulumi serialized the handler from the installed package: it requires tidings' built runtime by name…
      const serialized = requires(fn.serialized);
      expect(
        serialized.filter((r) => /\.ts$/.test(r)),
        fn.name,
      ).to.deep.equal([]);
      expect(
        serialized.filter((r) => r.startsWith("tidings")),
        fn.name,
      ).to.satisfy((paths: string[]) => paths.length > 0 && paths.every((p) => /^tidings\/runtime\/[\w/]+$/.test(p)));
      // …and the bundle, built from the consumer's node_modules, holds that code and every package it requires.
      const bundled = requires(fn.text);
      expect(
        bundled.filter((r) => /^(tidings|zod|jose|mustache)(\/|$)/.test(r)),
        fn.name,
      ).to.deep.equal([]);
      expect(
        bundled.filter((r) => !/^@(aws-sdk|smithy)\//.test(r) && !builtinModules.includes(r.replace(/^node:/, ""))),
        fn.name,
      ).to.deep.equal([]);
      // The SDK by package name (or a subpath the package exports), never a file inside it.
      expect(
        bundled.filter((r) => /^@(aws-sdk|smithy)\/[^/]+\/dist-/.test(r)),
        fn.name,
      ).to.deep.equal([]);
      expect(Object.keys(fn.files), fn.name).to.deep.equal(["index.js"]);
      expect(fn.handler).to.equal(`index.${fn.exportName}`);
      expect(fn.bytes, fn.name).to.be.at.most(1024 * 1024);
    }
    const byName = (name: string) => checked.functions.find((f) => f.name === name)!;
    // What each function needs is inside it: jose's and zod's error codes, mustache's own name.
    expect(byName(checked.authorizer).text).to.include("ERR_JWS_SIGNATURE_VERIFICATION_FAILED");
    expect(byName(checked.api).text).to.include("$ZodError").and.include("mustache.js");
    expect(byName(checked.smsWorker).text).to.not.include("$ZodError");
  });

  it("loads every Lambda with plain node from a folder holding only its archive, no node_modules but the AWS SDK", () => {
    timed("write archives", () => {
      for (const fn of checked.functions) {
        const dir = path.join(tmp, "lambdas", fn.name);
        fs.mkdirSync(dir, { recursive: true });
        for (const [file, text] of Object.entries(fn.files)) fs.writeFileSync(path.join(dir, file), text);
        lambdaDirs.set(fn.name, dir);
        handlers.set(fn.name, fn.handler);
      }
    });
    // Nothing above the archive folders could lend them a package.
    const above: string[] = [];
    for (let dir = path.join(tmp, "lambdas"); dir !== path.dirname(dir); dir = path.dirname(dir)) {
      if (fs.existsSync(path.join(dir, "node_modules"))) above.push(dir);
    }
    expect(above).to.deep.equal([]);
    const failures: string[] = [];
    timed("require each Lambda", () => {
      for (const [name, dir] of lambdaDirs) {
        const run = runLambda(dir, handlers.get(name)!);
        if (run.status !== 0) failures.push(`${name}: ${run.stderr.split("\n").slice(0, 6).join("\n")}`);
      }
    });
    expect(failures).to.deep.equal([]);
  });

  describe("against the local servers", () => {
    let aws: LocalAws;
    let bus: LocalEventBus;
    let secrets: LocalSecretsManager;
    let sns: SnsSink;
    let ddb: DynamoDBDocumentClient;
    const events: EventBridgeEvent[] = [];
    let env: Record<string, string>;

    before(async () => {
      aws = await startLocalAws();
      bus = await startEventBus();
      secrets = await startSecretsManager();
      sns = await startSnsSink();
      secrets.put(checked.secretArn, SECRET);
      env = {
        ...aws.env,
        ...secrets.env,
        AWS_ENDPOINT_URL_EVENTBRIDGE: bus.endpoint,
        AWS_ENDPOINT_URL_SNS: sns.endpoint,
        AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      };
      const { tables, templatesBucket, eventBusName } = checked.outputs;
      await aws.createTables(tables as Parameters<LocalAws["createTables"]>[0]);
      const s3 = new S3Client({ forcePathStyle: true, endpoint: aws.endpoints.s3, region: aws.region, credentials: creds() });
      await s3.send(new CreateBucketCommand({ Bucket: templatesBucket }));
      // The objects the stack declares, as `pulumi up` would put them.
      for (const { key, content } of checked.templates) {
        await s3.send(new PutObjectCommand({ Bucket: templatesBucket, Key: key, Body: content }));
      }
      s3.destroy();
      bus.addRule({ name: "consumer-test", eventBusName, pattern: { source: ["tidings"] }, target: async (e) => void events.push(e) });
      ddb = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: aws.endpoints.dynamodb, region: aws.region, credentials: creds() }));
      await ddb.send(
        new PutCommand({ TableName: tables.contacts, Item: { userId: "ada", email: "ada@example.com", phone: "+14155550123" } }),
      );
    });

    after(async () => {
      ddb?.destroy();
      await sns?.stop();
      await secrets?.stop();
      await bus?.stop();
      await aws?.stop();
    });

    const creds = () => ({ accessKeyId: "local", secretAccessKey: "local" });
    // Asynchronous: the local servers answer the Lambda from this process's event loop.
    const invoke = async (name: string, event: unknown) => {
      const { stdout } = await promisify(execFile)(
        process.execPath,
        [path.join(tmp, "run-lambda.js"), lambdaDirs.get(name)!, handlers.get(name)!, JSON.stringify(event)],
        {
          cwd: lambdaDirs.get(name),
          env: lambdaEnv(env),
          timeout: 30_000,
        },
      );
      return JSON.parse(stdout.slice(stdout.lastIndexOf('{"result"'))).result;
    };

    it("the authorizer verifies a token and refuses a forged one", async () => {
      const token = await signDevToken({ secret: SECRET, userId: "ada", issuer: "tidings", audience: "tidings" });
      const event = (t: string) => ({
        methodArn: "arn:aws:execute-api:us-east-1:123456789012:abc/dev/$connect",
        queryStringParameters: { token: t },
        requestContext: { connectionId: "c1", routeKey: "$connect" },
      });
      const allowed = await invoke(checked.authorizer, event(token));
      expect(allowed.policyDocument.Statement[0].Effect).to.equal("Allow");
      expect(allowed.context).to.include({ userId: "ada" });
      const forged = await signDevToken({
        secret: "another-secret-that-is-long-enough-0123",
        userId: "ada",
        issuer: "tidings",
        audience: "tidings",
      });
      expect((await invoke(checked.authorizer, event(forged))).policyDocument.Statement[0].Effect).to.equal("Deny");
    });

    it("the producer API refuses an invalid request and accepts the type naming the added channel, rendered from the consumer's template; the sms worker delivers it", async () => {
      const post = (body: unknown) =>
        invoke(checked.api, {
          body: JSON.stringify(body),
          // As API Gateway passes it after IAM auth: the function checks the caller again.
          requestContext: { http: { method: "POST", path: "/notifications" }, authorizer: { iam: { userArn: TEST_PRODUCER_ARN } } },
        });
      const refused = await post({ userId: "ada", type: "appointment.reminder", channels: ["fax"] });
      expect(refused.statusCode).to.equal(400);
      expect(JSON.parse(refused.body).problems.map((p: { field: string }) => p.field)).to.include("channels[0]");

      // No channels in the request: the type's own (sms), so the 202 says the type names the channel.
      const data = { service: "dental", date: "3 December", time: "09:30" };
      const accepted = await post({ eventId: "consumer-1", userId: "ada", type: "appointment.reminder", data });
      expect(accepted.statusCode, accepted.body).to.equal(202);
      expect(JSON.parse(accepted.body).channels).to.deep.equal({ sms: "queued" });
      await bus.idle();
      const event = events.find((e) => e["detail-type"] === "notification.sms")!;
      expect(event.detail).to.include({ eventId: "consumer-1", channel: "sms", type: "appointment.reminder" });

      const answer = await invoke(checked.smsWorker, {
        Records: [{ messageId: "m1", body: JSON.stringify(event), attributes: { ApproximateReceiveCount: "1" } }],
      });
      expect(answer).to.deep.equal({ batchItemFailures: [] });
      const sent = sns.received.filter((m) => m.phoneNumber === "+14155550123");
      expect(sent.map((m) => m.message)).to.deep.equal([
        "Reminder: your dental appointment is on 3 December at 09:30. Reply STOP to opt out.",
      ]);
      // The consumer's template, not the package's: none of the package's templates mentions an appointment.
      expect(JSON.parse(TEMPLATE.text).text).to.include("{{service}} appointment");
    });
  });

  /** Lambda's environment: a region and credentials, the AWS SDK on NODE_PATH, nothing from this repository. */
  function lambdaEnv(env: Record<string, string> = {}): NodeJS.ProcessEnv {
    return {
      PATH: process.env.PATH ?? "",
      NODE_PATH: runtimeModules,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "local",
      AWS_SECRET_ACCESS_KEY: "local",
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
      ...env,
    };
  }

  /** Loads a Lambda's module (which runs its factory) and exits. */
  function runLambda(dir: string, handler: string) {
    return spawnSync(process.execPath, [path.join(tmp, "run-lambda.js"), dir, handler], { cwd: dir, encoding: "utf8", env: lambdaEnv() });
  }
});
