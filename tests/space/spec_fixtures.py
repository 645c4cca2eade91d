"""A small search spec shared by the space tests (`from tests.space.spec_fixtures import base`)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def base(**changes: Any) -> dict[str, Any]:
    """Three layers, a shared rgc cell; ``changes`` replace top-level keys."""
    data: dict[str, Any] = {
        "name": "t",
        "dataset": "digits",
        "input": {"size": 16, "channels": 1},
        "classes": 10,
        "layers": [
            {"name": "conv1", "channels": 8, "pool": 2},
            {"name": "conv2", "channels": 8, "cell": "main"},
            {"name": "conv3", "channels": 8, "cell": "main"},
        ],
        "cells": {"main": {"kind": "rgc"}},
        # enough steps for the deepest variant (4 layers) to show the readout the image
        "time": {"steps": 6},
    }
    data.update(copy.deepcopy(changes))
    return data
