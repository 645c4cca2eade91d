"""Every use of Ray's private API in convnas, in one place: a Ray upgrade can rename any of it
without notice, so each use says "unknown" (None) instead of failing, and
``tests/search/test_private_apis.py`` fails on any Ray other than :data:`CHECKED_AGAINST` until
someone re-checks this module against it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

# The Ray release these reads were checked against (the private names and the record's keys).
CHECKED_AGAINST = "2.60.0"


@dataclass(frozen=True)
class ActorNode:
    """Where a Ray actor runs: its node's IP and id (hex; all zeros or empty when unknown)."""

    ip: str
    node_id: str


def trial_actor_node(trial: Any) -> ActorNode | None:
    """The node of the Ray actor that runs a Tune trial, or None when Ray cannot say.

    Public Ray has no lookup from an actor to its node without the dashboard
    (``ray.util.state`` asks it, and a cluster may run without one); the actor's record in the
    GCS, which the dashboard reads too, is always there. The actor itself is on Tune's trial
    (``temporary_state.ray_actor``) and its id is the handle's private ``_actor_id``.
    """
    try:
        from ray._private import state

        actor = trial.temporary_state.ray_actor
        info = state.actors(actor._actor_id.hex()) if actor is not None else None
        address = (info or {}).get("Address") or {}
        return ActorNode(str(address.get("IPAddress") or ""), str(address.get("NodeID") or ""))
    except Exception as exc:  # a record, not a reason to stop the search
        log.debug("no node for trial %s: %s", getattr(trial, "trial_id", "?"), exc)
        return None
