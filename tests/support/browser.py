"""What the console's browser tests share: Chromium's path and flags, axe-core, screenshots.

    CHROMIUM, CHROMIUM_ARGS    Debian's chromium (scripts/ensure-chromium) and how it is launched
    axe_source()               axe-core's browser build, `npm pack`ed once into .data/cache
    axe_serious(page, axe)     the serious and critical violations axe-core finds on the page
    screenshot(page, name)     a full-page PNG under .data/artifacts/console/, its path printed
"""

from __future__ import annotations

import subprocess
import tarfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
AXE_VERSION = "4.14.1"
CACHE = ROOT / ".data" / "cache" / "axe-core"
ARTIFACTS = ROOT / ".data" / "artifacts" / "console"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def axe_source() -> str:
    target = CACHE / f"axe-{AXE_VERSION}.min.js"
    if not target.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        out = subprocess.run(["npm", "pack", f"axe-core@{AXE_VERSION}", "--silent", "--pack-destination", str(CACHE)],
                             check=True, capture_output=True, text=True, timeout=300)
        tgz = CACHE / out.stdout.strip().splitlines()[-1]
        with tarfile.open(tgz) as tar:
            member = tar.extractfile("package/axe.min.js")
            assert member is not None
            target.write_bytes(member.read())
        tgz.unlink()
    return target.read_text(encoding="utf-8")


def axe_serious(page: Any, axe: str) -> list[dict[str, Any]]:
    # Evaluated rather than added as a <script>: the console's CSP allows only its own scripts.
    page.evaluate(axe)
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
    }""")
    return [v for v in result if v["impact"] in ("serious", "critical")]


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    print(f"screenshot: {path}")
    return path


def sign_in(page: Any, base: str, email: str, next_path: str = "/") -> None:
    """The console's dev sign-in form, then wait to land on `next_path`."""
    import re
    from urllib.parse import quote

    page.goto(f"{base}/console/sign-in?next={quote(next_path, safe='')}")
    page.get_by_label("E-mail").fill(email)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*" + re.escape(next_path) + r"$"))


def check_page(page: Any, axe: str, name: str, found: dict[str, list[Any]]) -> None:
    """Screenshots at desktop and phone width; axe-core's serious violations of each go into `found`."""
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        screenshot(page, f"{name}-{label}")
        serious = axe_serious(page, axe)
        if serious:
            found[f"{name}-{label}"] = serious
    page.set_viewport_size(DESKTOP)


def watch_dialogs_and_errors(page: Any) -> tuple[list[str], list[str]]:
    """Every dialog the page opens (dismissed) and every uncaught script error, as they happen."""
    dialogs: list[str] = []
    errors: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return dialogs, errors
