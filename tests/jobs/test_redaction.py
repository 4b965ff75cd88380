"""Absolute paths never leave the server in an error message; URLs and names stay readable."""

import pytest

from core.redaction import redact_paths


@pytest.mark.parametrize(("text", "expected"), [
    ("/srv/dcgan/runs/job1/models/step_0000002/model.safetensors: weights do not match",
     "model.safetensors: weights do not match"),
    ("could not write checkpoint /data/runs/j/checkpoints/step_0000004.pt (No space left)",
     "could not write checkpoint step_0000004.pt (No space left)"),
    ("[Errno 2] No such file or directory: '/tmp/.dcgan-model-x1/0/config.json'",
     "[Errno 2] No such file or directory: 'config.json'"),
    ("redis://127.0.0.1:6379/0 is unreachable", "redis://127.0.0.1:6379/0 is unreachable"),
    ("s3://bucket/models/job/step is missing", "s3://bucket/models/job/step is missing"),
    ("job/models/step_0000002/config.json: unreadable", "job/models/step_0000002/config.json: "
     "unreadable"),
    ("ratio 3/4 of runs", "ratio 3/4 of runs"),
    ("/etc", "/etc"),
])
def test_absolute_paths_lose_their_folders(text, expected):
    assert redact_paths(text) == expected
