"""`python -m v2v` for bench/glass_to_glass.py's window set-up, with two additions:

    python bench/glass_to_glass_live.py MODEL_FILE model|passthrough -- LIVE-ARGS...

runs the live command line (`capture.cli.main(LIVE-ARGS)`, exactly what `python -m v2v LIVE-ARGS`
runs) after wrapping `capture.cli_commands.make_engine`, the one place where the live command gets its engine:

- MODEL_FILE gets {"model": name, "budget": [W, H], "multiple": m} of the model loaded, from which the
  measuring process works out the working size, as the Restyler does (`capture.frame.fit_size`);
- with `passthrough` the engine is `IdentityEngine`: every frame comes back at once, unchanged, so what
  is measured is the pipeline (capture, resizing, pacing, encoding, the network, decoding) without the
  model. The model is still loaded, for its working size.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch

from capture import cli, cli_commands, cli_model

LIVE_MAKE_ENGINE = cli_model.make_engine  # the live command's own, kept before `main` wraps it


class IdentityEngine:
    """Stands in for v2v.engine.StreamEngine: `push` returns its frames unchanged at once (no chunks,
    no model), so the pipeline's own latency is what remains."""

    def push(self, frames: torch.Tensor) -> torch.Tensor:
        """frames float32 [T, 3, H, W] in [-1, 1] -> the same tensor."""
        return frames

    def flush(self) -> torch.Tensor:
        """Nothing is held: an empty tensor."""
        return torch.zeros(0)

    def frames_needed(self) -> int:
        """One: every frame comes back at once."""
        return 1

    def set_prompt(self, text: str) -> None:
        """A prompt changes nothing here."""

    def set_strength(self, strength: float) -> None:
        """A strength changes nothing here."""


def model_report(bundle: Any) -> dict[str, Any]:
    """{"model", "budget", "multiple"} of a loaded ModelBundle."""
    return {"model": bundle.name, "budget": list(bundle.size), "multiple": cli_model.size_multiple(bundle)}


def make_stage_engine(args: argparse.Namespace, size: tuple[int, int] | None, passthrough: bool) -> tuple[Any, Any]:
    """(bundle, engine) as `capture.cli_model.make_engine` gives them; with `passthrough` the engine is an
    IdentityEngine on the same loaded model's working size."""
    if not passthrough:
        return LIVE_MAKE_ENGINE(args, size)
    bundle, _ = cli_model.prepare_model(args, size)
    return bundle, IdentityEngine()


def main(argv: list[str]) -> int:
    """`MODEL_FILE model|passthrough -- LIVE-ARGS...` -> the live command's exit status."""
    if len(argv) < 3 or argv[1] not in ("model", "passthrough") or argv[2] != "--":
        print(
            "usage: python bench/glass_to_glass_live.py MODEL_FILE model|passthrough -- LIVE-ARGS...", file=sys.stderr
        )
        return 2
    report, passthrough, live_args = Path(argv[0]), argv[1] == "passthrough", argv[3:]

    def make_engine(args: argparse.Namespace, size: tuple[int, int] | None) -> tuple[Any, Any]:
        bundle, engine = make_stage_engine(args, size, passthrough)
        report.write_text(json.dumps(model_report(bundle)))
        return bundle, engine

    cli_commands.make_engine = make_engine  # type: ignore[assignment]  # cmd_live looks it up when it runs
    return cli.main(live_args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
