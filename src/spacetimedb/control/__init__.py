"""The control of hosted databases (upstream's host controller): the registry of databases, the
per-database worker, subscription fan-out, republish and query routing. `spacetimedb.server` (the
HTTP/WebSocket front) drives it; it drives `spacetimedb.host`.
"""
