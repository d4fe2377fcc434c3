/**
 * A page per local sink, like the SES inbox: `/sinks/sms`, `/sinks/slack` and `/sinks/push` list what
 * the providers sent (newest first) with recipient, text, time and clickable links; Slack shows the
 * message as Slack would render its text and blocks. A channel of your own that keeps a webhook address
 * gets `/sinks/<channel>`: what its provider posted to the sink's `/hooks/<channel>/…`, its text found
 * in the card (`title`, `summary`, `text` fields) and its `url` fields as links. `?format=json` answers
 * the same as JSON.
 */
import type * as http from "node:http";
import type { SlackBlock, SlackSink, SnsSink } from "./sinks";

export const SINK_PAGES = ["sms", "slack", "push"] as const;
/** A shipped sink, or a channel of your own with a webhook address. */
export type SinkPage = string;

export interface SinkEntry {
  at: string;
  to: string;
  /** The message as HTML: escaped text, links made clickable (Slack: its mrkdwn rendered). */
  html: string;
  /** The text as sent. */
  text: string;
}

const escapeHtml = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");

/** Plain text with its http(s) URLs as links (the text escaped first, then the links made). */
export function linkedText(text: string): string {
  return escapeHtml(text).replace(/https?:\/\/[^\s<>"']+/g, (url) => `<a href="${url}" rel="noreferrer">${url}</a>`);
}

/**
 * Slack's mrkdwn as Slack shows it: `<url|label>` and `<url>` links, `*bold*`, `_italic_`, and the
 * entities Slack's escaping produced (`&amp;`, `&lt;`, `&gt;`) shown as the characters they stand for.
 */
export function slackHtml(mrkdwn: string): string {
  const parts: string[] = [];
  let last = 0;
  for (const match of mrkdwn.matchAll(/<(https?:\/\/[^|>]+)(?:\|([^>]+))?>/g)) {
    parts.push(slackText(mrkdwn.slice(last, match.index)));
    const url = unescapeSlack(match[1]);
    parts.push(`<a href="${escapeHtml(url)}" rel="noreferrer">${escapeHtml(unescapeSlack(match[2] ?? match[1]))}</a>`);
    last = (match.index ?? 0) + match[0].length;
  }
  parts.push(slackText(mrkdwn.slice(last)));
  return parts.join("");
}

const unescapeSlack = (text: string) => text.replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&amp;/g, "&");
const slackText = (text: string) =>
  escapeHtml(unescapeSlack(text))
    .replace(/\*([^*\n]+)\*/g, "<strong>$1</strong>")
    .replace(/(^|\s)_([^_\n]+)_(?=\s|$)/g, "$1<em>$2</em>")
    .replace(/\n/g, "<br>");

function slackBlocksHtml(blocks: SlackBlock[] | undefined): string {
  return (blocks ?? [])
    .map((block) => {
      if (block.type === "section") return `<p>${slackHtml(String((block.text as { text?: string } | undefined)?.text ?? ""))}</p>`;
      if (block.type === "actions") {
        return (block.elements ?? [])
          .map(
            (e) =>
              `<a class="button" href="${escapeHtml(String(e.url ?? "#"))}" rel="noreferrer">${escapeHtml(String((e.text as { text?: string })?.text ?? "Open"))}</a>`,
          )
          .join(" ");
      }
      if (block.type === "context") {
        return `<p><small>${(block.elements ?? []).map((e) => slackHtml(String(e.text ?? ""))).join(" ")}</small></p>`;
      }
      return "";
    })
    .join("");
}

/** A webhook card's text: its `title`, `summary` and `text` strings in order (each once), and its `url`s and `uri`s. */
function cardParts(value: unknown, parts: { text: string[]; urls: string[] } = { text: [], urls: [] }) {
  if (Array.isArray(value)) for (const item of value) cardParts(item, parts);
  else if (value && typeof value === "object") {
    for (const [key, field] of Object.entries(value)) {
      if (typeof field === "string" && ["title", "summary", "text"].includes(key)) {
        if (!parts.text.includes(field)) parts.text.push(field);
      } else if (typeof field === "string" && (key === "url" || key === "uri") && /^https?:\/\//.test(field)) parts.urls.push(field);
      else cardParts(field, parts);
    }
  }
  return parts;
}

/** What one sink received, newest first. */
export function sinkEntries(page: SinkPage, sinks: { sns: SnsSink; slack: SlackSink }): SinkEntry[] {
  if (!(SINK_PAGES as readonly string[]).includes(page)) {
    return sinks.slack.hooks
      .filter((post) => post.channel === page)
      .map((post) => {
        const { text, urls } = cardParts(post.body);
        const links = urls.map((url) => `<a class="button" href="${escapeHtml(url)}" rel="noreferrer">${escapeHtml(url)}</a>`);
        return {
          at: post.at,
          to: decodeURIComponent(post.path.replace(/^\/hooks\//, "")),
          text: text.join("\n"),
          html: [...text.map((t) => `<p>${linkedText(t)}</p>`), ...links].join(""),
        };
      })
      .reverse();
  }
  if (page === "slack") {
    return sinks.slack.received
      .map((post) => ({
        at: post.at,
        // The webhook's last path segment is its secret: show only that it is there.
        to: post.path.replace(/[^/]+$/, "•••"),
        text: String(post.body?.text ?? ""),
        html: post.body?.blocks?.length ? slackBlocksHtml(post.body.blocks) : slackHtml(String(post.body?.text ?? "")),
      }))
      .reverse();
  }
  const sns = sinks.sns.received.filter((m) => (page === "sms" ? m.phoneNumber : m.targetArn));
  return sns
    .map((m) => ({ at: m.at, to: (page === "sms" ? m.phoneNumber : m.targetArn) ?? "", text: m.message, html: linkedText(m.message) }))
    .reverse();
}

function pageHtml(page: SinkPage, entries: SinkEntry[], pages: string[]): string {
  const rows = entries
    .map(
      (e) =>
        `<li><div class="meta"><span class="to">${escapeHtml(e.to)}</span> <time>${escapeHtml(e.at)}</time></div><div class="message">${e.html}</div></li>`,
    )
    .join("\n");
  const nav = pages.map((p) => (p === page ? `<strong>${p}</strong>` : `<a href="/sinks/${p}">${p}</a>`)).join(" · ");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="3">
<title>Tidings ${page} sink</title>
<style>
  body { font: 14px system-ui, sans-serif; margin: 1.5rem; color: #1d2330; max-width: 48rem; }
  ol { list-style: none; padding: 0; }
  li { border-bottom: 1px solid #dde; padding: .6rem 0; }
  .meta { color: #667; font-size: 12px; }
  .message { margin-top: .3rem; white-space: normal; }
  .button { display: inline-block; border: 1px solid #3461c1; border-radius: 4px; padding: .1rem .6rem; text-decoration: none; }
</style>
</head>
<body>
<h1>${page} sink</h1>
<p><small>What the local ${page} provider sent, newest first (refreshes every 3 s). ${nav} · <a href="/ops">ops</a></small></p>
<ol id="messages">
${rows || "<li><small>Nothing sent yet.</small></li>"}
</ol>
</body>
</html>
`;
}

/** Handles `/sinks/<name>` (a shipped sink, or one of `webhookChannels`); false for any other path. */
export function handleSinkPage(
  sinks: { sns: SnsSink; slack: SlackSink },
  webhookChannels: string[],
  req: http.IncomingMessage,
  res: http.ServerResponse,
  url: URL,
): boolean {
  const match = /^\/sinks\/([a-z][a-z0-9-]*)\/?$/.exec(url.pathname);
  if (!match || req.method !== "GET") return false;
  const page = match[1];
  const pages = [...SINK_PAGES, ...webhookChannels];
  if (!pages.includes(page)) {
    res.writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: "not found", problems: [{ field: "path", problem: `no sink ${page} (one of ${pages.join(", ")})` }] }));
    return true;
  }
  const entries = sinkEntries(page, sinks);
  if (url.searchParams.get("format") === "json") {
    res.writeHead(200, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
    res.end(JSON.stringify({ sink: page, messages: entries }));
  } else {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
    res.end(pageHtml(page, entries, pages));
  }
  return true;
}
