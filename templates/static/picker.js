// The composer's pupil picker, progressively enhanced (hub/web/picker.py has the same matching rule): the list
// filters as one types, ticking a pupil adds a chip, a chip's button (or Delete/Backspace on it) removes it.
// Keyboard: Down from the search goes to the first pupil shown, Enter in the search chooses the only pupil shown.
(function () {
  "use strict";
  var root = document.querySelector("[data-picker]");
  if (!root) return;
  var search = root.querySelector("#pupil-q");
  var list = root.querySelector("#pupil-results");
  var chips = root.querySelector("[data-picker-chips]");
  var count = root.querySelector("[data-picker-count]");
  var status = root.querySelector("[data-picker-status]");
  var find = root.querySelector("[data-picker-find]");
  var items = Array.prototype.slice.call(list.querySelectorAll("li[data-pupil]"));

  function fold(text) {
    return text.normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase().replace(/[-']/g, " ");
  }
  function matches(query, text) {
    var words = fold(text).split(/\s+/).filter(Boolean);
    return fold(query).split(/\s+/).filter(Boolean).every(function (q) {
      return words.some(function (w) { return w.indexOf(q) === 0; });
    });
  }
  function boxOf(item) { return item.querySelector("input[type=checkbox]"); }
  function itemOf(id) { return list.querySelector('li[data-pupil="' + id + '"]'); }
  function visible() { return items.filter(function (item) { return !item.hidden; }); }

  function say(n) {
    if (!search.value.trim()) { status.textContent = ""; return; }
    var text = n === 0 ? status.getAttribute("data-none")
      : n === 1 ? status.getAttribute("data-one")
      : status.getAttribute("data-many").replace("{num}", String(n));
    status.textContent = text;
  }
  var timer = null;
  function filter() {
    var query = search.value;
    items.forEach(function (item) {
      item.hidden = !(boxOf(item).checked || matches(query, item.getAttribute("data-search")));
    });
    // Announced a moment after the last key, so a screen reader is not interrupted at every letter.
    clearTimeout(timer);
    timer = setTimeout(function () {
      say(visible().filter(function (item) { return !boxOf(item).checked; }).length);
    }, 400);
  }

  function chipFor(item) {
    var id = item.getAttribute("data-pupil");
    var li = document.createElement("li");
    li.className = "chip";
    li.setAttribute("data-chip", id);
    var name = document.createElement("span");
    name.textContent = item.querySelector("label").textContent.trim();
    var remove = document.createElement("button");
    remove.type = "button";
    remove.className = "chip-remove";
    remove.textContent = "×";
    remove.setAttribute("aria-label", root.getAttribute("data-remove").replace("{name}", name.textContent));
    li.appendChild(name);
    li.appendChild(remove);
    return li;
  }
  function refreshCount() { count.textContent = String(chips.children.length); }

  function choose(item) {
    var id = item.getAttribute("data-pupil");
    if (!chips.querySelector('[data-chip="' + id + '"]')) chips.appendChild(chipFor(item));
    refreshCount();
  }
  function unchoose(id, focusNext) {
    var chip = chips.querySelector('[data-chip="' + id + '"]');
    var item = itemOf(id);
    if (item) boxOf(item).checked = false;
    if (chip) {
      var next = chip.nextElementSibling || chip.previousElementSibling;
      chip.remove();
      if (focusNext) (next ? next.querySelector("button") : search).focus();
    }
    refreshCount();
    filter();
  }

  // The server's chips post "unpick-<id>": with the script they remove at once.
  chips.querySelectorAll("button.chip-remove").forEach(function (button) {
    button.type = "button";
    button.removeAttribute("name");
  });
  chips.addEventListener("click", function (event) {
    var button = event.target.closest("button.chip-remove");
    if (!button) return;
    event.preventDefault();
    unchoose(button.closest("[data-chip]").getAttribute("data-chip"), true);
  });
  chips.addEventListener("keydown", function (event) {
    if (event.key !== "Delete" && event.key !== "Backspace") return;
    var chip = event.target.closest("[data-chip]");
    if (!chip) return;
    event.preventDefault();
    unchoose(chip.getAttribute("data-chip"), true);
  });
  list.addEventListener("change", function (event) {
    var box = event.target;
    var item = box.closest("li[data-pupil]");
    if (!item) return;
    if (box.checked) choose(item); else unchoose(item.getAttribute("data-pupil"), false);
  });
  list.addEventListener("keydown", function (event) {
    if (event.key !== "ArrowDown" && event.key !== "ArrowUp") return;
    var shown = visible();
    var at = shown.indexOf(event.target.closest("li[data-pupil]"));
    if (at < 0) return;
    event.preventDefault();
    if (event.key === "ArrowUp" && at === 0) { search.focus(); return; }
    var to = shown[Math.max(0, Math.min(shown.length - 1, at + (event.key === "ArrowDown" ? 1 : -1)))];
    boxOf(to).focus();
  });
  search.addEventListener("input", filter);
  search.addEventListener("keydown", function (event) {
    var shown = visible().filter(function (item) { return !boxOf(item).checked; });
    if (event.key === "ArrowDown" && shown.length) {
      event.preventDefault();
      boxOf(shown[0]).focus();
    } else if (event.key === "Enter") {
      event.preventDefault(); // Enter here never previews the whole message
      if (shown.length === 1) {
        boxOf(shown[0]).checked = true;
        choose(shown[0]);
        search.value = "";
        filter();
      }
    }
  });
  if (find) find.hidden = true; // the list filters as one types
  filter();
})();
