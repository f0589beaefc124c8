"""Serves `api/` and `functions/` exactly as vercel.json routes them, on one local port.

Each function module is imported on first use (like a cold start) and gets the original path, as
Vercel's Python runtime passes it. Unmatched paths answer a problem+json 404.
"""

from __future__ import annotations

import importlib
import json
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.config import PROJECT_ROOT

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@dataclass(frozen=True)
class Route:
    pattern: re.Pattern[str]
    module: str


def load_routes(vercel_json: Path = PROJECT_ROOT / "vercel.json") -> list[Route]:
    config = json.loads(vercel_json.read_text())
    routes = []
    for r in config.get("routes", []):
        if "src" not in r or "dest" not in r:
            continue
        dest = r["dest"].lstrip("/")
        if not dest.endswith(".py"):
            raise ValueError(f"vercel.json route {r['src']} → {r['dest']}: expected a .py function")
        routes.append(Route(re.compile(r["src"]), dest[:-3].replace("/", ".")))
    return routes


class VercelDispatcher:
    def __init__(self, routes: list[Route] | None = None) -> None:
        self.routes = routes if routes is not None else load_routes()
        self._apps: dict[str, WSGIApp] = {}
        self._lock = threading.Lock()

    def app_for(self, path: str) -> WSGIApp | None:
        for route in self.routes:
            if route.pattern.search(path):
                app = self._apps.get(route.module)
                if app is None:
                    with self._lock:
                        app = self._apps.get(route.module)
                        if app is None:
                            app = importlib.import_module(route.module).app
                            self._apps[route.module] = app
                return app
        return None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        app = self.app_for(environ.get("PATH_INFO", "/"))
        if app is None:
            body = json.dumps({"type": "about:blank", "title": "Not Found", "status": 404,
                               "detail": "No function serves this path."}).encode()
            start_response("404 Not Found", [("Content-Type", "application/problem+json"),
                                             ("Content-Length", str(len(body)))])
            return [body]
        return app(environ, start_response)
