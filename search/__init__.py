"""Searches: three layers, one folder each.

- :mod:`search.service`: the one layer every way in calls (schemas, rules, views);
- :mod:`search.records`: the SQL records, their queries and a search's lifecycle;
- :mod:`search.run`: the runner, the driver and everything that touches Ray Tune and Optuna.

``service`` and ``run`` read and write through ``records``; ``records`` imports neither. Heavy
dependencies (Ray, Optuna, torch) are imported only on the run side, so the service stays light.
"""
