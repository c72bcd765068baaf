"""reports/summary.md: the scoreboard, the promotion gate and the key numbers as Markdown."""

from __future__ import annotations

from oekaki.core.locales import text
from oekaki.stages.report.inputs import Inputs
from oekaki.stages.report.tables import promotion_table, scoreboard_table


def summary_markdown(inputs: Inputs) -> str:
    """The scoreboard and key numbers as a small Markdown file (committed like the metrics), in English."""
    lines = [f"# {text('title', 'en')}: summary", ""]
    d, c, g, v = (inputs.metrics.get(s) for s in ("download", "cnn", "gmm", "vae"))
    if d:
        sample = " (the small offline sample)" if d["source"] == "bundled" else ""
        lines += [
            f"Data: {d['dataset']}, source {d['source']}{sample}, {d['n_train']:,} train / {d['n_test']:,} test images"
            f" ({d['n_validation']:,} validation images held out for the promotion gate).",
            "",
        ]
    if c:
        lines.append(f"- CNN test accuracy: {c['test_accuracy']:.2%} ({c['epochs']} epochs, {c['train_seconds']:.0f} s on {c['device']})")
    if t := inputs.metrics.get("vit"):
        kind = f"stem {t['stem']} + " if t["stem"] else "pure, "
        lines.append(
            f"- ViT test accuracy: {t['test_accuracy']:.2%} ({kind}{t['tokens']} tokens, {t['n_parameters']:,} parameters; "
            f"{t['epochs']} epochs, {t['train_seconds']:.0f} s on {t['device']})"
        )
    if g:
        lines.append(f"- 2-pixel contest: K = {g['chosen_k']} chosen by BIC (truth {g['true_k']}), held-out gap {g['loglik_gap']:.3f} nats")
    if v:
        lines.append(f"- VAE test loss: {v['test_loss_nats']:.2f} nats per image")
    if p := inputs.metrics.get("text_painter"):
        langs = ", ".join(f"{lang} {p[f'digit_adherence_{lang}']:.1%} / {p[f'attribute_adherence_{lang}']:.1%}" for lang in ("en", "ja"))
        lines.append(
            f"- Text painter: digit / attribute adherence {p['digit_adherence']:.1%} / {p['attribute_adherence']:.1%} ({langs}); "
            f"held-out combinations {p['held_out_adherence']:.1%} vs seen {p['seen_adherence']:.1%}; FID {p['fid']:.2f} "
            f"({p['steps']:,} steps, {p['train_seconds']:.0f} s on {p['device']})"
        )
    if inputs.metrics.get("evaluate"):
        e = inputs.metrics["evaluate"]
        second = "; the ViT's reading beside the CNN's" if any("conditional_accuracy_vit" in r for r in e["scoreboard"].values()) else ""
        how = f"{e['n_samples']:,} samples per seed, mean ± std over {e['n_seeds']} seeds, judged by the CNN{second}"
        lines += ["", f"## Scoreboard ({how})", ""]
        lines += scoreboard_table(e, "en").markdown()
    if k := inputs.contributed:
        n, m = k.manifest["counts"], k.manifest
        lines.append(
            f"- Contributed digits: {m['n']:,} from {m['contributors']:,} contributors ({n['train']:,} trained on, "
            f"{n['validation']:,} held out for the gate, {n['quarantine']:,} quarantined; snapshot {m['digest'][:12]})"
        )
    if inputs.promotion:
        lines += ["", "## Promotion gate (candidate vs champion, validation split)", ""]
        lines += promotion_table(inputs.promotion, "en").markdown()
    if inputs.missing:
        lines += ["", "Missing stages: " + ", ".join(inputs.missing)]
    return "\n".join(lines) + "\n"
