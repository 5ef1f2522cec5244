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
  var source = null; /* the page's current EventSource */

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
    source = new EventSource(url, { withCredentials: true });
    EVENT_TYPES.forEach(function (type) {
      source.addEventListener(type, function (event) {
        if (event.lastEventId) { lastEventId = event.lastEventId; }
      });
    });
    source.addEventListener("message", notify);
    source.addEventListener("open", function () { setConnection("connected", "Connected"); });
    source.addEventListener("error", function () {
      if (!navigator.onLine) { setConnection("offline", "Offline"); }
      else { setConnection("reconnecting", "Reconnecting…"); }
    });
    return source;
  };
  window.addEventListener("offline", function () { setConnection("offline", "Offline"); });
  /* A short loss of network may not have broken the stream at all. */
  window.addEventListener("online", function () {
    if (source && source.readyState === EventSource.OPEN) { setConnection("connected", "Connected"); }
    else { setConnection("reconnecting", "Reconnecting…"); }
  });

  /* -- messages into threads --------------------------------------------------------------- */

  function thread() { return $("#thread"); }
  function log() { var t = thread(); return t && $(".log", t); }
  function atBottom(el) { return el.scrollHeight - el.scrollTop - el.clientHeight < 48; }
  function scrollToBottom() { var el = log(); if (el) { el.scrollTop = el.scrollHeight; } }
  /* Whether the reader is at the newest message. While they are, the thread stays there, also
     when the log shrinks (the phone keyboard opens, a banner appears). */
  var pinned = true;
  var resized = window.ResizeObserver && new ResizeObserver(function () {
    if (pinned) { scrollToBottom(); }
  });

  /* Put one message in its list: the same id replaces (ticks, unsend), the same client_id replaces
     the pending copy, and messages stay in seq order even when the stream and the POST answer
     arrive the other way round. `day` is its day separator when the page lacks it: it goes right
     above the message. Returns whether the message is new to the page. */
  function place(list, node, day) {
    var existing = document.getElementById(node.id);
    var clientId = node.getAttribute("data-client-id");
    var pending = !existing && clientId && list.querySelector('[data-pending="' + clientId + '"]');
    if (existing) {
      existing.replaceWith(node);
    } else if (pending) {
      pending.replaceWith(node);
    } else {
      var seq = Number(node.getAttribute("data-seq"));
      var after = null;
      Array.prototype.some.call(list.querySelectorAll(".msg[data-seq]"), function (other) {
        if (Number(other.getAttribute("data-seq")) > seq) { after = other; return true; }
        return false;
      });
      list.insertBefore(node, after || list.querySelector(".msg.pending, .msg.failed"));
    }
    if (day && !existing) { list.insertBefore(day, node); }
    htmx.process(node);
    return !existing;
  }

  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail.target;
    if (!target.classList || !target.classList.contains("messages")) { return; }
    var arrivals = 0;
    var day = null;
    Array.prototype.slice.call(event.detail.fragment.children).forEach(function (node) {
      if (node.classList.contains("day")) {
        day = document.getElementById(node.id) ? null : node;
      } else {
        if (place(target, node, day) && node.classList.contains("in")) { arrivals += 1; }
        day = null;
      }
    });
    event.detail.shouldSwap = false;
    if (pinned) { scrollToBottom(); }
    else if (arrivals) { var jump = $(".jump-new"); if (jump) { jump.hidden = false; } }
    if (arrivals) { markReadSoon(); }
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest(".jump-new")) {
      scrollToBottom();
      event.target.closest(".jump-new").hidden = true;
    }
  });
  document.addEventListener("scroll", function (event) {
    var el = event.target;
    if (!el.classList || !el.classList.contains("log")) { return; }
    pinned = atBottom(el);
    var jump = $(".jump-new");
    if (pinned && jump) { jump.hidden = true; }
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

  /* -- notifications: asked for only after a click on the offer, shown only while hidden ---- */

  function offerNotifications() {
    var offer = $("#notify-offer");
    if (!offer || !("Notification" in window) || Notification.permission !== "default") { return; }
    try { if (sessionStorage.getItem("elako-notify") === "later") { return; } } catch (e) { /* private mode */ }
    offer.hidden = false;
  }

  document.addEventListener("click", function (event) {
    var choice = event.target.closest && event.target.closest("[data-notify]");
    if (!choice) { return; }
    $("#notify-offer").hidden = true;
    if (choice.getAttribute("data-notify") === "on") {
      Notification.requestPermission();
    } else {
      try { sessionStorage.setItem("elako-notify", "later"); } catch (e) { /* private mode */ }
    }
  });

  /* Called with each `message` event of the stream, on any page: the fragment rendered for this
     viewer holds the message as `.msg.in` when someone else sent it, and its inbox row. */
  function notify(event) {
    if (document.visibilityState === "visible" || !("Notification" in window) ||
        Notification.permission !== "granted") { return; }
    var fragment = document.createElement("template");
    fragment.innerHTML = event.data; /* inert: nothing in it runs or loads */
    var incoming = $(".msg.in .body", fragment.content);
    var row = $(".row-link", fragment.content);
    if (!incoming || !row) { return; }
    var href = row.getAttribute("href");
    var note = new Notification($(".name", row).textContent,
      { body: incoming.textContent.slice(0, 120), tag: href });
    note.onclick = function () {
      window.focus();
      note.close();
      if (location.pathname !== href) { location.assign(href); }
    };
  }

  /* -- sending ------------------------------------------------------------------------------ */

  function pendingCopy(body, clientId) {
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
    meta.textContent = "Sending…";
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
      list.appendChild(pendingCopy(body, clientId));
    }
    event.detail.elt.setAttribute("data-sending", clientId);
    form.reset();
    resize($("textarea", form));
    $("textarea", form).focus(); /* ready for the next message, even after a tap on Send */
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
    $(".meta", item).textContent = "Sending…";
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
    var el = log();
    if (el) {
      el.classList.add("scripted");
      pinned = true;
      scrollToBottom();
      if (resized) { resized.disconnect(); resized.observe(el); }
    }
    var textarea = $("#composer textarea");
    if (textarea && window.matchMedia("(pointer: fine)").matches) { textarea.focus(); }
  }
  document.addEventListener("DOMContentLoaded", function () {
    offerNotifications(); /* first: the offer takes room from the thread */
    settle();
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.detail.elt && event.detail.elt.id === "thread") { settle(); }
  });
})();
