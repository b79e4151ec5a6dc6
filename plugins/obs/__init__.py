"""OBS Studio integration: `--output obs` (plugins/obs/sink.py) over obs-websocket 5 (client.py), the
`V2V Output` input (setup.py), styles that follow scenes and text sources (styles.py), and an OBS
script that drives `python -m v2v` from a panel inside OBS (v2v_obs.py). See docs/obs.md."""

from __future__ import annotations

from typing import Any


def _open(spec: str, *, size: tuple[int, int], fps: float, options: Any = None) -> Any:
    from plugins.obs.sink import open_obs_sink  # obs-websocket-py is imported only when OBS is asked for

    return open_obs_sink(spec, size=size, fps=fps, options=options)


def register() -> None:
    """Register `--output obs` with capture's sink registry (the entry point calls this)."""
    from capture.sinks import register_sink

    register_sink("obs", _open)
