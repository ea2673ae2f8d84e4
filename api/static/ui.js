/* Amber's glue, all of it: times in the reader's zone, and "select all" for bulk forms.
   Pages read and work without it; htmx (vendored) does the rest. */
(function () {
  "use strict";
  var fmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (!isNaN(when)) { el.title = el.textContent; el.textContent = fmt.format(when); }
    });
  }
  function selectAll(event) {
    var box = event.target;
    var name = box.getAttribute("data-select-all");
    if (!name) return;
    box.form.querySelectorAll('input[type=checkbox][name="' + name + '"]').forEach(function (el) {
      el.checked = box.checked;
    });
  }
  document.addEventListener("DOMContentLoaded", function () { localTimes(document); });
  document.addEventListener("htmx:afterSwap", function (e) { localTimes(e.target); });
  document.addEventListener("change", selectAll);
})();
