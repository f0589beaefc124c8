"""The static scan of a bundle (ARCHITECTURE §5 "Publish"): explainable rules over skills and scripts.

Every rule has an id, a severity and an explanation; every finding names its rule, the file (relative
to the bundle root) and the 1-based line that triggered it, and says in words what was seen — never the
matched text of a secret. Severities decide what happens to a submitted version (shared/platform/publish):

    info       noted, publishes
    warning    an admin reviews the version before it publishes
    critical   likewise; a critical finding of a *blocking* rule (a secret in the bundle) rejects the
               version outright: publishing it would leak the secret, so no approval can help

What is scanned: every file of every skill (`skills/<name>/…`), and scripts anywhere in the bundle
(by extension or a `#!` line); secrets are looked for in every text file. In Markdown, the rules about
processes and paths read fenced code blocks only (prose mentions commands and paths without running
them); URLs count everywhere in a skill, since a skill's prose is what the model acts on.

The permission rules compare what a skill's files use with what its SKILL.md declares (§5a
`permissions`): `network` hosts (`api.example.org`, `*.example.org` for subdomains, `*` for any),
`exec` commands (names or paths; `*` for any) and `filesystem` path prefixes (`~` and `$HOME` are the
same; `*` globs). Hosts reserved for documentation (example.com/.net/.org, *.example, *.test,
*.invalid) are not network use.

The rules are heuristics on text, tuned to be explained rather than to be clever: a finding is a
reason for a human to look, and the message says what to change.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from shared.platform.manifest import Skill, ValidBundle
from shared.platform.models import Finding, Severity

MAX_FINDINGS = 500
MAX_PER_RULE_AND_FILE = 20

SCRIPT_LANGS = {
    ".sh": "shell", ".bash": "shell", ".zsh": "shell", ".ksh": "shell", ".fish": "shell",
    ".py": "python", ".js": "js", ".mjs": "js", ".cjs": "js", ".ts": "js", ".rb": "ruby", ".pl": "perl",
    ".php": "php", ".ps1": "powershell", ".lua": "lua", ".bat": "batch", ".cmd": "batch",
}
FENCE_LANGS = {
    "sh": "shell", "bash": "shell", "shell": "shell", "zsh": "shell", "console": "shell", "terminal": "shell",
    "shell-session": "shell", "python": "python", "py": "python", "python3": "python", "js": "js",
    "javascript": "js", "ts": "js", "typescript": "js", "node": "js", "ruby": "ruby", "perl": "perl",
    "powershell": "powershell", "ps1": "powershell",
}


@dataclass
class Source:
    """One file as the rules see it."""
    path: str
    lines: list[str]
    kind: str  # script | markdown | text
    code: dict[int, str] = field(default_factory=dict)  # 0-based line → language ("" unknown)
    skill: Skill | None = None


Hit = tuple[int, str]  # (0-based line, message)


@dataclass(frozen=True)
class Rule:
    id: str
    severity: Severity
    explanation: str
    check: Callable[[Source], Iterator[Hit]]
    scope: str = "code"  # code: skills + scripts · skills: skill files only · text: every text file
    blocks: bool = False


# --- downloads and decoded data run as code ----------------------------------------------------------

_SHELLS = r"(?:sudo\s+(?:-\S+\s+)*)?(?:env\s+)?(?:/\S*/)?(?:ba|z|k|da|fi|c|tc)?sh\b"
_INTERPRETERS = r"(?:sudo\s+)?(?:/\S*/)?(?:python[0-9.]*|perl|ruby|node|php|iex|Invoke-Expression)\b"
_DOWNLOAD = r"\b(?:curl|wget|fetch|iwr|irm|Invoke-WebRequest|Invoke-RestMethod)\b"
_PIPE_TO_SHELL = [
    re.compile(_DOWNLOAD + r"[^\n|]*\|\s*(?:" + _SHELLS + "|" + _INTERPRETERS + ")", re.I),
    re.compile(r"\b(?:ba|z|k|da)?sh\s+(?:-\w+\s+)*[\"']?\$\(\s*(?:curl|wget)\b", re.I),
    re.compile(r"(?:\b(?:ba|z|k|da)?sh|\bsource|(?:^|\s)\.)\s+<\(\s*(?:curl|wget)\b", re.I),
    re.compile(r"\b(?:iex|Invoke-Expression)\s*\(?\s*\(?\s*(?:New-Object\s+Net\.WebClient\)?\.DownloadString|"
               r"iwr|irm|Invoke-WebRequest|Invoke-RestMethod)", re.I),
]


def _pipe_to_shell(src: Source) -> Iterator[Hit]:
    for i, line in enumerate(src.lines):
        if any(p.search(line) for p in _PIPE_TO_SHELL):
            yield i, ("pipes a download straight into a shell or interpreter: whatever the server sends runs "
                      "unseen. Ship the script in the skill (it is scanned and signed) or download, verify a "
                      "checksum, then run")


_DECODERS = (r"(?:atob|b64decode|b32decode|b16decode|b85decode|a85decode|decodebytes|decodestring|unhexlify|"
             r"fromhex|fromCharCode|unescape|decompress|marshal\.loads|codecs\.decode)")
_DECODE_EXEC = [
    re.compile(r"\bbase(?:64|32)\s+(?:-\w+\s+)*(?:-d|--decode|-D)\b[^\n]*\|\s*(?:" + _SHELLS + "|" + _INTERPRETERS + ")", re.I),
    re.compile(r"\b(?:xxd\s+-r|openssl\s+(?:base64|enc)\s[^\n|]*-d)[^\n]*\|\s*(?:" + _SHELLS + "|" + _INTERPRETERS + ")", re.I),
    re.compile(r"\beval\s+[\"']?\$\([^)\n]*(?:base64\s+(?:-\w+\s+)*(?:-d|--decode|-D)|xxd\s+-r)", re.I),
    re.compile(r"(?<![\w.])(?:eval|exec|Function|execScript|setTimeout|setInterval)\s*\([^\n]{0,80}?\b" + _DECODERS + r"\b"),
    re.compile(r"(?<![\w.])(?:eval|exec|Function)\s*\([^\n]{0,80}?Buffer\.from\([^\n]*[\"'](?:base64|hex)[\"']"),
    re.compile(r"\bnew\s+Function\s*\([^\n]{0,80}?\b" + _DECODERS + r"\b"),
]


def _decode_exec(src: Source) -> Iterator[Hit]:
    for i, line in enumerate(src.lines):
        if any(p.search(line) for p in _DECODE_EXEC):
            yield i, ("runs data it decodes first (base64, hex, char codes, compressed): a common way to hide "
                      "what code does from review. Ship the code as plain source")


# --- permissions: network -------------------------------------------------------------------------------

_URL_HOST = re.compile(r"\b(?:https?|wss?|ftps?|sftp)://(?:[^\s/@\"'<>]*@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)")
_CMD_HOST = re.compile(r"\b(?:curl|wget|http|https|httpie|nc|ncat|telnet|ssh|scp|rsync)\s+(?:-{1,2}[\w-]+(?:[ =][^\s-]\S*)?\s+)*"
                       r"(?:[\w.-]+@)?((?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,}|localhost|\d{1,3}(?:\.\d{1,3}){3})(?=[\s/:]|$)")
_XMLNS = re.compile(r"xmlns(?::[\w-]+)?\s*=\s*[\"']$")  # a namespace name is a URI, never fetched
_RESERVED_HOSTS = re.compile(r"(?:^|\.)(?:example\.(?:com|net|org)|example|test|invalid)$")


def _norm_host(raw: str) -> str:
    host = raw.strip().lower().rstrip(".")
    host = re.sub(r"^[a-z][a-z0-9+.-]*://", "", host)
    host = host.split("/", 1)[0]
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def host_allowed(host: str, declared: list[str]) -> bool:
    host = _norm_host(host)
    for entry in declared:
        want = _norm_host(entry)
        if want == "*" or want == host:
            return True
        if want.startswith("*.") and host.endswith(want[1:]):
            return True
    return False


def _undeclared_network(src: Source) -> Iterator[Hit]:
    assert src.skill is not None
    declared = src.skill.declared.network
    for i, line in enumerate(src.lines):
        hosts = [m.group(1) for m in _URL_HOST.finditer(line) if not _XMLNS.search(line, 0, m.start())]
        if i in src.code:
            hosts += [m.group(1) for m in _CMD_HOST.finditer(line)]
        seen: set[str] = set()
        for raw in hosts:
            host = _norm_host(raw)
            if host in seen or _RESERVED_HOSTS.search(host) or host_allowed(host, declared):
                continue
            seen.add(host)
            yield i, (f"reaches {host}, which the skill's permissions.network does not declare: add it to "
                      "SKILL.md's permissions or remove the call")


# --- permissions: processes -----------------------------------------------------------------------------

_PY_EXEC = re.compile(r"\b(?:subprocess\.(?:run|call|check_call|check_output|Popen|getoutput|getstatusoutput)|"
                      r"os\.(?:system|popen|exec[lv]p?e?|spawn[lv]p?e?|posix_spawnp?)|pty\.spawn|"
                      r"asyncio\.create_subprocess_(?:exec|shell))\s*\(\s*\[?\s*(?:[frbu]{0,2})[\"']([^\"'\s]+)")
_JS_EXEC = re.compile(r"(?:\bchild_process\.|(?<![\w.$]))(?:exec|execSync|execFile|execFileSync|spawn|spawnSync|fork)"
                      r"\s*\(\s*[`\"']([^`\"'\s]+)")
_RUBY_EXEC = re.compile(r"(?:\b(?:system|spawn|exec)\s*\(?\s*|%x\{|`)[\"']?([A-Za-z0-9_./-]+)")
_SHELL_SKIP = frozenset((
    "cd", "echo", "printf", "export", "set", "unset", "local", "read", "return", "exit", "shift", "source", ".",
    "test", "[", "[[", "]]", "true", "false", ":", "trap", "wait", "declare", "typeset", "alias", "unalias", "let",
    "if", "then", "else", "elif", "fi", "for", "in", "do", "done", "while", "until", "case", "esac", "function",
    "break", "continue", "pwd", "umask", "ulimit", "getopts", "type", "hash", "jobs", "bg", "fg", "kill", "{", "}",
    "(", ")", "!", "select", "readonly", "shopt", "builtin", "command", "caller", "enable", "help", "logout",
    "mapfile", "readarray", "times", "disown", "suspend", "wait", "popd", "pushd", "dirs", "history",
))
_SHELL_PREFIX = frozenset(("env", "nohup", "time", "exec", "nice", "timeout", "xargs", "then", "do", "else",
                           "elif", "if", "while", "until", "!", "{", "("))
_SEGMENT_SPLIT = re.compile(r"&&|\|\||[;|&]|\$\(|`|\bthen\b|\bdo\b|\belse\b")


def _shell_commands(line: str) -> Iterator[str]:
    text = line.strip()
    if text.startswith("$ "):
        text = text[2:]
    if not text or text.startswith("#"):
        return
    text = re.sub(r"'[^']*'|\"(?:\\.|[^\"\\])*\"", " _str_ ", text)  # quoted arguments are not commands
    text = text.split(" #", 1)[0]
    for segment in _SEGMENT_SPLIT.split(text):
        words = segment.split()
        while words and (words[0] in _SHELL_PREFIX or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0])
                         or (words[0].startswith("-") and len(words) > 1)):
            words = words[1:]
        if not words:
            continue
        word = words[0].rstrip(")")
        if (not word or word in _SHELL_SKIP or word == "_str_" or word.startswith(("$", "<", ">", "-", "./", "../"))
                or re.match(r"^\w+\(\)$", word) or not re.match(r"^[A-Za-z0-9_./+-]+$", word)
                or word.endswith(")")):
            continue
        yield word


def _heredoc_lines(src: Source) -> set[int]:
    """Lines inside shell here-documents (data, not commands)."""
    skip: set[int] = set()
    end: str | None = None
    for i, line in enumerate(src.lines):
        if end is not None:
            skip.add(i)
            if line.strip() == end:
                end = None
            continue
        m = re.search(r"<<-?\s*[\"']?(\w+)[\"']?", line)
        if m and src.code.get(i) == "shell":
            end = m.group(1)
    return skip


def _command_name(word: str) -> str:
    return PurePosixPath(word).name or word


def exec_allowed(command: str, declared: list[str]) -> bool:
    name = _command_name(command)
    return any(e.strip() == "*" or _command_name(e.strip()) == name or e.strip() == command for e in declared)


def _commands(src: Source) -> Iterator[tuple[int, str]]:
    heredoc = _heredoc_lines(src)
    continued = False
    for i, line in enumerate(src.lines):
        lang = src.code.get(i)
        if lang is None:
            continued = False
            continue
        if lang == "shell" and i not in heredoc and not continued and not (i == 0 and line.startswith("#!")):
            if src.kind == "markdown" and src.lines[i].lstrip().startswith(("> ", "| ")):
                pass
            else:
                for word in _shell_commands(line):
                    yield i, word
        continued = lang == "shell" and line.rstrip().endswith("\\")
        patterns = {"python": [_PY_EXEC], "js": [_JS_EXEC], "ruby": [_RUBY_EXEC]}.get(lang, [_PY_EXEC, _JS_EXEC]) \
            if lang != "shell" else []
        for p in patterns:
            for m in p.finditer(line):
                yield i, m.group(1)


def _undeclared_exec(src: Source) -> Iterator[Hit]:
    assert src.skill is not None
    declared = src.skill.declared.exec
    for i, command in _commands(src):
        if not exec_allowed(command, declared):
            yield i, (f"runs `{_command_name(command)}`, which the skill's permissions.exec does not declare: add it "
                      "to SKILL.md's permissions or remove the call")


# --- permissions: filesystem ----------------------------------------------------------------------------

_ROOTS = ("etc|var|usr|home|root|tmp|opt|proc|sys|dev|bin|sbin|lib|lib64|mnt|srv|run|boot|data|Users|private|"
          "Library|System|Volumes|media|snap|Applications")
_PATH = re.compile(r"(?<![\w.:/~$@%+-])((?:~|\$HOME|\$\{HOME\})(?:/[\w.@%+*-]+)+|/(?:" + _ROOTS + r")(?:/[\w.@%+*-]+)*)(?![\w:])")
_HARMLESS_PATHS = frozenset(("/dev/null", "/dev/stdout", "/dev/stderr", "/dev/stdin", "/dev/tty", "/dev/urandom",
                             "/dev/random", "/usr/bin/env", "/bin/sh", "/bin/bash", "/usr/bin/sh", "/usr/bin/bash"))


def _norm_path(path: str) -> str:
    path = path.strip()
    for home in ("${HOME}", "$HOME"):
        if path.startswith(home):
            path = "~" + path[len(home):]
    return path.rstrip("/") or "/"


def path_allowed(path: str, declared: list[str]) -> bool:
    used = _norm_path(path)
    for entry in declared:
        want = _norm_path(entry)
        if want == "/" or want == "*" or used == want or used.startswith(want + "/"):
            return True
        if any(c in want for c in "*?[") and (fnmatch.fnmatchcase(used, want) or fnmatch.fnmatchcase(used, want + "/*")):
            return True
    return False


def _undeclared_filesystem(src: Source) -> Iterator[Hit]:
    assert src.skill is not None
    declared = src.skill.declared.filesystem
    for i, line in enumerate(src.lines):
        if i not in src.code or (i == 0 and line.startswith("#!")):
            continue
        seen: set[str] = set()
        for m in _PATH.finditer(line):
            path = _norm_path(m.group(1))
            if path in _HARMLESS_PATHS or path in seen or path_allowed(path, declared):
                continue
            seen.add(path)
            yield i, (f"uses {path}, outside what the skill's permissions.filesystem declares: add the path "
                      "(or a folder above it) to SKILL.md's permissions, or work in the agent's workspace")


# --- secrets ------------------------------------------------------------------------------------------------

_SECRET_PATTERNS = [
    ("an AWS access key id (AKIA…)", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("a GitHub token (gh…_)", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b")),
    ("an Anthropic API key (sk-ant-…)", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{20,}")),
    ("an OpenAI API key (sk-…)", re.compile(r"\bsk-(?!ant-)(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}")),
    ("a Stripe secret (sk_/rk_/whsec_…)", re.compile(r"\b(?:(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}|whsec_[A-Za-z0-9]{16,})\b")),
    ("a Slack token (xox…-)", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    ("a Slack webhook URL", re.compile(r"hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]+")),
    ("a Google API key (AIza…)", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("a Telegram bot token", re.compile(r"\b\d{8,10}:AA[A-Za-z0-9_-]{33}\b")),
    ("a JSON Web Token", re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{20,}")),
]
_ASSIGNED_SECRET = re.compile(r"(?i)\b(?:api[_-]?key|secret(?:[_-]?key)?|access[_-]?key|auth[_-]?token|token|"
                              r"passw(?:or)?d|client[_-]?secret)\b[\"']?\s*[:=]\s*[\"']([A-Za-z0-9_\-+/=.]{16,})[\"']")
_PLACEHOLDER = re.compile(r"(?i)x{4,}|example|your[_-]?|changeme|placeholder|dummy|redacted|\*{3,}|0{8,}|<|\$\{|\{\{")


def _entropy(text: str) -> float:
    counts = {c: text.count(c) for c in set(text)}
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _secret_api_key(src: Source) -> Iterator[Hit]:
    for i, line in enumerate(src.lines):
        for what, pattern in _SECRET_PATTERNS:
            m = pattern.search(line)
            if m and not _PLACEHOLDER.search(m.group(0)):
                yield i, (f"holds what looks like {what}: anyone who hires the agent could read it. Remove it "
                          "(and revoke it); secrets come from the user's keys or the environment at run time")
                break
        else:
            m = _ASSIGNED_SECRET.search(line)
            if m and not _PLACEHOLDER.search(m.group(1)) and _entropy(m.group(1)) >= 3.5 \
                    and re.search(r"\d", m.group(1)) and re.search(r"[A-Za-z]", m.group(1)):
                yield i, ("assigns what looks like a real credential to a key/secret/token/password name: remove it "
                          "and read it from the environment at run time")


_PRIVATE_KEY = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----")


def _secret_private_key(src: Source) -> Iterator[Hit]:
    for i, line in enumerate(src.lines):
        if _PRIVATE_KEY.search(line):
            yield i, "holds a private key block: remove it (and replace the key); a bundle is readable by its users"


# --- obfuscation ----------------------------------------------------------------------------------------------

_B64_RUN = re.compile(r"[A-Za-z0-9+/]{200,}={0,2}|[A-Za-z0-9_-]{200,}")
_HEX_RUN = re.compile(r"(?:\\x|0x)?(?:[0-9a-fA-F]{2}){100,}")
_ESCAPE = re.compile(r"\\x[0-9a-fA-F]{2}|\\u[0-9a-fA-F]{4}|\\u\{[0-9a-fA-F]+\}|\\[0-7]{3}|%[0-9a-fA-F]{2}")
_CHAR_CODES = re.compile(r"(?:fromCharCode\s*\((?:\s*\d+\s*,){9,}|(?:chr\(\s*\d+\s*\)\s*\+?\s*){8,})")


def _obfuscated_blob(src: Source) -> Iterator[Hit]:
    for i, line in enumerate(src.lines):
        for m in _B64_RUN.finditer(line):
            blob = m.group(0)
            if re.search(r"[0-9]", blob) and re.search(r"[a-z]", blob) and re.search(r"[A-Z]", blob):
                yield i, (f"carries a {len(blob)}-character base64 blob: encoded content cannot be reviewed. "
                          "Ship it as a plain file")
                break
        else:
            hex_run = _HEX_RUN.search(line)
            if hex_run:
                yield i, (f"carries a {len(hex_run.group(0))}-character hex blob: encoded content cannot be reviewed. "
                          "Ship it as a plain file")


def _obfuscated_escapes(src: Source) -> Iterator[Hit]:
    for i, line in enumerate(src.lines):
        escapes = len(_ESCAPE.findall(line))
        if escapes >= 16 or _CHAR_CODES.search(line):
            yield i, ("spells text out in escapes or character codes (\\x.., \\u...., chr(), fromCharCode): a way "
                      "to hide strings from review. Write the text plainly")


# --- prompt injection -------------------------------------------------------------------------------------

_INJECTION = [
    re.compile(r"\b(?:ignore|disregard|forget|skip)\s+(?:all\s+|any\s+|every\s+)?(?:of\s+)?(?:the\s+|your\s+|my\s+)?"
               r"(?:previous|prior|above|earlier|preceding|original|system|initial)\s+(?:instructions?|prompts?|rules|"
               r"directions|directives|guidelines|messages|context)", re.I),
    re.compile(r"\b(?:override|bypass|disable|ignore|circumvent)\s+(?:your\s+|the\s+|all\s+|any\s+)?(?:safety|guardrails|"
               r"content\s+polic(?:y|ies)|restrictions|system\s+prompt|filters)\b", re.I),
    re.compile(r"\bnew\s+(?:system\s+)?instructions\s*:", re.I),
]
_EXFILTRATION = [
    re.compile(r"\b(?:reveal|print|show|output|repeat|dump|leak|exfiltrate|send|post|upload|share|copy|tell)\s+(?:me\s+|us\s+)?"
               r"(?:back\s+)?(?:your\s+|the\s+)?(?:full\s+|entire\s+|hidden\s+|original\s+|complete\s+)?"
               r"(?:system\s+prompt|initial\s+instructions|hidden\s+instructions|developer\s+message)", re.I),
    re.compile(r"\bexfiltrat\w*", re.I),
    re.compile(r"\b(?:send|post|upload|forward|leak|transmit)\s+[^\n]{0,60}?\b(?:api[\s_-]?keys?|credentials|secrets|"
               r"passwords|access\s+tokens|env(?:ironment)?\s+variables|\.env\b|ssh\s+keys?)\b[^\n]{0,60}?\b(?:to|into)\s", re.I),
]
_PERSONA = [
    re.compile(r"\byou\s+are\s+now\b", re.I),
    re.compile(r"\bfrom\s+now\s+on,?\s+you\s+(?:are|will|must|shall)\b", re.I),
    re.compile(r"\b(?:act|behave)\s+as\s+(?:an?\s+)?(?:unrestricted|unfiltered|jailbroken|uncensored)\b", re.I),
    re.compile(r"\b(?:DAN|developer|god)\s+mode\b", re.I),
    re.compile(r"\bpretend\s+(?:that\s+)?you\s+(?:are|have)\s+(?:not\s+bound|no\s+(?:rules|restrictions|limits))", re.I),
]


def _phrases(patterns: list[re.Pattern[str]], message: str) -> Callable[[Source], Iterator[Hit]]:
    def check(src: Source) -> Iterator[Hit]:
        for i, line in enumerate(src.lines):
            m = next((m for p in patterns if (m := p.search(line))), None)
            if m:
                yield i, message.format(phrase=" ".join(m.group(0).split())[:80])
    return check


# --- the table --------------------------------------------------------------------------------------------

RULES: list[Rule] = [
    Rule("pipe-to-shell", "critical", "A download piped into a shell runs code nobody reviewed or signed.",
         _pipe_to_shell),
    Rule("decode-exec", "critical", "Executing decoded data hides the code that runs from review.", _decode_exec),
    Rule("undeclared-network", "warning", "A skill reaches a host its permissions.network does not declare.",
         _undeclared_network, scope="skills"),
    Rule("undeclared-exec", "warning", "A skill starts a process its permissions.exec does not declare.",
         _undeclared_exec, scope="skills"),
    Rule("undeclared-filesystem", "warning", "A skill uses a path outside its permissions.filesystem.",
         _undeclared_filesystem, scope="skills"),
    Rule("secret-api-key", "critical", "An API key or token in the bundle is readable by everyone who hires it.",
         _secret_api_key, scope="text", blocks=True),
    Rule("secret-private-key", "critical", "A private key in the bundle is readable by everyone who hires it.",
         _secret_private_key, scope="text", blocks=True),
    Rule("obfuscated-blob", "warning", "Long base64 or hex blobs carry content a reviewer cannot read.",
         _obfuscated_blob),
    Rule("obfuscated-escapes", "warning", "Text spelt out in escapes or character codes hides what it says.",
         _obfuscated_escapes),
    Rule("prompt-injection", "critical", "Phrases that tell the model to drop its instructions or safety rules.",
         _phrases(_INJECTION, "tells the model to drop its instructions or safeguards (\"{phrase}\"): a skill adds "
                              "capabilities, it does not override the agent")),
    Rule("prompt-exfiltration", "critical", "Phrases that make the model disclose its prompt or send secrets away.",
         _phrases(_EXFILTRATION, "asks the model to disclose its prompt or send secrets elsewhere (\"{phrase}\")")),
    Rule("persona-override", "warning", "Phrases that re-define who the model is, as jailbreaks do.",
         _phrases(_PERSONA, "re-defines who the model is (\"{phrase}\"): persona belongs in the agent's workspace "
                            "files (SOUL.md, IDENTITY.md), not in a skill")),
]
RULES_BY_ID = {r.id: r for r in RULES}

# Whole-file rules (binary content), in the same table for severity and explanation.
BINARY_EXECUTABLE = Rule("binary-executable", "warning", "A compiled program's behaviour cannot be reviewed.",
                         lambda src: iter(()), scope="all")
BINARY_FILE = Rule("binary-file", "info", "Binary files in a skill are not scanned.", lambda src: iter(()),
                   scope="skills")
RULES_BY_ID[BINARY_EXECUTABLE.id] = BINARY_EXECUTABLE
RULES_BY_ID[BINARY_FILE.id] = BINARY_FILE
_EXECUTABLE_MAGIC = (b"\x7fELF", b"MZ", b"\xfe\xed\xfa\xce", b"\xfe\xed\xfa\xcf", b"\xce\xfa\xed\xfe",
                     b"\xcf\xfa\xed\xfe", b"\xca\xfe\xba\xbe", b"\x00asm")


# --- reading files ----------------------------------------------------------------------------------------------

def _script_lang(path: str, first_line: str) -> str | None:
    lang = SCRIPT_LANGS.get(PurePosixPath(path).suffix.lower())
    if lang is None and first_line.startswith("#!"):
        interp = first_line[2:].strip().split()
        name = PurePosixPath(interp[1] if interp and interp[0].endswith("/env") and len(interp) > 1 else
                             (interp[0] if interp else "")).name
        lang = ("shell" if re.match(r"^(?:ba|z|k|da|fi)?sh$", name) else "python" if name.startswith("python")
                else "js" if name in ("node", "deno", "bun") else "ruby" if name == "ruby" else
                "perl" if name == "perl" else "")
    return lang


def _source(path: str, text: str, skill: Skill | None) -> Source:
    lines = text.splitlines()
    lang = _script_lang(path, lines[0] if lines else "")
    if lang is not None:
        return Source(path, lines, "script", {i: lang for i in range(len(lines))}, skill)
    if PurePosixPath(path).suffix.lower() in (".md", ".markdown"):
        code: dict[int, str] = {}
        fence: str | None = None
        fence_lang = ""
        for i, line in enumerate(lines):
            m = re.match(r"^\s{0,3}(`{3,}|~{3,})\s*([\w+-]*)", line)
            if fence is None and m:
                fence, fence_lang = m.group(1), FENCE_LANGS.get(m.group(2).lower(), "")
            elif fence is not None and line.strip().startswith(fence) and not line.strip()[len(fence):].strip():
                fence = None
            elif fence is not None:
                code[i] = fence_lang
        return Source(path, lines, "markdown", code, skill)
    return Source(path, lines, "text", {}, skill)


def _skill_of(path: str, skills: dict[str, Skill]) -> Skill | None:
    parts = path.split("/")
    return skills.get(parts[1]) if len(parts) >= 3 and parts[0] == "skills" else None


def scan(valid: ValidBundle) -> list[Finding]:
    """Every finding in the bundle, in file order, then line order."""
    skills = {s.name: s for s in valid.skills}
    findings: list[Finding] = []

    def add(rule: Rule, path: str, line: int, message: str) -> None:
        findings.append(Finding(rule=rule.id, severity=rule.severity, file=path, line=line, message=message))

    for path in sorted(valid.bundle.files):
        data = valid.bundle.files[path]
        skill = _skill_of(path, skills)
        if data.startswith(_EXECUTABLE_MAGIC) and (skill is not None or path.startswith("workspace/")):
            add(BINARY_EXECUTABLE, path, 1, "is a compiled executable: what it does cannot be reviewed. Ship source "
                                            "code instead")
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            if skill is not None:
                add(BINARY_FILE, path, 1, "is binary and was not scanned; make sure the skill only reads it as data")
            continue
        src = _source(path, text, skill)
        in_scope = {"text": True, "skills": skill is not None, "code": skill is not None or src.kind == "script",
                    "all": True}
        for rule in RULES:
            if not in_scope[rule.scope]:
                continue
            count = 0
            seen: set[tuple[int, str]] = set()
            for line, message in rule.check(src):
                if (line, message) in seen:
                    continue
                seen.add((line, message))
                add(rule, path, line + 1, message)
                count += 1
                if count >= MAX_PER_RULE_AND_FILE or len(findings) >= MAX_FINDINGS:
                    break
            if len(findings) >= MAX_FINDINGS:
                return findings
    return findings


def outcome(findings: list[Finding]) -> str:
    """What the findings mean for the version: `published`, `review` or `rejected`."""
    if any(f.severity == "critical" and RULES_BY_ID[f.rule].blocks for f in findings):
        return "rejected"
    if any(f.severity in ("warning", "critical") for f in findings):
        return "review"
    return "published"
