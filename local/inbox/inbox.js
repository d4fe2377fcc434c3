// The local inbox: signs in as a user with a dev token, listens on the WebSocket API and shows
// actionable notifications (with an unread badge) and feedback (a transient progress line).
// Plain browser JavaScript, no build step. Messages are inserted as text, never as HTML.
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
  };

  let socket = null;
  let session = 0; // bumps on every user switch, so late events of an old socket are ignored
  let reconnectAttempt = 0;
  let reconnectTimer = null;
  let progressTimer = null;

  function setStatus(state, text) {
    els.status.dataset.state = state;
    els.status.textContent = text;
  }

  function updateBadge() {
    const unread = els.list.querySelectorAll('li[data-read="false"]').length;
    els.badge.textContent = String(unread);
    els.badge.dataset.count = String(unread);
    els.badge.setAttribute("aria-label", unread + " unread notification" + (unread === 1 ? "" : "s"));
    document.title = (unread ? "(" + unread + ") " : "") + "Tidings inbox (local)";
    els.empty.hidden = els.list.children.length > 0;
  }

  function markRead(item) {
    if (item.dataset.read === "true") return;
    item.dataset.read = "true";
    updateBadge();
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

  function showNotification(frame) {
    if (typeof frame.id !== "string" || typeof frame.message !== "string") return;
    if (els.list.querySelector('li[data-id="' + CSS.escape(frame.id) + '"]')) return; // delivered twice
    const item = document.createElement("li");
    item.dataset.id = frame.id;
    item.dataset.read = "false";

    const message = document.createElement("button");
    message.type = "button";
    message.className = "message";
    message.textContent = frame.message;
    message.title = "Mark as read";
    message.addEventListener("click", () => markRead(item));
    item.append(message);

    const href = safeUrl(frame.callback);
    if (href) {
      const link = document.createElement("a");
      link.href = href;
      link.target = "_blank";
      link.rel = "noopener noreferrer";
      link.textContent = "Open";
      link.setAttribute("aria-label", "Open: " + frame.message);
      link.addEventListener("click", () => markRead(item));
      item.append(link);
    }

    const time = document.createElement("time");
    const now = new Date();
    time.dateTime = now.toISOString();
    time.textContent = now.toLocaleTimeString();
    item.append(time);

    els.list.prepend(item);
    updateBadge();
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
    else if (frame && frame.type === "feedback") showFeedback(frame);
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
      const token = await tokenResponse.json();
      const config = await configResponse.json();
      if (!tokenResponse.ok) throw new Error(token.message || "no token");
      if (!configResponse.ok || !config.websocketUrl) throw new Error("no WebSocket URL from /dev/config");
      url = new URL(config.websocketUrl);
      url.searchParams.set("token", token.token);
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
      setStatus("open", "Connected as " + userId);
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
    els.list.replaceChildren();
    els.progress.hidden = true;
    updateBadge();
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

  const fromQuery = new URLSearchParams(location.search).get("user");
  if (fromQuery) els.user.value = fromQuery;
  updateBadge();
  start(els.user.value.trim() || "alice");
})();
