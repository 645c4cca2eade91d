"""The neural fit's PLS (``workers.neural.fit.pls_predict``) against scikit-learn's.

    .venv/bin/python bench/pls_speed.py [--json]
    .venv/bin/python bench/pls_speed.py --smoke --json    # the smallest size only

Per size (images x features x neurons; 25 components, 80% of the images to train): the best of
3 wall-clock times of each, one BLAS thread (as the fit runs), and the largest difference
between the predictions and those of ``PLSRegression(scale=False)`` run to convergence. The
data are random: responses driven by 20 of the features, plus noise.

Not a test: figures for the README. ``--json`` prints one JSON document on stdout.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from sklearn.cross_decomposition import PLSRegression
from threadpoolctl import threadpool_limits

from workers.neural.fit import pls_predict

SIZES = [(256, 1000, 50), (400, 256, 40), (1024, 2000, 168)]
COMPONENTS = 25


def best_of(run: Callable[[], Any], times: int = 3) -> float:
    """The shortest of ``times`` wall-clock runs, in seconds."""
    out = []
    for _ in range(times):
        start = time.perf_counter()
        run()
        out.append(time.perf_counter() - start)
    return min(out)


def measure(images: int, features: int, neurons: int, seed: int = 0) -> dict[str, Any]:
    """Both PLS on one random data set: seconds, speed-up, largest prediction difference."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((images, features))
    y = x[:, :20] @ rng.standard_normal((20, neurons)) + rng.standard_normal((images, neurons))
    cut = images * 4 // 5
    train, test = (x[:cut], y[:cut]), x[cut:]
    ours = best_of(lambda: pls_predict(*train, test, COMPONENTS))
    theirs = best_of(lambda: PLSRegression(COMPONENTS, scale=False).fit(*train).predict(test))
    converged = PLSRegression(COMPONENTS, scale=False, max_iter=5000, tol=1e-14).fit(*train)
    diff = np.abs(pls_predict(*train, test, COMPONENTS) - converged.predict(test)).max()
    return {
        "images": images,
        "features": features,
        "neurons": neurons,
        "ours_s": ours,
        "sklearn_s": theirs,
        "speedup": theirs / ours,
        "max_abs_diff": float(diff),
        "max_abs_response": float(np.abs(y).max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.add_argument("--smoke", action="store_true", help="the smallest size only")
    args = parser.parse_args()
    sizes = SIZES[1:2] if args.smoke else SIZES
    with threadpool_limits(limits=1, user_api="blas"):
        rows = [measure(*size) for size in sizes]
    if args.json:
        print(json.dumps({"components": COMPONENTS, "rows": rows}, indent=2))
        return
    for r in rows:
        print(
            f"{r['images']} images x {r['features']} features x {r['neurons']} neurons: "
            f"ours {r['ours_s']:.3f} s, scikit-learn {r['sklearn_s']:.3f} s "
            f"({r['speedup']:.1f}x); largest difference {r['max_abs_diff']:.1e} "
            f"(responses up to {r['max_abs_response']:.0f})"
        )


if __name__ == "__main__":
    main()
