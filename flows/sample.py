"""Draw with a trained model: `python -m flows.sample --model gan --label 7 --n 16 --out sevens.png`.

    python -m flows.sample --model vae --label 3 --n 25 --out threes.png
    python -m flows.sample --model vae --style-from my_digit.png --out styles.png   # its style, as 0-9
    python -m flows.sample --model gan --version 2 --out v2.png                      # a given registry version
    python -m flows.sample --model gan --checkpoint models/gan/model.pt --out ws.png # a checkpoint file
    python -m flows.sample --model diffusion --label 7 --steps 32 --guidance 3 --out s.png  # more steps, stronger guidance
    python -m flows.sample --classify my_digit.png --judge vit                       # read a digit: the ViT's reading

Which model: `models:/<name>@champion` in the project's MLflow registry (MLFLOW_TRACKING_URI
when set), or `--version N`, or `--alias`; the self-describing checkpoint logged with that
version is loaded (weights only, no pickled code). When the registry has no entry for the
model at all, the DVC-tracked checkpoint in models/<model>/model.pt is used, and says so.
Style transfer (VAE): the source image's label is read by the champion classifier (or the
DVC-tracked one), its latent style is encoded and decoded as every digit (or --label).
Classify (`--classify IMAGE --judge cnn|vit`, default cnn): one of the two judges reads the image and
prints its reading and the ten probabilities; the judge resolves like the models (`cnn-classifier` or
`vit-classifier` @champion, --version, --alias or --checkpoint), else its DVC-tracked file when no
version holds the alias yet.
Exit status 2 with one clear line on bad arguments or a missing model.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

from oekaki.core.paths import Paths, project_paths
from oekaki.pipeline.champions import ModelUnavailable, resolve
from oekaki.pipeline.env import apply_tool_defaults

PAINTERS = ("gan", "vae", "diffusion")  # what --model accepts
JUDGES = ("cnn", "vit")  # what --judge accepts: the two classifiers (model kinds, registered as cnn-/vit-classifier)
DRAWING_ONLY = ("model", "out", "label", "style_from", "steps", "guidance")  # options that make no sense with --classify


class SampleError(ModelUnavailable):
    pass


def resolve_checkpoint(paths: Paths, model: str, version: str | None, alias: str, tmp: Path) -> tuple[Path, str]:
    """(checkpoint file, where it came from) for `model`: registry version/alias, else the DVC-tracked file."""
    found = resolve(paths, model, tmp, version, alias)
    return found.path, found.describe()


def read_digit(path: Path, option: str = "--style-from") -> np.ndarray:
    """An image file as one MNIST-like digit: grey, 28x28, white ink on black (inverted if it is dark on light)."""
    from PIL import Image, UnidentifiedImageError

    try:
        img = Image.open(path).convert("L").resize((28, 28), Image.Resampling.LANCZOS)
    except (OSError, UnidentifiedImageError) as exc:
        raise SampleError(f"{option} {path}: not a readable image ({exc})") from exc
    x = np.asarray(img, dtype=np.uint8)
    return 255 - x if x.mean() > 127 else x


def draw(args: argparse.Namespace, paths: Paths, tmp: Path) -> tuple[np.ndarray, int, str]:
    """(images (N, 28, 28) uint8, images per row, source description)."""
    import torch

    from oekaki.core.checkpoints import load_checkpoint
    from oekaki.models.loading import load_network

    ckpt_path, where = (
        (Path(args.checkpoint), str(args.checkpoint))
        if args.checkpoint
        else resolve_checkpoint(paths, args.model, args.version, args.alias, tmp)
    )
    ckpt = load_checkpoint(ckpt_path)
    if ckpt.get("kind") != args.model:
        raise SampleError(f"{ckpt_path}: holds a {ckpt.get('kind')!r} model, not {args.model!r}")
    model = load_network(ckpt)
    conditional = model.args.conditional
    if args.label is not None and not conditional:
        raise SampleError(f"{where}: an unconditional {args.model} cannot be asked for a label; leave out --label")
    if args.style_from:
        if args.model != "vae" or not conditional:
            raise SampleError("--style-from needs the conditional VAE (--model vae)")
        from oekaki.models.judge import Judge
        from oekaki.models.vae import style_transfer

        source = read_digit(Path(args.style_from))
        judge_ckpt = resolve(paths, "cnn", tmp, fallback_without_alias=True).path  # no champion yet: the DVC-tracked one
        source_label = int(Judge.load(judge_ckpt).judge(source[None]).probs.argmax())
        rows = style_transfer(model, torch.from_numpy(source[None]), torch.tensor([source_label]))[0]  # (10, 28, 28)
        picked = rows[[args.label]] if args.label is not None else rows
        return np.concatenate([source[None], picked]), len(picked) + 1, f"{where}; source read as a {source_label}"
    labels = np.full(args.n, args.label) if args.label is not None else (np.arange(args.n) % 10 if conditional else None)
    from oekaki.models.loading import NETWORKS

    extra = {"steps": args.steps, "guidance": args.guidance} if args.model == "diffusion" else {}
    return NETWORKS[args.model].generate(model, args.n, labels, args.seed, **extra), int(np.ceil(np.sqrt(args.n))), where


def classify(args: argparse.Namespace, paths: Paths, tmp: Path) -> tuple[int, np.ndarray, str]:
    """(the digit the judge reads, its ten probabilities (10,), where the judge came from) for --classify IMAGE."""
    from oekaki.core.checkpoints import load_checkpoint
    from oekaki.models.judge import Judge
    from oekaki.models.loading import load_network

    digit = read_digit(Path(args.classify), "--classify")  # (28, 28) uint8: refused before any model is loaded
    if args.checkpoint:
        ckpt_path, where = Path(args.checkpoint), str(args.checkpoint)
    else:
        found = resolve(paths, args.judge, tmp, args.version, args.alias, fallback_without_alias=True)
        ckpt_path, where = found.path, found.describe()
    ckpt = load_checkpoint(ckpt_path)
    if ckpt.get("kind") != args.judge:
        raise SampleError(f"{ckpt_path}: holds a {ckpt.get('kind')!r} model, not the {args.judge} judge")
    probs = Judge(load_network(ckpt)).judge(digit[None]).probs[0]  # (10,)
    return int(probs.argmax()), probs, where


def write_png(images: np.ndarray, per_row: int, out: Path, scale: int = 4) -> None:
    from PIL import Image

    from oekaki.core.io import write_atomic
    from oekaki.core.plots import tile

    mosaic = np.kron(tile(images, per_row), np.ones((scale, scale), dtype=np.uint8))
    write_atomic(out, lambda tmp: Image.fromarray(mosaic).save(tmp, format="PNG"))


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m flows.sample", description=__doc__.splitlines()[0])
    p.add_argument("--model", help="gan, vae or diffusion (required unless --classify)")
    p.add_argument("--label", type=int, help="the digit to draw, 0-9 (conditional models)")
    p.add_argument("--n", type=int, default=16, help="how many images (default 16)")
    p.add_argument("--out", type=Path, help="the PNG grid to write (required unless --classify)")
    p.add_argument("--classify", help="an image of a digit for a judge to read, instead of drawing")
    p.add_argument("--judge", help="with --classify: cnn (default) or vit")
    p.add_argument("--version", help="a registry version instead of the alias")
    p.add_argument("--alias", default="champion", help="registry alias (default champion)")
    p.add_argument("--checkpoint", help="a checkpoint file instead of the registry")
    p.add_argument("--style-from", help="VAE style transfer: an image of a digit whose style to keep")
    p.add_argument("--steps", type=int, help="diffusion: sampling steps, 1-1000 (default: the trained model's)")
    p.add_argument("--guidance", type=float, help="diffusion: guidance weight >= 0 (0 = any digit, default: the trained model's)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--root", type=Path, help="project folder (default: this checkout)")
    args = p.parse_args(argv)
    if args.classify is not None:
        return check_classify(p, args)
    if args.judge is not None:
        p.error("--judge: only with --classify IMAGE")
    if missing := [f"--{name}" for name in ("model", "out") if getattr(args, name) is None]:
        p.error(f"the following arguments are required: {', '.join(missing)} (or --classify IMAGE)")
    if args.model not in PAINTERS:
        p.error(f"--model {args.model!r}: unknown model; choose gan, vae or diffusion")
    for name in ("steps", "guidance"):
        if getattr(args, name) is not None and args.model != "diffusion":
            p.error(f"--{name}: only for --model diffusion")
    if args.steps is not None and not 1 <= args.steps <= 1000:
        p.error(f"--steps {args.steps}: out of range; 1-1000 sampling steps")
    if args.guidance is not None and not (math.isfinite(args.guidance) and args.guidance >= 0):
        p.error(f"--guidance {args.guidance}: out of range; a guidance weight >= 0")
    if args.label is not None and not 0 <= args.label <= 9:
        p.error(f"--label {args.label}: out of range; a digit 0-9")
    if not 1 <= args.n <= 1000:
        p.error(f"--n {args.n}: out of range; 1-1000 images")
    if args.out.suffix.lower() != ".png":
        p.error(f"--out {args.out}: write a .png file")
    return args


def check_classify(p: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.Namespace:
    """--classify's own arguments: a known judge, and none of the drawing options."""
    args.judge = args.judge or "cnn"
    if args.judge not in JUDGES:
        p.error(f"--judge {args.judge!r}: unknown judge; choose cnn or vit")
    if given := [name for name in DRAWING_ONLY if getattr(args, name) is not None]:
        p.error(f"--{given[0].replace('_', '-')}: not with --classify (it reads an image, it draws nothing)")
    return args


def print_reading(image: str, judge: str, digit: int, probs: np.ndarray, where: str) -> None:
    """The judge's reading, then each digit's probability."""
    print(f"{image}: the {judge} judge reads a {digit} ({probs[digit]:.1%}), from {where}")
    print("  " + "  ".join(f"{d}: {p:.1%}" for d, p in enumerate(probs)))


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    paths = project_paths(args.root)
    apply_tool_defaults(paths)
    from oekaki.core.errors import CheckpointError

    try:
        with tempfile.TemporaryDirectory() as tmp:
            if args.classify is not None:
                print_reading(args.classify, args.judge, *classify(args, paths, Path(tmp)))
                return 0
            images, per_row, where = draw(args, paths, Path(tmp))
        write_png(images, per_row, args.out)
    except (ModelUnavailable, CheckpointError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.out}: {len(images)} images from {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
