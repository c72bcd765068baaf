"""The report's "What the 301st artist taught" (issue 36): drawn from a tiny hand-made snapshot, in both languages.

Thirty digits of the bundled MNIST sample go through the real store, quarantine and snapshot code: 25 from an
honest contributor, 5 deliberately mislabelled by another, which the judge (simulated: it reads the true digit)
contradicts. The report stage renders the section from those files and a gate decision; every count on the page is
read back from the manifest. The empty snapshot of the default pipeline gives one sentence and reads nothing else.
No pipeline runs here: the other sections are marked missing (report.allow_partial).
"""

from __future__ import annotations

import gzip
import re
from types import SimpleNamespace

import numpy as np
import pytest
from markupsafe import escape

from oekaki.core.config import load_config
from oekaki.core.io import read_json, write_json
from oekaki.core.locales import LANGUAGES, text
from oekaki.core.paths import PROJECT_ROOT, Paths
from oekaki.data import quarantine, snapshot
from oekaki.data.contributions import Item, Store
from oekaki.data.sources import bundled_file
from oekaki.stages.report import contributed, history
from oekaki.stages.report import stage as report
from oekaki.stages.report.page import Lookups, md

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
DECIMAL = re.compile(r"\d+\.\d+%?")
BIG = 10**6
JUDGE = "cnn-classifier"
HOUR = 3_600_000  # ms


def said(key: str, lang: str, **fields) -> str:
    return str(md(text(key, lang, **fields)))


def section(page: str) -> str:
    return page.split('<section id="contributions">', 1)[1].split("<section ", 1)[0]


def bundled_digits(n: int) -> tuple[np.ndarray, np.ndarray]:
    """`n` digits spread over the sample (its rows are sorted by label), so every class has some."""
    with gzip.open(bundled_file(), "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.int64)  # (5000, 785): 784 pixels, then the label
    rows = table[np.linspace(0, len(table) - 1, n).astype(int)]
    return rows[:, :-1].reshape(-1, 28, 28).astype(np.uint8), rows[:, -1]


def take_snapshot(paths: Paths, cfg, rows: dict) -> dict:
    c = cfg.contributions
    arrays, manifest = quarantine.take(rows, c.validation_share, c.quarantine_confidence, c.quarantine_agreement)
    snapshot.write(paths.contributions_snapshot, paths.contributions_manifest, arrays, manifest)
    return manifest


def config(*overrides: str):
    return load_config(PROJECT_ROOT / "params.yaml", ["report.allow_partial=true", *overrides])


class FakeClient:
    """The MLflow client calls history.py makes, answered from a fixed registry: v1, v2, v3 of the judge."""

    def __init__(self):
        self.filters: list[str] = []

    def search_model_versions(self, filter_string):
        assert filter_string == f"name='{JUDGE}'"
        return [SimpleNamespace(version=v, creation_timestamp=v * HOUR, run_id=f"run{v}") for v in (1, 3, 2)]

    def get_run(self, run_id):
        return SimpleNamespace(info=SimpleNamespace(experiment_id="7"))

    def search_runs(self, experiment_ids, filter_string, max_results):
        assert experiment_ids == ["7"]
        self.filters.append(filter_string)
        run = lambda tag, end: SimpleNamespace(info=SimpleNamespace(start_time=end - 1, end_time=end), data=SimpleNamespace(tags=tag))  # noqa: E731
        return [run({history.PROMOTED_TAG: f"{JUDGE} v2"}, 5 * HOUR), run({history.PROMOTED_TAG: f"vae v1, {JUDGE} v1"}, 2 * HOUR)]


class FakeMonitor:
    def __init__(self, fail: bool = False):
        self.asked, self.fail, self.client = 0, fail, FakeClient()

    def registry(self):
        self.asked += 1
        if self.fail:
            raise RuntimeError("no registry here")
        return SimpleNamespace(client=self.client, alias_version=lambda name, alias: "2" if (name, alias) == (JUDGE, "champion") else None)


def decision(held_out: int) -> dict:
    cnn = {
        "stage": "cnn", "model": JUDGE, "metric": "accuracy", "higher_is_better": True, "eval_key": "k",
        "candidate": {"version": "3", "mean": 0.9712, "std": 0.0, "values": [0.9712]},
        "champion": {"version": "2", "mean": 0.9688, "std": 0.0, "values": [0.9688], "rescored": False},
        "margin": 0.002, "gain": 0.0024, "decision": "promote", "promote": True, "reason": "better",
        "contributed": {"n": held_out, "candidate": 0.8333, "champion": 0.5},
    }  # fmt: skip
    return {"models": {"cnn": cnn}, "validation": {"n": 500, "sha256": "0" * 64}, "seeds": [0]}


@pytest.fixture(scope="module")
def taught(tmp_path_factory):
    """A project folder with a 30-digit snapshot (5 poisoned), a gate decision, and the report rendered from them."""
    paths = Paths(tmp_path_factory.mktemp("taught"))
    cfg = config()
    images, labels = bundled_digits(30)
    read = [Item(img, int(y), int(y), 0.99, "2") for img, y in zip(images, labels, strict=True)]  # the judge reads the truth
    poisoned = [Item(it.image, (it.label + 1) % 10, it.judge_label, 0.99, "2") for it in read[10:15]]  # labelled one more
    store = Store.of_project(None, paths.contributions_store)
    store.add("honest-token", read[:10], BIG, BIG)
    store.add("poison-token", poisoned, BIG, BIG)
    store.add("honest-token", read[15:], BIG, BIG)
    manifest = take_snapshot(paths, cfg, store.export())
    write_json(paths.promote_decision, decision(manifest["counts"]["validation"]))
    monitor = FakeMonitor()
    report.run(cfg, paths, monitor)
    pages = {lang: paths.report_page(lang).read_text() for lang in LANGUAGES}
    return paths, manifest, monitor, pages


def test_the_hand_made_snapshot_quarantines_the_poisoned_five(taught):
    _, manifest, _, _ = taught
    assert manifest["n"] == 30 and manifest["contributors"] == 2 and manifest["writers"] == 2
    assert manifest["counts"]["quarantine"] == 5 and [q["id"] for q in manifest["quarantined"]] == [11, 12, 13, 14, 15]
    assert manifest["counts"]["validation"] > 0 and sum(manifest["counts"].values()) == 30


def test_the_section_prints_the_manifest_counts_in_both_languages(taught):
    paths, m, _, pages = taught
    n = m["counts"]
    for lang, page in pages.items():
        s = section(page)
        fields = dict(contributors=2, digest=m["digest"][:12], newest=30, train=n["train"], held=n["validation"], quarantined=5)
        assert said("con_counts", lang, n=30, **fields) in s, lang
        assert said("con_held_out_rule", lang, writers=2) in s and said("con_none", lang) not in s
        for name, key in contributed.SPLITS:  # the per-class table: one row per split, its ten counts and the total
            per = m["counts_per_class"][name]
            cells = "".join(f"<td>{v}</td>" for v in per)
            assert f"<td>{text(key, lang)}</td>{cells}<td>{sum(per)}</td>" in s, (lang, name)
        assert said("p_con_quarantine", lang, quarantined=5, n=30) in s
        for q in m["quarantined"]:  # each quarantined digit listed with its label and the judge's reading
            assert f"<tr><td>{q['id']}</td><td>{q['label']}</td><td>{q['judge_label']} (99%)</td>" in s, (lang, q)
        assert said("con_agreement", lang, agree=14, under=50) in s  # the smoothed rate: (0 + 1) / (5 + 2)
        headings = re.findall(r"<h3>(.*?)</h3>", s)
        assert len(headings) == 3 and (lang == "en" or all(JAPANESE.search(h) for h in headings)), headings
    assert DECIMAL.findall(section(pages["en"])) == DECIMAL.findall(section(pages["ja"]))  # the same numbers, in order


def test_the_section_embeds_its_three_figures_with_captions_that_quote_their_numbers(taught):
    paths, m, _, pages = taught
    for lang, page in pages.items():
        look = Lookups(lang, paths)
        figures = [
            look.fig("contributions", "per_class.png", "cap_con_per_class", n=30),
            look.fig("contributions", "over_time.png", "cap_con_over_time", n=30, newest=30),
            look.fig("contributions", "quarantined.png", "cap_con_quarantined_all", n=5),
        ]
        assert all(figures), lang
        for f in figures:
            assert f'<img src="{f.src}" alt="{escape(f.alt)}"><figcaption>{f.caption}</figcaption>' in section(page), (lang, f.alt)
    drawn = sorted(p.name for p in paths.figures("contributions").iterdir())
    assert drawn == sorted([f"{s}.{lang}.png" for s in ("over_time", "per_class") for lang in LANGUAGES] + ["quarantined.png"])


def test_the_gate_numbers_before_and_after_are_the_decision_files(taught):
    paths, m, _, pages = taught
    d = read_json(paths.promote_decision)["models"]["cnn"]
    for lang, page in pages.items():
        s = section(page)
        fields = dict(candidate="v3", champion="v2", n=m["counts"]["validation"], after="83.33%", before="50.00%", n_mnist=500)
        fields |= dict(mnist_after="97.12%", mnist_before="96.88%", decision=text("reg_promote", lang))
        assert said("con_gate_scored", lang, **fields) in s, lang
        assert f"<td>{d['contributed']['candidate']:.2%}</td><td>{d['contributed']['champion']:.2%}</td>" in s
        assert f"<th>{text('col_con_after', lang, v='3')}</th><th>{text('col_con_before', lang, v='2')}</th>" in s


def test_the_champion_history_lists_versions_newest_first_with_when_each_became_champion(taught):
    _, _, monitor, pages = taught
    assert monitor.asked == 1 and monitor.client.filters == [f"tags.`oekaki.promoted` LIKE '%{JUDGE} v%'"]
    for lang, page in pages.items():
        s = section(page)
        assert said("p_con_history", lang, name=JUDGE, total=3, shown=3) in s
        rows = re.findall(r"<tr><td>v(\d)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", s)
        now = text("con_champion_now", lang)
        assert rows == [
            ("3", "1970-01-01 03:00 UTC", "—"),
            ("2", "1970-01-01 02:00 UTC", f"1970-01-01 05:00 UTC{now}"),
            ("1", "1970-01-01 01:00 UTC", "1970-01-01 02:00 UTC"),
        ], lang


def test_the_summary_names_the_contributed_counts(taught):
    paths, m, _, _ = taught
    n = m["counts"]
    line = f"- Contributed digits: 30 from 2 contributors ({n['train']} trained on, {n['validation']} held out for the gate, 5 quarantined;"
    assert line in paths.report_summary.read_text()


def test_the_empty_snapshot_is_one_sentence_and_reads_nothing_else(tmp_path):
    paths, cfg = Paths(tmp_path), config()
    take_snapshot(paths, cfg, snapshot.empty_rows())
    paths.contributions_snapshot.write_bytes(b"not read")  # an empty manifest is all the section opens
    assert contributed.load_snapshot(paths) is None
    write_json(paths.promote_decision, decision(0))
    monitor = FakeMonitor()
    report.run(cfg, paths, monitor)
    assert monitor.asked == 0 and not paths.figures("contributions").exists()
    for lang in LANGUAGES:
        s = section(paths.report_page(lang).read_text())
        assert s.count("<p>") == 1 and said("con_none", lang) in s and "<img" not in s, lang
    assert "Contributed digits" not in paths.report_summary.read_text()
    paths.contributions_manifest.unlink()  # a checkout before the contributions stage ran: the same sentence
    assert contributed.load_snapshot(paths) is None


def test_a_snapshot_that_disagrees_with_its_manifest_is_named(taught, tmp_path):
    paths = Paths(tmp_path)
    manifest = dict(taught[1], n=31)
    paths.contributions_manifest.parent.mkdir(parents=True)
    write_json(paths.contributions_manifest, manifest)
    with pytest.raises(report.ReportError, match=r"contributions.npz holds 0 contributions, its manifest .* says 31: run `dvc pull`"):
        contributed.load_snapshot(paths)


def test_the_gate_text_says_what_it_has(taught):
    paths, m, _, _ = taught
    c = contributed.load_snapshot(paths)
    d = decision(0)
    del d["models"]["cnn"]["contributed"]
    gate = contributed.gate_context(d, c, "en")
    assert gate["case"] == "not_scored" and gate["n_held"] == m["counts"]["validation"] and len(gate["table"].rows) == 1
    empty = contributed.Contributed(dict(c.manifest, counts=dict(c.manifest["counts"], validation=0)), c.arrays)
    assert contributed.gate_context(d, empty, "ja")["case"] == "no_held_out"
    d["models"]["cnn"]["champion"] = None  # a first candidate: no champion to compare
    gate = contributed.gate_context(d, empty, "en")
    assert gate["mnist_before"] == text("con_no_champion", "en") and gate["table"].columns[2] == text("col_con_before_none", "en")
    assert contributed.gate_context(None, c, "en") == {"case": "missing", "table": None}


def test_an_unreadable_registry_leaves_the_history_out(caplog):
    assert history.read_history(FakeMonitor(fail=True), JUDGE) is None
    assert "could not be read (RuntimeError)" in caplog.text


def test_the_promoted_tag_is_the_gates():
    from oekaki.pipeline.gate import PROMOTED_TAG

    assert history.PROMOTED_TAG == PROMOTED_TAG


@pytest.mark.slow
def test_the_history_reads_a_real_registry(isolated_stores):
    """history.py's MLflow calls against a real SQLite store: versions, the `champion` alias, the gate's promoted tags."""
    from mlflow.tracking import MlflowClient

    from oekaki.pipeline.tracking import EXPERIMENT, Registry
    from tests.conftest import experiment_in

    uri = f"sqlite:///{isolated_stores / 'mlflow.db'}"
    experiment_in(uri, isolated_stores / "artifacts")
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(EXPERIMENT).experiment_id
    client.create_registered_model(JUDGE)
    for v in (1, 2, 3):
        (isolated_stores / f"m{v}").mkdir()
        client.create_model_version(JUDGE, str(isolated_stores / f"m{v}"), run_id=client.create_run(exp).info.run_id)
    ended = {}
    for name, tag in (("a", f"vae v1, {JUDGE} v1"), ("b", f"{JUDGE} v2"), ("decoy", f"x{JUDGE} v3")):
        run_id = client.create_run(exp, tags={history.PROMOTED_TAG: tag}).info.run_id
        client.set_terminated(run_id)
        ended[name] = client.get_run(run_id).info.end_time
    client.set_registered_model_alias(JUDGE, "champion", "2")
    found = history.read_history(SimpleNamespace(registry=lambda: Registry(Paths(isolated_stores))), JUDGE)
    assert found.total == 3 and [v.version for v in found.versions] == ["3", "2", "1"]
    assert [v.champion_since for v in found.versions] == [None, history.when(ended["b"]), history.when(ended["a"])]
    assert [v.champion_now for v in found.versions] == [False, True, False]


def test_without_a_gate_decision_or_a_registry_the_section_says_what_is_missing(taught):
    from oekaki.stages.report.page import ENV

    paths, _, _, _ = taught
    c, template = contributed.load_snapshot(paths), ENV.get_template("sections/contributions.html.j2")
    for lang in LANGUAGES:
        look = Lookups(lang, paths)
        html = template.render(contributed=contributed.context(lang, c, None, None), t=look.t, fig=look.fig)
        assert said("con_gate_missing", lang) in html and text("h_con_history", lang) not in html, lang
        html = template.render(contributed=contributed.context(lang, c, decision(5), None), t=look.t, fig=look.fig)
        assert said("con_history_unavailable", lang) in html, lang
