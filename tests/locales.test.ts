/**
 * Locales: a template's variants per locale are checked as the stack and `npm start` read them (the
 * same variables as the template, a canonical BCP 47 tag, the template beside them), and the local mode
 * picks the variant of the request's locale, else the user's, falling back from de-AT to de to the
 * template itself.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { expect } from "chai";
import type { LocalTidings } from "../local/tidings";
import { canonicalLocale, localeChain } from "../runtime/locales";
import { readTemplateDirs } from "../runtime/templateFiles";
import { producerScopes, startQuiet } from "./helpers/localTidings";
import { until } from "./helpers/sockets";

const GERMAN = {
  subject: "Ihre Bestellung {{orderId}} ist unterwegs",
  text: "Bestellung {{orderId}} ist mit {{carrier}} verschickt: {{trackingUrl}}\n{{#link}}{{link}}{{/link}}",
  html: '<p>Bestellung {{orderId}} ist mit {{carrier}} verschickt.</p><p><a href="{{trackingUrl}}">Sendung verfolgen</a></p>{{#link}}<a href="{{link}}">Bestellung</a>{{/link}}',
};

function folder(files: Record<string, unknown>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tidings-locales-"));
  for (const [file, content] of Object.entries(files)) {
    fs.mkdirSync(path.join(dir, path.dirname(file)), { recursive: true });
    fs.writeFileSync(path.join(dir, file), JSON.stringify(content));
  }
  return dir;
}

describe("locales", function () {
  this.timeout(60_000);

  it("knows canonical BCP 47 tags and their fallbacks", () => {
    expect(canonicalLocale("de-at")).to.equal("de-AT");
    expect(canonicalLocale("not a locale")).to.equal(undefined);
    expect(localeChain("de-AT")).to.deep.equal(["de-AT", "de"]);
    expect(localeChain("zh-Hant-TW")).to.deep.equal(["zh-Hant-TW", "zh-Hant", "zh"]);
    expect(localeChain(undefined)).to.deep.equal([]);
  });

  it("reads a variant beside its template, and refuses one with other variables, no template beside it, or a tag not written canonically", () => {
    const base = { subject: "Hi {{name}}", text: "Hello {{name}}" };
    const good = readTemplateDirs([
      folder({ "greet/email.json": base, "greet/email.de.json": { subject: "Hallo {{name}}", text: "Hallo {{name}}" } }),
    ]);
    expect(good.map((t) => [t.key, t.locale])).to.deep.equal([
      ["templates/greet/email.de.json", "de"],
      ["templates/greet/email.json", undefined],
    ]);
    const problemsOf = (dir: string) => {
      try {
        readTemplateDirs([dir]);
        return "";
      } catch (error) {
        return (error as Error).message;
      }
    };
    const unpaired = problemsOf(
      folder({
        "greet/email.json": base,
        "greet/email.de.json": { subject: "Hallo {{vorname}}", text: "Hallo" },
        "greet/sms.fr.json": { text: "Salut {{name}}" },
      }),
    );
    expect(unpaired).to.include("greet/email.de.json: uses {{vorname}} where email.json uses {{name}}");
    expect(unpaired).to.include("greet/sms.fr.json: a locale's variant needs greet/sms.json in one of the templates folders");
    const misnamed = problemsOf(folder({ "greet/email.json": base, "greet/email.de-at.json": { text: "Servus {{name}}" } }));
    expect(misnamed).to.include('greet/email.de-at.json: "de-at" is not a BCP 47 locale as written canonically');
  });

  describe("in the local mode", () => {
    let tidings: LocalTidings;
    let producer: string;
    const SHIPPED = { orderId: "L-1", carrier: "DHL", trackingUrl: "https://t.example.com/L-1" };

    before(async () => {
      tidings = await startQuiet({ extraTemplatesDirs: [folder({ "order.shipped/email.de.json": GERMAN })] });
      producer = await tidings.signToken("svc", { scope: producerScopes(tidings) });
    });
    after(async () => tidings?.stop());

    const subjects = async (orderId: string) => {
      const store = (await (await fetch(`${tidings.aws.endpoints.ses}/store`)).json()) as { emails: { subject: string }[] };
      return store.emails.map((m) => m.subject).filter((s) => s.includes(orderId));
    };
    const send = async (orderId: string, extra: Record<string, unknown> = {}) => {
      const response = await fetch(tidings.endpoints.notifications, {
        method: "POST",
        headers: { authorization: `Bearer ${producer}` },
        body: JSON.stringify({ userId: "alice", type: "order.shipped", channels: ["email"], data: { ...SHIPPED, orderId }, ...extra }),
      });
      return { status: response.status, body: (await response.json()) as any };
    };

    it("sends the user's locale's variant (de-AT falls back to de), and a request's own locale before it", async () => {
      const alice = await tidings.signToken("alice");
      const set = await fetch(`${tidings.endpoints.api}/me/preferences`, {
        method: "PUT",
        headers: { authorization: `Bearer ${alice}` },
        body: JSON.stringify({ locale: "de-at" }),
      });
      expect(((await set.json()) as any).locale).to.equal("de-AT");
      expect((await send("L-DE")).status).to.equal(202);
      await until(async () => (await subjects("L-DE")).length === 1, 20_000, "the German e-mail");
      expect(await subjects("L-DE")).to.deep.equal(["Ihre Bestellung L-DE ist unterwegs"]);
      expect((await send("L-EN", { locale: "en-GB" })).status).to.equal(202);
      await until(async () => (await subjects("L-EN")).length === 1, 20_000, "the English e-mail");
      expect(await subjects("L-EN")).to.deep.equal(["Your order L-EN is on its way"]);
    });

    it("refuses a locale that is not BCP 47 in a request or in preferences, naming the field", async () => {
      const refused = await send("L-X", { locale: "klingon!" });
      expect(refused.status).to.equal(400);
      expect(refused.body.problems.map((p: { field: string }) => p.field)).to.deep.equal(["locale"]);
      const prefs = await fetch(`${tidings.endpoints.api}/me/preferences`, {
        method: "PUT",
        headers: { authorization: `Bearer ${await tidings.signToken("bob")}` },
        body: JSON.stringify({ locale: 42 }),
      });
      expect(prefs.status).to.equal(400);
      expect(((await prefs.json()) as any).problems.map((p: { field: string }) => p.field)).to.deep.equal(["locale"]);
    });
  });
});
