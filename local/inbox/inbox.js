// The local inbox: signs in as a user with a dev token and is a client of the end-user API and the
// WebSocket API: history from GET /me/notifications on open (and after every reconnect: catch-up),
// the server's unread badge, mark read, mark all read and archive (POST /me/notifications/read|archive),
// read state synced across tabs by the `read` frame, live notifications and feedback (a progress line),
// and a preferences panel (GET/PUT /me/preferences). Plain browser JavaScript, no build step.
// Messages are inserted as text, never as HTML.
(function () {
  "use strict";

  const RECONNECT_FIRST_MS = 1000;
  const RECONNECT_MAX_MS = 30000;
  const PROGRESS_LINGER_MS = 6000;

  const els = {
    form: document.getElementById("user-form"),
    user: document.getElementById("user"),
    status: document.getElementById("status"),
    badge: document.getElementById("badge"),
    list: document.getElementById("notifications"),
    empty: document.getElementById("empty"),
    progress: document.getElementById("progress"),
    markAll: document.getElementById("mark-all"),
    view: document.getElementById("view"),
    preferences: document.querySelector("#preferences tbody"),
    preferencesStatus: document.getElementById("preferences-status"),
    when: document.getElementById("when"),
    contact: document.getElementById("contact"),
    contactStatus: document.getElementById("contact-status"),
    verify: document.getElementById("verify"),
  };

  let socket = null;
  let session = 0; // bumps on every user switch, so late events of an old socket are ignored
  let reconnectAttempt = 0;
  let reconnectTimer = null;
  let progressTimer = null;
  let token = null; // the signed-in user's token: the WebSocket's and the end-user API's

  function setStatus(state, text) {
    els.status.dataset.state = state;
    els.status.textContent = text;
  }

  /** The badge shows the server's unread count (GET /me/notifications/count and every answer that carries it). */
  function setUnread(count) {
    els.badge.textContent = String(count);
    els.badge.dataset.count = String(count);
    els.badge.setAttribute("aria-label", count + " unread notification" + (count === 1 ? "" : "s"));
    document.title = (count ? "(" + count + ") " : "") + "Tidings inbox (local)";
    els.empty.hidden = els.list.children.length > 0;
  }

  /** Calls the end-user API with the session's token; answers the parsed JSON (or null for 204). */
  async function api(method, path, body) {
    const response = await fetch(path, {
      method,
      headers: Object.assign({ authorization: "Bearer " + token }, body === undefined ? {} : { "content-type": "application/json" }),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const answer = response.status === 204 ? null : await response.json();
    if (!response.ok) {
      const problem = answer && answer.problems && answer.problems[0];
      throw new Error(problem ? problem.field + " " + problem.problem : "HTTP " + response.status);
    }
    return answer;
  }

  async function markRead(item) {
    if (item.dataset.read === "true") return;
    item.dataset.read = "true";
    try {
      setUnread((await api("POST", "/me/notifications/read", { eventIds: [item.dataset.id] })).unreadCount);
    } catch (error) {
      item.dataset.read = "false";
      setStatus("error", "Could not mark read: " + error.message);
    }
  }

  async function archive(item) {
    try {
      const answer = await api("POST", "/me/notifications/archive", { eventIds: [item.dataset.id] });
      item.remove();
      setUnread(answer.unreadCount);
    } catch (error) {
      setStatus("error", "Could not archive: " + error.message);
    }
  }

  /** Only http(s) callbacks become links: a javascript: URL must never be clickable. */
  function safeUrl(value) {
    try {
      const url = new URL(value, location.href);
      return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
    } catch {
      return null;
    }
  }

  /** One feed entry ({ eventId, kind, content, callback?, link?, progress?, createdAt, readAt? }) as a list item. */
  function renderItem(entry) {
    const item = document.createElement("li");
    item.dataset.id = entry.eventId;
    item.dataset.kind = entry.kind;
    item.dataset.read = entry.readAt ? "true" : "false";

    const message = document.createElement("button");
    message.type = "button";
    message.className = "message";
    message.textContent = entry.content.text + (typeof entry.progress === "number" ? " — " + Math.round(entry.progress) + "%" : "");
    message.title = "Mark as read";
    message.addEventListener("click", () => markRead(item));
    item.append(message);

    // Progress in place: a grouped item is one row whose bar moves with each update.
    if (entry.groupKey !== undefined && typeof entry.progress === "number") {
      const bar = document.createElement("progress");
      bar.max = 100;
      bar.value = entry.progress;
      bar.setAttribute("aria-label", "Progress: " + entry.content.text);
      item.append(bar);
    }

    // The tracking link records the click, then redirects to the callback; the callback is the fallback.
    const href = safeUrl(entry.link) || safeUrl(entry.callback);
    if (href && entry.callback) {
      const link = document.createElement("a");
      link.href = href;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      link.textContent = "Open";
      link.setAttribute("aria-label", "Open: " + entry.content.text);
      link.addEventListener("click", () => markRead(item));
      item.append(link);
    }

    // An archived item stays archived: it has no Archive button.
    if (entry.archivedAt) {
      item.dataset.archived = "true";
      item.append(timeOf(entry));
      return item;
    }
    const archiveButton = document.createElement("button");
    archiveButton.type = "button";
    archiveButton.className = "archive";
    archiveButton.textContent = "Archive";
    archiveButton.setAttribute("aria-label", "Archive: " + entry.content.text);
    archiveButton.addEventListener("click", () => archive(item));
    item.append(archiveButton);

    item.append(timeOf(entry));
    return item;
  }

  function timeOf(entry) {
    const time = document.createElement("time");
    const at = new Date(entry.updatedAt || entry.createdAt);
    time.dateTime = at.toISOString();
    time.textContent = at.toLocaleTimeString();
    return time;
  }

  /** The list's query for the view chosen: every item not archived, the unread ones, or the archived ones. */
  const VIEW_QUERY = { all: "", unread: "&unread=true", archived: "&archived=true" };

  /** History (and catch-up after a reconnect): the newest page of the feed, with the server's unread count. */
  async function loadFeed(mySession) {
    const feed = await api("GET", "/me/notifications?limit=50" + (VIEW_QUERY[els.view.value] ?? ""));
    if (mySession !== session) return;
    els.list.replaceChildren(...feed.items.map(renderItem));
    setUnread(feed.unreadCount);
  }

  let countRequests = 0;
  /** Only the latest request's answer counts: an older one resolving late would show a stale number. */
  async function refreshCount(mySession) {
    const mine = ++countRequests;
    const answer = await api("GET", "/me/notifications/count");
    if (mySession === session && mine === countRequests) setUnread(answer.unreadCount);
  }

  function showNotification(frame) {
    if (typeof frame.id !== "string" || typeof frame.message !== "string") return;
    // A new notification is never archived: the archived view only takes the new count.
    if (els.view.value === "archived") return void refreshCount(session).catch(() => {});
    if (els.list.querySelector('li[data-id="' + CSS.escape(frame.id) + '"]')) return; // delivered twice
    els.list.prepend(
      renderItem({
        eventId: frame.id,
        kind: frame.type === "notification" ? "actionable" : "feedback",
        content: { text: frame.message },
        callback: frame.callback,
        link: frame.link,
        progress: frame.progress,
        createdAt: new Date().toISOString(),
      }),
    );
    // The item is stored before its frame is sent, so the server's count already includes it.
    els.empty.hidden = true;
    refreshCount(session).catch(() => {});
  }

  /** Progress in place: the group's one row takes the update (a new row if it is not shown yet). */
  function showUpdate(frame) {
    if (typeof frame.id !== "string" || typeof frame.message !== "string") return;
    const shown = els.list.querySelector('li[data-id="' + CSS.escape(frame.id) + '"]');
    // The archived view keeps an archived item's row up to date; renotify brings it back to the inbox.
    if (els.view.value === "archived") {
      if (shown && frame.renotify) shown.remove();
      else if (shown) {
        const entry = { eventId: frame.id, kind: "feedback", content: { text: frame.message }, progress: frame.progress };
        shown.replaceWith(renderItem({ ...entry, groupKey: frame.groupKey, createdAt: new Date().toISOString(), archivedAt: "yes" }));
      }
      return void refreshCount(session).catch(() => {});
    }
    const item = renderItem({
      eventId: frame.id,
      kind: "feedback",
      content: { text: frame.message },
      progress: frame.progress,
      groupKey: frame.groupKey,
      createdAt: new Date().toISOString(),
    });
    if (shown) {
      if (!frame.renotify) item.dataset.read = shown.dataset.read;
      shown.replaceWith(item);
    } else {
      els.list.prepend(item);
      els.empty.hidden = true;
    }
    refreshCount(session).catch(() => {});
  }

  /**
   * Another tab or device read or archived: take the server's count, and its list (archived items leave it).
   * `upTo` (mark all read): everything shown arrived before it, so everything shown is read.
   */
  function onRead(frame) {
    if (!Array.isArray(frame.eventIds)) return;
    if (typeof frame.upTo === "string") for (const item of els.list.querySelectorAll("li[data-id]")) item.dataset.read = "true";
    for (const id of frame.eventIds) {
      const item = els.list.querySelector('li[data-id="' + CSS.escape(String(id)) + '"]');
      if (item) item.dataset.read = "true";
    }
    if (typeof frame.unreadCount === "number") setUnread(frame.unreadCount);
    loadFeed(session).catch(() => {});
  }

  function showFeedback(frame) {
    if (typeof frame.message !== "string") return;
    const bar = els.progress.querySelector("progress");
    const hasProgress = typeof frame.progress === "number" && frame.progress >= 0 && frame.progress <= 100;
    els.progress.dataset.id = typeof frame.id === "string" ? frame.id : "";
    els.progress.querySelector(".progress-message").textContent = frame.message + (hasProgress ? " — " + Math.round(frame.progress) + "%" : "");
    if (hasProgress) bar.value = frame.progress;
    else bar.removeAttribute("value"); // indeterminate
    els.progress.hidden = false;
    clearTimeout(progressTimer);
    progressTimer = setTimeout(() => (els.progress.hidden = true), PROGRESS_LINGER_MS);
  }

  function onFrame(event) {
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    if (frame && frame.type === "notification") showNotification(frame);
    else if (frame && frame.type === "feedback") {
      showFeedback(frame);
      showNotification(frame);
    } else if (frame && frame.type === "update") showUpdate(frame);
    else if (frame && frame.type === "read") onRead(frame);
    else if (frame && frame.type === "error") setStatus("open", "Connected — server said: " + (frame.message || frame.error));
  }

  async function connect(userId, mySession) {
    clearTimeout(reconnectTimer);
    setStatus(reconnectAttempt ? "reconnecting" : "connecting", "Connecting as " + userId + "…");
    let url;
    try {
      const [tokenResponse, configResponse] = await Promise.all([
        fetch("/dev/token", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ userId }) }),
        fetch("/dev/config"),
      ]);
      const signedIn = await tokenResponse.json();
      const config = await configResponse.json();
      if (!tokenResponse.ok) throw new Error(signedIn.message || "no token");
      if (!configResponse.ok || !config.websocketUrl) throw new Error("no WebSocket URL from /dev/config");
      if (mySession !== session) return;
      token = signedIn.token;
      url = new URL(config.websocketUrl);
      url.searchParams.set("token", token);
    } catch (error) {
      if (mySession === session) scheduleReconnect(userId, mySession, "Could not sign in: " + error.message);
      return;
    }
    if (mySession !== session) return;

    const ws = new WebSocket(url.href);
    socket = ws;
    ws.addEventListener("open", () => {
      if (mySession !== session) return;
      reconnectAttempt = 0;
      // Catch-up: whatever arrived while this page was closed or disconnected is in the feed.
      loadFeed(mySession)
        .then(() => mySession === session && setStatus("open", "Connected as " + userId))
        .catch((error) => mySession === session && setStatus("error", "Could not load the feed: " + error.message));
      loadPreferences(mySession).catch((error) => (els.preferencesStatus.textContent = "Could not load preferences: " + error.message));
      loadContact(mySession).catch((error) => (els.contactStatus.textContent = "Could not load your contact details: " + error.message));
    });
    ws.addEventListener("message", (event) => {
      if (mySession === session) onFrame(event);
    });
    ws.addEventListener("close", (event) => {
      if (mySession !== session) return;
      socket = null;
      scheduleReconnect(userId, mySession, "Connection closed" + (event.code ? " (" + event.code + ")" : ""));
    });
  }

  /** Exponential backoff with jitter, capped; a fresh token is fetched on every try. */
  function scheduleReconnect(userId, mySession, why) {
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_FIRST_MS * 2 ** reconnectAttempt) * (0.75 + Math.random() * 0.5);
    reconnectAttempt++;
    setStatus("reconnecting", why + " — reconnecting in " + Math.ceil(delay / 1000) + " s");
    clearTimeout(reconnectTimer);
    reconnectTimer = setTimeout(() => connect(userId, mySession), delay);
  }

  function start(userId) {
    session++;
    reconnectAttempt = 0;
    clearTimeout(reconnectTimer);
    if (socket) socket.close(1000, "switching user");
    socket = null;
    token = null;
    els.list.replaceChildren();
    els.preferences.replaceChildren();
    els.progress.hidden = true;
    setUnread(0);
    connect(userId, session);
  }

  els.form.addEventListener("submit", (event) => {
    event.preventDefault();
    const userId = els.user.value.trim();
    if (!userId) {
      setStatus("error", "Enter a user id, e.g. alice");
      els.user.focus();
      return;
    }
    history.replaceState(null, "", "?user=" + encodeURIComponent(userId));
    start(userId);
  });

  els.view.addEventListener("change", () => {
    if (token) loadFeed(session).catch((error) => setStatus("error", "Could not load the feed: " + error.message));
  });

  els.markAll.addEventListener("click", async () => {
    if (!token) return;
    try {
      const answer = await api("POST", "/me/notifications/read", { all: true });
      for (const item of els.list.querySelectorAll('li[data-read="false"]')) item.dataset.read = "true";
      setUnread(answer.unreadCount);
    } catch (error) {
      setStatus("error", "Could not mark all read: " + error.message);
    }
  });

  /** The preferences panel: one row per type, a checkbox per channel; a critical type cannot be switched off. */
  function renderPreferences(preferences) {
    const rows = Object.entries(preferences.types).map(([type, state]) => {
      const row = document.createElement("tr");
      row.dataset.type = type;
      const name = document.createElement("th");
      name.scope = "row";
      name.textContent = type;
      if (state.critical) {
        const note = document.createElement("span");
        note.className = "critical";
        note.textContent = "always on";
        name.append(note);
      }
      const cell = document.createElement("td");
      for (const [channel, on] of Object.entries(state.channels)) {
        const label = document.createElement("label");
        const box = document.createElement("input");
        box.type = "checkbox";
        box.checked = on;
        box.dataset.channel = channel;
        box.disabled = state.critical;
        box.setAttribute("aria-label", type + " on " + channel);
        box.addEventListener("change", () => setPreference(type, channel, box.checked, box));
        label.append(box, " " + channel);
        cell.append(label);
      }
      row.append(name, cell);
      return row;
    });
    els.preferences.replaceChildren(...rows);
  }

  /** The user's time zone, quiet hours and language, as the preferences say them. */
  function renderWhen(preferences) {
    const fields = els.when.elements;
    fields.timeZone.value = preferences.timeZone || "";
    fields.quietStart.value = (preferences.quietHours && preferences.quietHours.start) || "";
    fields.quietEnd.value = (preferences.quietHours && preferences.quietHours.end) || "";
    fields.locale.value = preferences.locale || "";
  }

  els.when.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!token) return;
    const fields = els.when.elements;
    const start = fields.quietStart.value, end = fields.quietEnd.value;
    const change = {
      // Empty quiet hours or language clear them; the zone stays until another is given.
      quietHours: start && end ? { start, end } : null,
      locale: fields.locale.value.trim() || null,
    };
    if (fields.timeZone.value.trim()) change.timeZone = fields.timeZone.value.trim();
    els.preferencesStatus.textContent = "Saving…";
    try {
      const saved = await api("PUT", "/me/preferences", change);
      renderPreferences(saved);
      renderWhen(saved);
      els.preferencesStatus.textContent = "Saved: time zone, quiet hours and language";
    } catch (error) {
      els.preferencesStatus.textContent = "Not saved: " + error.message;
    }
  });

  /** What GET /me/contact said last: a field left empty that had an address is removed on save. */
  let contact = {};

  /** The user's own e-mail and phone, each with whether it is verified. */
  function renderContact(view) {
    contact = view || {};
    for (const field of ["email", "phone"]) {
      els.contact.elements[field].value = contact[field] ? contact[field].address : "";
      const state = els.contact.querySelector('.contact-state[data-field="' + field + '"]');
      state.textContent = !contact[field] ? "" : contact[field].verified ? "verified" : "waiting for the code";
      state.dataset.verified = contact[field] ? String(contact[field].verified) : "";
    }
  }

  async function loadContact(mySession) {
    const view = await api("GET", "/me/contact");
    if (mySession === session) renderContact(view);
  }

  els.contact.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!token) return;
    const change = {};
    for (const field of ["email", "phone"]) {
      const value = els.contact.elements[field].value.trim();
      const had = contact[field] ? contact[field].address : "";
      if (value !== had) change[field] = value || null;
    }
    if (!Object.keys(change).length) {
      els.contactStatus.textContent = "Nothing changed";
      return;
    }
    els.contactStatus.textContent = "Saving…";
    try {
      renderContact(await api("PUT", "/me/contact", change));
      const waiting = Object.keys(change).filter((field) => change[field] !== null);
      els.contactStatus.textContent = waiting.length
        ? "Saved: enter the code sent to your " + waiting.map((f) => (f === "email" ? "e-mail" : "phone")).join(" and ")
        : "Saved";
      if (waiting.length) {
        els.verify.elements.channel.value = waiting[0] === "email" ? "email" : "sms";
        els.verify.elements.code.focus();
      }
    } catch (error) {
      els.contactStatus.textContent = "Not saved: " + error.message;
    }
  });

  els.verify.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!token) return;
    const fields = els.verify.elements;
    try {
      renderContact(await api("POST", "/me/contact/verify", { channel: fields.channel.value, code: fields.code.value.trim() }));
      fields.code.value = "";
      els.contactStatus.textContent = "Verified";
    } catch (error) {
      els.contactStatus.textContent = "Not verified: " + error.message;
    }
  });

  async function loadPreferences(mySession) {
    const preferences = await api("GET", "/me/preferences");
    if (mySession === session) {
      renderPreferences(preferences);
      renderWhen(preferences);
    }
  }

  async function setPreference(type, channel, on, box) {
    els.preferencesStatus.textContent = "Saving…";
    try {
      renderPreferences(await api("PUT", "/me/preferences", { types: { [type]: { [channel]: on } } }));
      els.preferencesStatus.textContent = "Saved: " + type + " " + (on ? "on" : "off") + " for " + channel;
    } catch (error) {
      box.checked = !on;
      els.preferencesStatus.textContent = "Not saved: " + error.message;
    }
  }

  const fromQuery = new URLSearchParams(location.search).get("user");
  if (fromQuery) els.user.value = fromQuery;
  setUnread(0);
  start(els.user.value.trim() || "alice");
})();
