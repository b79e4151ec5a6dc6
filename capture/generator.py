"""The engine generating instead of restyling, as the pipeline sees it: the Restyler's methods (push, flush,
set_prompt, set_strength), so the live runtime, the controls and the offline path drive it unchanged.

The input frames only give time: each one gets exactly one generated frame carrying its timestamps (t,
index, pts), in order. Their pixels are ignored, except in animate mode the first frame's: that still,
at the working size, starts the stream (`StreamEngine.start_from`: its autoencoder round trip is the
first output frame, and it is the clean first latent frame in the KV cache). Every further frame comes
from `StreamEngine.generate()`, which makes a chunk from noise at a time (1 frame first when nothing was
started from, then 4 with one latent frame per block); the surplus of a chunk waits for the next inputs.
So from `--input none` (blank frames) this is text to video; from an image, image animation.

A timed script (capture/script.py) changes the prompt when the input frames' time, counted from the
first frame, reaches each cue; the engine blends the new prompt in over `prompt_blend_chunks` chunks
without a reset, as for a prompt from the controls.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import torch

from capture.frame import SIZE_MULTIPLE, Frame, fit_size, frames_to_tensor, tensor_to_frames
from capture.script import Cue


class GeneratingEngine(Protocol):
    """What the Generator needs from v2v.engine.StreamEngine."""

    def start_from(self, image: torch.Tensor) -> torch.Tensor: ...  # [3, H, W] in [-1, 1] -> [1, 3, H, W]

    def generate(self, size: tuple[int, int] | None = None) -> torch.Tensor: ...  # -> [T, 3, H, W] in [-1, 1]

    def reset(self) -> None: ...  # a new stream (the prompt stays)

    def set_prompt(self, text: str, blend: bool = True) -> None: ...

    def set_strength(self, strength: float) -> None: ...


class Generator:
    """Input frames in (for their time), generated frames out, one per input, in order, each at its input
    frame's size and with its timestamps.

    animate: start from the first input frame (a still) instead of from noise alone;
    size: the working size (W, H), else `fit_size(first frame, budget, multiple)`;
    script: timed prompt changes, in ascending order of time;
    on_cue: told each scripted prompt when it applies (the command line shows it in the status).
    """

    def __init__(
        self,
        engine: GeneratingEngine,
        budget: tuple[int, int],
        size: tuple[int, int] | None = None,
        multiple: int = SIZE_MULTIPLE,
        animate: bool = False,
        script: Sequence[Cue] = (),
        on_cue: Callable[[str], object] | None = None,
    ) -> None:
        self.engine = engine
        self.budget = budget
        self.size = size
        self.multiple = multiple
        self.animate = animate
        self.script = list(script)
        self.on_cue = on_cue
        self._prompt: str | None = None  # the last prompt handed to the engine (None: only its own)
        self._begin()

    def _begin(self) -> None:
        """State of a new stream."""
        self._ready: deque[np.ndarray] = deque()  # generated frames [H, W, 3] not given out yet
        self._started = False  # the engine's stream has begun (a still, or a first chunk)
        self._t0: float | None = None  # the first input frame's time
        self._next_cue = 0  # index into the script

    def push(self, frames: list[Frame]) -> list[Frame]:
        """One generated frame for each of `frames`, with its timestamps."""
        out = []
        for frame in frames:
            if self._t0 is None:
                self._t0 = frame.t
                if self.size is None:
                    self.size = fit_size(frame.size, self.budget, self.multiple)
            self._apply_script(frame.t - self._t0)
            if not self._ready:
                self._fill(frame)
            out.append(Frame(self._ready.popleft(), frame.t, frame.index, frame.pts))
        return out

    def flush(self) -> list[Frame]:
        """End the stream: every input already has its frame, so nothing is left but the surplus of the last
        chunk, which is dropped; the engine starts a new stream (the prompt stays)."""
        self.engine.reset()
        self._begin()
        return []

    def frames_needed(self) -> int:
        """One: each input frame is answered at once (from the frames of the last generated chunk, or a new one)."""
        return 1

    def set_prompt(self, text: str) -> None:
        """Steer to a new prompt mid-stream (the engine blends it in without a reset). The prompt already
        in use is not set again (that would restart its blend)."""
        if text != self._prompt:
            self._prompt = text
            self.engine.set_prompt(text)

    def set_strength(self, strength: float) -> None:
        """Pass a strength in (0, 1] to the engine; generated chunks start from pure noise whatever it is,
        so it matters only to a restyling stream on the same engine."""
        self.engine.set_strength(strength)

    def _apply_script(self, seconds: float) -> None:
        """The cues whose time has come. One due before anything was generated is the stream's first prompt,
        used at once (no blend from the prompt before it)."""
        while self._next_cue < len(self.script) and self.script[self._next_cue].seconds <= seconds:
            prompt = self.script[self._next_cue].prompt
            self._next_cue += 1
            if self._started:
                self.set_prompt(prompt)
            else:
                self._prompt = prompt
                self.engine.set_prompt(prompt, blend=False)
            if self.on_cue is not None:
                self.on_cue(prompt)

    def _fill(self, frame: Frame) -> None:
        """Generate the next frames, for inputs of `frame`'s size: the still (animate, at the start), else a chunk."""
        assert self.size is not None  # set by push before the first fill
        if self.animate and not self._started:
            still = frames_to_tensor([frame.image], self.size)[0]  # [3, H, W] in [-1, 1]
            video = self.engine.start_from(still)  # [1, 3, H, W]
        else:
            video = self.engine.generate(None if self._started else self.size)  # [T, 3, H, W]
        self._started = True
        if video.shape[0] == 0:
            raise RuntimeError("the engine generated no frames")
        self._ready.extend(tensor_to_frames(video, frame.size))
