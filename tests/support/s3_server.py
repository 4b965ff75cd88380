"""S3 buckets for tests, on one moto server per test session (``bench.s3_server``).

Import the fixtures into a test module (``from tests.support.s3_server import s3_bucket``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from bench.s3_server import REGION, moto_server

__all__ = ["REGION", "moto_server", "s3_bucket", "s3_endpoint"]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """One moto server for the whole test session (each test gets its own bucket)."""
    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh, empty bucket on the test server, with the AWS variables pointing at it."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    import boto3  # installed with moto[server]

    boto3.client("s3", endpoint_url=s3_endpoint, region_name=REGION).create_bucket(Bucket=bucket)
    return bucket
