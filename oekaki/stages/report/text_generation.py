"""The report's section 4 (generation: the GMM on digits, the VAE, the GAN, the diffusion model) in English and Japanese.

Kept apart from text.py (the other sections) so neither module grows past the size limit; text.py
merges it into one table `T`, and the same test checks both.
"""

from __future__ import annotations

GENERATION: dict[str, dict[str, str]] = {
    # ------------------------------------------------------------------ 4
    "h_generation": {
        "en": "4. Generation as the reverse: label or noise → features → image",
        "ja": "4. 生成は逆向き：ラベルやノイズ → 特徴 → 画像",
    },
    "p_gmm_digits": {
        "en": "The contest's idea on real digits first: compress the images with PCA ({variance:.0%} of the pixel variance kept) "
        "and fit a Gaussian mixture per digit. It already draws recognisable digits, blurry and sometimes broken: the classical "
        "baseline the networks must beat.",
        "ja": "まずコンテストと同じ考え方を本物の数字で試します。PCA で画像を圧縮し（画素の分散の {variance:.0%} を保持）、"
        "数字ごとに混合ガウス分布を当てはめます。ぼやけていたり崩れていたりしますが、もう数字に見える絵が描けます。"
        "ニューラルネットワークが超えるべき古典的な基準です。",
    },
    "cap_gmm_digits": {
        "en": "New digits sampled from the per-class mixtures in PCA space, one row per class.",
        "ja": "PCA 空間のクラス別混合分布から生成した新しい数字（1 行が 1 クラス）。",
    },
    "h_vae": {"en": "4a. The variational autoencoder (VAE)", "ja": "4a. 変分オートエンコーダ（VAE）"},
    "p_vae": {
        "en": "An encoder compresses each image into {latent} numbers, its latent vector; a decoder turns latent vectors back "
        "into images. Training asks for faithful reconstructions while keeping the latent vectors close to a standard normal "
        "distribution, so that any random latent vector decodes to a plausible digit. On the test set it needs {loss:.1f} nats "
        "per image (reconstruction {recon:.1f} + KL {kl:.1f}).",
        "ja": "エンコーダは画像を {latent} 個の数（潜在ベクトル）に圧縮し、デコーダは潜在ベクトルを画像に戻します。"
        "学習では、元の画像をうまく再現することと、潜在ベクトルを標準正規分布に近づけることを同時に求めます。"
        "そのため、でたらめに選んだ潜在ベクトルからも数字らしい画像が出てきます。テストデータでの損失は 1 枚あたり "
        "{loss:.1f} ナット（再構成 {recon:.1f} ＋ KL {kl:.1f}）です。",
    },
    "p_vae_asked": {
        "en": "Does it draw what it is asked? Asked for a digit, the judge reads {acc:.1%} ± {acc_std:.1%} of its samples "
        "({seeds} sampling seeds) as that digit; the judge itself reads {judge:.1%} of real test digits correctly. {goal} "
        "Why a conditional VAE "
        "can ignore its label: the encoder also sees the image, so the latent vector may carry the digit itself, and the decoder "
        "then draws the digit the latent vector says. Measured here: a linear probe reads the label from the test digits' latent "
        "means with {probe:.0%} accuracy (chance: 10 %; the less the latent vector knows of the label, the more the decoder must "
        "listen to it), and the aggregate posterior lies {gap:.2f} nats from the standard normal that training pulls the codes "
        "towards. {prior} This run's levers: FiLM label conditioning of the decoder's "
        "feature maps {film}, a KL weight β = {beta}, the {schedule} learning-rate schedule, latent truncation {truncation} "
        "(docs/painters.md measures each).",
        "ja": "頼んだ数字を描けるでしょうか。数字を指定して描かせると、審査員はその {acc:.1%} ± {acc_std:.1%}（サンプリングの"
        "シード {seeds} 個）を指定どおりの数字と判定します。審査員自身は本物のテスト画像の {judge:.1%} を正しく判定します。{goal}"
        "条件付き VAE がラベルを無視できてしまう理由：エンコーダは画像も見るので、潜在ベクトル自体が数字の種類を運べてしまい、"
        "デコーダは潜在ベクトルが示す数字を描いてしまいます。ここでの測定：テスト画像の潜在ベクトルの平均から線形分類器で"
        "ラベルを当てる正解率は {probe:.0%}（でたらめなら 10 %。潜在ベクトルがラベルを知らないほど、デコーダはラベルに従う"
        "しかありません）。集約事後分布と、学習が潜在ベクトルを近づける標準正規分布との差は {gap:.2f} ナットです。{prior}"
        "この実行の設定：ラベルでデコーダの特徴マップを"
        "拡大・平行移動する FiLM {film}、KL の重み β = {beta}、学習率のスケジュール {schedule}、潜在ベクトルの打ち切り {truncation}"
        "（それぞれの効果は docs/painters.md）。",
    },
    "prior_standard": {
        "en": "New drawings start from that standard normal (near 0: random latent vectors land where real digits' codes do).",
        "ja": "新しい絵はこの標準正規分布から描き始めます（0 に近いほど、ランダムな潜在ベクトルが本物の数字の潜在ベクトルと"
        "同じ場所に落ちます）。",
    },
    "prior_class_fit": {
        "en": "New drawings do not start from it: after training, each label gets a Gaussian fitted to the latent vectors of its "
        "training images, and a drawing of a 7 starts from the 7s' Gaussian, where real 7s' codes lie (ex-post density "
        "estimation, docs/painters.md).",
        "ja": "新しい絵はそこからは描き始めません。学習のあと、ラベルごとに、その訓練画像の潜在ベクトルにガウス分布を当てはめ、"
        "7 を描くときは 7 のガウス分布から描き始めます。そこは本物の 7 の潜在ベクトルがある場所です"
        "（事後的な密度推定、docs/painters.md）。",
    },
    "p_vae_reader": {
        "en": "A teacher for the decoder: beside the VAE trains a small classifier of its own (two convolutions; it learns from "
        "real training images only and names {reader:.1%} of the test images correctly, the judge {judge:.1%}; it is not the "
        "judge). At every optimiser step {batch} latent vectors of real images are decoded with random labels, and the decoder "
        "pays {weight} times the classifier's cross-entropy when a drawing does not read as the label it was decoded with, so "
        "a latent vector that still carries its own digit is no excuse to draw that digit (docs/painters.md measures it).",
        "ja": "デコーダの先生：VAE と並んで、VAE 専用の小さな分類器（畳み込み 2 層）を学習させます。この分類器は本物の訓練画像"
        "だけから学び、テスト画像の {reader:.1%} を正しく答えます（審査員は {judge:.1%}。審査員とは別のネットワークです）。"
        "最適化の各ステップで、本物の画像の潜在ベクトル {batch} 個をランダムなラベルで描き直し、その絵が指定したラベルとして"
        "読めないと、デコーダは分類器の交差エントロピーの {weight} 倍の罰を受けます。潜在ベクトルが元の数字を覚えていても、"
        "その数字を描く言い訳にはなりません（効果の測定は docs/painters.md）。",
    },
    "goal_within_met": {
        "en": "That is within {points} points of the judge, the goal.",
        "ja": "審査員との差は {points} ポイント以内で、目標を満たしています。",
    },
    "goal_within_missed": {
        "en": "That misses the goal of coming within {points} points of the judge.",
        "ja": "審査員との差 {points} ポイント以内という目標には届いていません。",
    },
    "p_vae_fid": {
        "en": "The judge's FID of its drawings is {fid:.1f}, where uniform noise scores {ceiling:.0f}: {goal}",
        "ja": "描いた絵の審査員による FID は {fid:.1f} です（一様ノイズは {ceiling:.0f}）。{goal}",
    },
    "goal_fid_met": {
        "en": "under a tenth of the noise, the goal.",
        "ja": "ノイズの 10 分の 1 未満という目標を満たしています。",
    },
    "goal_fid_missed": {
        "en": "not under a tenth of the noise, which misses the goal (docs/painters.md says why).",
        "ja": "ノイズの 10 分の 1 未満という目標には届いていません（理由は docs/painters.md）。",
    },
    "goal_style_met": {"en": "The goal, 90 %, is met.", "ja": "目標の 90 % を満たしています。"},
    "goal_style_missed": {"en": "That misses the goal of 90 %.", "ja": "目標の 90 % には届いていません。"},
    "p_gan_variety": {
        "en": "Among the drawings read as the asked-for label, the variety within each label is {div:.2f} of the real "
        "images' (1 = as varied as the real ones).",
        "ja": "指定どおりと判定された絵の、ラベルごとのばらつきは本物の {div:.2f} 倍です（1 なら本物と同じだけ多様）。",
    },
    "goal_gan_div_met": {"en": "The goal on this data, 0.8, is met.", "ja": "このデータでの目標 0.8 を満たしています。"},
    "goal_gan_div_missed": {
        "en": "That misses the goal on this data, 0.8: this generator buys faithful drawings with variety.",
        "ja": "このデータでの目標 0.8 には届いていません。この生成器は、忠実さと引き換えに多様さを失っています。",
    },
    "cap_vae_recon": {
        "en": "Test digits (never trained on; rows 1 and 3) and their reconstructions (rows 2 and 4): right shapes, softer "
        "strokes. VAE samples are blurry because each pixel is drawn as its expected grey level.",
        "ja": "学習に使っていないテスト画像（1 行目と 3 行目）と、その再構成（2 行目と 4 行目）。形は合っていますが線はやわらかくなります。"
        "VAE の画像がぼやけるのは、各ピクセルを期待値の明るさで描くからです。",
    },
    "cap_vae_samples": {
        "en": "New digits decoded from random latent vectors (one row per requested label when conditional).",
        "ja": "ランダムな潜在ベクトルから生成した新しい数字（条件付きモデルでは 1 行が指定したラベル 1 つ）。",
    },
    "cap_vae_latent": {
        "en": "Where the test digits land in latent space (2-D projection of the latent means; colour: the label). A conditional "
        "VAE is given the label separately, so its latent vector is meant to hold only the style; the probe above measures how "
        "much of the label it still carries.",
        "ja": "テスト画像が潜在空間のどこに置かれるか（潜在ベクトルの平均を 2 次元に射影。色はラベル）。条件付き VAE はラベルを別に"
        "受け取るので、潜在ベクトルには書き方だけが入ることを狙っています。ラベルがどれだけ残っているかは上のプローブが測っています。",
    },
    "cap_vae_walk": {
        "en": "A straight walk in latent space between two test digits (the first and last columns), decoded step by step: the "
        "drawing morphs smoothly.",
        "ja": "2 枚のテスト画像（最初と最後の列）の間を潜在空間でまっすぐ歩き、一歩ずつ画像に戻したもの。絵がなめらかに変わっていきます。",
    },
    "cap_vae_style": {
        "en": "Same style, other digit: each test digit (column 1, its label at the left) has its latent vector (its slant and "
        "stroke){how} decoded with every label, 0-9 from column 2 on. This is "
        "the painting contest's fixed pixel 1 on real images. The judge reads {grid_correct} of this grid's {grid_cells} drawn "
        "cells as the label they were decoded with; over {cells:,} cells ({sources} test digits × 10 labels), {acc:.1%}. {goal}",
        "ja": "同じ書き方で別の数字を：各テスト画像（1 列目、左端はそのラベル）の潜在ベクトル（傾きや線の太さ）を、{how}"
        "2 列目から 0〜9 のすべてのラベルで描き直したもの。"
        "絵画コンテストの「ピクセル 1 を固定する」を本物の画像で行ったものです。この図の {grid_cells} マスのうち {grid_correct} マスを、"
        "審査員は描き直しに使ったラベルどおりと判定します。{cells:,} マス（テスト画像 {sources} 枚 × 10 ラベル）では "
        "{acc:.1%} です。{goal}",
    },
    "style_how_standard": {"en": ", as the encoder gives it,", "ja": "エンコーダが出したそのままで、"},
    "style_how_class_fit": {
        "en": ", read as a place in its own label's Gaussian and moved to the same place in each label's Gaussian,",
        "ja": "自分のラベルのガウス分布の中での位置として読み、各ラベルのガウス分布の同じ位置に移して、",
    },
    "cap_vae_training": {
        "en": "The same random latent vectors decoded as training went on (the number above each panel: the epoch){note}.",
        "ja": "同じランダムな潜在ベクトルを、学習の途中経過ごとに画像にしたもの（各図の上の数字はエポック）{note}。",
    },
    "training_note_standard": {
        "en": "; they come from the standard normal that new drawings start from",
        "ja": "。新しい絵と同じく標準正規分布から描いています",
    },
    "training_note_class_fit": {
        "en": "; they come from the standard normal, since the per-label Gaussians are fitted after the last epoch",
        "ja": "。ラベルごとのガウス分布は最後のエポックのあとに当てはめるので、ここでは標準正規分布から描いています",
    },
    "h_gan": {"en": "4b. The generative adversarial network (GAN)", "ja": "4b. 敵対的生成ネットワーク（GAN）"},
    "p_gan": {
        "en": "A generator turns random noise into an image; a discriminator, itself a small CNN, sees real and generated digits "
        "and learns to tell them apart; the generator learns to fool it. Nobody shows the generator what a digit looks like: it "
        "learns only from the discriminator's verdicts. After {epochs} epochs ({steps:,} generator steps, {seconds:.0f} s on "
        "{device}) the judge's FID of its samples is {fid:.1f}.",
        "ja": "生成器はランダムなノイズから画像を作り、識別器（これも小さな CNN）は本物と生成画像を見分けるように学び、"
        "生成器は識別器をだますように学びます。生成器は数字の見本を直接見ることはなく、識別器の判定だけから学びます。"
        "{epochs} エポック（生成器 {steps:,} ステップ、{device} で {seconds:.0f} 秒）学習した後の審査員による FID は {fid:.1f} です。",
    },
    "p_gan_asked": {
        "en": "Asked for a digit, the judge reads {acc:.1%} ± {acc_std:.1%} of its samples as that digit (the judge on real test "
        "digits: {judge:.1%}). {goal} Noise truncation: {truncation} (with truncation, entries beyond ±τ are drawn again, the "
        "truncation trick: noise nearer the middle gives more faithful digits and somewhat less variety).",
        "ja": "数字を指定すると、審査員はサンプルの {acc:.1%} ± {acc_std:.1%} を指定どおりの数字と判定します（本物のテスト画像での"
        "審査員の正解率は {judge:.1%}）。{goal}ノイズの打ち切り：{truncation}（打ち切りでは ±τ の外の値を引き直します。真ん中寄りの"
        "ノイズほど数字は忠実になり、多様さはいくらか減ります）。",
    },
    "p_gan_truncation": {
        "en": "The truncation is chosen after training on the {n} validation images (neither trained on nor the test set above): "
        "the least truncation whose drawings of their labels the judge reads at most {points:.0f} point below its own accuracy "
        "on those real images ({judge:.1%}). Asked-for share, tried in order: ",
        "ja": "打ち切りは学習後に検証用の {n} 枚（学習にも上のテストにも使わない画像）で選びます。その本物の画像での審査員の正解率"
        "（{judge:.1%}）から {points:.0f} ポイント以内で指定どおりに読まれる、いちばん弱い打ち切りです。試した順の指定どおりの割合：",
    },
    "on": {"en": "on", "ja": "あり"},
    "off": {"en": "off", "ja": "なし"},
    "trunc_off": {"en": "off (plain N(0, I))", "ja": "なし（そのままの N(0, I)）"},
    "trunc_at": {"en": "at ±{tau}", "ja": "±{tau} で打ち切り"},
    "cap_gan_samples": {
        "en": "New digits from random noise (one row per requested label when conditional).",
        "ja": "ランダムなノイズから生成した新しい数字（条件付きモデルでは 1 行が指定したラベル 1 つ）。",
    },
    "cap_gan_gif": {
        "en": "The same noise decoded after every epoch (top left: epoch / epochs): from blobs to strokes to digits.",
        "ja": "同じノイズをエポックごとに画像にしたアニメーション（左上はエポック / 全エポック数）。かたまりから線へ、線から数字へ。",
    },
    "cap_gan_curves": {
        "en": "Left: the two losses pull against each other instead of falling together. Middle: the discriminator's mean output "
        "on real and generated batches. Right: FID and the mode-coverage measure at the scored epochs (every `gan.eval_every`-th and "
        "the last); mode collapse (the same kind of image again and again) would show as a drop toward 0.",
        "ja": "左：2 つの損失はそろって下がるのではなく、引っ張り合います。中：本物と生成画像に対する識別器の平均出力。"
        "右：採点したエポック（`gan.eval_every` ごとと最後）の"
        "FID と多様性の指標。モード崩壊（同じような画像ばかり出る状態）が起きると 0 に向かって落ちます。",
    },
    "cap_gan_walk": {
        "en": "Walking between two noise vectors, one walk per row (at the left: the asked-for digit, when conditional): the "
        "drawing changes smoothly.",
        "ja": "2 つのノイズベクトルの間を歩いたときの変化。1 行が 1 回の歩み（条件付きでは左端が指定した数字）。"
        "絵がなめらかに移り変わります。",
    },
    "cap_gan_memo": {
        "en": "Did it copy? Generated digits beside their nearest training images in the judge's feature space. Ratio {ratio:.2f}: "
        "how far samples are from the training set relative to new real digits (1 = as far; well below 1 = copying).",
        "ja": "丸写ししていないか：生成画像と、審査員の特徴空間で最も近い学習画像を並べたもの。比 {ratio:.2f} は、"
        "生成画像が学習データからどれだけ離れているかを新しい本物の画像と比べた値です（1 なら同じ程度、1 より十分小さければ丸写し）。",
    },
    "h_diffusion": {"en": "4c. The diffusion model: drawing by removing noise", "ja": "4c. 拡散モデル：ノイズを取り除いて描く"},
    "p_diffusion": {
        "en": "A diffusion model learns to undo noise. In training, each real digit is blended with random noise at a random "
        "strength, and a small U-Net learns which way leads back to the digit. To draw, it starts from pure noise and takes "
        "{sample_steps} small steps in that direction, asked for a label. Trained for {epochs} epochs ({steps:,} optimiser steps, "
        "{seconds:.0f} s on {device}), its drawings score a judge's FID of {fid:.1f}, and {accuracy:.1%} of them are read as the "
        "requested digit.",
        "ja": "拡散モデルは「ノイズを取り除くこと」を学びます。学習では、本物の数字にランダムな強さでノイズを混ぜ、"
        "小さな U-Net が元の数字へ戻る方向を学びます。描くときは純粋なノイズから出発し、ラベルを指定して、その方向に "
        "{sample_steps} 回の小さなステップで進みます。{epochs} エポック（最適化 {steps:,} ステップ、{device} で {seconds:.0f} 秒）"
        "学習した結果、審査員による FID は {fid:.1f}、指定した数字として読まれた割合は {accuracy:.1%} です。",
    },
    "p_diffusion_flow_matching": {
        "en": "This run uses flow matching (rectified flow): the path from noise to digit is a straight line and the network "
        "predicts the velocity along it, so a few `{sampler}` steps are enough.",
        "ja": "この実行ではフローマッチング（rectified flow）を使います。ノイズから数字への道筋は直線で、ネットワークはその上の"
        "速度を予測するので、数回の `{sampler}` ステップで足ります。",
    },
    "p_diffusion_logit_normal": {
        "en": "In training, the points on the path are drawn more often from its middle than from its two ends (logit-normal "
        "times, Esser et al. 2024): near pure noise and near the finished digit the right direction is easy, in between it "
        "is not.",
        "ja": "学習では、道筋上の点を両端よりも中ほどから多く選びます（ロジット正規分布の時刻、Esser ら 2024）。"
        "純粋なノイズの近くと完成した数字の近くでは進む方向は簡単に分かりますが、その間は難しいからです。",
    },
    "p_diffusion_ddpm": {
        "en": "This run uses DDPM: the network predicts the noise that was added (1,000 noise levels in training), and the "
        "`{sampler}` sampler removes a little of it per step, adding fresh noise as it goes.",
        "ja": "この実行では DDPM を使います。ネットワークは加えられたノイズを予測し（学習時のノイズの段階は 1,000）、"
        "`{sampler}` サンプラーがステップごとに少しずつ取り除き、途中で新しいノイズも加えます。",
    },
    "p_diffusion_guidance": {
        "en": "With {label_drop:.0%} of the training labels hidden, the same network also learns to draw any digit; drawing then "
        "pushes from 'any digit' toward the asked one (classifier-free guidance, weight {guidance:g}; 0 = no label, 1 = plain).",
        "ja": "学習ラベルの {label_drop:.0%} を隠すので、同じネットワークが「どの数字でもよい」絵も学びます。描くときはそこから"
        "指定した数字の方へ押し出します（分類器なしガイダンス、重み {guidance:g}。0 はラベルなし、1 は普通の条件付き）。",
    },
    "p_diffusion_interval": {
        "en": "Guidance applies only from {share:.0%} to {until:.0%} of the way; the first steps, where the noise settles which "
        "shape of the digit appears, and the steps after, which only sharpen the strokes, follow the plain conditional "
        "prediction (a guidance interval). Measured on the same {n:,} noises and labels: FID {fid:.1f}, conditional accuracy "
        "{acc:.1%}, within-class diversity {div:.2f}; with guidance at every step instead, FID {fid_all:.1f}, {acc_all:.1%} "
        "and {div_all:.2f}.",
        "ja": "ガイダンスは道のりの {share:.0%} から {until:.0%} の間だけ掛けます。ノイズから数字の形が決まる最初のステップと、"
        "線を整えるだけのその後のステップは、普通の条件付き予測に任せます（ガイダンス区間）。同じ {n:,} 個のノイズとラベルで測ると、"
        "FID {fid:.1f}、条件付き正解率 {acc:.1%}、クラス内多様性 {div:.2f}。全ステップでガイダンスを掛けると FID {fid_all:.1f}、"
        "{acc_all:.1%}、{div_all:.2f} です。",
    },
    "p_diffusion_goals": {
        "en": "Of its drawings, {acc:.1%} are read as the asked-for digit, against {judge:.1%} of real test digits: {goal_acc} "
        "Among the drawings read right, the variety within each digit is {div:.2f} of the real digits' (1 = as varied as real "
        "handwriting): {goal_div}",
        "ja": "描いた絵のうち {acc:.1%} が指定どおりの数字と判定されます（本物のテスト画像は {judge:.1%}）。{goal_acc}"
        "正しく判定された絵の、数字ごとのばらつきは本物の {div:.2f} 倍です（1 なら本物の手書きと同じだけ多様）。{goal_div}",
    },
    "diff_goal_acc_met": {
        "en": "as recognisable as real digits, the goal.",
        "ja": "本物と同じくらい読み取れる、という目標を満たしています。",
    },
    "diff_goal_acc_narrow": {
        "en": "It is met by {margin:.2f} points, less than the spread between sampling seeds ({std:.2f} points): a run on "
        "another machine may land on either side.",
        "ja": "ただし差は {margin:.2f} ポイントで、サンプリングのシードによるばらつき（{std:.2f} ポイント）より小さく、"
        "別のマシンでの実行ではどちら側にもなり得ます。",
    },
    "diff_goal_acc_missed": {
        "en": "less recognisable than real digits, which misses the goal.",
        "ja": "本物ほどには読み取れず、目標に届いていません。",
    },
    "diff_goal_div_met": {
        "en": "the goal of {goal:.1f} is met.",
        "ja": "目標の {goal:.1f} を満たしています。",
    },
    "diff_goal_div_missed": {
        "en": "short of the goal of {goal:.1f}.",
        "ja": "目標の {goal:.1f} には届いていません。",
    },
    "p_diffusion_plain": {
        "en": "Drawn without the push toward the label (guidance 1, the sweep's {n:,} drawings), the variety is {div:.2f}, but "
        "only {acc:.1%} are read as the asked-for digit.",
        "ja": "ラベルの方へ押さずに描くと（ガイダンス 1、スイープの {n:,} 枚）、ばらつきは {div:.2f} ですが、指定どおりと"
        "判定されるのは {acc:.1%} だけです。",
    },
    "cap_diff_path": {
        "en": "From noise to a digit: one starting noise (left) asked for each digit 0-9, {steps} sampling steps from left to right.",
        "ja": "ノイズから数字へ：同じ初期ノイズ（左端）に 0〜9 を指定し、{steps} ステップの途中を左から右へ並べたもの。",
    },
    "cap_diff_steps": {
        "en": "Steps against quality: the judge's FID and conditional accuracy of {n:,} samples per number of sampling steps "
        "(left), and seconds per 1,000 images on this machine (right). Steps = {first_steps}: FID {first_fid:.1f}, "
        "{first_seconds:.1f} s per 1,000; the best, steps = {best_steps}: FID {best_fid:.1f}, {best_seconds:.1f} s per 1,000 (FID "
        "of so few samples reads higher than the {n_eval:,}-sample score above).",
        "ja": "ステップ数と品質：サンプリングのステップ数ごとに {n:,} 枚を描いたときの審査員の FID と条件付き正解率（左）、"
        "このマシンで 1,000 枚を描く秒数（右）。{first_steps} ステップでは FID {first_fid:.1f}（1,000 枚で {first_seconds:.1f} 秒）、"
        "最良の {best_steps} ステップでは FID {best_fid:.1f}（1,000 枚で {best_seconds:.1f} 秒）です"
        "（枚数が少ないため、FID は上の {n_eval:,} 枚での値より高めに出ます）。",
    },
    "cap_diff_guidance": {
        "en": "Guidance against variety ({n:,} samples per weight): from guidance {g_lo:g} to {g_hi:g}, conditional accuracy "
        "goes from {acc_lo:.1%} to {acc_hi:.1%} and within-class diversity from {div_lo:.2f} to {div_hi:.2f}.",
        "ja": "ガイダンスと多様性（重みごとに {n:,} 枚）：ガイダンスを {g_lo:g} から {g_hi:g} にすると、条件付き正解率は "
        "{acc_lo:.1%} から {acc_hi:.1%} に、クラス内多様性は {div_lo:.2f} から {div_hi:.2f} に変わります。",
    },
    "cap_diff_samples": {
        "en": "New digits from random noise, one row per requested label ({steps} steps, guidance {guidance:g}).",
        "ja": "ランダムなノイズから生成した新しい数字（1 行が指定したラベル 1 つ、{steps} ステップ、ガイダンス {guidance:g}）。",
    },
    "cap_diff_training": {
        "en": "The same noise and labels drawn as training went on (the number above each panel: the epoch).",
        "ja": "同じノイズと同じラベルを、学習の途中ごとに描いたもの（各図の上の数字はエポック）。",
    },
    "cap_diff_memo": {
        "en": "Did it copy? Its digits beside their nearest training images in the judge's feature space. Ratio {ratio:.2f} "
        "(1 = as far from the training set as new real digits are; well below 1 = copying).",
        "ja": "丸写ししていないか：生成画像と、審査員の特徴空間で最も近い学習画像を並べたもの。比は {ratio:.2f} です"
        "（1 なら新しい本物の画像と同じくらい学習データから離れている、1 より十分小さければ丸写し）。",
    },
    "diff_verdict": {
        "en": "In this run {verdict}: FID {fid:.1f} after {seconds:.0f} s of training, against the GAN's {gan_fid:.1f} "
        "({gan_seconds:.0f} s) and the VAE's {vae_fid:.1f} ({vae_seconds:.0f} s). Unlike the GAN it learns from a plain "
        "regression loss, with no adversary to outwit, and unlike the VAE it does not settle for a blurry average; it pays when "
        "drawing instead: {sample_steps} network steps per image, {sample_seconds:.1f} s per 1,000 images here.",
        "ja": "この実行では {verdict}。学習 {seconds:.0f} 秒で FID {fid:.1f}、GAN は {gan_fid:.1f}（{gan_seconds:.0f} 秒）、"
        "VAE は {vae_fid:.1f}（{vae_seconds:.0f} 秒）です。GAN と違って出し抜くべき相手のいない素直な回帰の損失で学び、"
        "VAE と違ってぼやけた平均に逃げません。その代わり描くときに手間がかかり、1 枚あたり {sample_steps} ステップ、"
        "ここでは 1,000 枚で {sample_seconds:.1f} 秒です。",
    },
    "verdict_both": {"en": "it beats both the GAN and the VAE", "ja": "GAN と VAE の両方を上回りました"},
    "verdict_vae": {"en": "it beats the VAE but not the GAN", "ja": "VAE は上回りましたが、GAN には届きませんでした"},
    "verdict_gan": {"en": "it beats the GAN but not the VAE", "ja": "GAN は上回りましたが、VAE には届きませんでした"},
    "verdict_none": {"en": "it beats neither the GAN nor the VAE", "ja": "GAN にも VAE にも届きませんでした"},
}
