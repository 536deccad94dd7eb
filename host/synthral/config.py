"""Where SynthralOS keeps its data, and the knobs read from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Settings"]


def _float_env(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(
            f"environment variable {name}={raw!r} is not a number; set it to seconds, e.g. {default}"
        ) from None


@dataclass(frozen=True)
class Settings:
    """The host's settings.

    Attributes:
        home: ``$SYNTHRAL_HOME``, default ``~/.synthral``: plugins, blobs, the database.
        wheelhouse: Where the SDK wheel that plugin venvs get is kept
            (``$SYNTHRAL_WHEELHOUSE``, default ``<home>/wheelhouse``).
        plugin_start_timeout: Seconds a plugin process has to answer ``initialize``.
        plugin_call_timeout: Default per-call timeout in seconds.
        plugin_idle_timeout: Seconds without calls before a plugin process is stopped.
        plugin_cancel_grace: Seconds a cancelled call may keep running before its process
            is restarted.
        find_links: Extra folders of wheels plugin installs may take packages from
            (``$SYNTHRAL_FIND_LINKS``, separated by ``:``), e.g. an offline wheelhouse.
    """

    home: Path
    wheelhouse: Path
    plugin_start_timeout: float = 20.0
    plugin_call_timeout: float = 300.0
    plugin_idle_timeout: float = 300.0
    plugin_cancel_grace: float = 10.0
    find_links: tuple[Path, ...] = ()

    @classmethod
    def from_env(cls, home: Path | str | None = None) -> Settings:
        """Read the settings from the environment; ``home`` overrides ``$SYNTHRAL_HOME``."""
        root = Path(home or os.environ.get("SYNTHRAL_HOME") or Path.home() / ".synthral").expanduser().resolve()
        wheelhouse = os.environ.get("SYNTHRAL_WHEELHOUSE")
        return cls(
            home=root,
            wheelhouse=Path(wheelhouse).resolve() if wheelhouse else root / "wheelhouse",
            plugin_start_timeout=_float_env("SYNTHRAL_PLUGIN_START_TIMEOUT", 20.0),
            plugin_call_timeout=_float_env("SYNTHRAL_PLUGIN_CALL_TIMEOUT", 300.0),
            plugin_idle_timeout=_float_env("SYNTHRAL_PLUGIN_IDLE_TIMEOUT", 300.0),
            plugin_cancel_grace=_float_env("SYNTHRAL_PLUGIN_CANCEL_GRACE", 10.0),
            find_links=tuple(
                Path(p).resolve() for p in os.environ.get("SYNTHRAL_FIND_LINKS", "").split(os.pathsep) if p
            ),
        )

    @property
    def plugins_dir(self) -> Path:
        """Installed plugins: ``<home>/plugins/<name>/<version>/``."""
        return self.home / "plugins"

    @property
    def blobs_dir(self) -> Path:
        """The content-addressed blob store."""
        return self.home / "blobs"
