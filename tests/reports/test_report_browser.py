"""The report in a real headless Chromium: its script runs without console errors, it requests
nothing over the network (read from Chromium's own net log), and its screenshot is not blank."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install chromium) so the report is not opened"
)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--host-resolver-rules=MAP * ~NOTFOUND",  # nothing can leave the machine, even if asked
         "--enable-logging=stderr", "--v=0"]  # fmt: skip


def open_page(page: Path, tmp: Path, *extra: str, fragment: str = "") -> tuple[str, str, list[str]]:
    """(stdout, console lines, http(s) URLs the page itself requested) of one headless Chromium run."""
    net = tmp / "net.json"
    profile = f"--user-data-dir={tmp / 'profile'}"
    cmd = [CHROMIUM, *FLAGS, profile, f"--log-net-log={net}", *extra, page.as_uri() + fragment]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return done.stdout, "\n".join(console), page_requests(net)


def page_requests(net_log: Path) -> list[str]:
    """Remote URLs requested on behalf of a file:// page (the browser's own update pings are not the page's)."""
    log = json.loads(net_log.read_text())
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for e in log["events"]:
        p = e.get("params", {})
        if e["type"] == start and p.get("network_isolation_key", "").startswith("file://"):
            if re.match(r"(https?|wss?|ftp):", p.get("url", "")):
                urls.append(p["url"])
    return urls


def test_the_checks_catch_a_broken_page(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text('<!DOCTYPE html><body><img src="https://example.com/x.png"><script>nope();</script></body>')
    _, console, requests = open_page(bad, tmp_path, "--dump-dom")
    assert "nope is not defined" in console
    assert requests == ["https://example.com/x.png"]


def test_report_opens_without_errors_or_requests_and_selects_a_point(tiny_report, tmp_path):
    dom, console, requests = open_page(tiny_report, tmp_path, "--dump-dom", fragment="#point-1")
    assert console == ""
    assert requests == []
    assert re.search(r'<body[^>]*data-ready="1"', dom), "the report's script did not run to its end"
    # report.html#point-1 selects point 1 in every view: a circle per front, its table row, its picture
    tags = re.findall(r"<(\w+)\b([^>]*)>", dom)
    selected = [(name, re.search(r'data-i="(\d+)"', attrs)) for name, attrs in tags
                if re.search(r'class="[^"]*\bsel\b', attrs)]  # fmt: skip
    assert {m.group(1) for _, m in selected if m} == {"1"}
    assert sorted(name for name, _ in selected) == ["g", "g", "g", "section", "tr"]
    which = re.search(r'<p id="which">([^<]*)</p>', dom).group(1)
    assert which.startswith("01 joint s30") and "seed0" in which


def test_report_screenshot_is_not_blank(tiny_report, tmp_path):
    shot = tmp_path / "shot.png"
    _, console, _ = open_page(tiny_report, tmp_path, f"--screenshot={shot}", "--window-size=1280,1400")
    assert console == ""
    img = matplotlib.image.imread(shot)[..., :3]
    assert img.shape[:2] == (1400, 1280)
    dark = (img.mean(axis=2) < 0.5).mean()  # text, axes, bars
    coloured = (img.max(axis=2) - img.min(axis=2) > 0.25).mean()  # method colours, bit-width bars
    assert dark > 0.005 and coloured > 0.001
    assert img.std() > 0.05
