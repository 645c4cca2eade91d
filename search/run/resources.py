"""Per-trial resources for Ray Tune: fixed, or sized per candidate (cost-aware packing).

``tune.with_resources`` accepts a callable of the trial's config (Ray 2.60:
``ray.tune.trainable.util.with_resources``; Tune calls it in the driver as
``default_resource_request(config)`` when it creates each trial, with the config the searcher
proposed). With ``search.resources.gpu: auto`` that callable is a :class:`TrialResources`:
it reads the candidate's arch and training settings from the config, estimates its memory
(:func:`workers.config.memory_estimate`) and asks for that share of a GPU
(:func:`space.packing.gpu_share`). Tune pickles it with the trainable, so it holds plain data.

The memory of one GPU is ``search.resources.gpu_memory`` when the spec gives it, else read once
from a GPU of the cluster when the search starts (:func:`probe_gpu_memory`).

Out-of-memory retry (``search.resources.oom_retry``): :func:`oom_retry_share` decides whether a
trial that ran out of memory is tried again and with what share; the retry is a new trial of
the same arch whose config carries ``resources.gpu_share``, which the callable honours.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from space.errors import ConvnasError
from space.packing import gpu_share
from space.spec import Resources, SearchSpec

log = logging.getLogger(__name__)

PROBE_SECONDS = 120.0
# The smallest request that lands a probe task on a GPU without holding one back.
PROBE_GPU = 0.0001


class ResourceError(ConvnasError):
    """The resources a search asks for cannot be worked out (e.g. no GPU memory known)."""


@dataclass(frozen=True)
class TrialResources:
    """``config -> resources`` for ``tune.with_resources`` under ``gpu: auto``."""

    cpu: float
    gpu_memory: int
    min_gpu_share: float
    safety_factor: float
    gpu_overhead: int

    @classmethod
    def from_settings(cls, settings: Resources, cpu: float, gpu_memory: int) -> TrialResources:
        return cls(
            cpu=cpu,
            gpu_memory=gpu_memory,
            min_gpu_share=settings.min_gpu_share,
            safety_factor=settings.safety_factor,
            gpu_overhead=settings.gpu_overhead,
        )

    def share(self, config: Mapping[str, Any]) -> float:
        """The GPU share of the trial with this ``config`` (a retry's requested share wins)."""
        requested = _requested_share(config)
        if requested is not None:
            return requested
        estimate = config_memory_estimate(config)
        if estimate is None:  # not a trial config Tune will run: it fails on its own
            return self.min_gpu_share
        sized = gpu_share(
            estimate,
            self.gpu_memory,
            safety_factor=self.safety_factor,
            overhead=self.gpu_overhead,
            floor=self.min_gpu_share,
        )
        if not sized.fits:
            log.warning(
                "a candidate's estimated memory (%d bytes, x%g) exceeds one GPU (%d bytes): "
                "it gets a whole GPU and may run out of memory",
                estimate,
                self.safety_factor,
                self.gpu_memory,
            )
        return sized.share

    def __call__(self, config: Mapping[str, Any]) -> Any:
        from ray.tune.execution.placement_groups import PlacementGroupFactory

        return PlacementGroupFactory([{"CPU": self.cpu, "GPU": self.share(config)}])


def _requested_share(config: Mapping[str, Any]) -> float | None:
    block = config.get("resources")
    if not isinstance(block, Mapping):
        return None
    value = block.get("gpu_share")
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= 1:
        return float(value)
    return None


def config_memory_estimate(config: Mapping[str, Any]) -> int | None:
    """The analytic memory estimate (bytes, on CUDA) of a trial config; None if it is not a
    valid one (the trainable then reports why)."""
    from workers.config import memory_estimate
    from workers.trainable import parse_trial_config

    try:
        arch, cfg, _ref, _keep = parse_trial_config(config)
    except ConvnasError:
        return None
    return memory_estimate(arch, cfg, cuda=True).total


def cluster_gpus() -> float:
    import ray

    ray_api: Any = ray  # ray's stubs leave cluster_resources untyped
    return float(ray_api.cluster_resources().get("GPU", 0.0))


def _device_memory() -> int:
    import torch

    return int(torch.cuda.get_device_properties(0).total_memory)


def probe_gpu_memory(timeout: float = PROBE_SECONDS) -> int:
    """The memory of one GPU of the Ray cluster, read by a tiny task that runs on one."""
    import ray

    task: Any = ray.remote(num_gpus=PROBE_GPU, num_cpus=0)(_device_memory)
    try:
        return int(ray.get(task.remote(), timeout=timeout))
    except Exception as exc:
        raise ResourceError(
            "search.resources.gpu_memory: could not read a GPU's memory from the cluster "
            f"({type(exc).__name__}: {str(exc)[:200]}); set it in the spec (e.g. 80GiB)"
        ) from None


def trial_resources(spec: SearchSpec, cluster_cpus: float, cluster_gpus: float) -> Any:
    """The spec's per-trial resources for ``tune.with_resources`` on a cluster with these
    totals: a dict for fixed resources, a :class:`TrialResources` for ``gpu: auto``."""
    settings = spec.search.resources
    cpu = min(settings.cpu, cluster_cpus or 1.0)
    if settings.gpu_auto:
        if cluster_gpus <= 0:
            log.warning("search.resources.gpu=auto but the Ray cluster has no GPU: CPU only")
            return {"cpu": cpu, "gpu": 0.0}
        memory = settings.gpu_memory or probe_gpu_memory()
        return TrialResources.from_settings(settings, cpu, memory)
    gpu = float(settings.gpu)  # not auto here
    if gpu and cluster_gpus <= 0:
        log.warning("search.resources.gpu=%s but the Ray cluster has no GPU: training on CPU", gpu)
        gpu = 0.0
    return {"cpu": cpu, "gpu": gpu}


def trial_settings(spec: SearchSpec) -> dict[str, Any]:
    """What a trial config carries from ``search.resources``: the ``resources`` block
    (:class:`workers.config.TrialGpu`) and the training settings that differ from their
    defaults (``compile``, ``amp``, ``channels_last``: ``training.*`` of the trial)."""
    settings = spec.search.resources
    config: dict[str, Any] = {
        "resources": {
            "limit_memory": settings.limit_memory,
            "gpu_overhead": settings.gpu_overhead,
        }
    }
    training = {
        name: getattr(settings, name)
        for name, default in TRAINING_DEFAULTS.items()
        if getattr(settings, name) != default
    }
    if training:
        config["training"] = training
    return config


# search.resources fields passed to the trial as training settings, with their defaults (a
# default is left out, so that a trial config says only what a spec changed).
TRAINING_DEFAULTS: dict[str, Any] = {"compile": False, "amp": "auto", "channels_last": True}


def with_trial_settings(spec: SearchSpec, base: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` (a trial config's shared part) with :func:`trial_settings` merged in; keys of
    ``base`` win (a caller's explicit ``training`` overrides are kept)."""
    extra = trial_settings(spec)
    merged = {**extra, **base}
    merged["resources"] = {**extra["resources"], **(base.get("resources") or {})}
    if "training" in extra:
        merged["training"] = {**extra["training"], **(base.get("training") or {})}
    return merged


def oom_retry_share(
    spec: SearchSpec, config: Mapping[str, Any], result: Mapping[str, Any]
) -> float | None:
    """The GPU share to retry an out-of-memory trial with, or None for no retry.

    Retried once (a config that already requested a share is a retry), only if the spec says
    ``oom_retry: true``, only on a GPU (share > 0) and only to a larger share: twice the one it
    had, at most a whole GPU.
    """
    if not spec.search.resources.oom_retry:
        return None
    if result.get("status") != "out_of_memory" or _requested_share(config) is not None:
        return None
    had = result.get("gpu_share")
    if not isinstance(had, int | float) or isinstance(had, bool) or not 0 < had < 1:
        return None
    return min(1.0, round(2 * float(had), 4))


def retry_config(config: Mapping[str, Any], share: float) -> dict[str, Any]:
    """``config`` asking for ``share`` of a GPU (what an out-of-memory retry trains with)."""
    block = dict(config.get("resources") or {})
    return {**config, "resources": {**block, "gpu_share": share}}


# Optuna user attributes of an enqueued out-of-memory retry (the ledger reads them on ask()).
RETRY_OF = "convnas_oom_retry_of"
RETRY_SHARE = "convnas_oom_retry_share"


def enqueue_oom_retry(
    study: Any,
    spec: SearchSpec,
    number: int,
    params: Mapping[str, Any],
    config: Mapping[str, Any],
    result: Mapping[str, Any],
) -> float | None:
    """If trial ``number`` (``params``, ``config``) ran out of memory and may be retried
    (:func:`oom_retry_share`), enqueue the same parameters in the Optuna study for the next
    proposal and return the share it will ask for; else None."""
    share = oom_retry_share(spec, config, result)
    if share is None:
        return None
    study.enqueue_trial(dict(params), user_attrs={RETRY_OF: number, RETRY_SHARE: share})
    log.info("trial %s ran out of memory: retrying it with GPU share %g", number, share)
    return share


def retry_request(user_attrs: Mapping[str, Any]) -> tuple[int, float] | None:
    """(the trial retried, the share to ask for) for an asked trial that is an out-of-memory
    retry (its Optuna ``user_attrs``), else None."""
    number, share = user_attrs.get(RETRY_OF), user_attrs.get(RETRY_SHARE)
    if isinstance(number, int) and isinstance(share, int | float) and 0 < share <= 1:
        return number, float(share)
    return None
