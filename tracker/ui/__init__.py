"""``mctrack ui``: a read-only web console and JSON API over the hub's Redis keys (FastAPI, server-rendered pages
with a little plain JavaScript). It only reads Redis (never the workers or the hub), so it cannot slow them.

Modules: ``auth`` (the bind/token rule and the request check), ``params`` (paging and filter parsing),
``heatmap`` (occupancy binning), ``mapview`` (ground plane -> SVG coordinates), ``metrics`` (Prometheus
families of the UI process), ``reads`` (what the pages and the API show, built on :mod:`tracker.hub.queries`),
``sse`` (the live identity events stream), ``api`` and ``pages`` (routes), ``app`` (the app factory) and
``server`` (binding and running uvicorn).
"""
