"""The server's HTTP routes, one module per area; `app.create_app` composes them.

Each module's `routes(http, ...)` returns Starlette routes whose handlers return plain
dicts; `common.Http` holds what they share (body and query parsing, the error wrapper,
reads that first fold in other processes' writes).
"""
