// StockPilot workbench: keyboard (j/k move, Enter open, a approve, r reject, o override,
// / search) and SLA countdowns. Everything works without it; it only saves keystrokes.
(function () {
  "use strict";
  var selected = null;

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("tr[data-item]")); }

  function select(row, focus) {
    rows().forEach(function (r) { r.classList.remove("selected"); r.removeAttribute("aria-selected"); });
    if (!row) { selected = null; return; }
    row.classList.add("selected");
    row.setAttribute("aria-selected", "true");
    selected = row.getAttribute("data-item");
    if (focus) {
      var link = row.querySelector("a.ref");
      (link || row).focus();
    }
  }

  function current() {
    var all = rows();
    for (var i = 0; i < all.length; i++) if (all[i].getAttribute("data-item") === selected) return i;
    return -1;
  }

  function move(step) {
    var all = rows();
    if (!all.length) return;
    var i = current();
    i = i < 0 ? 0 : Math.min(all.length - 1, Math.max(0, i + step));
    select(all[i], true);
  }

  function typing(target) {
    var tag = (target.tagName || "").toLowerCase();
    return tag === "input" || tag === "textarea" || tag === "select" || target.isContentEditable;
  }

  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (typing(event.target)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    var key = event.key;
    var all = rows();
    if (key === "/") {
      var search = document.querySelector("[data-search]");
      if (search) { event.preventDefault(); search.focus(); search.select(); }
      return;
    }
    if (all.length) {  // a queue page
      if (key === "j") { event.preventDefault(); move(1); return; }
      if (key === "k") { event.preventDefault(); move(-1); return; }
      var i = current();
      var row = i >= 0 ? all[i] : all[0];
      if (key === "Enter" && i >= 0) { event.preventDefault(); window.location = row.getAttribute("data-href"); return; }
      if (key === "a") {
        var button = row.querySelector("[data-approve]");
        if (button) { event.preventDefault(); select(row, false); button.click(); }
        return;
      }
      if (key === "r" || key === "o") {
        event.preventDefault();
        window.location = row.getAttribute("data-href") + "#decide-" + (key === "r" ? "reject" : "override");
        return;
      }
      return;
    }
    // an item page
    if (key === "a") {
      var approve = document.querySelector("#decide-approve button[type=submit]");
      if (approve && !approve.disabled) { event.preventDefault(); approve.click(); }
      return;
    }
    if (key === "r" || key === "o") {
      var reason = document.querySelector("select[data-key='" + key + "']");
      if (reason) { event.preventDefault(); reason.focus(); }
    }
  });

  function focusFromHash() {
    var m = /^#decide-(reject|override)$/.exec(window.location.hash);
    if (!m) return;
    var reason = document.querySelector("select[data-key='" + m[1][0] + "']");
    if (reason) reason.focus();
  }

  function words(hours) {
    var minutes = Math.round(Math.abs(hours) * 60);
    var text = minutes >= 60 ? Math.floor(minutes / 60) + " h " + String(minutes % 60).padStart(2, "0") + " min" : minutes + " min";
    return text + (hours >= 0 ? " left" : " overdue");
  }

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-due]").forEach(function (el) {
      var due = Date.parse(el.getAttribute("data-due"));
      if (!isNaN(due)) el.textContent = words((due - now) / 3600000);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    focusFromHash();
    var all = rows();
    if (all.length) select(all[0], false);  // selected, not focused: Tab still starts at the top
    window.setInterval(tick, 30000);
  });
  document.addEventListener("htmx:afterSwap", function () {
    var all = rows();
    if (!all.length) return;
    var i = current();
    // Keep the selection on the same item; when it left the queue, on the row now in its place.
    if (i >= 0) { all[i].classList.add("selected"); all[i].setAttribute("aria-selected", "true"); }
    else select(all[0], false);
  });
})();
