"""One TLS client context for the whole process.

`httpx.Client()` builds a fresh `ssl.SSLContext` and loads the CA bundle into it every time it is
made: ~15–45 ms of CPU here. Lifecycle jobs make a Fly client per run and the health check a bridge
client per probe thread, so at 10,000+ instances that load was most of a sweep's CPU. A context is
safe to share between threads and clients; this one verifies exactly as httpx's default does (the
certifi bundle, hostname checks, TLS ≥ 1.2).
"""

from __future__ import annotations

import ssl
from functools import cache


@cache
def client_context() -> ssl.SSLContext:
    import certifi

    return ssl.create_default_context(cafile=certifi.where())
