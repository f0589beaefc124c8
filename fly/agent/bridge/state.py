"""The bridge's bookkeeping on the volume: `<data>/.openagents/bundle.json` (outside the workspace).

    version    the agent version last written by PUT /v1/bundle
    manifest   {workspace path: sha256 the bundle wrote} — how user edits are told apart
    skills     {name: {signature, permissions, files: {rel path: sha256}}} — verified, installed skills
    refused    [{name, reason, detail}] — skills of the current bundle that did not verify
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATE_FILE = "bundle.json"


@dataclass
class BundleState:
    version: str | None = None
    manifest: dict[str, str] = field(default_factory=dict)
    skills: dict[str, dict[str, Any]] = field(default_factory=dict)
    refused: list[dict[str, str]] = field(default_factory=list)
    updated_at: str | None = None

    @classmethod
    def load(cls, state_dir: Path) -> BundleState:
        path = state_dir / STATE_FILE
        if not path.exists():
            return cls()
        data = json.loads(path.read_text())
        return cls(**{k: data[k] for k in ("version", "manifest", "skills", "refused", "updated_at") if k in data})

    def save(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        path = state_dir / STATE_FILE
        tmp = path.with_name(STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1, sort_keys=True))
        os.replace(tmp, path)

    def skills_report(self) -> dict[str, Any]:
        return {"installed": sorted(self.skills), "refused": list(self.refused)}
