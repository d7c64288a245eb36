/* Web push on "How I am reached": registers the service worker /sw.js, and only when the guardian presses the
   button asks the browser's permission, subscribes with the school's VAPID public key and sends the subscription
   to the portal (CSRF token in a header). Without JavaScript or push support the buttons stay hidden. */
"use strict";

(function () {
  const box = document.getElementById("push");
  if (!box || !("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) return;
  const on = document.getElementById("push-on");
  const off = document.getElementById("push-off");
  const status = document.getElementById("push-status");

  function keyBytes(base64url) {
    const padded = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  }

  function post(path, body) {
    return fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": box.dataset.csrf },
      body: JSON.stringify(body),
    });
  }

  function show(subscribed, message) {
    on.hidden = subscribed;
    off.hidden = !subscribed;
    status.textContent = message || (subscribed ? box.dataset.on : box.dataset.off);
  }

  async function registration() {
    return navigator.serviceWorker.register("/sw.js");
  }

  on.addEventListener("click", async () => {
    try {
      const permission = await Notification.requestPermission();
      if (permission !== "granted") {
        show(false, box.dataset.denied);
        return;
      }
      const reg = await registration();
      const subscription = await reg.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: keyBytes(box.dataset.key),
      });
      const answer = await post("/portal/push/subscribe", subscription.toJSON());
      if (!answer.ok) {
        await subscription.unsubscribe();
        throw new Error("refused: " + answer.status);
      }
      window.location.reload(); // the new contact appears in the list
    } catch (e) {
      show(false, box.dataset.failed);
    }
  });

  off.addEventListener("click", async () => {
    try {
      const reg = await registration();
      const subscription = await reg.pushManager.getSubscription();
      if (subscription) {
        await post("/portal/push/unsubscribe", { endpoint: subscription.endpoint });
        await subscription.unsubscribe();
      }
      window.location.reload();
    } catch (e) {
      show(true, box.dataset.failed);
    }
  });

  registration()
    .then((reg) => reg.pushManager.getSubscription())
    .then((subscription) => show(Boolean(subscription)))
    .catch(() => show(false));
})();
