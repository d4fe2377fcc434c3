/**
 * Locales (BCP 47): a user's (`PUT /me/preferences` `locale`) or a notification's own (`locale` in the
 * request). A template may have a variant per locale, `templates/<type>/<channel>.<locale>.json`; the
 * service tries `de-AT`, then `de`, then `<channel>.json`. Dates and numbers in `data` are rendered as
 * the producer wrote them: Tidings formats nothing.
 */

/** A BCP 47 tag Intl knows, in its canonical form (`de-at` → `de-AT`); undefined otherwise. */
export function canonicalLocale(value: unknown): string | undefined {
  if (typeof value !== "string" || value.length === 0 || value.length > 35) return undefined;
  try {
    const [canonical] = Intl.getCanonicalLocales(value);
    return canonical;
  } catch {
    return undefined;
  }
}

/** The variants to try for `locale`, most specific first: `de-AT` → `de-AT`, `de`. */
export function localeChain(locale: string | undefined): string[] {
  if (!locale) return [];
  const parts = locale.split("-");
  const chain: string[] = [];
  for (let n = parts.length; n >= 1; n--) chain.push(parts.slice(0, n).join("-"));
  return chain;
}
