"""The word catalogs oekaki/locales/<lang>.yaml: every language has every key with the same fields, and the code
names only keys that exist and uses every key there is.

The code is read as text (Python, Jinja2 templates, the app's page and script): a key is named as a
quoted literal (`t("h_cnn")`, `text("cell_na", lang)`, `data-t="app_h_draw"`, `word("app_error")`) or
built from a quoted prefix (`"prior_" ~ prior`, `f"row_{name}"`). Rendering the report and the app in
both languages (test_report.py, test_app.py) checks the same at run time.
"""

from __future__ import annotations

import re
import string

import pytest

from oekaki.core import locales
from oekaki.core.locales import LANGUAGES, catalog, text
from oekaki.core.paths import PROJECT_ROOT
from oekaki.stages.report.tables import GENERATOR_ROWS

CODE = sorted(p for ext in ("py", "j2", "js", "html") for p in (PROJECT_ROOT / "oekaki").rglob(f"*.{ext}"))
JAPANESE = re.compile(r"[\u3000-\u30ff\u4e00-\u9fff\uff00-\uffef]")  # CJK punctuation, kana, kanji, full-width forms
KEPT = {"col_is": "a metric's name", "other_language": "the link to the English page, in English"}

LITERAL = re.compile(r"""["'`]([a-z][a-z0-9_]*)["'`]""")
KEY = r"""["'`]([a-z][a-z0-9_]*)["'`](?! ~)"""  # a quoted key, not a prefix joined to a variable
NAMED = {  # (files, pattern): where the code names a key; each must still find one, so a renamed call cannot hide keys
    "text()/words() in Python": ("py", re.compile(rf"\b(?:text|words)\(\s*{KEY}")),
    "t() in templates": ("j2", re.compile(rf"\bt\(\s*{KEY}")),
    "a t() choice": ("j2", re.compile(rf"\bt\({KEY} if [^()]* else {KEY}\)")),
    "fig() caption": ("j2", re.compile(rf"\bfig\(\"\w+\", \"[^\"]+\", {KEY}")),
    "section heading": ("py", re.compile(rf"\bSection\(\"[^\"]+\", {KEY}")),
    "table column": ("py", re.compile(rf"\(\"\w+\", {KEY}, \"\{{")),
    "word() in the app": ("js", re.compile(rf"\bword\(\s*{KEY}")),
    "setText/status": ("js", re.compile(rf"\b(?:setText|status)\([^,\n]+,\s*(?:[^,?\n]+\?\s*{KEY}\s*:\s*)?{KEY}")),
    "data-t": ("html", re.compile(r'data-t="([a-z][a-z0-9_]*)"')),
}
GOAL = re.compile(rf"\bgoal\({KEY}")  # generation.html.j2's macro: the key's _met or _missed text
PREFIX = {  # (files, pattern): a key built from a quoted prefix and a variable
    "j2": re.compile(r"\bt\(\s*\"([a-z][a-z0-9_]*_)\" ~"),  # t("prior_" ~ prior)
    "py": re.compile(r"\b(?:text|words)\(\s*f[\"']([a-z][a-z0-9_]*_)\{"),  # text(f"row_{name}", lang)
    "js": re.compile(r"\bkey = `([a-z][a-z0-9_]*_)\$\{"),  # painterName: const key = `row_${name}`
}


def fields(s: str) -> set[str]:
    """The `{name}` fields of a text (without their format specs)."""
    return {name for _, name, _, _ in string.Formatter().parse(s) if name is not None}


def code_text(ext: str | None = None) -> str:
    """The code's text: every file, or those named *.<ext>."""
    return "\n".join(p.read_text(encoding="utf-8") for p in CODE if ext is None or p.suffix == f".{ext}")


def prefixes() -> set[str]:
    """The prefixes the code joins to a variable to name a key."""
    return {p for ext, rx in PREFIX.items() for p in rx.findall(code_text(ext))}


def named_keys() -> dict[str, set[str]]:
    """pattern name -> the keys it finds named in the code."""
    return {name: {k for m in rx.finditer(code_text(ext)) for k in m.groups() if k} for name, (ext, rx) in NAMED.items()}


def test_every_language_has_every_key_with_the_same_fields():
    en = catalog("en")
    for lang in LANGUAGES:
        cat = catalog(lang)
        assert list(cat) == list(en), f"{lang}.yaml: keys differ from en.yaml: {sorted(set(cat) ^ set(en))}"
        for key, value in cat.items():
            assert value.strip(), f"{lang}.yaml: {key} is empty"
            assert fields(value) == fields(en[key]), f"{lang}.yaml: {key} has fields {fields(value)}, en.yaml {fields(en[key])}"


def test_the_japanese_catalog_is_japanese():
    """Every Japanese text has Japanese in it, except acronyms and symbols (FID ↓, VAE) and the names kept on purpose."""
    untranslated = [
        key
        for key, value in catalog("ja").items()
        if key not in KEPT and not JAPANESE.search(value) and re.search(r"[a-z]{2,}", re.sub(r"\{[^}]*\}", "", value))
    ]
    assert not untranslated, f"ja.yaml: texts with no Japanese: {untranslated}"


def test_every_key_the_code_names_exists():
    code = code_text()
    found = named_keys()
    assert all(found.values()), f"patterns that no longer find a key: {[n for n, ks in found.items() if not ks]}"
    keys = set(catalog("en"))
    wanted = set().union(*found.values())
    wanted |= {f"{k}_{end}" for k in GOAL.findall(code) for end in ("met", "missed")}
    wanted |= {f"row_{name}" for name in GENERATOR_ROWS}  # tables.py: text(f"row_{name}", lang)
    missing = sorted(wanted - keys)
    assert not missing, f"keys the code names that no catalog has: {missing}"
    built = prefixes()
    assert len(built) >= len(PREFIX) and all(any(k.startswith(p) for k in keys) for p in built), built


def test_every_key_is_used():
    code = code_text()
    literals = set(LITERAL.findall(code))
    goals = set(GOAL.findall(code))
    built = prefixes()
    unused = [
        key
        for key in catalog("en")
        if key not in literals and key.rsplit("_", 1)[0] not in goals and not any(key.startswith(p) for p in built)
    ]
    assert not unused, f"keys no code names (delete them from every catalog): {unused}"


def test_text_fills_fields_and_names_what_is_wrong(tmp_path, monkeypatch):
    assert text("prov_rows", "en", n_train=1234, n_test=5) == catalog("en")["prov_rows"].format(n_train=1234, n_test=5)
    assert "1,234" in text("prov_rows", "en", n_train=1234, n_test=5)
    with pytest.raises(KeyError, match=r"en\.yaml: no key 'no_such_key'"):
        text("no_such_key", "en")
    with pytest.raises(KeyError, match=r"'prov_rows' needs the field 'n_test'"):
        text("prov_rows", "en", n_train=1)
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        catalog("fr")
    monkeypatch.setattr(locales, "LOCALES_DIR", tmp_path)
    locales.catalog.cache_clear()
    try:
        (tmp_path / "en.yaml").write_text("on: on\n")  # YAML 1.1 reads bare on as true
        with pytest.raises(ValueError, match=r"en\.yaml: key True -> True is not text; quote both"):
            catalog("en")
        locales.catalog.cache_clear()
        (tmp_path / "en.yaml").write_text("a: b: c\n")
        with pytest.raises(ValueError, match=r"en\.yaml: not valid YAML"):
            catalog("en")
    finally:
        locales.catalog.cache_clear()


def test_a_stage_that_reads_the_catalogs_depends_on_them():
    """dvc.yaml's code deps (oekaki/pipeline/code_deps.py) list every catalog for each stage that reaches the loader,
    so an edited word re-runs the report, and for no other stage."""
    from oekaki.pipeline import code_deps

    catalogs = {f"oekaki/locales/{lang}.yaml" for lang in LANGUAGES}
    graph = code_deps.import_graph(PROJECT_ROOT)
    stages = [p.name for p in (PROJECT_ROOT / "oekaki" / "stages").iterdir() if (p / "stage.py").is_file()]
    for stage in stages:
        deps = set(code_deps.stage_code_deps(PROJECT_ROOT, stage, graph))
        reads = "oekaki.core.locales" in code_deps.closure(graph, f"oekaki.stages.{stage}.stage")
        assert (catalogs <= deps) == reads and (catalogs & deps == set()) == (not reads), stage
    assert catalogs <= set(code_deps.stage_code_deps(PROJECT_ROOT, "report", graph))
