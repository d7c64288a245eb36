// The personal link's page says a person is reading: once the page has been shown for a moment, or at the first
// touch, key, scroll or click, it posts its signal (once) to the address of its <meta name="carnet-read">.
// A link scanner only fetches the page: it records an opening, never a read. Without JavaScript any action on the
// page (acknowledging, answering, replying) records the read instead.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="carnet-read"]');
  if (!meta || !window.fetch) return;
  var url = meta.getAttribute("content");
  var token = meta.getAttribute("data-csrf");
  var sent = false;
  var timer = null;
  // Long enough that a page flashed by a program is not "read", short enough for a glance at a short message.
  var DWELL_MS = 1500;
  var EVENTS = ["pointerdown", "keydown", "scroll", "touchstart"];
  function send() {
    if (sent) return;
    sent = true;
    if (timer) clearTimeout(timer);
    EVENTS.forEach(function (name) { window.removeEventListener(name, send, true); });
    document.removeEventListener("visibilitychange", watch);
    var body = new URLSearchParams();
    body.set("csrf_token", token);
    fetch(url, { method: "POST", body: body, credentials: "same-origin", keepalive: true }).catch(function () {
      sent = false; // offline for a moment: the next action on the page records the read anyway
    });
  }
  function watch() {
    if (document.visibilityState === "visible") {
      if (!timer) timer = setTimeout(send, DWELL_MS);
    } else if (timer) {
      clearTimeout(timer);
      timer = null;
    }
  }
  EVENTS.forEach(function (name) { window.addEventListener(name, send, { capture: true, passive: true }); });
  document.addEventListener("visibilitychange", watch);
  watch();
})();
