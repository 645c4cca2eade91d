"""Orchestration and records: SQL models, Optuna bridge, Ray Tune driver, leaderboard, export.

Heavy dependencies (Ray, Optuna, torch) are imported only by the modules that need them
(``driver``, ``optuna_bridge``), so reading records (leaderboard, export) stays light.
"""
