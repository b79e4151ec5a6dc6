"""`python -m tests.plugins.obs.standin ARGS`: `python -m v2v ARGS` (the same entry point, plugins and
all) with a stand-in engine, so that the OBS tests know exactly what v2v sent: the stand-in "restyles"
by inverting the colours (output = 255 - input), and writes every prompt and strength it is given to
the file named by $V2V_TEST_ENGINE_LOG, one JSON object a line. `--size WxH` is required: it is the
working size (give the input's size, a multiple of 16, so nothing is resized)."""

from __future__ import annotations

import json
import os
import sys
from types import SimpleNamespace

import torch

import capture.cli_commands
import capture.cli_values
import v2v.cli


class InvertEngine:
    """Every frame out at once, colours inverted ([-1, 1] pixels: x -> -x)."""

    def __init__(self, prompt: str, strength: float) -> None:
        self.log = os.environ.get("V2V_TEST_ENGINE_LOG")
        self._note(prompt=prompt, strength=strength)

    def _note(self, **change: object) -> None:
        if self.log:
            with open(self.log, "a") as file:
                file.write(json.dumps(change) + "\n")

    def set_prompt(self, text: str) -> None:
        self._note(prompt=text)

    def set_strength(self, strength: float) -> None:
        self._note(strength=strength)

    def push(self, frames: torch.Tensor) -> torch.Tensor:
        return -frames  # [T, 3, H, W]

    def frames_needed(self) -> int:
        return 1  # every frame comes back at once

    def flush(self) -> torch.Tensor:
        return torch.zeros(0, 3, 16, 16)


def make_engine(args, size):
    if size is None:
        raise SystemExit("the stand-in needs --size WxH")
    return SimpleNamespace(size=size), InvertEngine(args.prompt, capture.cli_values.parse_strength(args.strength))


if __name__ == "__main__":
    capture.cli_commands.make_engine = make_engine  # the commands look both up here when they run
    capture.cli_commands.size_multiple = lambda bundle: 16
    sys.exit(v2v.cli.main())
