"""Progress of a running search: counts, best so far, elapsed and estimated remaining time."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    search_id: int
    requested: int
    finished: int
    running: int
    failed: int
    duplicate: int
    rejected: int
    best_val_acc: float | None
    best_trial: int | None
    elapsed: float
    # Trials finished by this driver run (resume: not the ones already done before).
    finished_this_run: int

    @property
    def eta(self) -> float | None:
        """Seconds left at this run's pace (None until one trial has finished)."""
        left = max(0, self.requested - self.finished)
        if left == 0:
            return 0.0
        if self.finished_this_run <= 0:
            return None
        return self.elapsed / self.finished_this_run * left

    def line(self) -> str:
        best = (
            f"best val_acc {self.best_val_acc:.4f} (trial {self.best_trial})"
            if self.best_val_acc is not None
            else "best -"
        )
        extra = []
        if self.duplicate:
            extra.append(f"{self.duplicate} duplicate")
        if self.rejected:
            extra.append(f"{self.rejected} rejected")
        more = f", {', '.join(extra)}" if extra else ""
        eta = self.eta
        left = "?" if eta is None else duration(eta)
        return (
            f"[{duration(self.elapsed)}] search {self.search_id}: "
            f"{self.finished}/{self.requested} done, {self.running} running, "
            f"{self.failed} failed{more} | {best} | ~{left} left"
        )


def duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"
