/* Photos and files in the composer (issue 9), on top of the plain multipart form, which works
   without this script: a preview of the chosen photo, the upload shown at once as a pending
   message with a progress bar and Cancel, and Retry after a failure without choosing the file
   again (the same client_id, so the server stores it once). elako.js loads this script when a
   file is first chosen, and places the sent message. */
(function () {
  "use strict";
  if (!window.FormData || !window.XMLHttpRequest || !window.URL || !URL.createObjectURL) { return; }

  var failed = {}; /* client_id -> {form, file, body}: what Retry sends again */

  function $(selector, root) { return (root || document).querySelector(selector); }
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text) { node.textContent = text; }
    return node;
  }
  function newClientId() {
    var bytes = new Uint8Array(12);
    (window.crypto || window.msCrypto).getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function isPhoto(file) { return /^image\//.test(file.type) && !/svg/.test(file.type); }
  function sizeLabel(n) {
    return n < 1048576 ? Math.max(1, Math.round(n / 1024)) + " KB" : (n / 1048576).toFixed(1) + " MB";
  }
  /* What a chosen file looks like: its photo (a local object URL), or its name and size. */
  function picture(file, className) {
    if (isPhoto(file)) {
      var img = el("img", className);
      img.src = URL.createObjectURL(file);
      img.alt = "Photo to send";
      img.onload = function () { URL.revokeObjectURL(img.src); };
      return img;
    }
    return el("span", "file-name", "📎 " + file.name + " (" + sizeLabel(file.size) + ")");
  }

  /* Preview of the chosen file, with a way to take it back. */
  document.addEventListener("change", function (event) {
    if (event.target.id !== "composer-file") { return; }
    var input = event.target, preview = $("#attach-preview");
    if (!preview) { return; }
    preview.textContent = "";
    var file = input.files && input.files[0];
    preview.hidden = !file;
    if (!file) { return; }
    var remove = el("button", "link-button", "Remove");
    remove.type = "button";
    remove.onclick = function () { input.value = ""; preview.textContent = ""; preview.hidden = true; };
    preview.appendChild(picture(file));
    preview.appendChild(remove);
  });

  function pendingCopy(file, body, clientId) {
    var item = el("li", "msg out pending");
    item.setAttribute("data-pending", clientId);
    var bubble = el("div", "bubble");
    bubble.appendChild(picture(file, "upload-preview"));
    if (body) { bubble.appendChild(el("p", "body", body)); }
    var progress = el("progress", "upload-progress");
    progress.max = 100;
    progress.value = 0;
    bubble.appendChild(progress);
    bubble.appendChild(el("span", "meta", "Sending…"));
    item.appendChild(bubble);
    return item;
  }

  function setMeta(item, text, buttonClass, buttonText) {
    var meta = $(".meta", item);
    meta.textContent = text;
    if (buttonClass) {
      var button = el("button", "link-button " + buttonClass, buttonText);
      button.type = "button";
      meta.appendChild(button);
    }
  }

  function upload(form, file, body, clientId, item) {
    var data = new FormData(form);
    data.set("file", file, file.name);
    data.set("body", body);
    data.set("client_id", clientId);
    var xhr = new XMLHttpRequest();
    var progress = $(".upload-progress", item);
    item.classList.remove("failed");
    item.classList.add("pending");
    setMeta(item, "Sending… ", "cancel-upload", "Cancel");
    item.xhr = xhr;
    xhr.upload.onprogress = function (event) {
      if (event.lengthComputable && progress) { progress.value = Math.round(100 * event.loaded / event.total); }
    };
    function fail(reason) {
      failed[clientId] = { form: form, file: file, body: body };
      item.classList.remove("pending");
      item.classList.add("failed");
      item.setAttribute("title", reason);
      setMeta(item, "Not sent: " + reason + " ", "retry-upload", "Retry");
    }
    xhr.onload = function () {
      var redirect = xhr.getResponseHeader("HX-Redirect"); /* signed out meanwhile */
      if (redirect) { location.assign(redirect); return; }
      if (xhr.status >= 200 && xhr.status < 300) {
        delete failed[clientId];
        if (window.elako) { window.elako.placeSent(xhr.responseText); }
        if (item.parentNode) { item.remove(); } /* placed, or the event stream brings it */
        return;
      }
      var box = document.createElement("template"); /* inert: nothing in it loads or runs */
      box.innerHTML = xhr.responseText;
      fail(box.content.textContent.trim().slice(0, 200) || "the file was not sent.");
    };
    xhr.onerror = xhr.ontimeout = function () { fail("no connection. Retry when you are back online."); };
    xhr.open("POST", form.action);
    xhr.setRequestHeader("HX-Request", "true");
    xhr.setRequestHeader("X-CSRFToken", data.get("csrf_token"));
    xhr.send(data);
  }

  /* Runs before elako.js's own submit handler (capture), and takes over sends with a file. */
  document.addEventListener("submit", function (event) {
    var form = event.target, input = $("#composer-file", form);
    var file = form.id === "composer" && input && input.files && input.files[0];
    var list = file && $("#thread .messages");
    if (!list) { return; }
    event.preventDefault();
    event.stopImmediatePropagation();
    var limit = Number(input.getAttribute("data-max-bytes")), error = $("#composer-error");
    if (limit && file.size > limit) { /* no need to spend the data to hear it */
      if (error) { error.textContent = "Files can be at most " + sizeLabel(limit) + "."; }
      return;
    }
    if (error) { error.textContent = ""; }
    var textarea = $("textarea", form), clientId = newClientId(), body = textarea.value.trim();
    var item = list.appendChild(pendingCopy(file, body, clientId));
    upload(form, file, body, clientId, item);
    input.value = "";
    if (window.elako) { window.elako.composerSent(textarea); } else { textarea.value = ""; }
    var preview = $("#attach-preview");
    if (preview) { preview.textContent = ""; preview.hidden = true; }
    item.scrollIntoView({ block: "end" });
  }, true);

  document.addEventListener("click", function (event) {
    var target = event.target, item = target.closest && target.closest(".msg");
    if (!item) { return; }
    var clientId = item.getAttribute("data-pending");
    if (target.classList.contains("cancel-upload")) {
      if (item.xhr) { item.xhr.onload = item.xhr.onerror = null; item.xhr.abort(); }
      delete failed[clientId];
      item.remove();
    } else if (target.classList.contains("retry-upload") && failed[clientId]) {
      var again = failed[clientId];
      upload(again.form.isConnected ? again.form : ($("#composer") || again.form), again.file,
             again.body, clientId, item);
    }
  });
})();
