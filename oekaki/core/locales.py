"""The project's words, one catalog per language: oekaki/locales/<lang>.yaml, read by the report and the app alike.

A catalog maps a key to its text; `{name}` fields (Python format syntax, `{n:,}`) are filled by the
caller. Code names a message by its key, never by an `if lang == ...`; tests/test_locales.py checks
that every language has every key with the same fields, and that every key is used.
"""

from __future__ import annotations

import functools
from pathlib import Path

import yaml

LANGUAGES = ("en", "ja")
LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"


def catalog_path(lang: str) -> Path:
    """Where `lang`'s catalog lives (oekaki/locales/<lang>.yaml)."""
    if lang not in LANGUAGES:
        raise ValueError(f"unknown language {lang!r}; languages: {', '.join(LANGUAGES)}")
    return LOCALES_DIR / f"{lang}.yaml"


@functools.cache
def catalog(lang: str) -> dict[str, str]:
    """Every key of `lang`'s catalog and its text, in the file's order (read once per process)."""
    path = catalog_path(lang)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"{path}: not valid YAML ({e}); quote a text that holds ': ' or starts with '{{'") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a catalog is a mapping of keys to texts, found a {type(data).__name__}")
    for key, value in data.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ValueError(
                f"{path}: key {key!r} -> {value!r} is not text; quote both (YAML reads bare on/off/yes/no/numbers as other types)"
            )
    return data


def text(key: str, lang: str, **fields: object) -> str:
    """The text of `key` in `lang`, its `{name}` fields filled from `fields` (none given: the raw text)."""
    try:
        raw = catalog(lang)[key]
    except KeyError:
        raise KeyError(f"{catalog_path(lang)}: no key {key!r}; add it to every language's catalog") from None
    if not fields:
        return raw
    try:
        return raw.format(**fields)
    except KeyError as e:
        raise KeyError(f"{catalog_path(lang)}: {key!r} needs the field {e.args[0]!r}, which the caller did not give") from None
