"""`python -m bitgate ...` is the `bitgate` command."""

from __future__ import annotations

import sys

from bitgate.cli import main

if __name__ == "__main__":
    sys.exit(main())
