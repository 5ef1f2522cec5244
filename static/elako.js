/* ELako Chat's only script of its own. htmx does the requests and swaps; this adds what HTML
   attributes cannot say:
   - resume the event stream from the last event seen, even after the SSE extension re-creates
     its EventSource (which forgets Last-Event-ID), and show the connection state;
   - put each message in its thread once, in order, replacing the sender's pending copy;
   - optimistic sending with a client_id per message, and a retry that reuses it;
   - mark arrivals read only while the page is visible; keep the thread pinned to the bottom
     unless the reader scrolled up; the page title; opt-in notifications; Enter to send.
   Without JavaScript none of this runs and the pages still work as plain forms and links. */
(function () {
  "use strict";

  var EVENT_TYPES = ["message", "message_deleted", "read", "delivered", "conversation", "typing",
    "presence", "resync", "signed_out"];
  var lastEventId = null;

  function $(selector, root) { return (root || document).querySelector(selector); }
  function newClientId() {
    if (window.crypto && crypto.getRandomValues) {
      var bytes = new Uint8Array(12);
      crypto.getRandomValues(bytes);
      return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
    }
    return Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  /* -- the event stream -------------------------------------------------------------------- */

  function setConnection(state, text) {
    var indicator = $("#connection");
    if (!indicator) { return; }
    indicator.hidden = false;
    indicator.setAttribute("data-state", state);
    indicator.textContent = text;
  }

  htmx.createEventSource = function (url) {
    if (lastEventId) {
      url = url.replace(/([?&]last_event_id=)[^&]*/, "$1" + encodeURIComponent(lastEventId));
    }
    var source = new EventSource(url, { withCredentials: true });
    EVENT_TYPES.forEach(function (type) {
      source.addEventListener(type, function (event) {
        if (event.lastEventId) { lastEventId = event.lastEventId; }
      });
    });
    source.addEventListener("open", function () { setConnection("connected", "Connected"); });
    source.addEventListener("error", function () {
      if (!navigator.onLine) { setConnection("offline", "Offline"); }
      else { setConnection("reconnecting", "Reconnecting…"); }
    });
    return source;
  };
  window.addEventListener("offline", function () { setConnection("offline", "Offline"); });

  /* -- messages into threads --------------------------------------------------------------- */

  function thread() { return $("#thread"); }
  function log() { var t = thread(); return t && $(".log", t); }
  function atBottom(el) { return el.scrollHeight - el.scrollTop - el.clientHeight < 48; }
  function scrollToBottom() { var el = log(); if (el) { el.scrollTop = el.scrollHeight; } }

  /* Insert or replace one node in a message list: the same id replaces (ticks, unsend), the same
     client_id replaces the pending copy, a day separator appears once, and messages stay in seq
     order even when the stream and the POST answer arrive the other way round. */
  function place(list, node) {
    var existing = node.id && document.getElementById(node.id);
    if (!existing && node.getAttribute("data-client-id")) {
      existing = list.querySelector('[data-pending="' + node.getAttribute("data-client-id") + '"]');
    }
    if (existing) {
      if (!node.classList.contains("day")) { existing.replaceWith(node); htmx.process(node); }
      return false;
    }
    var seq = Number(node.getAttribute("data-seq"));
    var after = null;
    if (seq) {
      Array.prototype.some.call(list.querySelectorAll(".msg[data-seq]"), function (other) {
        if (Number(other.getAttribute("data-seq")) > seq) { after = other; return true; }
        return false;
      });
      var pending = list.querySelector(".msg.pending, .msg.failed");
      if (!after && pending) { after = pending; }
    }
    list.insertBefore(node, after);
    htmx.process(node);
    return node.classList.contains("msg");
  }

  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail.target;
    if (!target.classList || !target.classList.contains("messages")) { return; }
    var pinned = atBottom(log() || target);
    var arrivals = 0;
    Array.prototype.slice.call(event.detail.fragment.children).forEach(function (node) {
      if (place(target, node) && node.classList.contains("in")) { arrivals += 1; }
    });
    event.detail.shouldSwap = false;
    if (pinned) { scrollToBottom(); }
    else if (arrivals) { var jump = $(".jump-new"); if (jump) { jump.hidden = false; } }
    if (arrivals) { markReadSoon(); notify(target); }
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest(".jump-new")) {
      scrollToBottom();
      event.target.closest(".jump-new").hidden = true;
    }
  });
  document.addEventListener("scroll", function (event) {
    var el = event.target;
    if (el.classList && el.classList.contains("log") && atBottom(el)) {
      var jump = $(".jump-new");
      if (jump) { jump.hidden = true; }
    }
  }, true);

  /* -- read receipts: only what a visible page shows counts as read -------------------------- */

  var readTimer = null;
  var readOwed = false;
  function markReadSoon() {
    readOwed = true;
    if (document.visibilityState !== "visible" || readTimer) { return; }
    readTimer = setTimeout(function () {
      readTimer = null;
      var t = thread();
      if (!t || !readOwed || document.visibilityState !== "visible") { return; }
      readOwed = false;
      htmx.ajax("POST", "/c/" + t.getAttribute("data-conversation-id") + "/read",
        { source: t, swap: "none" });
    }, 400);
  }
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && readOwed) { markReadSoon(); }
  });

  /* -- notifications: only after the user asked for them, only while hidden ---------------- */

  function notify(list) {
    if (document.visibilityState === "visible" || !("Notification" in window) ||
        Notification.permission !== "granted") { return; }
    var last = list.querySelector(".msg.in:last-of-type .body");
    var name = $(".thread-head h1");
    var note = new Notification(name ? name.textContent : "New message",
      { body: last ? last.textContent.slice(0, 120) : "", tag: location.pathname });
    note.onclick = function () { window.focus(); note.close(); };
  }

  /* -- sending ------------------------------------------------------------------------------ */

  function pendingCopy(form, body, clientId) {
    var item = document.createElement("li");
    item.className = "msg out pending";
    item.setAttribute("data-pending", clientId);
    var bubble = document.createElement("div");
    bubble.className = "bubble";
    var text = document.createElement("p");
    text.className = "body";
    text.textContent = body;
    var meta = document.createElement("span");
    meta.className = "meta";
    bubble.appendChild(text);
    bubble.appendChild(meta);
    item.appendChild(bubble);
    return item;
  }

  function failed(item, message) {
    item.classList.remove("pending");
    item.classList.add("failed");
    var meta = $(".meta", item);
    meta.textContent = "Not sent. ";
    var retry = document.createElement("button");
    retry.type = "button";
    retry.className = "link-button retry";
    retry.textContent = "Retry";
    meta.appendChild(retry);
    if (message) { item.setAttribute("title", message); }
  }

  document.addEventListener("htmx:configRequest", function (event) {
    var form = event.detail.elt;
    if (form.id !== "composer") { return; }
    var params = event.detail.parameters;
    var body = (params.get ? params.get("body") : params.body) || "";
    var clientId = form.getAttribute("data-retry-client-id") || newClientId();
    form.removeAttribute("data-retry-client-id");
    if (params.set) { params.set("client_id", clientId); } else { params.client_id = clientId; }
    var list = $(".messages", thread());
    if (!$('[data-pending="' + clientId + '"]', list)) {
      list.appendChild(pendingCopy(form, body, clientId));
    }
    event.detail.elt.setAttribute("data-sending", clientId);
    form.reset();
    resize($("textarea", form));
    scrollToBottom();
  });

  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (form.id !== "composer") { return; }
    var clientId = form.getAttribute("data-sending");
    var item = clientId && $('[data-pending="' + clientId + '"]');
    if (item && !event.detail.successful) {
      var error = $("#composer-error");
      failed(item, error ? error.textContent : "");
    }
  });

  document.addEventListener("click", function (event) {
    var retry = event.target.closest(".retry");
    if (!retry) { return; }
    var item = retry.closest(".msg");
    var form = $("#composer");
    if (!form) { return; }
    form.setAttribute("data-retry-client-id", item.getAttribute("data-pending"));
    item.classList.remove("failed");
    item.classList.add("pending");
    $(".meta", item).textContent = "";
    var textarea = $("textarea", form);
    var draft = textarea.value;
    textarea.value = $(".body", item).textContent;
    htmx.trigger(form, "submit");
    textarea.value = draft;
  });

  /* Enter sends, Shift+Enter is a new line; the box grows with the text. */
  function resize(textarea) {
    if (!textarea) { return; }
    textarea.style.height = "auto";
    textarea.style.height = Math.min(textarea.scrollHeight + 2, 152) + "px";
  }
  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("#composer textarea")) { resize(event.target); }
  });
  document.addEventListener("keydown", function (event) {
    var textarea = event.target;
    if (event.key !== "Enter" || event.shiftKey || event.isComposing ||
        !textarea.matches || !textarea.matches("#composer textarea")) { return; }
    if (window.matchMedia("(pointer: coarse)").matches) { return; } /* phones: Enter is a newline */
    event.preventDefault();
    if (textarea.value.trim()) { htmx.trigger(textarea.form, "submit"); }
  });

  /* -- page set-up -------------------------------------------------------------------------- */

  function settle() {
    scrollToBottom();
    var textarea = $("#composer textarea");
    if (textarea && window.matchMedia("(pointer: fine)").matches) { textarea.focus(); }
  }
  document.addEventListener("DOMContentLoaded", settle);
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.detail.elt && event.detail.elt.id === "thread") { settle(); }
  });
})();
