"""The records: SQL models and sessions (``db``), migrations, the queries every way in reads
(``repository``, ``leaderboard``, ``pareto``), a search's lifecycle (create, claim, heartbeat,
finalize), export, and the Optuna study's storage on the same database (``studies``).

Nothing here imports torch, Ray or the run side (an import contract holds it to that).
"""
