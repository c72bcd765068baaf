"""Every piece of the page's text in English and Japanese: the report's words where they exist, the new ones here.

The page (static/app.js) fills `{name}` fields itself; a test checks that every entry has both
languages with the same fields, as the report's own test does for oekaki/stages/report/text.py.
"""

from __future__ import annotations

from oekaki.stages.report.text import LANGUAGES, T

REUSED = ("title", "other_language", "row_gmm", "row_vae", "row_gan", "row_diffusion", "col_run", "col_model")  # from the report

W: dict[str, dict[str, str]] = {
    "app_title": {"en": "Draw it yourself", "ja": "自分で描いてみよう"},
    "app_lead": {
        "en": "Draw a digit in the box. The judge, the classifier that scores every painter in the report, reads it; the VAE "
        "redraws your style as every digit; and each painter draws new ones for you. Every answer says which model gave it.",
        "ja": "枠の中に数字を 1 つ描いてください。レポートですべての画家を採点した分類器（審査員）がそれを読み、"
        "VAE があなたの書き方ですべての数字を描き直し、画家たちが新しい数字を描いてくれます。"
        "どの答えにも、答えたモデルを記しています。",
    },
    "h_draw": {"en": "Your drawing", "ja": "あなたの絵"},
    "cap_draw": {
        "en": "Mouse, finger or pen. It is prepared the way MNIST's digits were: the strokes scaled to fit a 20 × 20 box, then "
        "centred by their centre of mass in 28 × 28 pixels.",
        "ja": "マウス・指・ペンで描けます。MNIST の数字と同じ前処理をします：線全体を 20×20 の枠に収まるよう縮め、"
        "重心が中央に来るよう 28×28 ピクセルに置きます。",
    },
    "btn_clear": {"en": "Clear", "ja": "消す"},
    "btn_undo": {"en": "Undo", "ja": "1 画戻す"},
    "seen_as": {"en": "What the models see (28 × 28)", "ja": "モデルが見る画像（28×28）"},
    "start": {"en": "Draw a digit to begin.", "ja": "数字を描くと始まります。"},
    "h_judge": {"en": "The judge reads it", "ja": "審査員が読む"},
    "judge_answer": {"en": "The judge reads a {label} ({prob}).", "ja": "審査員の答え：{label}（確率 {prob}）"},
    "cap_probs": {"en": "The ten class probabilities.", "ja": "10 クラスそれぞれの確率。"},
    "h_maps1": {
        "en": "Feature maps, block 1: where each filter found its stroke",
        "ja": "特徴マップ（ブロック 1）：各フィルタが線を見つけた場所",
    },
    "h_maps2": {
        "en": "Feature maps, block 2: combinations of strokes, at half the resolution",
        "ja": "特徴マップ（ブロック 2）：線の組み合わせ（解像度は半分）",
    },
    "h_style": {"en": "Your style, every digit", "ja": "あなたの書き方で、すべての数字を"},
    "p_style": {
        "en": "The VAE encodes your drawing, with the judge's label, into its latent “style” and redraws that style as 0 to 9: "
        "the 301st artist's “same style, new landscape”.",
        "ja": "VAE があなたの絵を審査員のラベルとともに潜在ベクトル（書き方）に圧縮し、その書き方のまま 0〜9 を描き直します。"
        "301 人目の画家の「同じ画風で、新しい風景を」です。",
    },
    "style_read_as": {"en": "Encoded as a {label}.", "ja": "{label} として圧縮しました。"},
    "h_paint": {"en": "Ask a painter", "ja": "画家に頼む"},
    "lbl_painter": {"en": "Painter", "ja": "画家"},
    "lbl_digit": {"en": "Digit", "ja": "数字"},
    "lbl_count": {"en": "How many", "ja": "枚数"},
    "btn_paint": {"en": "Draw", "ja": "描いてもらう"},
    "any_digit": {"en": "(unconditional: it draws any digit)", "ja": "（条件なしのモデル：数字は選べません）"},
    "took": {
        "en": "{n} images in {ms} ms of model time ({rt} ms with the round trip).",
        "ja": "{n} 枚、モデルの計算 {ms} ミリ秒（通信込み {rt} ミリ秒）。",
    },
    "took_one": {"en": "{ms} ms of model time ({rt} ms with the round trip).", "ja": "モデルの計算 {ms} ミリ秒（通信込み {rt} ミリ秒）。"},
    "src_registry": {"en": "Model: {name} version {version}{alias}", "ja": "モデル：{name} バージョン {version}{alias}"},
    "src_dvc": {"en": "Model: DVC checkpoint {path}", "ja": "モデル：DVC のチェックポイント {path}"},
    "src_file": {"en": "Model: DVC output {path}", "ja": "モデル：DVC の出力 {path}"},
    "notice_fallback": {
        "en": "{name}: no champion in the MLflow registry, so the DVC checkpoint {path} answers instead.",
        "ja": "{name}：MLflow レジストリにチャンピオンがないため、DVC のチェックポイント {path} が代わりに答えます。",
    },
    "notice_missing": {"en": "{kind}: not available. {reason}", "ja": "{kind}：利用できません。{reason}"},
    "error": {"en": "Error: {message}", "ja": "エラー：{message}"},
    "painter_missing": {"en": "(not available)", "ja": "（利用できません）"},
    "h_path": {"en": "From noise to a digit", "ja": "ノイズから数字へ"},
    "cap_path": {
        "en": "The diffusion painter's first drawing at points along its path: it starts from random pixels and removes noise "
        "step by step.",
        "ja": "拡散モデルの画家が描いた最初の 1 枚を、道のりの途中で並べました。ランダムな画素から始めて、少しずつノイズを取り除きます。",
    },
    "path_noise": {"en": "noise", "ja": "ノイズ"},
    "path_digit": {"en": "digit", "ja": "数字"},
}


def page_words() -> dict[str, dict[str, str]]:
    """lang -> key -> text, for the page: the report's reused entries and the app's own."""
    entries = {k: T[k] for k in REUSED if k in T} | W
    return {lang: {k: v[lang] for k, v in entries.items()} for lang in LANGUAGES}
