"""Every supernet test starts from the same global seed and runs torch single-threaded.

The tensors here are tiny: intra-op threads buy nothing, and on a loaded 2-core machine OpenMP
threads waiting for each other made a tiny forward pass 10-100x slower than one thread.
(Tiny models and helpers live in tests/conftest.py.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_and_one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)
