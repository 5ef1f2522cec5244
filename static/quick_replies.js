/* Quick replies in a store's composer (issue 10), on top of templates/_quick_replies.html, whose
   list of buttons works without this script. Typing "/" and a shortcut at the start of a message
   offers the matching replies: Up and Down choose, Enter or Tab puts the reply in the message box
   for editing (it is not sent), Escape closes. The focus stays in the message box, which names
   the chosen option with aria-activedescendant; a status line tells screen readers what is
   offered. A reply picked from the list is sent like a typed message (elako.send). elako.js
   loads this script on first use and repeats the event that asked for it. */
(function () {
  "use strict";
  var LIST_ID = "quick-reply-options";
  var options = []; /* the replies offered now: {shortcut, text} */
  var active = -1;
  var dismissed = null; /* the text Escape closed the list on: it stays closed until that changes */
  var status = document.createElement("p");
  status.className = "visually-hidden";
  status.setAttribute("role", "status");
  document.body.appendChild(status);

  function $(selector, root) { return (root || document).querySelector(selector); }
  function isBox(node) { return node && node.id === "composer-body"; }
  function announce(text) { status.textContent = text; }

  /* The store's replies, as the page drew them (the composer may have been drawn again). */
  function replies() {
    return Array.prototype.map.call(document.querySelectorAll("#quick-replies button[data-shortcut]"), function (button) {
      return { shortcut: button.getAttribute("data-shortcut"), text: button.value };
    });
  }

  /* The shortcut typed so far, lower-cased, while the message is "/" and one word; else null. */
  function typed(box) {
    var match = /^\/([A-Za-z0-9_-]*)$/.exec(box.value);
    return match && match[1].toLowerCase();
  }

  function listbox(box) {
    var list = document.getElementById(LIST_ID), slot = box.closest(".composer-slot");
    if (!list && slot) {
      list = document.createElement("ul");
      list.id = LIST_ID;
      list.className = "quick-reply-options";
      list.setAttribute("role", "listbox");
      list.setAttribute("aria-label", "Quick replies");
      list.hidden = true;
      /* A click chooses without taking the focus from the message box. */
      list.addEventListener("mousedown", function (event) { event.preventDefault(); });
      list.addEventListener("click", function (event) {
        var option = event.target.closest("[role=option]");
        if (option) { choose(box, Number(option.getAttribute("data-index"))); }
      });
      slot.insertBefore(list, slot.firstChild);
    }
    box.setAttribute("aria-autocomplete", "list");
    box.setAttribute("aria-controls", LIST_ID);
    return list;
  }

  function offer(box) {
    var shortcut = typed(box), list = listbox(box);
    options = shortcut === null || box.value === dismissed ? [] : replies().filter(function (reply) {
      return reply.shortcut.toLowerCase().indexOf(shortcut) === 0;
    });
    list.textContent = "";
    options.forEach(function (reply, index) {
      var option = document.createElement("li");
      option.id = LIST_ID + "-" + index;
      option.setAttribute("role", "option");
      option.setAttribute("data-index", String(index));
      var name = document.createElement("strong");
      name.textContent = "/" + reply.shortcut;
      option.appendChild(name);
      option.appendChild(document.createTextNode(" " + reply.text));
      list.appendChild(option);
    });
    list.hidden = !options.length;
    select(box, options.length ? 0 : -1);
    if (options.length) {
      announce(options.length + (options.length === 1 ? " quick reply" : " quick replies") +
               ": up and down arrows to choose, Enter to insert, Escape to close.");
    } else if (shortcut !== null && box.value !== dismissed) {
      announce("No quick reply starts with /" + shortcut + ".");
    }
  }

  function select(box, index) {
    active = index;
    Array.prototype.forEach.call(document.querySelectorAll("#" + LIST_ID + " [role=option]"), function (option, i) {
      option.setAttribute("aria-selected", i === index ? "true" : "false");
      if (i === index && option.scrollIntoView) { option.scrollIntoView({ block: "nearest" }); }
    });
    if (index < 0) { box.removeAttribute("aria-activedescendant"); }
    else { box.setAttribute("aria-activedescendant", LIST_ID + "-" + index); }
  }

  function close(box) {
    options = [];
    var list = document.getElementById(LIST_ID);
    if (list) { list.hidden = true; list.textContent = ""; }
    select(box, -1);
  }

  /* The reply goes into the message box, to be edited and sent as any message is. */
  function choose(box, index) {
    var reply = options[index];
    if (!reply) { return; }
    box.value = reply.text;
    dismissed = box.value; /* a reply that itself reads like "/word" must not offer again */
    close(box);
    box.focus();
    box.setSelectionRange(box.value.length, box.value.length);
    box.dispatchEvent(new Event("input", { bubbles: true })); /* elako.js: resize, keep the draft */
    announce("Inserted /" + reply.shortcut + ". Edit it, then send.");
  }

  document.addEventListener("input", function (event) {
    if (isBox(event.target)) { offer(event.target); }
  });
  document.addEventListener("focusout", function (event) {
    if (isBox(event.target) && options.length) { close(event.target); }
  });

  /* Before elako.js's own keys (capture): Enter chooses a reply here instead of sending. */
  window.addEventListener("keydown", function (event) {
    var box = event.target, key = event.key, count = options.length;
    if (!isBox(box) || !count || event.isComposing || event.altKey || event.ctrlKey || event.metaKey) { return; }
    if (key === "ArrowDown" || key === "ArrowUp") {
      select(box, (active + (key === "ArrowDown" ? 1 : count - 1)) % count);
    } else if ((key === "Enter" || key === "Tab") && !event.shiftKey) {
      choose(box, active);
    } else if (key === "Escape") {
      dismissed = box.value;
      close(box);
      announce("Quick replies closed.");
    } else {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
  }, true);

  /* A reply picked from the list is sent like a typed message: shown at once, in order, retried. */
  document.addEventListener("submit", function (event) {
    var form = event.target, button = event.submitter;
    if (!form.hasAttribute("data-quick-reply") || !button || !window.fetch || !window.elako) { return; }
    event.preventDefault();
    window.elako.send(form, button.value);
    form.closest("details").open = false;
    var box = $("#composer-body");
    if (box) { box.focus(); }
  });
})();
