/**
 * The lambda provider against the local Lambda Invoke stand-in (a real LambdaClient, real HTTP): the
 * JSON contract both ways, and what counts as retryable.
 */
import { expect } from "chai";
import { LambdaClient } from "@aws-sdk/client-lambda";
import { type LocalLambdaServer, startLocalLambda } from "../local/lambdaInvoke";
import type { ChannelDelivery } from "../runtime/contracts";
import { type LambdaProviderRequest, makeLambdaProvider, parseLambdaAnswer } from "../runtime/providers/lambda";
import { createProvider } from "../runtime/providers/table";

const ARN = "arn:aws:lambda:us-east-1:000000000000:function:pager";
const delivery: ChannelDelivery = {
  eventId: "e-1",
  userId: "ada",
  type: "order.shipped",
  channel: "pager",
  kind: "feedback",
  content: { text: "hello" },
  address: {},
  createdAt: "2026-11-30T12:00:00.000Z",
};

describe("lambda provider (local Lambda Invoke)", () => {
  let server: LocalLambdaServer;
  let lambda: LambdaClient;
  const answers: unknown[] = [];

  before(async () => {
    server = await startLocalLambda({
      [ARN]: async (request: LambdaProviderRequest) => {
        const next = answers.shift();
        if (next instanceof Error) throw next;
        return next ?? { outcome: "sent", providerMessageId: `m-${request.delivery.eventId}` };
      },
    });
    lambda = new LambdaClient({ endpoint: server.endpoint, region: "us-east-1", credentials: { accessKeyId: "x", secretAccessKey: "x" } });
  });

  after(async () => {
    lambda?.destroy();
    await server?.stop();
  });

  it("sends the versioned request and reads sent / retryable / permanent", async () => {
    const provider = createProvider({ type: "lambda", functionArn: ARN, name: "pager" }, { lambda });
    expect(provider.name).to.equal("pager");
    expect(await provider.send(delivery)).to.deep.equal({ outcome: "sent", providerMessageId: "m-e-1" });
    expect(server.invocations.at(-1)).to.deep.equal({ functionName: ARN, payload: { version: 1, delivery } });
    answers.push({ outcome: "permanent", reason: "no such pager" }, { outcome: "retryable", reason: "busy" });
    expect(await provider.send(delivery)).to.deep.equal({ outcome: "permanent", reason: "no such pager" });
    expect(await provider.send(delivery)).to.deep.equal({ outcome: "retryable", reason: "busy" });
  });

  it("a function error, an off-contract answer and an unknown function are retryable, with the reason", async () => {
    answers.push(new Error("pager API down"), { status: "ok" });
    const provider = makeLambdaProvider({ lambda, functionArn: ARN });
    const failed = await provider.send(delivery);
    expect(failed).to.deep.equal({ outcome: "retryable", reason: "provider function failed (Unhandled): pager API down" });
    expect((await provider.send(delivery)).outcome).to.equal("retryable");
    const missing = await makeLambdaProvider({ lambda, functionArn: `${ARN}-gone` }).send(delivery);
    expect(missing.outcome).to.equal("retryable");
    expect((missing as { reason: string }).reason).to.match(/ResourceNotFoundException/);
  });

  it("parses answers strictly", () => {
    expect(parseLambdaAnswer("nope")).to.deep.include({ outcome: "retryable" });
    expect(parseLambdaAnswer('{"outcome":"permanent"}')).to.deep.equal({
      outcome: "permanent",
      reason: "provider function said permanent",
    });
    expect(parseLambdaAnswer('{"outcome":"retryable","reason":"see https://secret.example/x"}')).to.deep.equal({
      outcome: "retryable",
      reason: "see <url>",
    });
  });
});
