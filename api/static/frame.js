/* Keeps Amber's replay bar in step with the page shown in the replay frame.
 * Only messages from the replay origin are believed. */
(function () {
  "use strict";
  var bar = document.querySelector("[data-replay-origin]");
  if (!bar) return;
  var origin = new URL(bar.getAttribute("data-replay-origin")).origin;
  window.addEventListener("message", function (event) {
    if (event.origin !== origin || !event.data || event.data.amber !== "replay") return;
    var url = String(event.data.url || "");
    var ts = String(event.data.timestamp || "");
    if (!/^https?:\/\//.test(url) || !/^\d{14}$/.test(ts)) return;
    var link = document.getElementById("replay-url");
    if (link) {
      link.textContent = url;
      link.setAttribute("href", url);
    }
    if (event.data.title) document.title = String(event.data.title) + " (" + ts.slice(0, 8) + ")";
    var path = "/web/" + ts + "/" + url;
    if (location.pathname + location.search !== path) history.replaceState(null, "", path);
  });
})();
