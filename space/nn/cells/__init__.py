"""Cell families; importing this package registers every builder."""

from space.nn.cells import (
    gru,
    intersectionrnn,
    lstm,
    none,
    rgc,
    simplernn,
    timedecay,
    ugrnn,
)

__all__ = ["gru", "intersectionrnn", "lstm", "none", "rgc", "simplernn", "timedecay", "ugrnn"]
