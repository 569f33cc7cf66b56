// Live events: the hub's identity events over server-sent events (the browser resumes with Last-Event-ID itself).
(function () {
  "use strict";
  var list = document.getElementById("events");
  var state = document.getElementById("sse-state");
  var MAX_ITEMS = 300;

  function item(id, data) {
    var li = document.createElement("li");
    li.className = "event event-" + data.kind;
    li.dataset.id = id;
    var kind = document.createElement("span");
    kind.className = "kind";
    kind.textContent = data.kind;
    li.appendChild(kind);
    if (data.gid) {
      var a = document.createElement("a");
      a.href = "/identities/" + encodeURIComponent(data.gid);
      a.textContent = "#" + data.gid;
      li.appendChild(a);
    }
    var rest = " " + (data.camera || "") + "/" + (data.local_id || "") + " at " + parseFloat(data.ts || 0).toFixed(1) + " s";
    if (data.previous_gid) { rest += " (was #" + data.previous_gid + ")"; }
    if (data.similarity) { rest += " sim " + parseFloat(data.similarity).toFixed(2); }
    li.appendChild(document.createTextNode(rest));
    return li;
  }

  // the page rendered the newest events up to data-after; the stream goes on from there
  var source = new EventSource("/api/events?after=" + encodeURIComponent(list.dataset.after || "0-0"));
  source.onopen = function () { state.textContent = "live"; };
  source.onerror = function () { state.textContent = "reconnecting…"; };
  source.addEventListener("identity", function (e) {
    var data;
    try { data = JSON.parse(e.data); } catch (err) { return; }
    list.insertBefore(item(e.lastEventId, data), list.firstChild);
    var none = document.getElementById("no-events");
    if (none) { none.remove(); }
    while (list.children.length > MAX_ITEMS) { list.removeChild(list.lastChild); }
    state.textContent = "live · " + list.children.length + " events";
  });
})();
