// mxscan serve: the one script (the CSP allows no inline script). The pages work without it; it adds the
// light/dark switch, remembered in localStorage.
(function () {
  "use strict";
  var root = document.documentElement;
  var saved = null;
  try { saved = window.localStorage.getItem("mxscan-theme"); } catch (e) { saved = null; }
  if (saved === "light" || saved === "dark") { root.setAttribute("data-theme", saved); }
  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("theme");
    if (!button) { return; }
    button.addEventListener("click", function () {
      var current = root.getAttribute("data-theme");
      if (!current) {
        current = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
      }
      var next = current === "dark" ? "light" : "dark";
      root.setAttribute("data-theme", next);
      try { window.localStorage.setItem("mxscan-theme", next); } catch (e) { /* private mode */ }
    });
  });
})();
