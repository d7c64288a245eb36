/* The delivery report: refresh the funnel every 15 seconds while the page is visible, from /staff/report.json.
   Progressive enhancement only: without this script the page shows the figures of its last load. */
(function () {
  "use strict";
  var section = document.getElementById("funnel");
  if (!section || !window.fetch) { return; }
  var url = section.getAttribute("data-json");
  var template = section.getAttribute("data-of");
  var lang = document.documentElement.lang || "fr";
  var numbers = new Intl.NumberFormat(lang);
  var percents = new Intl.NumberFormat(lang, { style: "percent" });
  var svg = section.querySelector("svg.chart");
  var width = Number(svg.getAttribute("data-width"));

  function text(stage) {
    var share = stage.of ? stage.count / stage.of : 0;
    return template.replace("{count}", numbers.format(stage.count))
      .replace("{base}", numbers.format(stage.of))
      .replace("{percent}", percents.format(share));
  }

  function show(stage) {
    var share = stage.of ? Math.min(1, stage.count / stage.of) : 0;
    var bar = svg.querySelector('g[data-key="' + stage.stage + '"]');
    if (bar) {
      bar.querySelector("rect.bar").setAttribute("width", (width * share).toFixed(1));
      bar.querySelector("text.value").textContent = text(stage);
    }
    var row = section.querySelector('tr[data-stage="' + stage.stage + '"]');
    if (row) {
      row.querySelector('[data-field="count"]').textContent = numbers.format(stage.count);
      row.querySelector('[data-field="base"]').textContent = numbers.format(stage.of);
      row.querySelector('[data-field="percent"]').textContent = percents.format(stage.of ? stage.count / stage.of : 0);
    }
  }

  function refresh() {
    if (document.hidden) { return; }
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (report) { if (report) { report.funnel.forEach(show); } })
      .catch(function () { /* offline for a moment: the next round tries again */ });
  }

  document.getElementById("funnel-updated").hidden = false;
  window.setInterval(refresh, 15000);
  document.addEventListener("visibilitychange", refresh);
})();
