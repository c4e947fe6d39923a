"""`bitgate report`: report.html holds every point (fronts, table, picture) and fetches nothing."""

from __future__ import annotations

import re

from bitgate.cli import main
from reports.html import write_report
from reports.pick import amount
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
        assert f'<a href="{p.run.name}/" title="run folder {p.run.name}">{p.label}</a>' in html  # relative link
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
    # only the relative run-folder links and in-page links (the pick's #run-N) remain
    assert all(u.endswith("/") or u.startswith("#") for u in fetched_urls(html))


def test_the_network_check_catches_remote_addresses():
    page = (
        '<img src="https://cdn.example/x.png"><link href="//fonts.example/f.css">'
        "<style>@import 'http://a.example/s.css'; b { background: url(https://b.example/i.png) }</style>"
        "<script>fetch('/data.json')</script>"
    )
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
    assert labels == [
        ("latency_mpic", "mpic"),
        ("size", "mpic"),
        ("memory", "stm32h7"),
        ("size", "stm32h7"),
        ("latency_cortexm", "stm32h7"),
    ]


def test_each_target_names_its_pick_and_rings_it_in_every_front(tiny_sweep, tmp_path):
    points = find_points(tiny_sweep)
    budget = sorted(p.costs["memory"] for p in points)[1]  # the search cost: two of the three are within it
    within = [p for p in points if p.costs["memory"] <= budget and p.fits is not False]
    pick = max(within, key=lambda p: (p.test_acc, -p.costs["memory"]))
    html = write_report(tiny_sweep, tmp_path / "r.html", {"": budget}).read_text()
    assert html.count('class="pt pick"') == 3 and html.count(f'<g class="pt pick" data-i="{pick.index}"') == 3
    assert html.count('class="ring"') == 3 + 1  # a ring per front, and the legend's
    assert re.findall(r'<tr data-i="(\d+)" class="pick"', html) == [str(pick.index)]
    assert f'Pick on stm32h7: <a href="#run-{pick.index}">{pick.index:02d} {pick.label}</a>' in html
    assert f"memory ≤ {amount(budget, 'bytes')}" in html
    assert html.count('class="budget"') == 1 + 1  # on the memory front only (the search cost), and the legend's
    without = write_report(tiny_sweep, tmp_path / "r2.html").read_text()
    most = max(points, key=lambda p: (p.fits is not False, p.test_acc, -p.costs["memory"]))
    assert re.findall(r'<tr data-i="(\d+)" class="pick"', without) == [str(most.index)]
    assert 'class="budget"' not in without


def test_a_budget_no_point_meets_says_so(tiny_sweep, tmp_path):
    html = write_report(tiny_sweep, tmp_path / "r.html", {"size": 1.0}).read_text()
    assert "No point on stm32h7 has size ≤ 1 B" in html and 'class="pt pick"' not in html


def test_a_budget_on_an_unknown_cost_is_one_line_and_writes_nothing(tmp_path, hand_run, capsys):
    run = hand_run(tmp_path / "sweep" / "00-h7", "digits_cnn", "stm32h7", lambda layer, n: [8] * n)
    assert main(["report", str(tmp_path / "sweep"), "--budget", "nosuch=1kB"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nosuch" in err[0] and "available: " in err[0]
    assert main(["report", str(tmp_path / "sweep"), "--budget", "ten"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert sorted(p.name for p in run.iterdir()) == ["arch.json", "config.json", "metrics.json"]
    assert not (tmp_path / "sweep" / "report.html").exists()


def test_the_points_table_is_narrow(tmp_path, hand_run):
    hand_run(tmp_path / "sweep" / "00-h7", "digits_cnn", "stm32h7", lambda layer, n: [8] * n)
    hand_run(tmp_path / "sweep" / "01-l4", "digits_cnn", "stm32l4", lambda layer, n: [4] * n)
    html = write_report(tmp_path / "sweep").read_text()
    table = html[html.index('<table class="points">') : html.index("</table>")]
    heads = re.findall(r"<th class=[^>]*>(.*?)</th>", table)
    assert heads[:3] == ["#", "point", "target"]  # two targets: a target column; one float accuracy: none
    assert "float" not in " ".join(heads) and "run" not in heads
    assert "memory<br>(B)" in heads and "peak_<wbr>activation_<wbr>ram<br>(B)" in heads  # headings wrap
