// The reply slip, progressively enhanced: the total of an amount with a unit price, as the guardian types the count.
// Without JavaScript the form works the same; the hint under the field gives the unit price.
(function () {
  "use strict";
  function euros(cents, lang) {
    var text = (cents / 100).toFixed(2);
    return lang === "en" ? "€" + text : text.replace(".", ",") + " €";
  }
  document.querySelectorAll("[data-total-for]").forEach(function (out) {
    var input = document.getElementById(out.getAttribute("data-total-for"));
    if (!input) return;
    var unit = parseInt(out.getAttribute("data-unit-cents"), 10);
    var lang = document.documentElement.lang;
    function show() {
      var count = parseInt(input.value, 10);
      out.textContent = isNaN(count) || count < 0 ? "" : out.getAttribute("data-label") + " " + euros(count * unit, lang);
    }
    input.addEventListener("input", show);
    show();
  });
})();
