/* The composer and the message page, enhanced: the pages work without this file.
 * Composer: the reply slip's details show only when a slip is asked for, the emergency's reason only for an
 * emergency, and "Add a question" adds a row here instead of a round trip to the server.
 * Message page: the headline, the counters (in families) and the family table's delivery and read cells are
 * refreshed from progress.json while deliveries are still being sent or held; without this file the page
 * refreshes itself while deliveries are being sent, and its Refresh link always works. */
(function () {
  "use strict";

  function toggle(element, shown) {
    if (element) { element.hidden = !shown; }
  }

  function composer(form) {
    var slip = form.querySelector("#slip");
    var details = form.querySelector("#slip-details");
    if (slip && details) {
      var sync = function () { toggle(details, slip.checked); };
      slip.addEventListener("change", sync);
      sync();
    }
    var reason = form.querySelector(".reason");
    if (reason) {
      var radios = form.querySelectorAll("input[name=urgency]");
      var syncReason = function () {
        var chosen = form.querySelector("input[name=urgency]:checked");
        toggle(reason, chosen && chosen.value === "emergency");
      };
      radios.forEach(function (r) { r.addEventListener("change", syncReason); });
      syncReason();
    }
    var add = form.querySelector("#add-question");
    var rows = form.querySelector("input[name=question_rows]");
    var list = form.querySelector("#f-questions");
    if (add && rows && list) {
      add.addEventListener("click", function (event) {
        var last = list.querySelector("fieldset.question:last-of-type");
        if (!last || Number(rows.value) >= 30) { return; }
        event.preventDefault();
        var next = Number(rows.value) + 1;
        var copy = last.cloneNode(true);
        var from = "q" + last.getAttribute("data-row");
        var to = "q" + next;
        copy.setAttribute("data-row", String(next));
        copy.id = "f-" + to;
        copy.querySelectorAll(".error").forEach(function (e) { e.remove(); });
        copy.querySelectorAll("[id],[for],[name]").forEach(function (e) {
          ["id", "for", "name"].forEach(function (attr) {
            var value = e.getAttribute(attr);
            if (value) { e.setAttribute(attr, value.split(from + "_").join(to + "_")); }
          });
          e.removeAttribute("aria-invalid");
          e.removeAttribute("aria-describedby");
          if (e.tagName === "INPUT" && e.type === "checkbox") { e.checked = false; }
          else if (e.tagName === "INPUT" || e.tagName === "TEXTAREA") { e.value = ""; }
          else if (e.tagName === "SELECT") { e.selectedIndex = 0; }
        });
        var legend = copy.querySelector("legend");
        if (legend) { legend.textContent = legend.textContent.replace(/\d+/, String(next)); }
        list.appendChild(copy);
        rows.value = String(next);
        var text = copy.querySelector("input[type=text]");
        if (text) { text.focus(); }
      });
    }
  }

  /* The cells of one family's row, written from progress.json's row (the same words as the page's). */
  function updateRow(table, row) {
    var tr = table.querySelector('tr[data-notice="' + row.notice_id + '"]');
    if (!tr) { return; }
    tr.setAttribute("data-state", row.state);
    var delivery = tr.querySelector("[data-field=delivery]");
    if (delivery && delivery.textContent !== row.delivery) { delivery.textContent = row.delivery; }
    var read = tr.querySelector("[data-field=read]");
    if (read) {
      var lines = row.read.join("\n");
      if (read.getAttribute("data-text") === lines) { return; }
      read.textContent = "";
      row.read.forEach(function (line, index) {
        if (index) { read.appendChild(document.createElement("br")); }
        read.appendChild(document.createTextNode(line));
      });
      read.setAttribute("data-text", lines);
    }
  }

  function progress(section) {
    var url = section.getAttribute("data-url");
    var bar = section.querySelector("progress");
    var status = section.querySelector("#status");
    var table = document.querySelector("table.families");
    var number = new Intl.NumberFormat(document.documentElement.lang || "fr");
    var wait = 3000;
    var last = "";
    function poll() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (!data) { return; }
          var families = data.families;
          Object.keys(families).forEach(function (key) {
            var cell = section.querySelector("[data-count=" + key + "]");
            if (cell && typeof families[key] === "number") { cell.textContent = number.format(families[key]); }
          });
          Object.keys(data.counts).forEach(function (key) {
            var cell = section.querySelector("[data-counts=" + key + "]");
            if (cell) { cell.textContent = number.format(data.counts[key]); }
          });
          if (bar) { bar.max = families.families || 1; bar.value = families.done; }
          var said = data.status.join("\n");
          if (status && status.getAttribute("data-text") !== said) {  /* a live region: speak only changes */
            status.textContent = "";
            data.status.forEach(function (line) {
              var p = document.createElement("p");
              p.textContent = line;
              status.appendChild(p);
            });
            status.setAttribute("data-text", said);
            status.setAttribute("data-phase", data.state === "scheduled" ? "scheduled" : families.phase);
          }
          if (table) { data.rows.forEach(function (row) { updateRow(table, row); }); }
          /* quick while deliveries move, then slower and slower while they only wait (for their hour, a worker) */
          var now = [families.delivered, families.failed, families.sending, families.held].join(",");
          var moved = now !== last;
          last = now;
          wait = moved && families.sending > 0 ? 3000 : Math.min(wait * 2, 60000);
          if (families.held_until) {  /* be there when the first held delivery is released */
            var until = Date.parse(families.held_until) - Date.now();
            if (until > 0) { wait = Math.max(3000, Math.min(wait, until + 2000)); }
          }
          if (families.sending + families.held > 0) { window.setTimeout(poll, wait); }
        })
        .catch(function () { /* offline: the Refresh link still works */ });
    }
    window.setTimeout(poll, wait);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("form.compose");
    if (form) { composer(form); }
    var section = document.querySelector("#progress[data-url]");
    if (section) { progress(section); }
  });
})();
