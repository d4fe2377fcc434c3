/**
 * Token checks beyond the basics (tests/websocket.shipped.test.ts): the signing key's cache TTL (so a
 * rotated secret takes effect in a warm authorizer), the maximum token age, scopes, and RS256/ES256
 * tokens from an identity provider's JWKS served by a local server, with a key rotated in by `kid`.
 */
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { expect } from "chai";
import { exportJWK, generateKeyPair, type JWK, SignJWT } from "jose";
import { type LocalSecretsManager, startSecretsManager } from "../local/secretsManager";
import { signDevToken } from "../local/tokens";
import { makeSecretKeyLoader, makeTokenVerifier, makeWebSocketAuthorizer } from "../runtime/authorizer";

const ISSUER = "https://idp.example.com/";
const AUDIENCE = "tidings";
const OLD_SECRET = "rotation-test-secret-old-0123456789abcdef";
const NEW_SECRET = "rotation-test-secret-new-fedcba9876543210";

describe("authorizer key cache and rotation", () => {
  let secrets: LocalSecretsManager;
  let client: SecretsManagerClient;
  const arn = "arn:aws:secretsmanager:us-east-1:000000000000:secret:rotating-AbCdEf";
  before(async () => {
    secrets = await startSecretsManager({ secrets: { [arn]: OLD_SECRET } });
    client = new SecretsManagerClient({
      endpoint: secrets.endpoint,
      region: "us-east-1",
      credentials: { accessKeyId: "l", secretAccessKey: "l" },
    });
  });
  after(async () => {
    client.destroy();
    await secrets.stop();
  });

  it("keeps the key for keyCacheSeconds, then reads the rotated secret", async () => {
    let clock = 1_000_000;
    const verify = makeTokenVerifier({
      getKey: makeSecretKeyLoader({ secrets: client, secretId: arn, ttlSeconds: 300, now: () => clock }),
      issuer: ISSUER,
      audience: AUDIENCE,
    });
    const oldToken = await signDevToken({ secret: OLD_SECRET, userId: "u1", issuer: ISSUER, audience: AUDIENCE });
    const newToken = await signDevToken({ secret: NEW_SECRET, userId: "u1", issuer: ISSUER, audience: AUDIENCE });
    expect(await verify(oldToken)).to.include({ ok: true });
    const callsBefore = secrets.calls;
    secrets.put(arn, NEW_SECRET);
    clock += 299_000; // still cached: the old key answers, no read
    expect(await verify(oldToken)).to.include({ ok: true });
    expect(await verify(newToken)).to.deep.equal({ ok: false, reason: "bad signature" });
    expect(secrets.calls).to.equal(callsBefore);
    clock += 2_000; // past the TTL: the rotated secret is read once and wins
    expect(await verify(newToken)).to.include({ ok: true, userId: "u1" });
    expect(await verify(oldToken)).to.deep.equal({ ok: false, reason: "bad signature" });
    expect(secrets.calls).to.equal(callsBefore + 1);
  });
});

describe("maximum token age and scopes", () => {
  const secret = new TextEncoder().encode(OLD_SECRET);
  const verify = makeTokenVerifier({ getKey: async () => secret, issuer: ISSUER, audience: AUDIENCE, maxTokenAgeSeconds: 3600 });

  it("refuses a token issued longer ago than maxTokenAgeSeconds, even if it has not expired", async () => {
    const now = Math.floor(Date.now() / 1000);
    const old = await signDevToken({
      secret,
      userId: "u",
      issuer: ISSUER,
      audience: AUDIENCE,
      issuedAt: now - 7200,
      expiresIn: now + 3600,
    });
    expect(await verify(old)).to.deep.equal({ ok: false, reason: "token too old (iat is past maxTokenAgeSeconds)" });
    const fresh = await signDevToken({ secret, userId: "u", issuer: ISSUER, audience: AUDIENCE });
    expect(await verify(fresh)).to.include({ ok: true });
  });

  it("requires iat when maxTokenAgeSeconds is set, and not otherwise", async () => {
    const noIat = await new SignJWT({})
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("u")
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime("1h")
      .sign(secret);
    expect(await verify(noIat)).to.deep.equal({ ok: false, reason: "token has no iat claim" });
    const lenient = makeTokenVerifier({ getKey: async () => secret, issuer: ISSUER, audience: AUDIENCE });
    expect(await lenient(noIat)).to.include({ ok: true });
  });

  it("reads scopes from scope (space-separated) and scp (array), and rooms; the authorizer passes them on", async () => {
    const token = await new SignJWT({ scope: "notifications:send openid", scp: ["chat:send"], rooms: ["ops", 7, "team a"] })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("svc")
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime("1h")
      .sign(secret);
    expect(await verify(token)).to.deep.equal({
      ok: true,
      userId: "svc",
      scopes: ["notifications:send", "openid", "chat:send"],
      rooms: ["ops"],
    });
    const authorize = makeWebSocketAuthorizer({ verify, logger: () => undefined });
    const result = await authorize({
      requestContext: { connectionId: "c", routeKey: "$connect" },
      queryStringParameters: { token },
      methodArn: "arn:x",
    });
    expect(result.context).to.deep.equal({ userId: "svc", scope: "notifications:send openid chat:send", rooms: "ops" });
  });
});

describe("identity-provider tokens from a JWKS URL", () => {
  let server: http.Server;
  let jwksUrl: string;
  let keys: JWK[] = [];
  let fetches = 0;
  const pairs: Record<string, Awaited<ReturnType<typeof generateKeyPair>>> = {};
  const publish = async (kid: string, alg: string): Promise<JWK> => ({ ...(await exportJWK(pairs[kid].publicKey)), kid, alg, use: "sig" });

  before(async () => {
    for (const [kid, alg] of [
      ["rsa-1", "RS256"],
      ["ec-1", "ES256"],
      ["rsa-2", "RS256"],
      ["stranger", "RS256"],
    ] as const) {
      pairs[kid] = await generateKeyPair(alg, { extractable: true });
    }
    // rsa-2 is published later, by the rotation test; "stranger" never is.
    keys = [await publish("rsa-1", "RS256"), await publish("ec-1", "ES256")];
    server = http.createServer((req, res) => {
      fetches++;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ keys }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    jwksUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const idpToken = (kid: string, alg: string, claims: Record<string, unknown> = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg, kid })
      .setSubject(`user-${kid}`)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime("10m")
      .sign(pairs[kid].privateKey);

  it("accepts RS256 and ES256 tokens signed with the published keys, fetching the JWKS once", async () => {
    fetches = 0;
    const verify = makeTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwksUrl, jwksCooldownMs: 0 });
    expect(await verify(await idpToken("rsa-1", "RS256"))).to.include({ ok: true, userId: "user-rsa-1" });
    expect(await verify(await idpToken("ec-1", "ES256", { scope: "notifications:send" }))).to.deep.include({
      ok: true,
      userId: "user-ec-1",
      scopes: ["notifications:send"],
    });
    expect(await verify(await idpToken("rsa-1", "RS256"))).to.include({ ok: true });
    expect(fetches).to.equal(1);
  });

  it("refetches the keys when an unknown kid arrives, so a rotated-in key works", async () => {
    fetches = 0;
    const verify = makeTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwksUrl, jwksCooldownMs: 0 });
    expect(await verify(await idpToken("rsa-1", "RS256"))).to.include({ ok: true });
    const rotated = await idpToken("rsa-2", "RS256");
    expect(await verify(rotated)).to.deep.equal({ ok: false, reason: "no key of the identity provider matches the token's kid" });
    keys = [...keys, await publish("rsa-2", "RS256")];
    expect(await verify(rotated)).to.include({ ok: true, userId: "user-rsa-2" });
    expect(fetches).to.equal(3);
  });

  it("refuses a token signed by a key the JWKS does not publish, and HS256 when no secret is configured", async () => {
    const verify = makeTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwksUrl, jwksCooldownMs: 0 });
    const forged = await new SignJWT({})
      .setProtectedHeader({ alg: "RS256", kid: "rsa-1" })
      .setSubject("mallory")
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime("10m")
      .sign(pairs.stranger.privateKey);
    expect(await verify(forged)).to.deep.equal({ ok: false, reason: "bad signature" });
    const hs = await signDevToken({ secret: OLD_SECRET, userId: "mallory", issuer: ISSUER, audience: AUDIENCE });
    expect(await verify(hs)).to.deep.equal({ ok: false, reason: "algorithm not allowed" });
  });

  it("takes HS256 and JWKS tokens side by side when both are configured", async () => {
    const secret = new TextEncoder().encode(OLD_SECRET);
    const verify = makeTokenVerifier({ getKey: async () => secret, issuer: ISSUER, audience: AUDIENCE, jwksUrl, jwksCooldownMs: 0 });
    expect(await verify(await signDevToken({ secret, userId: "local", issuer: ISSUER, audience: AUDIENCE }))).to.include({ ok: true });
    expect(await verify(await idpToken("ec-1", "ES256"))).to.include({ ok: true });
  });
});
