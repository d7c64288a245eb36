/* Carnet's service worker: shows the school's push notifications and opens the message on click.
   Served at /sw.js (by hub/web/account.py) so that its scope is the whole site, the portal and the personal links.
   The payload is {"title", "body", "url", "lang"} (channels/webpush.py push_payload). */
"use strict";

self.addEventListener("push", (event) => {
  let data = {};
  if (event.data) {
    try {
      data = event.data.json();
    } catch (e) {
      data = { body: event.data.text() };
    }
  }
  event.waitUntil(
    self.registration.showNotification(data.title || "Carnet", {
      body: data.body || "",
      lang: data.lang || "",
      tag: data.url || undefined, // one notification per message: a repeated push replaces it
      data: { url: data.url || "/portal" },
    })
  );
});

/* Only links of this site, or http(s) links the school sent: never a javascript: or data: URL. */
function safeUrl(raw) {
  try {
    const url = new URL(raw, self.location.origin);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : self.location.origin + "/portal";
  } catch (e) {
    return self.location.origin + "/portal";
  }
}

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const target = safeUrl((event.notification.data || {}).url || "/portal");
  event.waitUntil(
    self.clients.matchAll({ type: "window", includeUncontrolled: true }).then((windows) => {
      for (const client of windows) {
        if (client.url === target && "focus" in client) return client.focus();
      }
      return self.clients.openWindow(target);
    })
  );
});
