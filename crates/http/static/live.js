// Progressive enhancement for Rapport's pages: everything works without this script. With it,
// the inbox and the badges follow the live event stream, and the note field counts characters.
(function () {
  "use strict";

  function counters() {
    document.querySelectorAll("textarea[data-counter]").forEach(function (area) {
      var out = document.getElementById(area.getAttribute("data-counter"));
      var max = parseInt(area.getAttribute("maxlength"), 10);
      if (!out || !max) return;
      var update = function () {
        out.textContent = Array.from(area.value).length + " / " + max;
      };
      area.addEventListener("input", update);
      update();
    });
  }

  function setBadge(id, n) {
    var badge = document.getElementById(id);
    if (!badge) return;
    badge.textContent = n > 99 ? "99+" : String(n);
    badge.hidden = n <= 0;
  }

  function badgeValue(id) {
    var badge = document.getElementById(id);
    return badge && !badge.hidden ? parseInt(badge.textContent, 10) || 0 : 0;
  }

  function refreshEmpty() {
    var list = document.getElementById("received-list");
    var empty = document.getElementById("received-empty");
    if (list && empty) empty.hidden = list.children.length > 0;
  }

  // The Received list as the server renders it now: fetched and swapped in, so that what shows
  // is exactly the page a reload would show (escaped by the server's templates).
  function reloadReceived() {
    fetch("/invitations", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("received-list");
        var list = document.getElementById("received-list");
        if (fresh && list) list.replaceWith(document.importNode(fresh, true));
        refreshEmpty();
      })
      .catch(function () {});
  }

  function live() {
    var main = document.querySelector("main[data-live]");
    if (!main || !window.EventSource) return;
    var tab = main.getAttribute("data-live");
    var source = new EventSource("/api/v1/events");
    source.addEventListener("invitation.received", function () {
      setBadge("pending-badge", badgeValue("pending-badge") + 1);
      if (tab === "received") reloadReceived();
    });
    source.addEventListener("invitation.removed", function (e) {
      var data = JSON.parse(e.data);
      var card = document.querySelector('[data-invitation-id="' + CSS.escape(String(data.invitation_id)) + '"]');
      if (card && tab === "received") card.remove();
      setBadge("pending-badge", badgeValue("pending-badge") - 1);
      if (typeof data.unread === "number") setBadge("unread-badge", data.unread);
      refreshEmpty();
    });
    source.addEventListener("notification.created", function (e) {
      var data = JSON.parse(e.data);
      if (typeof data.unread === "number") setBadge("unread-badge", data.unread);
    });
    document.documentElement.setAttribute("data-live-ready", "1");
  }

  document.addEventListener("DOMContentLoaded", function () {
    counters();
    live();
  });
})();
