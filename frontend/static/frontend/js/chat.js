// Live conversation (protocol: docs/websocket.md). The database is the truth, the socket a
// doorbell: every message has a sequence number; on every (re)connection we ask for what came
// after the last one shown, and we show each number once. Our own messages carry a client id
// and are resent with the same id until acknowledged, so nothing is lost and nothing doubled.
// When WebSockets are blocked we poll and send through the REST endpoints instead.

const root = document.getElementById("chat");
if (root) start(root);

function start(root) {
  const t = (key) => root.dataset["t" + key[0].toUpperCase() + key.slice(1)] || "";
  const me = Number(root.dataset.me);
  const api = root.dataset.api;
  const log = document.getElementById("chat-log");
  const scroller = document.getElementById("chat-scroll");
  const statusLine = document.getElementById("chat-status");
  const typingLine = document.getElementById("chat-typing");
  const form = document.getElementById("chat-form");
  const input = document.getElementById("chat-body");

  const seen = new Set();            // sequence numbers on screen
  const pending = new Map();         // client id -> {li, body, sent}
  let lastSeq = Number(root.dataset.lastSeq) || 0;
  let otherReadSeq = 0;
  let socket = null;
  let attempts = 0;                  // reconnections since the last successful open
  let everOpened = false;
  let fallback = false;              // REST mode when the socket never opens
  let reconnectTimer = null;
  let pollTimer = null;
  let typingTimer = null;
  let lastTypingSent = 0;
  let ended = root.dataset.open !== "1";

  for (const li of log.querySelectorAll("li[data-seq]")) seen.add(Number(li.dataset.seq));

  const setStatus = (text) => { statusLine.textContent = text; };
  const newClientId = () =>
    (crypto.randomUUID ? crypto.randomUUID() : Date.now().toString(36) + "-" + Math.random().toString(36).slice(2));

  function bubble(mine, body, label) {
    const li = document.createElement("li");
    li.className = "msg" + (mine ? " msg-mine" : "");
    const meta = document.createElement("span");
    meta.className = "msg-meta";
    meta.textContent = label;
    const text = document.createElement("span");
    text.className = "msg-body";
    text.textContent = body;               // text, never markup
    li.append(meta, text);
    if (mine) {
      const state = document.createElement("span");
      state.className = "msg-meta msg-state";
      li.append(state);
    }
    document.getElementById("chat-empty")?.remove();
    log.append(li);
    scroller.scrollTop = scroller.scrollHeight;
    return li;
  }

  // Keep the log in sequence order: a stored message goes before any later one and before our
  // own messages still waiting for their number (written offline, say), which stay at the end.
  function place(li, seq) {
    li.dataset.seq = seq;
    for (const other of log.querySelectorAll("li.msg")) {
      if (other === li) continue;
      const otherSeq = other.dataset.seq ? Number(other.dataset.seq) : Infinity;
      if (otherSeq > seq) {
        if (other.previousElementSibling !== li) log.insertBefore(li, other);
        return;
      }
    }
    if (log.lastElementChild !== li) log.append(li);
  }

  function setState(li, text) {
    const state = li.querySelector(".msg-state");
    if (state) state.textContent = text;
  }

  function time(iso) {
    const d = iso ? new Date(iso) : new Date();
    return d.toLocaleTimeString(document.documentElement.lang, { hour: "2-digit", minute: "2-digit" });
  }

  // One stored message (live, replayed or polled): shown once, in order of arrival.
  function show(msg) {
    if (seen.has(msg.seq)) return;
    seen.add(msg.seq);
    const mine = msg.sender_id === me;
    const own = msg.client_id && pending.get(msg.client_id);
    let li;
    if (own) {
      li = own.li;
      pending.delete(msg.client_id);
    } else {
      li = bubble(mine, msg.redacted ? "…" : msg.body, (mine ? t("me") : t("other")) + ", " + time(msg.created_at));
    }
    place(li, msg.seq);
    scroller.scrollTop = scroller.scrollHeight;
    if (mine) setState(li, msg.seq <= otherReadSeq ? t("read") : t("sent"));
    lastSeq = Math.max(lastSeq, msg.seq);
    if (!mine) { typingLine.textContent = ""; markRead(); }
  }

  function markOwnRead(upTo) {
    otherReadSeq = Math.max(otherReadSeq, upTo);
    for (const li of log.querySelectorAll("li.msg-mine[data-seq]")) {
      if (Number(li.dataset.seq) <= otherReadSeq) setState(li, t("read"));
    }
  }

  function markRead() {
    if (document.visibilityState !== "visible" || !lastSeq) return;
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "read", up_to_seq: lastSeq }));
    } else {
      rest("read/", { up_to_seq: lastSeq }).catch(() => {});
    }
  }

  async function rest(path, body) {
    const response = await fetch(api + path, {
      method: body ? "POST" : "GET",
      credentials: "same-origin",
      headers: body ? { "Content-Type": "application/json", "X-CSRFToken": root.dataset.csrf } : {},
      body: body ? JSON.stringify(body) : undefined,
    });
    if (!response.ok) {
      const error = new Error("HTTP " + response.status);
      error.status = response.status;
      error.retryAfter = Number(response.headers.get("Retry-After")) || 0;
      throw error;
    }
    return response.json();
  }

  // --- Sending ---------------------------------------------------------------------------------

  function transmit(clientId) {
    const item = pending.get(clientId);
    if (!item) return;
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "send", client_id: clientId, body: item.body }));
    } else if (fallback) {
      rest("messages/", { client_id: clientId, body: item.body })
        .then((msg) => show(msg))
        .catch((error) => {
          if (error.status === 429) setTimeout(() => transmit(clientId), (error.retryAfter || 2) * 1000);
          else if (error.status === 409) endConversation();
        });
    } // otherwise it stays pending and leaves on the next open
  }

  if (form) {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const body = input.value;
      if (!body.trim() || ended) return;
      const clientId = newClientId();
      const li = bubble(true, body, t("me") + ", " + time());
      setState(li, t("sending"));
      li.dataset.clientId = clientId;
      pending.set(clientId, { li, body });
      input.value = "";
      input.focus();
      transmit(clientId);
    });
    input.addEventListener("input", () => {
      const now = Date.now();
      if (socket && socket.readyState === WebSocket.OPEN && now - lastTypingSent > 2000) {
        lastTypingSent = now;
        socket.send(JSON.stringify({ type: "typing" }));
      }
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
    });
  }

  function endConversation(text) {
    ended = true;
    setStatus(text || t("ended"));
    if (form) form.hidden = true;
    stopPolling();
  }

  // --- The socket --------------------------------------------------------------------------------

  function connect() {
    clearTimeout(reconnectTimer);
    if (ended || !navigator.onLine) return;
    if (socket && socket.readyState <= WebSocket.OPEN) return;
    setStatus(fallback ? t("fallback") : t("connecting"));
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}${root.dataset.wsPath}?after_seq=${lastSeq}`);
    socket = ws;
    ws.addEventListener("open", () => {
      attempts = 0;
      everOpened = true;
      if (fallback) { fallback = false; stopPolling(); }
      setStatus(t("online"));
      for (const clientId of pending.keys()) transmit(clientId);
    });
    ws.addEventListener("message", (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch { return; }
      switch (frame.type) {
        case "message": show(frame); break;
        case "ack": {
          const item = pending.get(frame.client_id);
          if (item) {
            pending.delete(frame.client_id);
            seen.add(frame.seq);
            place(item.li, frame.seq);
            setState(item.li, frame.seq <= otherReadSeq ? t("read") : t("sent"));
            lastSeq = Math.max(lastSeq, frame.seq);
          }
          break;
        }
        case "read": if (frame.user_id !== me) markOwnRead(frame.up_to_seq); break;
        case "typing":
          if (frame.user_id !== me) {
            typingLine.textContent = t("typing");
            clearTimeout(typingTimer);
            typingTimer = setTimeout(() => { typingLine.textContent = ""; }, 5000);
          }
          break;
        case "resumed": markRead(); break;
        case "error":
          if (frame.code === "rate_limited" && frame.client_id) {
            setTimeout(() => transmit(frame.client_id), (frame.retry_after || 2) * 1000);
          } else if (frame.client_id && pending.has(frame.client_id)) {
            setState(pending.get(frame.client_id).li, frame.message);
            pending.delete(frame.client_id);
          }
          break;
      }
    });
    ws.addEventListener("close", (event) => {
      if (socket === ws) socket = null;
      if (event.code === 4410) return endConversation();
      if (event.code === 4403) return endConversation(t("gone"));
      if (ended) return;
      attempts += 1;
      // A socket that never opened twice in a row is probably blocked (proxy, firewall):
      // switch to REST, and keep trying the socket now and then.
      if (!everOpened && attempts >= 2 && !fallback) startPolling();
      if (!navigator.onLine) { setStatus(t("offline")); return; }
      const delay = Math.min(30000, 1000 * 2 ** Math.min(attempts - 1, 5)) * (0.75 + Math.random() / 2);
      if (!fallback) setStatus(t("connecting"));
      reconnectTimer = setTimeout(connect, fallback ? 30000 : delay);
    });
  }

  // --- REST fallback -------------------------------------------------------------------------------

  async function poll() {
    try {
      let more = true;
      while (more) {
        const page = await rest(`messages/?after=${lastSeq}&limit=200`);
        page.results.forEach(show);
        more = page.has_more;
      }
    } catch (error) {
      if (error.status === 404 || error.status === 403) endConversation(t("gone"));
    }
  }

  function startPolling() {
    fallback = true;
    setStatus(t("fallback"));
    for (const clientId of pending.keys()) transmit(clientId);
    poll();
    pollTimer = setInterval(poll, 3000);
  }

  function stopPolling() { clearInterval(pollTimer); pollTimer = null; }

  // --- Phones: sleep, network changes, back-forward cache -------------------------------------------

  window.addEventListener("offline", () => {
    setStatus(t("offline"));
    if (socket) socket.close();
  });
  window.addEventListener("online", () => { attempts = 0; connect(); if (fallback) poll(); });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState !== "visible") return;
    if (!socket || socket.readyState > WebSocket.OPEN) { attempts = 0; connect(); }
    if (fallback) poll();
    markRead();
  });
  window.addEventListener("pageshow", (event) => { if (event.persisted) { attempts = 0; connect(); } });

  if (!ended) connect(); else setStatus(t("ended"));
}
