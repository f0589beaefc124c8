"""Rules made without their URL builder still build the URLs werkzeug's own rules build."""

from __future__ import annotations

from typing import Any

from flask import Flask, url_for
from werkzeug.routing import Rule

from shared.web.rules import LazyBuilderRule

RULES = ["/api/instances", "/api/instances/<instance_id>", "/api/instances/<instance_id>/start",
         "/api/files/<instance_id>/<path:path>", "/api/pages/<int:page>"]
CALLS: list[tuple[str, dict[str, Any]]] = [
    ("r0", {}), ("r0", {"limit": 3, "q": "a b/c"}), ("r1", {"instance_id": "abc"}),
    ("r1", {"instance_id": "a b?", "x": ["1", "2"]}), ("r2", {"instance_id": "é"}),
    ("r3", {"instance_id": "i", "path": "dir/file name.txt"}), ("r4", {"page": 7}),
]


def _app(rule_class: type[Rule]) -> Flask:
    app = Flask(__name__, static_folder=None)
    app.url_rule_class = rule_class
    for i, rule in enumerate(RULES):
        app.add_url_rule(rule, endpoint=f"r{i}", view_func=lambda **_: "")
    return app


def _built(app: Flask) -> list[str]:
    with app.test_request_context():
        return [url_for(endpoint, **values) for endpoint, values in CALLS] + [
            url_for(endpoint, _external=True, **values) for endpoint, values in CALLS]


def test_lazy_rules_build_the_same_urls() -> None:
    lazy = _app(LazyBuilderRule)
    assert all(type(r) is LazyBuilderRule for r in lazy.url_map.iter_rules())
    assert _built(lazy) == _built(_app(Rule))
    assert _built(lazy) == _built(lazy)  # a second build goes through the builder made by the first


def test_lazy_rules_match_like_werkzeugs() -> None:
    adapter, plain = _app(LazyBuilderRule).url_map.bind("x"), _app(Rule).url_map.bind("x")
    for path in ("/api/instances", "/api/instances/abc/start", "/api/files/i/a/b.txt", "/api/pages/3"):
        assert adapter.match(path) == plain.match(path)
