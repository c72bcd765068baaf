"""pyproject's warning filters: the project's own deprecated calls fail, only named third-party ones are ignored."""

from __future__ import annotations

import warnings

import pytest


def warn_from(module: str, message: str, category: type[Warning] = DeprecationWarning) -> None:
    """A warning attributed to `module`, as Python attributes a library's warning to the caller it names."""
    warnings.warn_explicit(message, category, filename=f"{module.replace('.', '/')}.py", lineno=1, module=module)


@pytest.mark.parametrize("module", ["oekaki.pipeline.runner", "flows.pipeline", "tasks.stages", "bench.common", "test_lock", "conftest"])
@pytest.mark.parametrize("category", [DeprecationWarning, PendingDeprecationWarning])
def test_a_deprecated_call_in_the_projects_code_fails_the_test(module, category):
    with pytest.raises(category, match="old API"):
        warn_from(module, "old API is deprecated", category)


def test_third_party_deprecations_are_shown_unless_named():
    with warnings.catch_warnings(record=True) as caught:
        warn_from("somelib.core", "somelib's own old API is deprecated")
        warn_from("oekakix.core", "a package whose name only starts like ours")
    assert [str(w.message) for w in caught] == ["somelib's own old API is deprecated", "a package whose name only starts like ours"]


def test_the_named_third_party_deprecation_is_ignored():
    with warnings.catch_warnings(record=True) as caught:
        warn_from("mlflow.store.tracking.sqlalchemy_store", "The ``noload`` loader strategy is deprecated and will be removed")
    assert caught == []
