"""What runs inside a Ray worker: datasets, the short-training loop, the Ray Tune trainable.

Import direction: ``workers`` may import ``space`` (and ``space.nn``), never ``search`` or ``api``.
"""
