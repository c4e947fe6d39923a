"""The report in a real headless Chromium: its script runs without console errors, it requests
nothing over the network (read from Chromium's own net log), and its screenshot is not blank."""

from __future__ import annotations

import html
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
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # nothing can leave the machine, even if asked
    "--enable-logging=stderr",
    "--v=0",
]


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
    selected = [
        (name, re.search(r'data-i="(\d+)"', attrs)) for name, attrs in tags if re.search(r'class="[^"]*\bsel\b', attrs)
    ]
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


# Measures the page as Chromium laid it out: every label's, caption's and marker's box (the real font),
# and whether the points table fits its box at the window's width (no horizontal scrolling).
GEOMETRY = """<script>
(function () {
  function box(el) { var b = el.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; }
  function hit(a, b) { return a[0] < b[2] - 0.25 && b[0] < a[2] - 0.25 && a[1] < b[3] - 0.25 && b[1] < a[3] - 0.25; }
  function near(a, m) {  // a label box within a marker's radius of its centre
    var cx = (m[0] + m[2]) / 2, cy = (m[1] + m[3]) / 2, r = Math.max(m[2] - m[0], m[3] - m[1]) / 2;
    var dx = Math.max(a[0] - cx, 0, cx - a[2]), dy = Math.max(a[1] - cy, 0, cy - a[3]);
    return Math.hypot(dx, dy) < r - 0.25;
  }
  var problems = [], count = 0;
  document.querySelectorAll('svg.front').forEach(function (svg, s) {
    var labels = Array.prototype.map.call(svg.querySelectorAll('.lbl, .cap'), box);
    var marks = Array.prototype.map.call(svg.querySelectorAll('.mk, .ring'), box);
    count += svg.querySelectorAll('.lbl').length;
    labels.forEach(function (a, i) {
      labels.slice(0, i).forEach(function (b, j) { if (hit(a, b)) { problems.push(s + ': texts ' + j + ', ' + i); } });
      marks.forEach(function (m, k) { if (near(a, m)) { problems.push(s + ': text ' + i + ' on marker ' + k); } });
    });
  });
  var table = document.querySelector('table.points'), room = table.parentNode;
  document.body.dataset.geometry = JSON.stringify({problems: problems, labels: count,
    table: table.getBoundingClientRect().width, room: room.clientWidth, scrolls: room.scrollWidth > room.clientWidth});
})();
</script>"""


@pytest.fixture(scope="module")
def crowded_report(tmp_path_factory) -> Path:
    """A report of 14 hand-made points on two targets: a bunched joint front with dominated runs, uniform
    points at one spot, a budget; every cost column of the Cortex-M targets in the table."""
    from reports.html import write_report
    from tests.reports.conftest import write_run

    root = tmp_path_factory.mktemp("crowded") / "sweep"
    for i in range(14):
        target = ("stm32h7", "stm32l4")[i % 2]
        four, cut = i % 7, (i // 2) % 3  # 8-bit, 4-bit and pruned channels in varying shares

        def bits(layer: str, n: int, f: int = four, c: int = cut) -> list[int]:
            c = 0 if layer == "fc" else min(c, n - 1)  # the output layer keeps every channel
            f = min(f, n - c)
            return [8] * (n - f - c) + [4] * f + [0] * c

        run = write_run(root / f"{i:02d}-{target}", "digits_cnn", target, bits)
        cfg, metrics = json.loads((run / "config.json").read_text()), json.loads((run / "metrics.json").read_text())
        cfg["strength"] = round(0.001 * 2**i, 4)
        metrics["test_acc"] = round(0.99 - 0.004 * (four + 2 * cut) - 0.001 * (i % 3), 4)
        if i >= 12:
            cfg["method"] = metrics["method"] = "uniform-w8"
        (run / "config.json").write_text(json.dumps(cfg))
        (run / "metrics.json").write_text(json.dumps(metrics))
    return write_report(root, budgets={"": 15000.0})


def test_no_label_covers_another_or_a_marker_and_the_table_fits_the_page(crowded_report, tmp_path):
    page = tmp_path / "measured.html"
    page.write_text(crowded_report.read_text().replace("</body>", GEOMETRY + "</body>"))
    dom, console, _ = open_page(page, tmp_path, "--dump-dom", "--window-size=1280,1400")
    assert console == ""
    found = json.loads(html.unescape(re.search(r'data-geometry="([^"]*)"', dom).group(1)))
    assert found["labels"] == 14 * 3  # every point labelled on each of its target's three fronts
    assert found["problems"] == []
    assert not found["scrolls"] and found["table"] <= found["room"]
