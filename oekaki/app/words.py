"""The page's words, handed to static/app.js by /api/info: read from the catalogs oekaki/locales/<lang>.yaml.

The page's own words are the catalog's `app_` keys; the few it shares with the report (its title,
the language switch, the painters' names, the MLflow run column) are named below. The page fills
`{name}` fields itself.
"""

from __future__ import annotations

from oekaki.app.service import painter_names
from oekaki.core.locales import LANGUAGES, catalog

APP_PREFIX = "app_"


def report_keys() -> tuple[str, ...]:
    """The report's keys the page shows too: its title, the language switch, the MLflow run column, each painter's name."""
    return ("title", "other_language", "col_run", *(f"row_{name}" for name in painter_names()))


def page_words() -> dict[str, dict[str, str]]:
    """lang -> key -> text, for the page: the catalog's `app_` keys and the report's keys the page shows."""
    shared = set(report_keys())
    return {lang: {k: v for k, v in catalog(lang).items() if k.startswith(APP_PREFIX) or k in shared} for lang in LANGUAGES}
