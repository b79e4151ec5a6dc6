"""Render the README demo clip: a held-out procedural scene as an H.264 mp4.

python scripts/make_sample.py                     # -> assets/sample_blocky.mp4
python scripts/make_sample.py out.mp4 --style toon --frames 96
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path

import av

from v2v.train.data import HELDOUT_SEED, STYLES, render_clip, sample_scene

SAMPLE_SEED = HELDOUT_SEED + 59  # held out from training: a village by a lake, camera walking
SAMPLE_KIND = "side"  # the side view of that seed (sample_scene draws the voxel world for it)


def write_sample(
    path: str | Path,
    style: str = "blocky",
    frames: int = 48,
    size: tuple[int, int] = (448, 256),
    fps: int = 12,
    seed: int = SAMPLE_SEED,
    crf: int = 23,
) -> Path:
    """Render `frames` frames of scene `seed` in `style` at size (W, H) to an H.264 (yuv420p) mp4."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    video = render_clip(sample_scene(seed, kind=SAMPLE_KIND), style, frames, size)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": str(crf), "preset": "slow"}
        for frame in video:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("path", nargs="?", default="assets/sample_blocky.mp4")
    p.add_argument("--style", default="blocky", choices=STYLES)
    p.add_argument("--frames", type=int, default=48)
    p.add_argument("--size", default="448x256", help="WxH")
    p.add_argument("--fps", type=int, default=12)
    p.add_argument("--seed", type=int, default=SAMPLE_SEED)
    args = p.parse_args()
    w, h = (int(x) for x in args.size.lower().split("x"))
    out = write_sample(args.path, args.style, args.frames, (w, h), args.fps, args.seed)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
