// Camera wall: reload each camera's status and snapshot every ui.wall_refresh_s, and keep the snapshots' ages ticking.
(function () {
  "use strict";
  var refreshS = parseFloat(document.body.dataset.wallRefreshS) || 2;
  var fetchedAt = Date.now();
  var STALE_S = 10;

  function tick() {
    var since = (Date.now() - fetchedAt) / 1000;
    document.querySelectorAll(".cam .age").forEach(function (el) {
      var age = parseFloat(el.dataset.ageS);
      if (isNaN(age)) { el.textContent = "no snapshot"; return; }
      var now = age + since;
      el.textContent = now.toFixed(1) + " s old";
      el.classList.toggle("old", now > STALE_S);
    });
  }

  function update(cam) {
    var fig = document.getElementById("cam-" + cam.name);
    if (!fig) { return; }
    var age = fig.querySelector(".age");
    if (age) { age.dataset.ageS = cam.snapshot_age_s === null ? "" : cam.snapshot_age_s; }
    var state = fig.querySelector(".state");
    if (state) { state.textContent = cam.state; state.className = "state state-" + cam.state; }
    var visible = fig.querySelector(".visible");
    if (visible) { visible.textContent = cam.visible; }
    var img = fig.querySelector("img");
    if (img && cam.snapshot_url) {
      var src = cam.snapshot_url + "?f=" + cam.snapshot_frame;
      if (img.getAttribute("src") !== src) { img.setAttribute("src", src); }
    }
  }

  function refresh() {
    fetch("/api/cameras", {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (data) { fetchedAt = Date.now(); data.cameras.forEach(update); }
      })
      .catch(function () {})
      .then(function () { setTimeout(refresh, refreshS * 1000); });
  }

  tick();
  setInterval(tick, 1000);
  setTimeout(refresh, refreshS * 1000);
})();
