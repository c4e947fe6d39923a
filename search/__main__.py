"""`python -m search ...` (what torchrun launches): the bitgate CLI."""

import sys

from search.cli import main

sys.exit(main())
