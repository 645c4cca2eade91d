"""One intra-op thread for the torch tests here: their ops are tiny, and on a shared 2-core
machine a 2-thread OpenMP op waits at its barrier for a descheduled thread (measured: the same
test 0.2 s alone, 18 s beside another job). Restored afterwards for other test packages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
