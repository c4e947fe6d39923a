"""`bitgate report`: report.html holds every point (fronts, table, picture) and fetches nothing."""

from __future__ import annotations

import re

from bitgate.cli import main
from reports.html import write_report
from reports.points import find_points

ATTR = re.compile(r"""\b(?:src|href|action|poster|srcset|data)\s*=\s*["']([^"']*)["']""", re.I)


def fetched_urls(html: str) -> list[str]:
    """Every address the page would load by itself: attributes, CSS url()/@import, script fetches."""
    urls = [u for u in ATTR.findall(html) if not u.startswith("data:")]
    urls += re.findall(r"url\(\s*['\"]?([^'\")]+)", html) + re.findall(r"@import\s+['\"]([^'\"]+)", html)
    urls += ["fetch()"] * len(re.findall(r"\bfetch\(|XMLHttpRequest|WebSocket\(|EventSource\(", html))
    return urls


def is_remote(url: str) -> bool:
    return bool(re.match(r"\s*(https?:|ftp:|wss?:)?//", url, re.I)) or url == "fetch()"


def test_report_contains_every_point(tiny_sweep, capsys):
    assert main(["report", str(tiny_sweep)]) == 0
    path = tiny_sweep / "report.html"
    assert capsys.readouterr().out.strip().endswith(str(path))
    html = path.read_text()
    points = find_points(tiny_sweep)
    assert len(points) == 3
    fronts = html.count('<svg class="front"')
    assert fronts == 3  # memory, size and CMSIS-NN latency on stm32h7
    assert html.count('<g class="pt') == fronts * len(points)
    for p in points:
        assert html.count(f'data-i="{p.index}"') == fronts + 2  # a circle per front, a table row, a picture
        assert f'<a href="{p.run.name}/">{p.run.name}</a>' in html  # link to the run folder, relative
        assert f">{p.label}</text>" in html  # labelled by method and knob
        assert (p.run / "arch.png").is_file()
    assert html.count('src="data:image/png;base64,') == len(points)
    assert "joint s30" in html and "uniform-w8" in html
    assert html.count("<tr data-i=") == len(points)


def test_report_fetches_nothing_from_the_network(tiny_report):
    html = tiny_report.read_text()
    remote = [u for u in fetched_urls(html) if is_remote(u)]
    assert remote == []
    assert "<link" not in html and "<iframe" not in html
    assert all(u.endswith("/") for u in fetched_urls(html))  # only the relative run-folder links remain


def test_the_network_check_catches_remote_addresses():
    page = ('<img src="https://cdn.example/x.png"><link href="//fonts.example/f.css">'
            "<style>@import 'http://a.example/s.css'; b { background: url(https://b.example/i.png) }</style>"
            "<script>fetch('/data.json')</script>")  # fmt: skip
    assert sum(is_remote(u) for u in fetched_urls(page)) == 5


def test_report_on_a_folder_without_runs_is_one_line_exit_2(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no finished runs" in err
    assert not (tmp_path / "report.html").exists()


def test_each_target_gets_its_own_fronts(tmp_path, hand_run):
    keep_all = lambda layer, n: [8] * n  # noqa: E731
    hand_run(tmp_path / "sweep" / "00-mpic", "digits_cnn", "mpic", keep_all)
    hand_run(tmp_path / "sweep" / "01-h7", "digits_cnn", "stm32h7", keep_all)
    html = write_report(tmp_path / "sweep").read_text()
    labels = re.findall(r'aria-label="test accuracy against (\w+) on (\w+)"', html)
    # each run's search cost, then size, then the latency model of its own target only
    assert labels == [("latency_mpic", "mpic"), ("size", "mpic"),
                      ("memory", "stm32h7"), ("size", "stm32h7"), ("latency_cortexm", "stm32h7")]  # fmt: skip
