"""The promotion gate's texts in the report (section 5b, and the validation split in section 6), English and Japanese.

Kept apart from text.py (merged into its T) so the gate's wording changes in one small file.
"""

from __future__ import annotations

GATE_TEXT: dict[str, dict[str, str]] = {
    "p_registry": {
        "en": "Every trained model is registered in MLflow as a new version with the alias `candidate`. The gate scores it and "
        "the `champion` on the validation split, held out of training and apart from the test set, with several seeds; the "
        "candidate replaces the champion only if its mean beats the champion's by more than the larger seed-to-seed spread "
        "(the margin; the champion is scored again when the data or the judge changed). A first candidate must beat an "
        "untrained network of its own kind by a wide margin. "
        "This table is the decision; the alias moves only in a retraining run without overrides (the Prefect deployments), "
        "after every stage succeeded.",
        "ja": "学習したモデルはすべて MLflow に新しいバージョンとして登録され、`candidate` という別名が付きます。"
        "判定には学習にもテストにも使わない検証データを使い、候補と `champion` を複数のシードで採点します。"
        "候補の平均がチャンピオンの平均を、シードによるばらつき（大きいほうの標準偏差＝マージン）より大きく上回ったときだけ"
        "入れ替わります（データや審査員が変わったときはチャンピオンも採点し直します）。最初の候補は、同じ構造の未学習ネットワークを"
        "大きく上回らなければ昇格しません。"
        "この表は判定です。別名が実際に動くのは、上書きなしの再学習（Prefect のデプロイメント）ですべてのステージが成功した後だけです。",
    },
    "col_champion_or_untrained": {"en": "champion (or untrained)", "ja": "チャンピオン（または未学習）"},
    "col_margin": {"en": "margin", "ja": "マージン"},
    "reg_floor": {"en": "floor", "ja": "下限"},
    "reg_refuse": {"en": "refused (too close to untrained)", "ja": "不合格（未学習と大差なし）"},
    "prov_validation": {
        "en": "; {n_validation:,} validation images held out of the training split for the promotion gate only",
        "ja": "。検証用の {n_validation:,} 枚は学習データから取り分け、昇格判定にだけ使います",
    },
}
