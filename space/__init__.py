"""convnas search-space core: the DSL, frozen architectures, sampling and analytic cost.

Importing ``space`` never imports torch; the torch models live in ``space.nn``.
"""

from space.arch import Arch, load_arch, save_arch
from space.errors import ConvnasError, Problem, SpecError

__all__ = ["Arch", "ConvnasError", "Problem", "SpecError", "load_arch", "save_arch"]
__version__ = "0.1.0"
