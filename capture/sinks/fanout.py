"""Several sinks as one (`--output preview --output out.mp4`): each frame goes to every sink, in the
order given. An error in one sink is raised by `write`; the pipeline then aborts all of them, so a
file sink among them keeps an existing output as it was."""

from __future__ import annotations

from collections.abc import Sequence

from capture.frame import Frame
from capture.sinks import Sink
from capture.sinks.file import VideoFileSink


class FanOut:
    """The sinks `sinks` (at least one) behind one Sink."""

    def __init__(self, sinks: Sequence[Sink]) -> None:
        if not sinks:
            raise ValueError("a fan-out needs at least one sink")
        self.sinks = list(sinks)
        self.name = ", ".join(s.name for s in self.sinks)

    @property
    def wants_stop(self) -> bool:
        """Whether any of the sinks asks to stop."""
        return any(s.wants_stop for s in self.sinks)

    def write(self, frame: Frame) -> None:
        """Write `frame` to every sink."""
        for sink in self.sinks:
            sink.write(frame)

    def close(self, source_ended: bool = True) -> None:
        """Finish every sink. `source_ended=False` (a stopped run) copies a file's audio only up to its
        last frame. When one fails, the ones not yet closed are aborted and the error is raised."""
        for i, sink in enumerate(self.sinks):
            try:
                if isinstance(sink, VideoFileSink):  # the one sink with audio to cut at the last frame
                    sink.close(all_audio=source_ended)
                else:
                    sink.close()
            except BaseException:
                _abort_all(self.sinks[i + 1 :])
                raise

    def abort(self) -> None:
        """Abort every sink (all of them, even when one fails; the first error is raised)."""
        _abort_all(self.sinks)

    def describe(self) -> str:
        """The sinks' descriptions, joined."""
        return ", ".join(s.describe() for s in self.sinks)


def _abort_all(sinks: Sequence[Sink]) -> None:
    errors = []
    for sink in sinks:
        try:
            sink.abort()
        except Exception as e:  # the others are still aborted; the first error is raised below
            errors.append(e)
    if errors:
        raise errors[0]
