/**
 * Templates checked for completeness (issue 23): a type that can reach a channel without a template is
 * refused before anything runs, at graph construction (`pulumi preview`) and at `npm start`, naming
 * each missing file and the fixes.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { expect } from "chai";
import { readStackFile } from "../local/stackConfig";
import { parseTidingsConfig } from "../runtime/config";
import { createTidingsStack } from "../stack";
import { settle, useMocks } from "../testing";
import { startQuiet } from "./helpers/localTidings";

describe("templates checked for completeness", function () {
  this.timeout(60_000);
  // The case: a type with no channels of its own and a template for the WebSocket only.
  const templatesDir = fs.mkdtempSync(path.join(os.tmpdir(), "tidings-coverage-"));
  fs.mkdirSync(path.join(templatesDir, "deploy.finished"));
  fs.writeFileSync(path.join(templatesDir, "deploy.finished", "websocket.json"), JSON.stringify({ text: "Deployed {{service}}" }));
  const withDeployFinished = (raw: Record<string, any>, type: Record<string, unknown> = {}) => {
    raw.notificationTypes["deploy.finished"] = type;
    return raw;
  };
  const missing = ["email", "sms", "slack"].map((channel) => `<templates>/deploy.finished/${channel}.json`);

  it("refuses to build the stack, naming every missing file and the two fixes", async () => {
    useMocks();
    const config = parseTidingsConfig(withDeployFinished(readStackFile()));
    let message = "";
    try {
      createTidingsStack({ config, tokenSigningSecret: pulumi.secret("q".repeat(40)), extraTemplatesDirs: [templatesDir] });
    } catch (error) {
      message = (error as Error).message;
    }
    for (const file of missing) expect(message).to.include(file);
    expect(message).to.not.include("deploy.finished/websocket.json");
    expect(message).to.match(/Add each file[\s\S]*list the type's channels/);
    await settle();
  });

  it("builds once the type lists only the channels it has templates for", async () => {
    useMocks();
    const config = parseTidingsConfig(withDeployFinished(readStackFile(), { channels: ["websocket"] }));
    expect(() =>
      createTidingsStack({ config, tokenSigningSecret: pulumi.secret("q".repeat(40)), extraTemplatesDirs: [templatesDir] }),
    ).to.not.throw();
    await settle();
  });

  it("npm start refuses to start the same way, before any server listens", async () => {
    const outcome = await startQuiet({ extraTemplatesDirs: [templatesDir], editConfig: (raw) => withDeployFinished(raw) }).then(
      async (started) => {
        await started.stop();
        return undefined;
      },
      (error: Error) => error,
    );
    expect(outcome).to.be.instanceOf(Error);
    expect(outcome!.message).to.match(/^the local mode cannot start/);
    for (const file of missing) expect(outcome!.message).to.include(file);
  });
});
