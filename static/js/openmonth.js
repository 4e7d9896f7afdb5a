// 政府开放月 check-in page: camera scan where the browser supports it, and an offline queue.
// The page works without this file: the form posts and the server answers with a page.
(function () {
  "use strict";
  var root = document.querySelector(".om-checkin");
  if (!root) { return; }
  var form = document.getElementById("om-checkin-form");
  var input = document.getElementById("ticket_code");
  var result = document.getElementById("om-result");
  var queueBox = document.getElementById("om-queue");
  var queueCount = document.getElementById("om-queue-count");
  var csrf = form.querySelector("input[name=csrf_token]").value;
  var key = "canyu-checkin-queue-" + root.getAttribute("data-event");

  function message(id) {
    var t = document.getElementById(id);
    return t ? t.content.textContent : "";
  }

  function show(kind, text, name, idNumber) {
    result.textContent = "";
    var box = document.createElement("div");
    box.className = "big-result " + kind;
    box.setAttribute("role", "status");
    box.textContent = text;
    if (name) {
      box.appendChild(document.createElement("br"));
      var small = document.createElement("span");
      small.className = "small";
      small.textContent = name.charAt(0) + "*".repeat(Math.max(1, name.length - 1));
      box.appendChild(small);
    }
    if (idNumber) {
      // Already masked by the server (3101**********123X): the door compares it with the card.
      box.appendChild(document.createElement("br"));
      var id = document.createElement("span");
      id.className = "small";
      id.textContent = message("om-msg-id") + " " + idNumber + " · " + message("om-msg-compare");
      box.appendChild(id);
    }
    result.appendChild(box);
  }

  function queue() {
    try { return JSON.parse(localStorage.getItem(key) || "[]"); } catch (e) { return []; }
  }

  function saveQueue(items) {
    localStorage.setItem(key, JSON.stringify(items));
    queueCount.textContent = String(items.length);
    queueBox.hidden = items.length === 0;
  }

  function send(code, scannedAt) {
    var body = new FormData();
    body.append("ticket_code", code);
    if (scannedAt) { body.append("scanned_at", scannedAt); }
    return fetch(form.action, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRF-Token": csrf },
    }).then(function (r) { return r.json(); });
  }

  function submitCode(code) {
    code = (code || "").trim();
    if (!code) { return; }
    var scannedAt = new Date().toISOString();
    send(code, null).then(function (data) {
      show(data.kind, data.message, data.name, data.id_number);
    }).catch(function () {
      var items = queue();
      items.push({ code: code, scanned_at: scannedAt });
      saveQueue(items);
      show("warn", message("om-msg-queued"));
    });
    input.value = "";
    input.focus();
  }

  var flushing = false;
  function flush() {
    var items = queue();
    if (flushing || items.length === 0 || navigator.onLine === false) { return; }
    flushing = true;
    var item = items[0];
    // A replayed scan counts once: the server checks a ticket in with a conditional update.
    send(item.code, item.scanned_at).then(function () {
      saveQueue(queue().slice(1));
      flushing = false;
      if (queue().length) { flush(); } else { show("ok", message("om-msg-synced")); }
    }).catch(function () { flushing = false; });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    submitCode(input.value);
  });
  window.addEventListener("online", flush);
  saveQueue(queue());
  flush();
  setInterval(flush, 15000);

  // Camera scanning with the browser's BarcodeDetector (Chrome on Android and others).
  if ("BarcodeDetector" in window && navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    var camera = root.querySelector(".om-camera");
    var video = document.getElementById("om-video");
    var button = document.getElementById("om-scan");
    camera.hidden = false;
    var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
    var last = { code: "", at: 0 };
    button.addEventListener("click", function () {
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (stream) {
        video.srcObject = stream;
        video.hidden = false;
        video.play();
        button.hidden = true;
        setInterval(function () {
          detector.detect(video).then(function (codes) {
            if (!codes.length) { return; }
            var code = codes[0].rawValue;
            var now = Date.now();
            if (code === last.code && now - last.at < 4000) { return; }
            last = { code: code, at: now };
            submitCode(code);
          }).catch(function () {});
        }, 300);
      }).catch(function () { camera.hidden = true; });
    });
  }
})();
