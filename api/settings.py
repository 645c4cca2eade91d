"""The HTTP service's settings: :class:`space.settings.Settings` (every ``CONVNAS_*`` variable,
with the server's fail-closed checks) and the request limits it hands the service.

Read through :func:`get_api_settings` (never at import time) so tests and ``convnas serve`` can
pass their own :class:`ApiSettings` to ``create_app``.
"""

from __future__ import annotations

from search.service import Limits
from space.settings import Settings, load_settings


class ApiSettings(Settings):
    """What ``convnas serve`` reads: every section (it runs the API, a runner and, on a local
    Ray, the workers, so a bad value any of them would use refuses to start it)."""

    def limits(self) -> Limits:
        return Limits(
            max_trials=self.max_trials,
            max_layers=self.max_layers,
            max_input_size=self.max_input_size,
            max_params=self.max_params,
            max_flops=self.max_flops,
            max_activation_memory=self.max_activation_memory,
            max_dataset_pixels=self.max_dataset_pixels,
        )


def get_api_settings() -> ApiSettings:
    """The settings from the environment; a SettingsError naming each bad variable."""
    return load_settings(ApiSettings)
