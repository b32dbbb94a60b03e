"""Debian's Chromium, headless, for the HTML report's test: the page's DOM after its scripts ran,
and a screenshot read back with tesseract (both installed by `make browser`, which `make test`
runs). Offline by flags: no background networking, no component updates, no first-run fetches."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

CHROMIUM = "chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",  # root in CI
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=15000",  # the report's scripts render before the DOM is read
)


def require(*tools: str) -> None:
    """The tools, or a failure under CI (where `make test` installs them) and a skip elsewhere."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        why = f"{', '.join(missing)} not installed (`make browser` installs Debian's packages as root)"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)


def _chromium(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="hc-chromium-") as profile:
        cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, url]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def dom(url: str) -> str:
    done = _chromium(url, "--dump-dom")
    assert done.returncode == 0 and "<html" in done.stdout, done.stderr[-2000:]
    return done.stdout


def text(page: str) -> str:
    """What a reader sees of a DOM: no scripts or styles, tags dropped, spaces collapsed."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.DOTALL)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))


def screenshot(url: str, out: Path) -> Path:
    done = _chromium(url, f"--screenshot={out}", "--window-size=1400,1000", "--force-device-scale-factor=2")
    assert done.returncode == 0 and out.is_file(), done.stderr[-2000:]
    return out


def read_back(png: Path) -> str:
    """The screenshot's text, as tesseract reads it."""
    done = subprocess.run(["tesseract", str(png), "-"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout
