"""What the documentation must keep up with: every setting in docs/configuration.md's tables, every
command in the README's command table, and every page of docs/ reachable from the README."""

from __future__ import annotations

import argparse
import dataclasses
import re
from pathlib import Path

from bitgate.cli import build_parser
from search.config import SearchConfig

ROOT = Path(__file__).resolve().parents[1]


def table_keys(text: str) -> set[str]:
    """The `names` in the first cell of every table row."""
    cells = re.findall(r"^\|([^|\n]*)\|", text, re.M)
    return {name for cell in cells for name in re.findall(r"`([^`]+)`", cell)}


def test_every_setting_is_documented():
    documented = table_keys((ROOT / "docs" / "configuration.md").read_text())
    missing = [f.name for f in dataclasses.fields(SearchConfig) if f.name not in documented]
    assert not missing, f"settings of SearchConfig with no row in docs/configuration.md: {missing}"


def test_every_command_is_in_the_readme():
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    documented = table_keys((ROOT / "README.md").read_text())
    missing = [name for name in sub.choices if f"bitgate {name}" not in documented]
    assert not missing, f"commands with no row in the README's command table: {missing}"


def test_every_docs_page_is_linked_from_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing = [p.name for p in sorted((ROOT / "docs").glob("*.md")) if f"](docs/{p.name}" not in readme]
    assert not missing, f"docs pages the README does not link: {missing}"


def test_table_keys_reads_first_cells_only():
    text = "| key | meaning |\n|---|---|\n| `a`, `b` | see `c` |\n"
    assert table_keys(text) == {"a", "b"}
