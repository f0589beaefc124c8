"""YAML documents that remember where each value came from, so an error can name its line.

The document is composed once into yaml's node tree (each node has a `start_mark`) and constructed
from that tree with the safe loader, so the data and the line numbers cannot disagree. Refused, with
the line: syntax errors, anchors/aliases (a few lines can expand into gigabytes once the value is
walked or serialised, and manifests have no use for them), duplicate keys (the safe loader would keep
the last one silently), and nesting deep enough to exhaust the parser's recursion.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

MAX_YAML_CHARS = 64 * 1024


class YamlError(ValueError):
    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass
class YamlDoc:
    data: Any
    root: Any  # yaml.Node | None
    first_line: int  # the file line of the document's first line (front matter starts below `---`)

    def line_of(self, loc: Sequence[str | int]) -> int:
        """The 1-based file line of the value at `loc` (keys and list indexes); for a missing key,
        the line of the closest enclosing value that exists."""
        import yaml

        node = self.root
        if node is None:
            return self.first_line
        line = node.start_mark.line
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if isinstance(key, yaml.ScalarNode) and key.value == str(part):
                        line, node = key.start_mark.line, value
                        break
                else:
                    break
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line
            else:
                break
        return int(line) + self.first_line


def load(text: str, *, first_line: int = 1) -> YamlDoc:
    """Parses one YAML document; `first_line` is the file line its first line sits on."""
    import yaml

    if len(text) > MAX_YAML_CHARS:
        raise YamlError(f"the YAML is longer than {MAX_YAML_CHARS} characters", first_line)
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is not None:
            _check(root, first_line)
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + first_line if mark is not None else first_line
        raise YamlError(f"not valid YAML: {exc.problem or exc.context or 'syntax error'}", line) from None
    except yaml.YAMLError as exc:
        raise YamlError(f"not valid YAML: {exc}", first_line) from None
    except RecursionError:
        raise YamlError("the YAML is nested too deeply", first_line) from None
    finally:
        loader.dispose()
    return YamlDoc(data=data, root=root, first_line=first_line)


def _check(root: Any, first_line: int) -> None:
    import yaml

    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        line = node.start_mark.line + first_line
        if id(node) in seen:
            raise YamlError("anchors and aliases are not allowed", line)
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            keys: set[str] = set()
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode):
                    if key.tag == "tag:yaml.org,2002:merge":
                        raise YamlError("merge keys (<<) are not allowed", key.start_mark.line + first_line)
                    if key.value in keys:
                        raise YamlError(f"the key {key.value!r} appears twice", key.start_mark.line + first_line)
                    keys.add(key.value)
                stack.extend((key, value))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
