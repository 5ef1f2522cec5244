/* ELako Chat's only script of its own. htmx does the page's requests and swaps; this adds what
   HTML attributes cannot say:
   - resume the event stream from the last event seen, even after the SSE extension re-creates
     its EventSource (which forgets Last-Event-ID), and show the connection state;
   - put each message in its thread once, in order, after the sender's pending copy;
   - send each message on its own, in order, shown at once as pending, with a client_id that a
     retry reuses (so it is never stored twice);
   - mark arrivals read only while the page is visible and the reader is at the newest message;
     keep the thread pinned to the bottom unless the reader scrolled up; keep the inbox true to
     its filter and search; the unread count in the title; opt-in notifications; Enter to send.
   Without JavaScript none of this runs and the pages still work as plain forms and links. */
(function () {
  "use strict";

  var EVENT_TYPES = ["message", "message_deleted", "read", "delivered", "conversation", "typing",
    "presence", "resync", "signed_out"];
  var lastEventId = null;
  var source = null; /* the page's current EventSource */

  function $(selector, root) { return (root || document).querySelector(selector); }
  function $$(selector, root) {
    return Array.prototype.slice.call((root || document).querySelectorAll(selector));
  }
  function csrfToken() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"]; } catch (e) { return ""; }
  }
  /* A POST the page makes by itself (a receipt, a sign of activity): nothing to swap, and no
     noise when it fails. Resolves to the answer's status, 0 when there was none. */
  function postQuietly(url, values) {
    var data = new FormData();
    Object.keys(values || {}).forEach(function (name) { data.set(name, values[name]); });
    return fetch(url, {
      method: "POST", body: data, credentials: "same-origin",
      headers: { "HX-Request": "true", "X-CSRFToken": csrfToken() }
    }).then(function (response) { return response.status; }, function () { return 0; });
  }
  /* No answer, or one that may be different later: worth trying again. */
  function retryable(status) { return status === 0 || status === 429 || status >= 500; }
  function newClientId() {
    if (window.crypto && crypto.getRandomValues) {
      var bytes = new Uint8Array(12);
      crypto.getRandomValues(bytes);
      return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
    }
    return Date.now().toString(36) + Math.random().toString(36).slice(2);
  }
  /* HTML from our own server as inert nodes: nothing in a <template> runs or loads. */
  function fragmentOf(html) {
    var template = document.createElement("template");
    template.innerHTML = html;
    return template.content;
  }

  /* -- the event stream -------------------------------------------------------------------- */

  function setConnection(state, text) {
    document.body.setAttribute("data-connection", state); /* CSS shows or hides the manual refresh */
    var indicator = $("#connection");
    if (!indicator) { return; }
    indicator.hidden = false;
    indicator.setAttribute("data-state", state);
    indicator.textContent = text;
  }

  document.body.setAttribute("data-connection", "connecting");

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
    source.addEventListener("open", function () {
      setConnection("connected", "Connected");
      connectionBack();
    });
    source.addEventListener("error", function () {
      if (!navigator.onLine) { setConnection("offline", "Offline"); }
      else { setConnection("reconnecting", "Reconnecting…"); }
    });
    return source;
  };
  window.addEventListener("offline", function () { setConnection("offline", "Offline"); });
  /* A short loss of network may not have broken the stream at all. */
  window.addEventListener("online", function () {
    if (source && source.readyState === EventSource.OPEN) {
      setConnection("connected", "Connected");
      connectionBack();
    } else { setConnection("reconnecting", "Reconnecting…"); }
  });
  /* Connected again (or for the first time): what failed meanwhile is tried again now. */
  function connectionBack() {
    retryReadNow();
    resendUnsent(true);
  }
  /* Whatever a stream event changed, the page's own bookkeeping follows. */
  function afterStreamEvent() {
    tidyInbox();
    showUnreadInTitle();
    restoreDraft();
  }
  document.addEventListener("htmx:sseMessage", afterStreamEvent);

  /* Only what this page can place. An event carries fragments for every view that may show it
     (the thread, the inbox row, the typing line, the ticks) and a page shows only some; htmx
     would log an error for each fragment it has no place for. */
  function oobTarget(el) {
    var spec = el.getAttribute("hx-swap-oob");
    var colon = spec.indexOf(":");
    if (colon > 0) { return document.querySelector(spec.slice(colon + 1)); }
    return el.id ? document.getElementById(el.id) : null;
  }
  function placeable(html) {
    if (typeof html !== "string" || html.indexOf("hx-swap-oob") < 0) { return html; }
    var template = document.createElement("template");
    template.innerHTML = html;
    $$("[hx-swap-oob]", template.content).forEach(function (el) {
      if (!oobTarget(el)) { el.remove(); }
    });
    return template.innerHTML;
  }
  document.addEventListener("htmx:sseBeforeMessage", function (event) {
    var elt = event.detail.elt;
    event.preventDefault(); /* swapped here instead, without what has no place on this page */
    htmx.swap(elt, placeable(event.detail.data), { swapStyle: "none", swapDelay: 0, settleDelay: 0 },
      { contextElement: elt });
    afterStreamEvent();
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    event.detail.serverResponse = placeable(event.detail.serverResponse);
  });
  /* A typing signal means something only live: offline it is not even tried. */
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (!navigator.onLine && /\/typing$/.test(event.detail.requestConfig.path)) { event.preventDefault(); }
  });

  /* -- messages into threads --------------------------------------------------------------- */

  function thread() { return $("#thread"); }
  function log() { var t = thread(); return t && $(".log", t); }
  function messageList() { var t = thread(); return t && $(".messages", t); }
  function atBottom(el) { return el.scrollHeight - el.scrollTop - el.clientHeight < 48; }
  function scrollToBottom() { var el = log(); if (el) { el.scrollTop = el.scrollHeight; } }
  /* Whether the reader is at the newest message. While they are, the thread stays there, also
     when the log shrinks (the phone keyboard opens, a banner appears). */
  var pinned = true;
  var resized = window.ResizeObserver && new ResizeObserver(function () {
    if (pinned) { scrollToBottom(); }
  });

  /* Put a message in seq order, above the pending and failed copies (which have no seq yet). */
  function insertBySeq(list, node) {
    var seq = Number(node.getAttribute("data-seq"));
    var after = null;
    $$(".msg[data-seq]", list).some(function (other) {
      if (Number(other.getAttribute("data-seq")) > seq) { after = other; return true; }
      return false;
    });
    list.insertBefore(node, after || $(".msg.pending, .msg.failed", list));
  }

  /* Put one message in its list, once: a message already shown stays as it is (its ticks and
     its unsend arrive as changes of their own), and the sender's pending copy gives way to it.
     `day` is its day separator when the page lacks it: it goes right above the message. Returns
     whether the message is new to the page. */
  function place(list, node, day) {
    if (document.getElementById(node.id)) { return false; }
    var clientId = node.getAttribute("data-client-id");
    var pending = clientId && list.querySelector('[data-pending="' + clientId + '"]');
    if (pending) { pending.remove(); }
    insertBySeq(list, node);
    if (day) { list.insertBefore(day, node); }
    htmx.process(node);
    untabUnsend(node);
    return true;
  }

  /* The messages (and day separators) of a fragment into `list`; returns how many arrived from
     the other party. */
  function placeAll(list, fragment) {
    var arrivals = 0;
    var day = null;
    Array.prototype.slice.call(fragment.children).forEach(function (node) {
      if (node.classList.contains("day")) {
        day = document.getElementById(node.id) ? null : node;
      } else if (node.classList.contains("msg")) {
        if (place(list, node, day) && node.classList.contains("in")) { arrivals += 1; }
        day = null;
      }
    });
    if (pinned) { scrollToBottom(); }
    else if (arrivals) { var jump = $(".jump-new"); if (jump) { jump.hidden = false; } }
    expireUnsend();
    return arrivals;
  }

  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var target = event.detail.target;
    if (!target.classList || !target.classList.contains("messages")) { return; }
    event.detail.shouldSwap = false;
    if (placeAll(target, event.detail.fragment)) {
      readOwed = true;
      markReadSoon();
    }
  });

  document.addEventListener("click", function (event) {
    var jump = event.target.closest(".jump-new");
    if (jump) {
      scrollToBottom();
      jump.hidden = true;
      var box = $("#composer-body");
      if (box) { box.focus(); } /* the button hides itself: focus must go somewhere useful */
    }
  });
  document.addEventListener("scroll", function (event) {
    var el = event.target;
    if (!el.classList || !el.classList.contains("log")) { return; }
    pinned = atBottom(el);
    var jump = $(".jump-new");
    if (pinned && jump) { jump.hidden = true; }
    if (pinned && readOwed) { markReadSoon(); }
  }, true);

  /* Older history is put above what the reader is looking at: keep their place. */
  var restoreFromBottom = null;
  function loadsOlder(event) { return event.detail.elt.closest && event.detail.elt.closest(".older"); }
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (loadsOlder(event)) { log().setAttribute("aria-busy", "true"); } /* no reading it all out */
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (loadsOlder(event) && log()) { log().removeAttribute("aria-busy"); }
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    var el = log();
    if (el && event.detail.target.classList && event.detail.target.classList.contains("older")) {
      restoreFromBottom = el.scrollHeight - el.scrollTop;
    }
  });
  document.addEventListener("htmx:load", function () {
    var el = log();
    if (restoreFromBottom === null || !el) { return; }
    el.scrollTop = el.scrollHeight - restoreFromBottom;
    setTimeout(function () { restoreFromBottom = null; }, 0);
  });

  /* -- Unsend: offered only while the server would still take it --------------------------- */

  /* Each Unsend says how many seconds it has left (data-unsend-for, counted when the page or the
     event was drawn, so the phone's clock does not matter); it goes when they run out. One
     timer, for the next to go. A form showing the answer to a late press stays. */
  var unsendTimer = null;
  function expireUnsend() {
    clearTimeout(unsendTimer);
    var now = Date.now();
    var next = Infinity;
    $$("form.unsend[data-unsend-for]").forEach(function (form) {
      var until = Number(form.getAttribute("data-unsend-until"));
      if (!until) {
        until = now + Number(form.getAttribute("data-unsend-for")) * 1000;
        form.setAttribute("data-unsend-until", String(until));
      }
      if (until > now) { next = Math.min(next, until); }
      else if (!$(".error-note", form)) { form.remove(); }
    });
    if (next < Infinity) { unsendTimer = setTimeout(expireUnsend, Math.min(next - now + 50, 2147483647)); }
  }

  /* -- Unsend: out of the tab order until its message is focused (tapped, clicked, or reached
     with the arrow keys in the thread), so Shift+Tab from the composer is one step to the
     thread, not one per message. Without JavaScript every Unsend stays in the tab order. -- */
  function untabUnsend(root) {
    $$(".unsend button", root).forEach(function (button) {
      button.tabIndex = button.closest(".msg").contains(document.activeElement) ? 0 : -1;
    });
  }
  document.addEventListener("htmx:load", function (event) { untabUnsend(event.detail.elt); });
  ["focusin", "focusout"].forEach(function (type) {
    document.addEventListener(type, function (event) {
      var message = event.target.closest && event.target.closest(".msg");
      if (message) { setTimeout(function () { untabUnsend(message); }); } /* once focus settled */
    });
  });
  document.addEventListener("keydown", function (event) {
    var el = log(), key = event.key, all = el ? $$(".msg[tabindex]", el) : [];
    if (!all.length || (key !== "ArrowUp" && key !== "ArrowDown") || !el.contains(event.target)) { return; }
    var at = all.indexOf(event.target.closest(".msg[tabindex]"));
    event.preventDefault();
    all[at < 0 ? all.length - 1 : Math.max(0, Math.min(all.length - 1, at + (key === "ArrowUp" ? -1 : 1)))].focus();
  });

  /* -- the ⋯ menu closes on Escape and on a click outside it --------------------------------- */
  function closeMenus(event) {
    $$("details.actions[open]").forEach(function (menu) {
      if (event.key === "Escape") { menu.open = false; $("summary", menu).focus(); }
      else if (event.type === "click" && !menu.contains(event.target)) { menu.open = false; }
    });
  }
  document.addEventListener("keydown", closeMenus);
  document.addEventListener("click", closeMenus);

  /* -- the inbox: true to its filter and search, the open conversation marked ---------------- */

  function tidyInbox() {
    var list = $("#inbox-list");
    if (!list) { return; }
    var filter = list.getAttribute("data-filter");
    var query = (list.getAttribute("data-q") || "").toLowerCase();
    var open = thread() && "row-" + thread().getAttribute("data-conversation-id");
    $$(":scope > li.row", list).forEach(function (row) {
      var archived = row.hasAttribute("data-archived");
      var name = ($(".name", row) || row).textContent.toLowerCase();
      if ((filter === "archived") !== archived || (filter === "unread" && !row.classList.contains("unread")) ||
          (filter === "orders" && !row.hasAttribute("data-open-orders")) ||
          (query && name.indexOf(query) < 0)) {
        row.remove();
        return;
      }
      var link = $(".row-link", row);
      if (row.id === open) { link.setAttribute("aria-current", "page"); }
      else { link.removeAttribute("aria-current"); }
    });
  }

  /* The search in the browser's history: one entry per search, not one per pause in typing (Back
     would walk through "ros", "ro"…). Its first results push an entry; while typing goes on,
     each later one replaces it. A submit or a filter ends the search, and so does a pause of
     SEARCH_SETTLES_MS: typing after that is a new search. */
  var SEARCH_SETTLES_MS = 3000;
  var searchHasEntry = false;
  var searchSettles = null;
  document.addEventListener("htmx:beforeHistoryUpdate", function (event) {
    var detail = event.detail;
    var request = detail.requestConfig || {};
    var form = request.elt; /* (detail.elt is the body) */
    if (!form || !form.matches || !form.matches(".inbox-tools") || detail.history.type !== "push") { return; }
    var trigger = request.triggeringEvent;
    var typing = Boolean(trigger && trigger.type === "input");
    if (searchHasEntry || detail.history.path === location.pathname + location.search) {
      detail.history.type = "replace";
    }
    searchHasEntry = typing;
    clearTimeout(searchSettles);
    if (typing) { searchSettles = setTimeout(function () { searchHasEntry = false; }, SEARCH_SETTLES_MS); }
  });

  /* "(3) Inbox · ELako Chat": the page's own title, after the unread total the badge shows. */
  function showUnreadInTitle() {
    var badge = $("#unread-badge");
    if (!badge) { return; }
    var count = Number(badge.getAttribute("data-count")) || 0;
    var title = document.title.replace(/^\(\d+\+?\) /, "");
    document.title = (count ? "(" + (count > 99 ? "99+" : count) + ") " : "") + title;
  }

  /* -- read receipts: only what a visible page shows, at its newest message, counts as read -- */

  var readTimer = null;
  var readOwed = false;
  var readRetryMs = 0; /* after a failure: 2 s, doubling up to a minute */
  function markReadSoon() {
    if (!readOwed || document.visibilityState !== "visible" || !pinned || readTimer) { return; }
    readTimer = setTimeout(function () {
      readTimer = null;
      var t = thread();
      var shown = $$(".msg.in[data-seq]", t || document).map(function (m) {
        return Number(m.getAttribute("data-seq"));
      });
      if (!t || !readOwed || !shown.length || document.visibilityState !== "visible" || !pinned) { return; }
      readOwed = false;
      postQuietly("/c/" + t.getAttribute("data-conversation-id") + "/read",
        { up_to_seq: Math.max.apply(null, shown) }).then(function (status) {
        if (!retryable(status)) { readRetryMs = 0; return; }
        /* Marking read is idempotent: try again, later each time, and at once when the
           connection is back (connectionBack). */
        readOwed = true;
        readRetryMs = Math.min(readRetryMs ? readRetryMs * 2 : 2000, 60000);
        readTimer = setTimeout(function () { readTimer = null; markReadSoon(); }, readRetryMs);
      });
    }, 400);
  }
  document.addEventListener("visibilitychange", markReadSoon);
  function retryReadNow() {
    if (!readOwed) { return; }
    clearTimeout(readTimer);
    readTimer = null;
    markReadSoon();
  }

  /* -- activity: focus or input tells the server someone is here, so unread-message emails
     wait; a tab left open but idle says nothing, and does not swallow them. Loading the page
     counted already. At most once a minute. ---------------------------------------------- */
  var activitySentAt = Date.now();
  function signalActivity() {
    if (!$("#live") || document.visibilityState !== "visible" || Date.now() - activitySentAt < 60000) { return; }
    activitySentAt = Date.now();
    postQuietly("/activity");
  }
  ["focus", "keydown", "pointerdown", "wheel"].forEach(function (type) {
    window.addEventListener(type, signalActivity, true);
  });
  document.addEventListener("visibilitychange", signalActivity);

  /* -- notifications: asked for only after a click on the offer, shown only while hidden ---- */

  /* Android's Chrome has Notification but no constructor for it (only service workers show
     notifications there): offering them would promise what never comes. */
  function canNotify() {
    if (!("Notification" in window)) { return false; }
    try { new Notification("").close(); } catch (e) { return e.name !== "TypeError"; }
    return true; /* (untitled, and without permission yet: nothing is shown) */
  }

  var LATER_MS = 7 * 24 * 3600 * 1000; /* "Not now" holds for a week */
  function offerNotifications() {
    var offer = $("#notify-offer");
    if (!offer || !("Notification" in window) || Notification.permission !== "default") { return; }
    try {
      if (Date.now() - Number(localStorage.getItem("elako-notify-later")) < LATER_MS) { return; }
    } catch (e) { /* storage blocked: offer again */ }
    if (canNotify()) { offer.hidden = false; }
  }

  document.addEventListener("click", function (event) {
    var choice = event.target.closest && event.target.closest("[data-notify]");
    if (!choice) { return; }
    $("#notify-offer").hidden = true;
    if (choice.getAttribute("data-notify") === "on") {
      Notification.requestPermission();
    } else {
      try { localStorage.setItem("elako-notify-later", String(Date.now())); } catch (e) { /* blocked */ }
    }
  });

  /* Called with each `message` event of the stream, on any page: the fragment rendered for this
     viewer holds the message as `.msg.in` when someone else sent it, and its inbox row. */
  function notify(event) {
    if (document.visibilityState === "visible" || !("Notification" in window) ||
        Notification.permission !== "granted") { return; }
    var fragment = fragmentOf(event.data);
    var incoming = $(".msg.in .body", fragment);
    var row = $(".row-link", fragment);
    if (!incoming || !row) { return; }
    var href = row.getAttribute("href");
    try {
      var note = new Notification($(".name", row).textContent,
        { body: incoming.textContent.slice(0, 120), tag: href });
      note.onclick = function () {
        window.focus();
        note.close();
        if (location.pathname !== href) { location.assign(href); }
      };
    } catch (e) { /* a browser that offers permission but shows nothing this way */ }
  }

  /* -- sending: each message on its own request, in the order written ---------------------- */

  var SEND_TIMEOUT_MS = 30000; /* 2G is slow, but a send that hangs must end as "not sent" */
  var outbox = Promise.resolve(); /* sends wait for the one before: the server numbers them in order */
  var unsent = {}; /* client_id -> text, for Retry */
  var inFlight = {}; /* client_id -> true while its request is out */

  /* What was not sent yet is kept for its conversation in this tab, in the order written, like a
     draft: a reload shows it again as not sent, and it goes out by itself when the page is
     connected. `auto: false` marks one the server refused (too long, blocked): only a tap
     sends that again. */
  function unsentKey(conversationId) { return "elako-unsent:" + conversationId; }
  function storedUnsent(conversationId) {
    try { return JSON.parse(sessionStorage.getItem(unsentKey(conversationId))) || []; } catch (e) { return []; }
  }
  function storeUnsent(conversationId, change) {
    try {
      var items = change(storedUnsent(conversationId));
      if (items.length) { sessionStorage.setItem(unsentKey(conversationId), JSON.stringify(items)); }
      else { sessionStorage.removeItem(unsentKey(conversationId)); }
    } catch (e) { /* storage blocked: kept for this page only */ }
  }
  function keepUnsent(conversationId, clientId, body, auto) {
    storeUnsent(conversationId, function (items) {
      var kept = items.filter(function (i) { return i.id === clientId; })[0];
      if (kept) { kept.auto = auto; } else { items.push({ id: clientId, body: body, auto: auto }); }
      return items;
    });
  }
  function forgetUnsent(conversationId, clientId) {
    storeUnsent(conversationId, function (items) {
      return items.filter(function (i) { return i.id !== clientId; });
    });
  }

  function pendingCopy(body, clientId) {
    var item = document.createElement("li");
    item.className = "msg out pending";
    item.setAttribute("data-pending", clientId);
    /* Not announced by the thread's live region: the stored message that replaces it is, once. */
    item.setAttribute("aria-hidden", "true");
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

  function showFailed(item, message, auto) {
    if (auto === false) { item.setAttribute("data-refused", ""); } else { item.removeAttribute("data-refused"); }
    item.classList.remove("pending");
    item.classList.add("failed");
    item.removeAttribute("aria-hidden"); /* its Retry must be reachable */
    var meta = $(".meta", item);
    meta.textContent = "Not sent. ";
    var retry = document.createElement("button");
    retry.type = "button";
    retry.className = "link-button retry";
    retry.textContent = "Retry";
    meta.appendChild(retry);
    item.setAttribute("title", message);
    showUnsentNote();
  }

  /* Several not sent: one tap sends them all again, in order. */
  function showUnsentNote() {
    var t = thread();
    var failed = t ? $$(".msg.failed", t).length : 0;
    var note = t && $(".unsent-note", t);
    if (failed < 2) { if (note) { note.remove(); } return; }
    if (!note) {
      note = document.createElement("p");
      note.className = "unsent-note";
      note.setAttribute("role", "status");
      note.appendChild(document.createElement("span"));
      var all = document.createElement("button");
      all.type = "button";
      all.className = "link-button retry-all";
      all.textContent = "Retry all";
      note.appendChild(document.createTextNode(" "));
      note.appendChild(all);
      t.insertBefore(note, $(".jump-new", t));
    }
    note.firstChild.textContent = failed + " messages not sent.";
  }

  function composerError(message) {
    var slot = $("#composer-error");
    if (slot) { slot.textContent = message; }
  }

  function post(form, body, clientId) {
    var data = new FormData(form);
    data.set("body", body);
    data.set("client_id", clientId);
    var abort = window.AbortController && new AbortController();
    var timer = abort && setTimeout(function () { abort.abort(); }, SEND_TIMEOUT_MS);
    return fetch(form.action, {
      method: "POST", body: data, credentials: "same-origin", signal: abort && abort.signal,
      headers: { "HX-Request": "true", "X-CSRFToken": data.get("csrf_token") }
    }).then(function (response) {
      var redirect = response.headers.get("HX-Redirect"); /* signed out meanwhile */
      if (redirect) { location.assign(redirect); }
      return response.text().then(function (html) { return { ok: response.ok, status: response.status, html: html }; });
    }).finally(function () { if (timer) { clearTimeout(timer); } });
  }

  /* The page's copy of a message not sent yet (the thread may have been drawn again since). */
  function copyOf(clientId) { var list = messageList(); return list && $('[data-pending="' + clientId + '"]', list); }

  function send(form, body, clientId) {
    if (!thread()) { return; }
    var list = messageList();
    var item = copyOf(clientId);
    if (list && !item) { item = list.appendChild(pendingCopy(body, clientId)); }
    var conversationId = thread().getAttribute("data-conversation-id");
    unsent[clientId] = body;
    inFlight[clientId] = true;
    keepUnsent(conversationId, clientId, body, true);
    showUnsentNote();
    outbox = outbox.then(function () {
      return post(form, body, clientId).then(function (answer) {
        if (answer.ok) {
          forgetUnsent(conversationId, clientId);
          delete unsent[clientId];
          if (messageList()) { placeAll(messageList(), fragmentOf(answer.html).firstElementChild); }
          return;
        }
        var reason = fragmentOf(answer.html).textContent.trim() || "The message was not sent.";
        var auto = retryable(answer.status);
        keepUnsent(conversationId, clientId, body, auto);
        composerError(reason);
        if (copyOf(clientId)) { showFailed(copyOf(clientId), reason, auto); }
      }, function () {
        if (copyOf(clientId)) { showFailed(copyOf(clientId), "No connection. Retry when you are back online."); }
      });
    }).catch(function (error) {
      console.error(error); /* a bug here must not stop the messages queued after this one */
    }).finally(function () {
      delete inFlight[clientId];
      showUnsentNote();
    });
  }

  /* Every message not sent, in the order written; `automatic`: only those worth trying without
     being asked (not those the server refused). */
  function resendUnsent(automatic) {
    var form = $("#composer");
    var t = thread();
    if (!form || !t) { return; }
    $$(".msg.failed[data-pending]", t).forEach(function (item) {
      var clientId = item.getAttribute("data-pending");
      if ((automatic && item.hasAttribute("data-refused")) || unsent[clientId] === undefined) { return; }
      item.classList.remove("failed");
      item.classList.add("pending");
      $(".meta", item).textContent = "Sending…";
      send(form, unsent[clientId], clientId);
    });
    composerError("");
  }

  /* After a reload (or the thread drawn again): what was not sent is shown again, after the
     thread, unless the server has it already (its answer was lost). */
  function restoreUnsent() {
    var t = thread();
    var list = messageList();
    if (!t || !list) { return; }
    var conversationId = t.getAttribute("data-conversation-id");
    storedUnsent(conversationId).forEach(function (kept) {
      if ($('.msg[data-client-id="' + kept.id + '"]', list)) {
        forgetUnsent(conversationId, kept.id);
        return;
      }
      unsent[kept.id] = kept.body;
      if (copyOf(kept.id)) { return; }
      var item = list.appendChild(pendingCopy(kept.body, kept.id));
      if (!inFlight[kept.id]) { showFailed(item, "Not sent before the page was reloaded.", kept.auto); }
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.id !== "composer" || !window.fetch || !window.FormData) { return; } /* a plain post */
    event.preventDefault();
    var textarea = $("textarea", form);
    var body = textarea.value;
    /* spaces only: nothing to send, nothing worth keeping either */
    composerError(body.trim() ? "" : "Write a message first.");
    if (body.trim()) { send(form, body, newClientId()); }
    textarea.value = "";
    keepDraft("");
    resize(textarea);
    textarea.focus(); /* ready for the next message, even after a tap on Send */
    pinned = true;
    scrollToBottom();
  });

  /* Retry (on any of them) and Retry all send every message not sent, in order: one sent
     alone would overtake those written before it. */
  document.addEventListener("click", function (event) {
    if (event.target.closest(".retry, .retry-all")) { resendUnsent(false); }
  });

  /* A draft is kept for its conversation in this tab: the composer may be drawn again (a block
     lifted, a refresh after a gap) and a phone may reload the page at any time. */
  function draftKey() { var t = thread(); return t && "elako-draft:" + t.getAttribute("data-conversation-id"); }
  function keepDraft(text) {
    try {
      if (text) { sessionStorage.setItem(draftKey(), text); } else { sessionStorage.removeItem(draftKey()); }
    } catch (e) { /* storage blocked */ }
  }
  function restoreDraft() {
    var textarea = $("#composer-body");
    if (!textarea || textarea.value) { return; }
    try { textarea.value = sessionStorage.getItem(draftKey()) || ""; } catch (e) { /* blocked */ }
    resize(textarea);
  }

  /* Enter sends, Shift+Enter is a new line; the box grows with the text. */
  function resize(textarea) {
    if (!textarea) { return; }
    textarea.style.height = "auto";
    textarea.style.height = Math.min(textarea.scrollHeight + 2, 152) + "px"; /* elako.css may cap it lower */
  }
  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("#composer textarea")) {
      resize(event.target);
      keepDraft(event.target.value);
    }
  });
  document.addEventListener("keydown", function (event) {
    var textarea = event.target;
    if (event.key !== "Enter" || event.shiftKey || event.isComposing ||
        !textarea.matches || !textarea.matches("#composer textarea")) { return; }
    if (window.matchMedia("(pointer: coarse)").matches) { return; } /* phones: Enter is a newline */
    event.preventDefault();
    textarea.form.requestSubmit ? textarea.form.requestSubmit() : textarea.form.dispatchEvent(
      new Event("submit", { cancelable: true, bubbles: true }));
  });

  /* -- page set-up -------------------------------------------------------------------------- */

  function settle() {
    var el = log();
    untabUnsend(document);
    if (el) {
      el.classList.add("scripted");
      pinned = true;
      scrollToBottom();
      if (resized) { resized.disconnect(); resized.observe(el); }
    }
    restoreUnsent();
    restoreDraft();
    expireUnsend();
    var textarea = $("#composer textarea");
    if (textarea && window.matchMedia("(pointer: fine)").matches) { textarea.focus(); }
  }
  document.addEventListener("DOMContentLoaded", function () {
    offerNotifications(); /* first: the offer takes room from the thread */
    settle();
    tidyInbox();
  });
  document.addEventListener("htmx:afterSettle", function (event) {
    var elt = event.detail.elt;
    expireUnsend(); /* older history may bring Unsend buttons too */
    if (elt && elt.id === "thread") {
      settle();
      readOwed = true; /* a refreshed thread is not marked read by the server: this page decides */
      markReadSoon();
    }
    if (elt && (elt.id === "inbox" || elt.id === "inbox-results" || elt.id === "thread")) {
      tidyInbox();
      showUnreadInTitle();
    }
  });

  /* For static/attachments.js, which sends photos and files: the composer emptied as after a
     send, and the sent message placed as a sent message is. */
  window.elako = {
    send: function (form, body) { send(form, body, newClientId()); }, /* quick_replies.js */
    composerSent: function (textarea) { textarea.value = ""; keepDraft(""); resize(textarea); },
    placeSent: function (html) {
      var list = messageList();
      if (list) { pinned = true; placeAll(list, fragmentOf(html).firstElementChild); }
    }
  };
  /* Scripts most visits never need load on first use, then see the event that asked (if any):
     attachments.js once a file is chosen; quick_replies.js once a store starts a message with
     "/" or opens its quick replies. */
  var loaded = {};
  function load(src, target, type) {
    if (loaded[src]) { return; }
    loaded[src] = true;
    var script = document.createElement("script");
    script.src = src;
    script.onload = function () { if (type) { target.dispatchEvent(new Event(type, { bubbles: true })); } };
    document.head.appendChild(script);
  }
  document.addEventListener("change", function (event) {
    var input = event.target, src = input.getAttribute && input.getAttribute("data-script");
    if (src) { load(src, input, "change"); }
  });
  document.addEventListener("input", function (event) {
    var list = $("#quick-replies"), box = event.target;
    if (list && box.id === "composer-body" && box.value.charAt(0) === "/") { load(list.getAttribute("data-script"), box, "input"); }
  });
  document.addEventListener("click", function (event) {
    var list = $("#quick-replies");
    if (list && list.contains(event.target)) { load(list.getAttribute("data-script")); }
  });
})();
