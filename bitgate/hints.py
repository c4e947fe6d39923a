"""argparse errors as one line, with a hint when a setting was typed as a flag (`--strength 0.1`).

argparse prints a usage block and then the error: two or more lines on stderr, where every other
refusal of bitgate is one. Settings are not flags (there are fifty of them, shared by TOML files
and `--set`), so `bitgate search --strength 0.1` is answered with the `--set` spelling.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import fields
from typing import NoReturn

from search.config import SearchConfig


def setting_hint(message: str) -> str:
    """'; settings are given with --set: --set strength=0.1' when an unknown flag names a setting."""
    if not message.startswith("unrecognized arguments:"):
        return ""
    tokens = message.split(":", 1)[1].split()
    settings = {f.name for f in fields(SearchConfig)}
    for i, token in enumerate(tokens):
        flag, _, inline = token.partition("=")
        key = flag.lstrip("-").replace("-", "_")
        if flag.startswith("--") and key in settings:
            value = inline or (tokens[i + 1] if i + 1 < len(tokens) and not tokens[i + 1].startswith("-") else "...")
            return f"; settings are given with --set: --set {key}={value}"
    return ""


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line on stderr (exit 2) naming the command's --help."""

    def error(self, message: str) -> NoReturn:
        text = " ".join(message.split())
        print(f"{self.prog}: error: {text}{setting_hint(text)} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)
