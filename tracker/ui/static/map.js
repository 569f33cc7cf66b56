// Site map: move the "people now" markers every ui.map_refresh_s (the heatmap and fields of view stay as rendered).
(function () {
  "use strict";
  var svg = document.getElementById("sitemap");
  if (!svg) { return; }
  var refreshS = parseFloat(document.body.dataset.mapRefreshS) || 2;
  var xMin = parseFloat(svg.dataset.xMin), yMax = parseFloat(svg.dataset.yMax);
  var scale = parseFloat(svg.dataset.scale), pad = parseFloat(svg.dataset.pad);
  var NS = "http://www.w3.org/2000/svg";

  function draw(positions) {
    var g = document.getElementById("positions");
    while (g.firstChild) { g.removeChild(g.firstChild); }
    positions.forEach(function (p) {
      var u = pad + (p.xy_m[0] - xMin) * scale, v = pad + (yMax - p.xy_m[1]) * scale;
      var a = document.createElementNS(NS, "a");
      a.setAttribute("href", "/identities/" + p.gid);
      var c = document.createElementNS(NS, "circle");
      c.setAttribute("cx", u); c.setAttribute("cy", v); c.setAttribute("r", 6); c.setAttribute("class", "person");
      var t = document.createElementNS(NS, "text");
      t.setAttribute("x", u + 8); t.setAttribute("y", v + 4); t.textContent = "#" + p.gid;
      a.appendChild(c); a.appendChild(t); g.appendChild(a);
    });
    var n = document.getElementById("n-positions");
    if (n) { n.textContent = positions.length; }
  }

  function refresh() {
    fetch("/api/positions", {credentials: "same-origin"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) { draw(data); } })
      .catch(function () {})
      .then(function () { setTimeout(refresh, refreshS * 1000); });
  }
  setTimeout(refresh, refreshS * 1000);
})();
