"""The README's DSL tour is a valid spec (the front door must not lie)."""

from __future__ import annotations

import re
from pathlib import Path

from space.document import parse_document
from space.sampling import RandomSampler, freeze
from space.spec import spec_from_data

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_tour_spec_validates_and_samples() -> None:
    text = README.read_text()
    tour = text[text.index("## A tour of the DSL") :]
    block = re.search(r"```yaml\n(.*?)```", tour, re.S)
    assert block is not None
    data, _ = parse_document(block.group(1), "README.md")
    spec = spec_from_data(data, "README.md")
    arch = freeze(spec, RandomSampler(0))
    assert arch.classes == 10 and arch.layers[0].name == "conv1"
