"""URL rules whose URL builder is made on first use instead of when the rule is added.

werkzeug compiles two URL-building functions for every rule as it is added to the map (an AST built
and compiled per rule, ~0.7 ms each); only `url_for` calls them, and a JSON API's functions never
build URLs, so each cold start paid for every route's builders and used none. Matching is untouched:
the rule's regex is still compiled when it is bound. Plugged in through Flask's `url_rule_class`.

This overrides werkzeug's private `Rule._compile_builder` (werkzeug is pinned): on an upgrade,
tests/unit/test_url_rules.py checks that these rules still build and match as werkzeug's own do.
"""

from collections.abc import Callable
from typing import Any

from werkzeug.routing import Rule

Builder = Callable[..., tuple[str, str]]


class LazyBuilderRule(Rule):
    def _compile_builder(self, append_unknown: bool = True) -> Builder:
        # `Rule.compile` binds what this returns to the rule, so both functions take the rule first.
        compiled: Builder | None = None

        def build(rule: Rule, *args: Any, **kwargs: Any) -> tuple[str, str]:
            nonlocal compiled
            if compiled is None:
                compiled = Rule._compile_builder(rule, append_unknown)
            return compiled(rule, *args, **kwargs)

        return build
