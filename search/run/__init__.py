"""The run side: the runner (the queue loop), the driver (one search on Ray Tune), the ledger
that records every trial, the Tune adapters, the Optuna study and samplers, trial resources,
preflight checks, verdicts and progress lines. Only this side imports Ray; it reads and writes
the records through :mod:`search.records`.
"""
