"""Render the contact sheet of the procedural data: every scene kind in every style.

python scripts/make_data_sheet.py                 # -> docs/data_scenes.png
python scripts/make_data_sheet.py out.png --frame 40
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from v2v.train.data import HELDOUT_SEED, STYLES, render_styles, sample_scene

ROWS = (  # (label, held-out seed, kind)
    ("side view", HELDOUT_SEED + 59, "side"),
    ("voxel, walking", HELDOUT_SEED + 49, "voxel"),
    ("voxel, flying", HELDOUT_SEED + 1, "voxel"),
    ("top down", HELDOUT_SEED + 27, "topdown"),
)


def contact_sheet(frame: int = 24, size: tuple[int, int] = (192, 128)) -> Image.Image:
    """One row per entry of ROWS, one column per style, frame `frame` of each clip, labelled."""
    W, H = size
    label_w, head_h = 112, 18
    sheet = Image.new("RGB", (label_w + W * len(STYLES), head_h + H * len(ROWS)), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for j, style in enumerate(STYLES):
        draw.text((label_w + j * W + 4, 3), style, fill=(235, 235, 235))
    for i, (label, seed, kind) in enumerate(ROWS):
        clips = render_styles(sample_scene(seed, kind=kind), STYLES, 1, size, start=frame)
        draw.text((4, head_h + i * H + 4), f"{label}\nseed {seed}", fill=(235, 235, 235))
        for j, style in enumerate(STYLES):
            sheet.paste(Image.fromarray(np.ascontiguousarray(clips[style][0])), (label_w + j * W, head_h + i * H))
    return sheet


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="render the procedural data's contact sheet")
    p.add_argument("out", nargs="?", default=str(Path(__file__).resolve().parent.parent / "docs" / "data_scenes.png"))
    p.add_argument("--frame", type=int, default=24, help="frame of each clip to show")
    args = p.parse_args(argv)
    contact_sheet(args.frame).save(args.out, optimize=True)
    print(args.out)


if __name__ == "__main__":
    main()
