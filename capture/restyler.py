"""The engine as the pipeline sees it: `Frame`s in, restyled `Frame`s out, in order, each at its
input frame's size and timestamps. Both the live runtime and the offline restyle use it."""

from __future__ import annotations

from collections import deque
from typing import Protocol

import torch

from capture.frame import SIZE_MULTIPLE, Frame, fit_size, frames_to_tensor, resize, tensor_to_frames


class Engine(Protocol):
    """What the pipeline needs from v2v.engine.StreamEngine."""

    def push(self, frames: torch.Tensor) -> torch.Tensor: ...

    def flush(self) -> torch.Tensor: ...

    def set_prompt(self, text: str) -> None: ...  # blended in over the next chunks, no reset

    def set_strength(self, strength: float) -> None: ...  # in (0, 1], from the next chunk on

    def frames_needed(self) -> int: ...  # frames still to come before the next chunk runs (≥ 1)


class FrameStage(Protocol):
    """What the pipeline's engine stage drives: the Restyler, or the Generator (capture/generator.py)."""

    def push(self, frames: list[Frame]) -> list[Frame]: ...  # frames in; the finished outputs, in order

    def flush(self) -> list[Frame]: ...  # the outputs still held; the stream ends

    def set_prompt(self, text: str) -> None: ...

    def set_strength(self, strength: float) -> None: ...

    def frames_needed(self) -> int: ...  # input frames that complete the next chunk (≥ 1)


class Restyler:
    """Frames in, restyled frames out, in order, each at its input frame's size and timestamps.

    The working size is `size` when given, else `fit_size(first frame, budget, multiple)`: the input's
    aspect at about the model's pixel count (see capture/frame.py).
    """

    def __init__(
        self,
        engine: Engine,
        budget: tuple[int, int],
        size: tuple[int, int] | None = None,
        multiple: int = SIZE_MULTIPLE,
    ) -> None:
        self.engine = engine
        self.budget = budget
        self.size = size
        self.multiple = multiple
        self._waiting: deque[Frame] = deque()  # inputs whose outputs have not come out yet

    def push(self, frames: list[Frame]) -> list[Frame]:
        """Hand frames to the engine; return the restyled frames that are ready (maybe none)."""
        if not frames:
            return []
        if self.size is None:
            self.size = fit_size(frames[0].size, self.budget, self.multiple)
        self._waiting.extend(frames)
        return self._match(self.engine.push(frames_to_tensor([f.image for f in frames], self.size)))

    def flush(self) -> list[Frame]:
        """Restyle whatever the engine still holds and end its stream."""
        return self._match(self.engine.flush())

    def frames_needed(self) -> int:
        """The frames that complete the engine's next chunk (`StreamEngine.frames_needed`)."""
        return self.engine.frames_needed()

    def set_prompt(self, text: str) -> None:
        """Steer to a new prompt mid-stream (the engine blends it in without a reset)."""
        self.engine.set_prompt(text)

    def set_strength(self, strength: float) -> None:
        """Change the strength, in (0, 1], from the next chunk on."""
        self.engine.set_strength(strength)

    def _match(self, out: torch.Tensor) -> list[Frame]:
        if out.numel() == 0:
            return []
        if out.shape[0] > len(self._waiting):
            raise RuntimeError(f"the engine returned {out.shape[0]} frames for {len(self._waiting)} inputs")
        images = tensor_to_frames(out, self._waiting[0].size)
        restyled = []
        for image in images:
            source = self._waiting.popleft()
            restyled.append(Frame(resize(image, source.size), source.t, source.index, source.pts))
        return restyled
