"""The flow's secrets, read at run time: never stored in a deployment.

MLFLOW_TRACKING_URI (it may carry a password) and OEKAKI_ALERT_WEBHOOK (a webhook URL is a
bearer secret) must not be templated into a deployment's `job_variables`: Prefect stores those
values in the deployment, and its API and UI show them. Instead, each flow run reads them:

1. from its own environment: a process worker (`prefect worker start --pool oekaki-process`,
   what `make serve` runs) starts each flow run with the worker's environment, so exporting
   them where the worker starts is enough;
2. else from a Prefect Secret block (`oekaki-mlflow-tracking-uri`, `oekaki-alert-webhook`),
   loaded only for a name the environment lacks: the way into a docker (or kubernetes)
   container, which does not inherit the worker's environment. A Secret block's value is
   stored obfuscated; the API and the UI show `********`.

With OEKAKI_REQUIRE_SECRETS=true (prefect.docker.yaml sets it: a flag, not a value) a name
found in neither place fails the flow run at once, naming both; otherwise it stays unset
(the project's own SQLite store; no alert).
"""

from __future__ import annotations

import os
from collections.abc import Callable, MutableMapping

from oekaki.core.errors import ConfigError

SECRETS = {"MLFLOW_TRACKING_URI": "oekaki-mlflow-tracking-uri", "OEKAKI_ALERT_WEBHOOK": "oekaki-alert-webhook"}
REQUIRE_ENV = "OEKAKI_REQUIRE_SECRETS"


class MissingSecret(ConfigError):
    """A secret the deployment requires is neither in the environment nor in its Secret block."""


def load_secret_block(name: str) -> str | None:
    """The value of Prefect Secret block `name`, or None when there is no such block."""
    from prefect.blocks.system import Secret

    try:
        block = Secret.load(name)
    except ValueError as exc:  # Prefect: "Unable to find block document named ..."
        if "Unable to find block document" in str(exc):
            return None
        raise
    value = block.get()
    return None if value is None else str(value)


def resolve(environ: MutableMapping[str, str] | None = None, load: Callable[[str], str | None] = load_secret_block) -> dict[str, str]:
    """Fill each secret the environment lacks from its Secret block; name -> where it came from.

    Values go into `environ` (this process's environment by default), where the stages, the
    DVC and MLflow calls and the failure hook read them; nothing is logged but the source.
    """
    environ = os.environ if environ is None else environ
    required = environ.get(REQUIRE_ENV, "").strip().lower() in ("1", "true", "yes")
    found: dict[str, str] = {}
    missing = []
    for env_name, block in SECRETS.items():
        if environ.get(env_name):
            found[env_name] = "environment"
            continue
        value = load(block)
        if value:
            environ[env_name] = value
            found[env_name] = f"Secret block {block!r}"
        elif required:
            missing.append(f"{env_name} (environment) or Secret block {block!r}")
    if missing:
        raise MissingSecret(
            f"{REQUIRE_ENV} is set but these secrets are missing: {'; '.join(missing)}. Export the variable where "
            "the worker runs (process pool), or create the block once: "
            "python -c \"from prefect.blocks.system import Secret; Secret(value='<value>').save('<block name>')\""
        )
    return found
