"""A "trainable" whose import ends the driver process at once with exit code 3, as Ray's core
worker ends a driver whose GCS stopped answering (``quick_exit``, nothing recorded): the
runner's recovery tests load it with ``--trainable tests.search.driver_dies:train``."""

from __future__ import annotations

import os
from typing import Any

os._exit(3)


def train(config: dict[str, Any]) -> None:  # pragma: no cover - never reached
    raise AssertionError("the driver should have ended")
