"""The test suite, a package (as Optuna's): ``tests.<folder>`` mirrors the code's packages and its
helpers import as modules (``from tests.search.search_helpers import spec_data``)."""
