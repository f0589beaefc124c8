"""Which commands an instance may run over SSH: the owner's allow and deny lists.

Patterns are shell-style globs (`fnmatch`, case-sensitive): `*` any run of characters (spaces and
slashes too), `?` one character, `[abc]` / `[!abc]` one of a set. A pattern matches the whole command,
compared after surrounding blanks are trimmed and every run of blanks is read as one space (the shell
splits words the same way, so `rm  -rf` cannot slip past a `rm -rf*` deny). Regular expressions are
not accepted: a pattern runs on the platform's servers, and a backtracking expression could hold a
request for as long as it likes.

The decision, in order:
  1. a command holding shell control syntax — `;` `&` `|` backquote `$` `<` `>` or a line break — is
     refused: the remote shell would run more than the one command the lists were checked against
     (`ls; rm -rf ~` matches `ls *`). Put a pipeline in a script on the host and allow the script.
  2. a command matching any deny pattern is refused (deny wins);
  3. a command matching an allow pattern is allowed;
  4. anything else is refused (the allow list is required and has at least one pattern: `*` allows all).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

SHELL_CONTROL = re.compile(r"[;&|`$<>\r\n\x00]")


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reason: str  # for the audit log and the refusal: which rule decided
    pattern: str | None = None


def normalize(command: str) -> str:
    return " ".join(command.split())


def decide(command: str, allow: list[str], deny: list[str]) -> Decision:
    if SHELL_CONTROL.search(command):
        return Decision(False, "the command holds shell control syntax (; & | ` $ < > or a line break)")
    text = normalize(command)
    if not text:
        return Decision(False, "the command is empty")
    for pattern in deny:
        if fnmatchcase(text, pattern):
            return Decision(False, f"the command matches the deny pattern {pattern!r}", pattern)
    for pattern in allow:
        if fnmatchcase(text, pattern):
            return Decision(True, f"allowed by {pattern!r}", pattern)
    return Decision(False, "the command matches no allow pattern")
