"""capture.sinks.Steers: a sink that steers the run (the OBS sink: scene → prompt) gets the run's Steering
and status from the runtime, among other sinks too, and what it sets reaches the engine."""

import threading

from capture.control import Steering
from capture.restyler import Restyler
from capture.runtime import Controls, run_live
from capture.sinks import Steers
from capture.sinks.fanout import FanOut
from capture.sinks.null import NullSink
from capture.sources.pattern import PatternSource
from tests.capture.helpers import IdentityEngine


class SteeringSink(NullSink):
    """A null sink that sets the prompt when the run hands it the steering."""

    def __init__(self) -> None:
        super().__init__()
        self.handed: tuple | None = None

    def steer(self, steering, status, say) -> None:
        self.handed = (steering, status, say)
        steering.update(prompt="from the sink", strength=0.4)


def test_a_steering_sink_gets_the_steering_and_the_status():
    sink, other = SteeringSink(), NullSink()
    assert isinstance(sink, Steers) and not isinstance(other, Steers)
    steering, engine = Steering("first", 0.7), IdentityEngine()
    result = run_live(
        PatternSource((32, 32), fps=100, frames=30, realtime=True),
        FanOut([other, sink]),
        Restyler(engine, (32, 32)),
        threading.Event(),
        progress=False,
        controls=Controls(steering),
    )
    assert result.frames_out > 0 and sink.count == other.count == result.frames_out  # live: a frame may drop
    handed_steering, status, say = sink.handed
    assert handed_steering is steering and callable(say)
    body = status()
    assert (
        body["prompt"] == "from the sink"
        and body["frames"] == result.frames_out
        and "fps" in body
        and body["sinks"] == ["null", "null"]
    )
    assert engine.prompt == "from the sink" and engine.strength == 0.4
