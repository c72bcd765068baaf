"""The contributions store, the door and the snapshot (issue 36): durable, once per contributor, limited,
erasable; noise and blanks refused; quarantine only where the contributor disagrees with the judge too;
the same accepted set gives the same snapshot, byte for byte."""

from __future__ import annotations

import sqlite3
import threading

import numpy as np
import pytest
import torch

from bench.new_writers import sklearn_digits
from oekaki.core.paths import Paths
from oekaki.data import dataset, quarantine, screening, snapshot
from oekaki.data.contributions import Item, Store, image_sha, token_hash

BIG = 10**6


def stroke(label: int, shift: int = 0) -> np.ndarray:
    """A simple synthetic digit-like stroke, different per (label, shift)."""
    img = np.zeros((28, 28), np.uint8)
    img[6 + shift % 3 : 22, 12 + label % 4 : 15 + label % 4] = 255
    img[6, 10 : 18 + shift % 3] = 200 + label
    return img


@pytest.fixture
def store(tmp_path):
    return Store.of_project(None, tmp_path / "data" / "contributions" / "store.sqlite")


def test_sqlite_store_is_wal_and_syncs_on_commit_and_readers_take_no_write_lock(store, tmp_path):
    store.add("a" * 20, [Item(stroke(1), 1)], BIG, BIG)
    with store.engine.connect() as conn:
        dbapi = conn.connection.dbapi_connection
        assert dbapi.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert dbapi.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    # acknowledged = committed: a separate plain connection sees the row at once
    path = tmp_path / "data" / "contributions" / "store.sqlite"
    assert sqlite3.connect(path).execute("SELECT count(*) FROM contributions").fetchone()[0] == 1
    other = sqlite3.connect(path, timeout=0.1, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process writing: a snapshot's read must not wait for it
    try:
        assert len(store.export()["ids"]) == 1 and store.count() == 1
    finally:
        other.execute("ROLLBACK")


def test_the_token_is_stored_hashed_and_duplicates_from_one_token_once(store, tmp_path):
    img = stroke(3)
    first = store.add("tok-one-aaaaaaaaaaaa", [Item(img, 3), Item(img, 3)], BIG, BIG)
    assert [o.status for o in first] == [201, 409]
    again = store.add("tok-one-aaaaaaaaaaaa", [Item(img, 3)], BIG, BIG)
    assert again[0].status == 409 and "duplicate" in again[0].reason
    other = store.add("tok-two-bbbbbbbbbbbb", [Item(img, 3)], BIG, BIG)  # another person may teach the same image
    assert other[0].status == 201
    raw = sqlite3.connect(tmp_path / "data" / "contributions" / "store.sqlite").execute("SELECT token_sha FROM contributions").fetchall()
    assert {r[0] for r in raw} == {token_hash("tok-one-aaaaaaaaaaaa"), token_hash("tok-two-bbbbbbbbbbbb")}
    assert store.count() == 2


def test_rate_limits_per_token_and_in_all(store):
    out = store.add("t" * 20, [Item(stroke(i % 10, i), i % 10) for i in range(5)], per_token_hour=3, total_hour=BIG, now=1000.0)
    assert [o.status for o in out] == [201, 201, 201, 429, 429]
    assert "one contributor" in out[3].reason
    out = store.add("u" * 20, [Item(stroke(1, 9), 1), Item(stroke(2, 9), 2)], per_token_hour=BIG, total_hour=4, now=1001.0)
    assert [o.status for o in out] == [201, 429]
    later = store.add("t" * 20, [Item(stroke(5, 50), 5)], per_token_hour=3, total_hour=BIG, now=1000.0 + 3601)  # an hour on
    assert later[0].status == 201


def test_concurrent_writers_lose_nothing_and_store_each_image_once(store):
    """Eight threads, each with its own token, post overlapping batches at once: every acknowledged id is
    in the store exactly once, and each token holds each image once."""
    acked: list[int] = []
    lock = threading.Lock()

    def client(k: int) -> None:
        for _ in range(3):
            items = [Item(stroke(i % 10, i), i % 10) for i in range(k, k + 10)]
            out = store.add(f"client-{k:02d}-xxxxxxxxxx", items, BIG, BIG)
            with lock:
                acked.extend(o.id for o in out if o.status == 201)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = store.export()
    assert sorted(acked) == sorted(rows["ids"].tolist())
    assert len(acked) == 8 * 10  # the repeats were all duplicates
    pairs = {(who, sha) for who, sha in zip(rows["token_sha"].tolist(), rows["image_sha"].tolist(), strict=True)}
    assert len(pairs) == len(acked)


def test_erase_removes_only_the_givers_digits(store):
    mine = store.add("mine-aaaaaaaaaaaaaaaa", [Item(stroke(1), 1), Item(stroke(2), 2)], BIG, BIG)
    store.add("theirs-bbbbbbbbbbbbbb", [Item(stroke(3), 3)], BIG, BIG)
    assert [r["id"] for r in store.list("mine-aaaaaaaaaaaaaaaa")] == [o.id for o in mine]
    assert store.erase("theirs-bbbbbbbbbbbbbb", ids=[mine[0].id]) == 0  # not theirs to erase
    assert store.erase("mine-aaaaaaaaaaaaaaaa", ids=[mine[0].id]) == 1
    assert store.erase("mine-aaaaaaaaaaaaaaaa") == 1
    assert store.list("mine-aaaaaaaaaaaaaaaa") == [] and store.count() == 1


def test_the_door_refuses_noise_and_blanks_and_lets_digits_in():
    rng = np.random.default_rng(0)
    assert "mostly ink" in screening.screen(rng.integers(0, 256, (28, 28)).astype(np.uint8))
    assert "scattered" in screening.screen(((rng.random((28, 28)) < 0.1) * 255).astype(np.uint8))
    assert "blank" in screening.screen(np.zeros((28, 28), np.uint8))
    off = np.zeros((28, 28), np.uint8)
    off[0:12, 0:3] = 255
    assert "centred" in screening.screen(off)
    images, _ = sklearn_digits()  # new writers: none refused
    assert [screening.screen(img) for img in images[::7]] == [None] * len(images[::7])
    with pytest.raises(screening.Refused, match=r"labels: values from 0 to 10; expected 0-9"):
        screening.check_array(np.zeros((2, 28, 28), np.uint8), np.array([0, 10]))
    with pytest.raises(screening.Refused, match=r"shape \(2, 28, 27\)"):
        screening.check_array(np.zeros((2, 28, 27), np.uint8), np.array([0, 1]))
    with pytest.raises(screening.Refused, match="expected integers"):
        screening.check_array(np.full((1, 28, 28), 0.5), np.array([1]))


def rows_of(contributors, labels, judged, confidence, writers=None):
    n = len(labels)
    images = np.stack([stroke(i % 10, i) for i in range(n)])
    images[:, 20, 14], images[:, 21, 14] = np.arange(n) % 200 + 56, np.arange(n) // 200 + 56  # every row its own image
    return {
        "ids": np.arange(1, n + 1), "token_sha": np.array(contributors), "writer": np.array(writers or [""] * n),
        "images": images, "labels": np.array(labels), "judge_label": np.array(judged),
        "judge_confidence": np.array(confidence, np.float32), "image_sha": np.array([image_sha(i) for i in images]),
    }  # fmt: skip


def test_quarantine_needs_a_confident_judge_and_a_contributor_who_disagrees_with_it():
    # an honest new writer: the judge reads 6 of 10 right, and is sure of its 4 misreadings
    honest = (["h"] * 10, list(range(10)), [0, 1, 2, 3, 4, 5, 9, 9, 9, 9], [0.99] * 10)
    # a poisoner: 20 threes labelled 8, the judge reads 3 with confidence
    poison = (["p"] * 20, [8] * 20, [3] * 20, [0.99] * 20)
    # a poisoner with a fresh token per digit: each one's only reading contradicts it
    fresh = ([f"f{i}" for i in range(5)], [8] * 5, [3] * 5, [0.99] * 5)
    rows = rows_of(*(sum((list(part[k]) for part in (honest, poison, fresh)), []) for k in range(4)))
    arrays, manifest = quarantine.take(rows, 0.2, 0.95, 0.5)
    why = arrays["split"] == snapshot.QUARANTINE
    assert why[10:35].all() and not why[:10].any()
    assert manifest["counts"]["quarantine"] == 25 and "agrees with this contributor's labels" in manifest["quarantined"][0]["reason"]
    unsure = rows_of(["p"] * 4, [8] * 4, [3] * 4, [0.6] * 4)  # the judge is not sure: nothing quarantined
    assert (quarantine.take(unsure, 0.2, 0.95, 0.5)[0]["split"] != snapshot.QUARANTINE).all()
    trusted = rows_of(["t"] * 6, [0, 1, 2, 3, 4, 7], [0, 1, 2, 3, 4, 1], [0.99] * 6)  # agreed 5 times, then misread once
    assert (quarantine.take(trusted, 0.2, 0.95, 0.5)[0]["split"] != snapshot.QUARANTINE).all()


def test_held_out_by_writer_where_named_else_by_image_and_never_on_both_sides():
    writers = [f"w{i % 20}" for i in range(200)]
    named = rows_of(["one"] * 200, [i % 10 for i in range(200)], [-1] * 200, [0.0] * 200, writers)
    arrays, manifest = quarantine.take(named, 0.2, 0.95, 0.5)
    held = {int(c) for c, s in zip(arrays["contributor"], arrays["split"], strict=True) if s == snapshot.VALIDATION}
    trained = {int(c) for c, s in zip(arrays["contributor"], arrays["split"], strict=True) if s == snapshot.TRAIN}
    assert held and trained and not held & trained and manifest["writers"] == 20  # whole writers held out
    other = rows_of(["two"] * 200, [i % 10 for i in range(200)], [-1] * 200, [0.0] * 200, writers)  # the same ids, another token
    other["token_sha"] = np.array(["two"] * 200)
    both = {k: np.concatenate([named[k], other[k]]) for k in named}
    both["ids"] = np.arange(1, 401)
    assert quarantine.take(both, 0.2, 0.95, 0.5)[1]["writers"] == 40  # a writer id counts within its token
    plain = rows_of(["one"] * 200, [i % 10 for i in range(200)], [-1] * 200, [0.0] * 200)
    arrays, _ = quarantine.take(plain, 0.2, 0.95, 0.5)
    assert 20 < (arrays["split"] == snapshot.VALIDATION).sum() < 60  # by image
    grown = rows_of(["one"] * 200 + [f"t{i}" for i in range(50)], [i % 10 for i in range(250)], [-1] * 250, [0.0] * 250)
    assert np.array_equal(quarantine.take(grown, 0.2, 0.95, 0.5)[0]["split"][:200], arrays["split"])  # no digit changes sides
    dup = rows_of(["a"] * 60, [i % 10 for i in range(60)], [-1] * 60, [0.0] * 60)
    twice = {k: np.concatenate([dup[k], dup[k]]) for k in dup}  # the same 60 images from a second token
    twice["token_sha"] = np.array(["a"] * 60 + ["b"] * 60)
    twice["writer"] = np.array([""] * 60 + ["x"] * 60)  # named writers: split apart from the image rule
    twice["ids"] = np.arange(1, 121)
    arrays, _ = quarantine.take(twice, 0.5, 0.95, 0.5)
    sides = {}
    for sha, split in zip(twice["image_sha"].tolist(), arrays["split"].tolist(), strict=True):
        sides.setdefault(sha, set()).add(split)
    assert all(not {snapshot.TRAIN, snapshot.VALIDATION} <= s for s in sides.values())  # no image both trained on and held out


def test_the_same_accepted_set_gives_the_same_snapshot_bytes(store, tmp_path):
    items = [Item(stroke(i % 10, i), i % 10, i % 10, 0.9, "3") for i in range(30)]
    store.add("a" * 20, items, BIG, BIG)
    paths = [tmp_path / f"s{k}" / "contributions.npz" for k in range(2)]
    for p in paths:
        arrays, manifest = quarantine.take(store.export(), 0.2, 0.95, 0.5)
        assert snapshot.write(p, p.with_name("manifest.json"), arrays, manifest)
        assert not snapshot.write(p, p.with_name("manifest.json"), arrays, manifest)  # same digest: left as it is
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert snapshot.digest_of(paths[0]) == manifest["digest"] and manifest["newest_id"] == 30
    store.erase("a" * 20, ids=[5])
    arrays, changed = quarantine.take(store.export(), 0.2, 0.95, 0.5)
    assert changed["digest"] != manifest["digest"] and changed["n"] == 29


def test_training_data_merges_the_snapshot_once_weighted_and_holds_the_validation_out(tmp_path):
    paths = Paths(tmp_path)
    rng = np.random.default_rng(0)
    base = {f"{s}_images": rng.integers(0, 255, (n, 28, 28), dtype=np.uint8) for s, n in (("train", 50), ("validation", 10), ("test", 10))}
    base |= {f"{s}_labels": np.arange(n) % 10 for s, n in (("train", 50), ("validation", 10), ("test", 10))}
    paths.prepared.parent.mkdir(parents=True)
    np.savez(paths.prepared, **base)
    cpu = torch.device("cpu")
    plain = dataset.TensorData.load(paths.prepared, cpu)
    none = dataset.load_training(paths, cpu, weight=4)  # no snapshot file: the base data, its hash unchanged
    assert none.sha256 == plain.sha256 and len(none.train_y) == 50 and none.n_contributed == 0
    rows = rows_of(["a"] * 30, [i % 10 for i in range(30)], [-1] * 30, [0.0] * 30)
    arrays, manifest = quarantine.take(rows, 0.2, 0.95, 0.5)
    snapshot.write(paths.contributions_snapshot, paths.contributions_manifest, arrays, manifest)
    merged = dataset.load_training(paths, cpu, weight=4)
    n_train = manifest["counts"]["train"]
    assert merged.n_contributed == n_train and len(merged.train_y) == 50 + 4 * n_train
    assert len(merged.contrib_val_y) == manifest["counts"]["validation"] > 0
    assert merged.sha256 != plain.sha256 and merged.n_base_train == 50
    held = {bytes(x) for x in merged.contrib_val_x.numpy()}
    assert not held & {bytes(x) for x in merged.train_x[50:].numpy()}  # never trained on


def test_a_clone_without_the_store_keeps_the_pulled_snapshot_or_says_how_to_get_it(tmp_path):
    from oekaki.core.config import load_config
    from oekaki.core.errors import MissingInputError
    from oekaki.core.paths import project_paths
    from oekaki.stages.contributions.stage import take

    cfg = load_config(project_paths().params)
    here = Paths(tmp_path / "with-store")
    Store.of_project(None, here.contributions_store).add("a" * 20, [Item(stroke(i % 10, i), i % 10) for i in range(12)], BIG, BIG)
    made = take(cfg, here)
    clone = Paths(tmp_path / "clone")  # git brought the manifest, no store, no snapshot yet
    clone.contributions_manifest.parent.mkdir(parents=True)
    clone.contributions_manifest.write_bytes(here.contributions_manifest.read_bytes())
    with pytest.raises(MissingInputError, match=r"records 12 contributed digits .* `dvc pull data/snapshot/contributions.npz`"):
        take(cfg, clone)
    clone.contributions_snapshot.write_bytes(here.contributions_snapshot.read_bytes())  # what `dvc pull` brings
    assert take(cfg, clone)["digest"] == made["digest"]
    assert clone.contributions_snapshot.read_bytes() == here.contributions_snapshot.read_bytes()
    assert not clone.contributions_store.exists()  # a read never creates a store
