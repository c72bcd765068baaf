"""Failure alerts: a failed or crashed pipeline run POSTs a small JSON message to a webhook.

The URL comes from the environment (OEKAKI_ALERT_WEBHOOK), never from params.yaml or git,
since webhook URLs are secrets. Slack, Teams, Discord and most chat tools accept a JSON
POST with a `text` field; the other fields are for machines. Unset = no alert.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request

ENV = "OEKAKI_ALERT_WEBHOOK"
log = logging.getLogger("oekaki.alerts")


def message(flow_name: str, flow_run, state) -> dict:
    run_name, run_id = getattr(flow_run, "name", "?"), str(getattr(flow_run, "id", "?"))
    state_name = getattr(state, "name", str(state))
    detail = getattr(state, "message", "") or ""
    return {
        "text": f"oekaki: flow run {run_name} of {flow_name} ended {state_name}: {detail}"[:2000],
        "flow": flow_name,
        "flow_run_id": run_id,
        "flow_run_name": run_name,
        "state": state_name,
        "message": detail[:4000],
    }


def notify(flow_name: str, flow_run, state, timeout_s: float = 10.0) -> bool:
    """POST the alert; True when the webhook answered 2xx. Never raises (an alert must not mask the failure)."""
    url = os.environ.get(ENV)
    if not url:
        return False
    body = json.dumps(message(flow_name, flow_run, state)).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            return 200 <= resp.status < 300
    except OSError as exc:
        log.error("failure alert to %s could not be delivered: %s", ENV, exc)
        return False
