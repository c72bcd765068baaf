"""The promotion gate's rules on given scores (no training, no MLflow): the margin over the seed
spread, the first candidate's sanity floor, what goes to metrics/promote.json (numbers only)."""

from __future__ import annotations

import pytest

from oekaki.core.config import load_config
from oekaki.core.io import write_json
from oekaki.core.paths import Paths, project_paths
from oekaki.pipeline.gate import apply as apply_gate
from oekaki.stages.promote import stage as promote
from oekaki.stages.promote.scoring import Score

GATE = {g.stage: g for g in promote.GATES}
CFG = load_config(project_paths().params)


class FakeRegistry:
    """The registry calls the gate makes: versions by run, the champion alias, score tags."""

    def __init__(self, champion: str | None):
        self.champion, self.tags = champion, {}

    def version_of_run(self, name, run_id):
        return "2"

    def alias_version(self, name, alias):
        return self.champion

    def version_score(self, name, version, metric, key):
        return self.tags.get((version, metric, key))

    def tag_score(self, name, version, metric, key, value):
        self.tags[(version, metric, key)] = value

    def checkpoint(self, name, version, dest):
        return dest / f"v{version}.pt"


class FakeScorer:
    """Given scores per checkpoint file name; `untrained` for the fresh network."""

    def __init__(self, by_file: dict[str, tuple[float, ...]], untrained: tuple[float, ...] = (100.0, 100.0, 100.0), contributed=None):
        self.cfg, self.by_file, self._untrained, self.scored = CFG, by_file, untrained, []
        self.contributed = contributed or {}  # checkpoint file name -> accuracy on the held-out contributed digits
        self.contrib_y = [0] * (50 if contributed else 0)

    def contributed_key(self):
        return "c"

    def score_contributed(self, checkpoint):
        self.scored.append("contributed:" + checkpoint.name)
        return Score((self.contributed[checkpoint.name],))

    def key(self, gate):
        return "k"

    def n_values(self, gate):
        return 1 if gate.stage == "cnn" else 3

    def score(self, gate, checkpoint, board=None):
        self.scored.append(checkpoint.name)
        return Score(self.by_file[checkpoint.name])

    def untrained(self, gate, checkpoint, dest):
        return Score(self._untrained)

    def candidate_board(self, gate):
        return None


def decide(tmp_path, stage: str, candidate, champion=None, untrained=(100.0, 100.0, 100.0), contributed=None):
    paths = Paths(tmp_path)
    write_json(paths.provenance(stage), {"mlflow_run_id": "run"})
    scores = {"model.pt": candidate} | ({"v1.pt": champion} if champion else {})
    scorer = FakeScorer(scores, untrained, contributed)
    return promote.decide_one(GATE[stage], FakeRegistry("1" if champion else None), scorer, paths, tmp_path), scorer


def test_a_candidate_better_by_less_than_the_seed_spread_keeps_the_champion(tmp_path):
    row, _ = decide(tmp_path, "gan", candidate=(9.0, 10.0, 11.0), champion=(10.0, 10.5, 11.0))  # FID: 10.0 vs 10.5
    assert row["decision"] == "keep" and not row["promote"]
    assert row["margin"] == pytest.approx(1.0) and row["gain"] == pytest.approx(0.5)  # std of (9, 10, 11) = 1
    assert "within the margin" in row["reason"]


def test_a_candidate_better_by_more_than_the_spread_is_promoted(tmp_path):
    row, _ = decide(tmp_path, "vae", candidate=(100.0, 100.2, 100.4), champion=(110.0, 110.1, 110.2))
    assert row["decision"] == "promote" and row["promote"]
    assert row["candidate"]["mean"] == pytest.approx(100.2) and row["champion"]["mean"] == pytest.approx(110.1)
    assert row["margin"] == pytest.approx(0.2) and row["gain"] == pytest.approx(9.9)


def test_the_cnn_has_no_spread_and_needs_the_stated_minimum_margin(tmp_path):
    small = CFG.promote.cnn_min_margin / 2
    row, _ = decide(tmp_path, "cnn", candidate=(0.95 + small,), champion=(0.95,))
    assert row["decision"] == "keep" and row["margin"] == CFG.promote.cnn_min_margin
    row, _ = decide(tmp_path, "cnn", candidate=(0.95 + 2 * CFG.promote.cnn_min_margin,), champion=(0.95,))
    assert row["decision"] == "promote"


def test_a_tie_and_a_worse_candidate_keep_the_champion(tmp_path):
    assert "a tie" in decide(tmp_path, "gan", candidate=(10.0, 10.0, 10.0), champion=(10.0, 10.0, 10.0))[0]["reason"]
    assert "not better" in decide(tmp_path, "gan", candidate=(12.0, 12.0, 12.0), champion=(10.0, 10.0, 10.0))[0]["reason"]


def test_the_floor_refuses_a_first_candidate_barely_better_than_untrained(tmp_path):
    fraction = CFG.promote.painter_max_fid_fraction
    row, _ = decide(tmp_path, "diffusion", candidate=(90.0, 91.0, 92.0), untrained=(100.0, 100.0, 100.0))
    assert row["decision"] == "refuse" and not row["promote"] and row["champion"] is None
    assert row["floor"] == pytest.approx(100.0 * fraction) and row["untrained"]["mean"] == 100.0
    assert apply_gate({"models": {"diffusion": row}}, FakeRegistry(None)) == []
    row, _ = decide(tmp_path, "diffusion", candidate=(10.0, 11.0, 12.0), untrained=(100.0, 100.0, 100.0))
    assert row["decision"] == "promote" and "first candidate" in row["reason"]


def test_the_floor_of_a_first_cnn_and_vae(tmp_path):
    assert decide(tmp_path, "cnn", candidate=(0.5,), untrained=(0.1,))[0]["decision"] == "refuse"
    assert decide(tmp_path, "cnn", candidate=(0.97,), untrained=(0.1,))[0]["decision"] == "promote"
    untrained = (545.0, 546.0, 547.0)
    assert decide(tmp_path, "vae", candidate=(500.0, 500.0, 500.0), untrained=untrained)[0]["decision"] == "refuse"
    assert decide(tmp_path, "vae", candidate=(150.0, 151.0, 152.0), untrained=untrained)[0]["decision"] == "promote"


def test_cached_scores_are_reused_and_only_a_new_key_rescores(tmp_path):
    paths = Paths(tmp_path)
    write_json(paths.provenance("gan"), {"mlflow_run_id": "run"})
    registry, scorer = FakeRegistry("1"), FakeScorer({"model.pt": (9.0, 9.0, 9.0), "v1.pt": (10.0, 10.0, 10.0)})
    first = promote.decide_one(GATE["gan"], registry, scorer, paths, tmp_path)
    again = promote.decide_one(GATE["gan"], registry, scorer, paths, tmp_path)
    assert scorer.scored == ["model.pt", "v1.pt"]  # the second decision read the tags
    assert first["champion"]["rescored"] is True and again["champion"]["rescored"] is False
    assert again["champion"]["values"] == [10.0, 10.0, 10.0]


def test_the_metrics_file_holds_only_numbers(tmp_path):
    rows = {
        "gan": decide(tmp_path, "gan", candidate=(9.0, 10.0, 11.0), champion=(10.0, 10.5, 11.0))[0],
        "cnn": decide(tmp_path, "cnn", candidate=(0.97,), untrained=(0.1,))[0],
    }
    numbers = promote.numbers(rows, 500, 3)
    assert numbers["gan"].keys() == {"candidate_mean", "candidate_std", "champion_mean", "champion_std", "margin", "gain"}
    assert numbers["cnn"].keys() == {"candidate_mean", "candidate_std", "untrained_mean", "untrained_std", "floor"}

    def leaves(d):
        return [x for v in d.values() for x in (leaves(v) if isinstance(v, dict) else [v])]

    assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in leaves(numbers))


@pytest.mark.parametrize(
    ("mnist", "contributed", "decision"),
    [
        ((0.9805,), (0.95, 0.70), "promote"),  # MNIST within the margin (0.002), the new writers read far better
        ((0.975,), (0.95, 0.70), "refuse"),  # old users lose more than the margin: refused, however good for the new
        ((0.990,), (0.69, 0.70), "refuse"),  # better on MNIST, but one contributed digit read worse: refused
        ((0.990,), (0.70, 0.70), "promote"),  # better on MNIST beyond the margin, no contributed drop
        ((0.981,), (0.70, 0.70), "keep"),  # within the margin on MNIST, equal on the contributed digits
        ((491 / 500,), (1.0, 0.98), "promote"),  # exactly one image in 500 below (0.982 vs 0.984): within the margin
    ],
)
def test_the_judges_two_conditions_once_contributed_digits_are_held_out(tmp_path, mnist, contributed, decision):
    champion = (492 / 500,) if mnist == (491 / 500,) else (0.982,)
    row, scorer = decide(tmp_path, "cnn", mnist, champion, contributed={"model.pt": contributed[0], "v1.pt": contributed[1]})
    assert row["decision"] == decision, row["reason"]
    assert row["contributed"] == {"n": 50, "candidate": contributed[0], "champion": contributed[1], "mnist_reference": champion[0]}
    assert "contributed validation (50 digits)" in row["reason"]
    numbers = promote.numbers({"cnn": row}, 500, 3)["cnn"]
    assert numbers["candidate_contributed_mean"] == contributed[0] and numbers["n_contributed_validation"] == 50


def test_a_judge_equal_on_both_is_kept_as_a_tie(tmp_path):
    row, _ = decide(tmp_path, "cnn", (0.982,), (0.982,), contributed={"model.pt": 0.7, "v1.pt": 0.7})
    assert row["decision"] == "keep" and "a tie on both" in row["reason"], row["reason"]


def test_contributed_scores_are_cached_on_the_versions_like_the_others(tmp_path):
    registry = FakeRegistry("1")
    paths = Paths(tmp_path)
    write_json(paths.provenance("cnn"), {"mlflow_run_id": "run"})
    scorer = FakeScorer({"model.pt": (0.98,), "v1.pt": (0.98,)}, contributed={"model.pt": 0.9, "v1.pt": 0.7})
    promote.decide_one(GATE["cnn"], registry, scorer, paths, tmp_path)
    again = FakeScorer({"model.pt": (0.98,), "v1.pt": (0.98,)}, contributed={"model.pt": 0.9, "v1.pt": 0.7})
    row = promote.decide_one(GATE["cnn"], registry, again, paths, tmp_path)
    assert again.scored == [] and row["decision"] == "promote"  # every score came from the version tags


def test_promotions_one_margin_at_a_time_cannot_walk_mnist_down(tmp_path):
    """Each promoted judge carries the best MNIST level any champion had; the next is measured against it."""
    registry = FakeRegistry("1")
    paths = Paths(tmp_path)
    write_json(paths.provenance("cnn"), {"mlflow_run_id": "run"})
    registry.tag_score("cnn-classifier", "1", promote.REFERENCE_METRIC, "k", 0.990)  # an earlier champion's level
    scorer = FakeScorer({"model.pt": (0.9805,), "v1.pt": (0.982,)}, contributed={"model.pt": 0.95, "v1.pt": 0.70})
    row = promote.decide_one(GATE["cnn"], registry, scorer, paths, tmp_path)
    assert row["decision"] == "refuse" and "below the best champion's" in row["reason"]  # within 0.002 of v1, not of 0.990
    fresh = FakeRegistry("1")
    promoted = promote.decide_one(
        GATE["cnn"],
        fresh,
        FakeScorer({"model.pt": (0.9805,), "v1.pt": (0.982,)}, contributed={"model.pt": 0.95, "v1.pt": 0.70}),
        paths,
        tmp_path,
    )
    assert promoted["decision"] == "promote" and fresh.tags[("2", promote.REFERENCE_METRIC, "k")] == 0.982  # the level carried on


class AdherenceScorer(FakeScorer):
    """FakeScorer plus the text painter's second measure: prompt adherence per checkpoint file name."""

    def __init__(self, by_file, adherence: dict[str, tuple[float, ...]]):
        super().__init__(by_file)
        self.adherence = adherence

    def adherence_key(self):
        return "a"

    def score_adherence(self, checkpoint):
        self.scored.append("adherence:" + checkpoint.name)
        return Score(self.adherence[checkpoint.name])


def decide_text_painter(tmp_path, fid: tuple, champion_fid: tuple, adherence: tuple, champion_adherence: tuple):
    paths = Paths(tmp_path)
    write_json(paths.provenance("text_painter"), {"mlflow_run_id": "run"})
    scorer = AdherenceScorer({"model.pt": fid, "v1.pt": champion_fid}, {"model.pt": adherence, "v1.pt": champion_adherence})
    return promote.decide_one(GATE["text_painter"], FakeRegistry("1"), scorer, paths, tmp_path), scorer


@pytest.mark.parametrize(
    ("fid", "adherence", "decision", "said"),
    [
        ((9.0, 9.1, 9.2), (0.70, 0.71, 0.72), "refuse", "val_adherence worse"),  # a better FID cannot buy obedience
        ((12.0, 12.1, 12.2), (0.90, 0.91, 0.92), "refuse", "val_fid worse"),  # nor better obedience a worse FID
        ((10.0, 10.1, 10.2), (0.85, 0.86, 0.87), "promote", "val_adherence better"),  # same FID, obeys more
        ((8.0, 8.1, 8.2), (0.80, 0.81, 0.82), "promote", "val_fid better"),
        ((10.05, 10.1, 10.15), (0.80, 0.805, 0.81), "keep", "neither better"),  # both within their margins
        ((10.0, 10.1, 10.2), (0.80, 0.81, 0.82), "keep", "a tie on both"),  # a forced retrain of the same data and seeds
    ],
)
def test_the_text_painter_must_not_lose_fid_or_adherence_beyond_their_margins(tmp_path, fid, adherence, decision, said):
    row, scorer = decide_text_painter(tmp_path, fid, (10.0, 10.1, 10.2), adherence, (0.80, 0.81, 0.82))
    assert row["decision"] == decision and said in row["reason"], row["reason"]
    assert row["adherence"]["margin"] == pytest.approx(max(Score(adherence).std, 0.01))
    assert row["adherence"]["gain"] == pytest.approx(Score(adherence).mean - 0.81)
    numbers = promote.numbers({"text_painter": row}, 200, 3)["text_painter"]
    assert numbers["candidate_adherence_mean"] == pytest.approx(Score(adherence).mean) and "adherence_margin" in numbers


def test_the_text_painters_adherence_scores_are_cached_per_version_and_key(tmp_path):
    paths = Paths(tmp_path)
    write_json(paths.provenance("text_painter"), {"mlflow_run_id": "run"})
    registry = FakeRegistry("1")
    by_file, adherence = {"model.pt": (10.0, 10.1, 10.2), "v1.pt": (10.0, 10.1, 10.2)}, {"model.pt": (0.8,) * 3, "v1.pt": (0.8,) * 3}
    first = AdherenceScorer(by_file, adherence)
    promote.decide_one(GATE["text_painter"], registry, first, paths, tmp_path)
    assert sorted(first.scored) == ["adherence:model.pt", "adherence:v1.pt", "model.pt", "v1.pt"]
    again = AdherenceScorer(by_file, adherence)
    promote.decide_one(GATE["text_painter"], registry, again, paths, tmp_path)
    assert again.scored == []  # every score read back from the version's tags
