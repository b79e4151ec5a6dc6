"""Contact sheets of image animation and of a scripted text-to-video story, with the style classifier's
verdict and the frame-to-frame change per clip and segment, printed as a markdown block for docs/quality.md.

    python scripts/animation_sheet.py --model default --page docs/quality.md   # sheets in docs/, section in the page
    python scripts/animation_sheet.py --model runs/x/export --frames 17 --out-dir /tmp/sheets

Rows: a held-out photo ("astronaut") and a held-out game frame ("doom:heldout") animated (the still starts
the stream, the rest is generated), and a story generated from text alone whose prompt changes twice
(blocky daytime → night → realistic) through capture's Generator and its timed script, without a reset.
For each clip or story segment: the classifier's verdict (its most frequent style and that style's share
of the frames) against the expected style, and the mean frame-to-frame change against that of a
held-out procedural clip in the expected style (the ground truth: it moves, and flickers at most 3× as
much). The first animated frame's PSNR against the still measures the autoencoder's round trip.
"""

from __future__ import annotations

import argparse
import textwrap
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from capture.frame import Frame
from capture.generator import Generator
from capture.script import Cue
from capture.sources.none import GENERATE_FPS, NoneSource
from v2v import metrics
from v2v.engine import EngineConfig, StreamEngine
from v2v.models.bundle import ModelBundle, load_bundle
from v2v.train.classifier import classify, load_classifier
from v2v.train.data import HELDOUT_SEED, render_clip, sample_scene
from v2v.train.gates import held_out_real
from v2v.train.report_page import put_block

DOCS = Path(__file__).resolve().parent.parent / "docs"
STILLS = (  # (held-out entry, what it is, prompt, expected style)
    ("astronaut", "photo", "a realistic landscape camera moving", "realistic"),
    ("doom:heldout", "game frame", "a blocky voxel landscape walking forward", "blocky"),
)
STORY = (  # (prompt, expected style): one segment each, a third of the frames
    ("a blocky voxel landscape walking forward on a sunny day", "blocky"),
    ("a blocky voxel landscape walking forward at night", "night"),
    ("a realistic landscape walking forward on a sunny day", "realistic"),
)
TRUTH_SCENE = (HELDOUT_SEED + 49, "voxel")  # a held-out first-person walk (as in docs/data.md's sheet)
FLICKER_LIMIT = 3.0  # at most this many times the ground truth's frame-to-frame change


@dataclass
class Row:
    """One clip or story segment and its numbers."""

    name: str
    prompt: str
    expected: str
    frames: np.ndarray  # uint8 [T, H, W, 3]
    first: int = 0  # number of its first frame in the whole video (a story segment's start)
    verdict: str = ""
    share: float = 0.0  # share of the frames the classifier gives `verdict`
    change: float = 0.0  # mean frame-to-frame change, fraction of full scale
    truth: float = 0.0  # the same for the procedural ground truth


def animate(bundle: ModelBundle, still: np.ndarray, prompt: str, frames: int, seed: int) -> np.ndarray:
    """`still` uint8 [H, W, 3] animated: uint8 [frames, H, W, 3], the first frame its round trip."""
    engine = StreamEngine(bundle, EngineConfig(prompt=prompt, seed=seed))
    generator = Generator(engine, bundle.size, animate=True)
    inputs = [Frame(still, i / GENERATE_FPS, i) for i in range(frames)]
    return np.stack([f.image for f in generator.push(inputs)])


def story(bundle: ModelBundle, frames: int, seed: int) -> np.ndarray:
    """STORY from text alone, its prompts scripted at thirds of the time: uint8 [frames, H, W, 3]."""
    engine = StreamEngine(bundle, EngineConfig(seed=seed))
    third = frames / len(STORY) / GENERATE_FPS
    script = [Cue(i * third, prompt) for i, (prompt, _) in enumerate(STORY)]
    generator = Generator(engine, bundle.size, script=script)
    inputs = list(NoneSource(bundle.size, frames=frames))
    return np.stack([f.image for f in generator.push(inputs)])


def measure(rows: list[Row], truth_frames: int) -> None:
    """Fill each row's verdict, share, change and ground-truth change."""
    model = load_classifier()
    scene = sample_scene(*TRUTH_SCENE[:1], kind=TRUTH_SCENE[1])
    truth: dict[str, float] = {}
    for row in rows:
        votes = Counter(classify(row.frames, model))
        row.verdict, count = votes.most_common(1)[0]
        row.share = count / row.frames.shape[0]
        row.change = metrics.motion(row.frames)
        if row.expected not in truth:
            h, w = row.frames.shape[1:3]
            truth[row.expected] = metrics.motion(render_clip(scene, row.expected, truth_frames, (w, h)))
        row.truth = truth[row.expected]


def contact_sheet(rows: list[Row], columns: int = 8, thumb: int = 128) -> Image.Image:
    """One row per clip (or story segment), `columns` frames evenly spaced over it, labelled with their numbers."""
    label_w, gap = 200, 2
    sheet = Image.new("RGB", (label_w + columns * (thumb + gap), len(rows) * (thumb + gap)), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for i, row in enumerate(rows):
        y = i * (thumb + gap)
        draw.text((4, y + 4), "\n".join([row.name, *textwrap.wrap(row.prompt, 30)]), fill=(235, 235, 235))
        picks = np.linspace(0, row.frames.shape[0] - 1, columns).round().astype(int)
        for j, k in enumerate(picks):
            image = Image.fromarray(np.ascontiguousarray(row.frames[k]))
            image = image.resize((thumb, thumb), Image.Resampling.BILINEAR)
            sheet.paste(image, (label_w + j * (thumb + gap), y))
            draw.text((label_w + j * (thumb + gap) + 3, y + thumb - 12), f"{row.first + k}", fill=(255, 255, 0))
    return sheet


def markdown(stills: list[Row], segments: list[Row], psnr: dict[str, float], args: argparse.Namespace) -> str:
    """The block for docs/quality.md."""
    lines = [
        "## Image animation and text-to-video",
        "",
        f"Written by `python scripts/animation_sheet.py --model {args.model}` (its own run, not the report's). "
        "Each still starts the stream and the rest is generated; the story is generated from text alone, its "
        "prompt changed twice by a timed script without a reset.",
        "",
        f"Model `{args.model}`, {args.frames} frames per clip at {GENERATE_FPS:g} fps, seed {args.seed}. "
        f"Ground truth: held-out procedural scene {TRUTH_SCENE[0]} ({TRUTH_SCENE[1]}) in the expected style.",
        "",
        f"![animated stills]({args.stills_name})",
        "",
        f"![a scripted story]({args.story_name})",
        "",
        "| clip | prompt | first frame vs still | classifier (share) | expected | change / frame | ground truth's "
        "| ratio | verdict |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in stills + segments:
        ratio = row.change / row.truth if row.truth > 0 else float("inf")
        verdict = "frozen" if ratio < 0.1 else ("flickers" if ratio > FLICKER_LIMIT else "moves")
        first = f"{psnr[row.name]:.1f} dB" if row.name in psnr else "–"
        lines.append(
            f"| {row.name} | {row.prompt} | {first} | {row.verdict} ({row.share:.0%}) | {row.expected} | "
            f"{row.change:.4f} | {row.truth:.4f} | {ratio:.2f}× | {verdict} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="contact sheets of image animation and a scripted story")
    p.add_argument("--model", default="default", help="'default' or a model folder")
    p.add_argument("--frames", type=int, default=49, help="frames per clip (default 49: about 3 s)")
    p.add_argument("--seed", type=int, default=0, help="noise seed")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--out-dir", type=Path, default=DOCS, help="where the PNGs go (default docs/)")
    p.add_argument(
        "--page",
        type=Path,
        default=None,
        help="also write the section into this report page (e.g. docs/quality.md), kept by later reports",
    )
    args = p.parse_args(argv)
    if args.frames < 2 * len(STORY):
        p.error(f"--frames must be at least {2 * len(STORY)} (two frames per story segment)")
    args.stills_name, args.story_name = "animation_stills.png", "animation_story.png"
    bundle = load_bundle(args.model, device=args.device)
    real = held_out_real(max(bundle.size), 1)
    stills, psnr = [], {}
    for entry, kind, prompt, expected in STILLS:
        video = animate(bundle, real[entry][0], prompt, args.frames, args.seed)
        name = f"{entry} ({kind}), animated"
        psnr[name] = metrics.psnr(video[:1], real[entry][:1])
        stills.append(Row(name, prompt, expected, video))
    video = story(bundle, args.frames, args.seed)
    cuts = np.linspace(0, args.frames, len(STORY) + 1).round().astype(int)
    segments = [
        Row(f"story {a / GENERATE_FPS:.1f}-{b / GENERATE_FPS:.1f} s", prompt, expected, video[a:b], first=a)
        for (a, b), (prompt, expected) in zip(zip(cuts[:-1], cuts[1:], strict=True), STORY, strict=True)
    ]
    measure(stills + segments, args.frames)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    contact_sheet(stills).save(args.out_dir / args.stills_name, optimize=True)
    contact_sheet(segments).save(args.out_dir / args.story_name, optimize=True)
    text = markdown(stills, segments, psnr, args)
    print(text)
    if args.page is not None:
        page = args.page.read_text() if args.page.exists() else ""
        args.page.write_text(put_block(page, "animation", text))


if __name__ == "__main__":
    main()
