"""S3 by configuration (issue 36): the same DVC remote commands docs/pipeline.md gives, pointed at a local
S3-compatible server (moto's, on 127.0.0.1), carry the contributions snapshot from one clone to another.

Only `--local` settings (.dvc/config.local, ignored by git) and environment variables are used: the committed
config keeps its default folder remote, and no credential lands in a tracked file. The credentials are fake.
"""

from __future__ import annotations

import importlib.util
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from oekaki.core.paths import Paths
from tests.conftest import need, tool_env
from tests.test_dvc_remote import SNAPSHOT, assert_same_snapshot, dvc, snapshot_clone, stored_files

BUCKET, PREFIX = "oekaki-test", "dvc"
FAKE_KEY, FAKE_SECRET = "AKIAOEKAKITESTFAKE", "fake-secret-for-a-local-s3-server"


@pytest.fixture
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server in a thread on 127.0.0.1 (a free port the OS picks), with an empty bucket."""
    for package in ("moto", "dvc_s3", "boto3"):
        need(package, importlib.util.find_spec(package) is not None, "run `make venv`: requirements.txt pins dvc-s3 and moto[server]")
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        s3 = boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id=FAKE_KEY, aws_secret_access_key=FAKE_SECRET)
        s3.create_bucket(Bucket=BUCKET)
        yield url
    finally:
        server.stop()


def s3_env(tmp: Path) -> dict[str, str]:
    """The credentials in the environment, as a deployment's secrets would be; no AWS config file is read."""
    return {
        "AWS_ACCESS_KEY_ID": FAKE_KEY,
        "AWS_SECRET_ACCESS_KEY": FAKE_SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def point_at_s3(root: Path, tmp: Path, endpoint: str) -> None:
    """docs/pipeline.md's commands, for this checkout only."""
    dvc(root, tmp, "remote", "add", "--local", "s3-store", f"s3://{BUCKET}/{PREFIX}")
    dvc(root, tmp, "remote", "modify", "--local", "s3-store", "endpointurl", endpoint)
    dvc(root, tmp, "remote", "default", "--local", "s3-store")


def bucket_keys(endpoint: str) -> list[str]:
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id=FAKE_KEY, aws_secret_access_key=FAKE_SECRET)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=PREFIX + "/")
    return [obj["Key"] for page in pages for obj in page.get("Contents", [])]


@pytest.mark.slow
def test_the_snapshot_travels_through_an_s3_remote_set_by_local_configuration(tmp_path, monkeypatch, s3_endpoint):
    from oekaki.pipeline import dvc_ops

    first = snapshot_clone(tmp_path)
    committed = (first / ".dvc" / "config").read_text()
    env = {**tool_env(tmp_path), **s3_env(tmp_path)}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    point_at_s3(first, tmp_path, s3_endpoint)

    assert dvc_ops.push_if_remote(Paths(first)) is True  # the retraining flow's push, now to S3

    assert any(key.startswith(f"{PREFIX}/files/md5/") for key in bucket_keys(s3_endpoint))
    assert not stored_files(tmp_path / "oekaki-dvc-remote")  # nothing went to the committed default folder
    assert (first / ".dvc" / "config").read_text() == committed
    tracked = subprocess.run(["git", "status", "--porcelain"], cwd=first, capture_output=True, text=True, check=True).stdout
    assert tracked == ""  # .dvc/config.local is ignored by git
    assert FAKE_SECRET not in (first / ".dvc" / "config.local").read_text()  # the secret stayed in the environment

    second = tmp_path / "b"
    subprocess.run(["git", "clone", "-q", str(first), str(second)], env=env, check=True, capture_output=True)
    point_at_s3(second, tmp_path, s3_endpoint)  # .dvc/config.local does not travel with a clone
    dvc(second, tmp_path, "pull", SNAPSHOT)
    assert_same_snapshot(first, second)
