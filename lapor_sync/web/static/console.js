/* lapor-sync console: the event search's "Live" switch. The page works without it; this only adds
   new rows at the top as the server sends them (server-sent events, rows already escaped by the server). */
(function () {
  "use strict";
  var box = document.querySelector("[data-live-source]");
  if (!box || !window.EventSource) { return; }
  var button = box.querySelector("[data-live-toggle]");
  var status = box.querySelector("[data-live-status]");
  var rows = document.getElementById(box.getAttribute("data-live-target"));
  var source = null;
  box.hidden = false;

  function show(event) {
    var id = event.lastEventId;
    if (!rows || rows.querySelector('tr[data-id="' + id + '"]')) { return; }  // already on the page
    var holder = document.createElement("tbody");
    holder.innerHTML = event.data;
    var row = holder.firstElementChild;
    if (!row) { return; }
    row.classList.add("fresh");
    rows.insertBefore(row, rows.firstChild);
  }

  function switchTo(on) {
    if (on && !source) {
      source = new EventSource(box.getAttribute("data-live-source"));
      source.addEventListener("sync-event", show);
    } else if (!on && source) {
      source.close();
      source = null;
    }
    button.setAttribute("aria-pressed", on ? "true" : "false");
    status.textContent = status.getAttribute(on ? "data-on" : "data-off");
  }

  button.addEventListener("click", function () { switchTo(!source); });
}());
