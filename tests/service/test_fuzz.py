"""Property-based fuzzing of every operation in the API's own OpenAPI schema (schemathesis).

The app runs in-process (lifespan included) on tmp folders, the real Redis (a queue of the
module's own), a real tiny checkpoint and an API token. Schemathesis generates valid and
invalid requests for every operation (its examples, coverage and fuzzing phases, positive
and negative data). Besides its built-in checks (documented status codes, content types and
headers, bodies that match their schemas, invalid data rejected, valid data accepted, auth
enforced, ``Allow`` on 405s) every response must be below 500 and every 4xx must be JSON
with a non-empty string ``detail``.

``EXAMPLES_PER_OPERATION`` (100) per parametrised operation, derandomised: the same requests
every run (those without parameters have few distinct inputs). ``FUZZ_EXAMPLES=1000 pytest
tests/service/test_fuzz.py`` fuzzes deeper, as before a release.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import Counter
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError
from schemathesis.python.asgi import shutdown_lifespans

from core.database import make_engine
from jobs.bootstrap import prepare_shared_state
from jobs.job_store import JobStore
from jobs.progress import JobProgress
from jobs.states import JobState
from service.app import create_app
from service.routes.model_import import ARCHIVE_TYPES
from service.schemas import PinRequest
from service.settings import ServiceSettings
from tests.service.conftest import make_settings, train_run

log = logging.getLogger(__name__)

TOKEN = "fuzz-token-0123456789"
EXAMPLES_PER_OPERATION = int(os.environ.get("FUZZ_EXAMPLES", "100"))
JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                           HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)

Tally = Counter[tuple[str, int]]  # (operation label, status) -> responses


class AppUnderTest:
    """The ASGI app schemathesis calls; it forwards to the app the module fixture builds.

    The schema is needed when the tests are collected, the app (tmp folders, a trained
    checkpoint) only once they run.
    """

    def __init__(self) -> None:
        self.app: Any = None
        self.known_jobs: list[str] = []  # ids of job records that exist, for path parameters

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert self.app is not None, "the fuzz_app fixture has not built the app yet"
        await self.app(scope, receive, send)


APP = AppUnderTest()
# The schema depends on the settings only through the token (the bearer scheme is declared
# when one is enforced): defaults and the token, without reading the environment.
OPENAPI = create_app(ServiceSettings.model_construct(api_token=SecretStr(TOKEN))).openapi()


def load_schema(token: str | None, examples: bool = True) -> Any:
    config: dict[str, Any] = {
        "seed": 20240,
        "generation": {"deterministic": True, "database": "none"},
        # the schema's own examples (a job like the quick start) are requests like any other
        "phases": {"examples": {"enabled": examples}},
    }
    if token is not None:
        config["auth"] = {"openapi": {"HTTPBearer": {"bearer": token}}}
    loaded = schemathesis.openapi.from_dict(OPENAPI, config=schemathesis.Config.from_dict(config))
    loaded.app = APP  # requests go in-process, through schemathesis's ASGI transport
    return loaded


@pytest.fixture(scope="module")
def tally() -> Tally:
    return Counter()


@pytest.fixture(scope="module", autouse=True)
def fuzz_app(tmp_path_factory, mnist_small):
    root = tmp_path_factory.mktemp("fuzz")
    app_settings = make_settings(root, DCGAN_API_TOKEN=TOKEN, DCGAN_MAX_ACTIVE_JOBS=8)
    prepare_shared_state(app_settings)
    store = JobStore(make_engine(app_settings.database_url))
    # a finished job whose run holds a real tiny final checkpoint (served at start-up) ...
    done = store.submit({"iterations": 2}, 2, app_settings.queue, 100)
    train_run(app_settings, done.id, mnist_small)
    assert store.claim(done.id, "fuzz", lease_seconds=60, max_deliveries=3).run
    store.finish(done.id, "fuzz", JobState.SUCCEEDED,
                 progress=JobProgress(step=2, checkpoint_step=2))
    # ... a queued one, which the first cancel cancels, and a cancelled one, which the first
    # DELETE deletes
    queued = store.submit({"iterations": 5}, 5, app_settings.queue, 100)
    cancelled = store.submit({"iterations": 5}, 5, app_settings.queue, 100)
    store.request_cancel(cancelled.id)
    app = create_app(app_settings)
    assert app.openapi() == OPENAPI
    APP.app, APP.known_jobs = app, [done.id, queued.id, cancelled.id]
    try:
        yield app
    finally:
        shutdown_lifespans()  # schemathesis starts the app's lifespan on the first request
        APP.app, APP.known_jobs = None, []


# the event streams run until their job ends or for ever (every job's): schemathesis reads a
# response whole, so tests/service/test_events.py drives them instead
schema = load_schema(TOKEN).exclude(path_regex=r"/events$")


@schema.hook
def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> Any:
    """Now and then, a job id that exists instead of a random (well-formed) one."""
    job_id = (path_parameters or {}).get("job_id")
    if not isinstance(job_id, str) or not JOB_ID.fullmatch(job_id):
        return st.just(path_parameters)
    return st.sampled_from([job_id, *APP.known_jobs]).map(
        lambda chosen: {**path_parameters, "job_id": chosen}
    )


@schema.hook
def flatmap_query(context: Any, query: dict[str, Any] | None) -> Any:
    """Now and then, a model that exists (``JOB`` or ``JOB:STEP``) or one that does not (for
    /compare, in a list)."""
    key = "models" if context.operation.label == "GET /compare" else "model"
    model = (query or {}).get(key)
    if query is None or not isinstance(model, str) or not APP.known_jobs:
        return st.just(query)
    done = APP.known_jobs[0]
    choices = [model, done, f"{done}:2", f"{done}:7"]
    if key == "models":
        choices += [f"{done}:2,{done}", f"{done}, {done}:2,{model}"]
    return st.sampled_from(choices).map(lambda chosen: {**query, key: chosen})


@schema.hook
def flatmap_body(context: Any, body: Any) -> Any:
    """Now and then, a pin of the model that exists (only in place of a valid body: an invalid
    one must stay invalid)."""
    if context.operation.label != "PUT /serving/pin" or not APP.known_jobs:
        return st.just(body)
    try:
        PinRequest.model_validate(body)
    except ValidationError:
        return st.just(body)
    done = APP.known_jobs[0]
    return st.sampled_from([body, {**body, "model": f"{done}:2"}])


def header(response: schemathesis.Response, name: str) -> str | None:
    values = response.headers.get(name.lower())  # lower-case names, lists of values
    return values[0] if values else None


def assert_problem_json(response: schemathesis.Response) -> None:
    """Every 4xx is ``{"detail": "<non-empty text>", ...}`` served as JSON."""
    content_type = header(response, "content-type") or ""
    assert content_type.startswith("application/json"), (
        response.status_code, content_type, response.text[:200]
    )
    body = response.json()
    assert isinstance(body, dict), body
    detail = body.get("detail")
    assert isinstance(detail, str) and detail.strip(), body


def record(tally: Tally, case: schemathesis.Case, status: int, prefix: str = "") -> None:
    tally[(prefix + case.operation.label, status)] += 1


def sends_a_digit(case: schemathesis.Case, response: schemathesis.Response) -> bool:
    sent = parse_qs(urlsplit(response.request.url).query)
    return (
        case.operation.label in ("GET /generate", "GET /interpolate", "GET /compare")
        and response.request.method == "GET"  # not an unsupported-method probe
        and "digit" in sent
    )


def names_models(case: schemathesis.Case, response: schemathesis.Response) -> bool:
    """/compare's list is a string in the schema, POST /models's body any bytes and a sweep's
    parameters any names: what they name or hold is checked in words (a 422)."""
    return (case.operation.label, response.request.method) in (
        ("GET /compare", "GET"), ("POST /models", "POST"), ("POST /sweeps", "POST"))


def unjudged_when_oversized(response: schemathesis.Response) -> list[Any]:
    """A body over the route's bound is refused (413) before it is read: whether it was
    schema-valid is not judged. A sweep's base and variants are any JSON objects, so the
    fuzzer makes valid and invalid ones alike that large."""
    if response.status_code != 413:
        return []
    sent = response.request.body or b""
    assert len(sent) > APP.app.state.settings.max_body_bytes, len(sent)
    return [schemathesis.checks.positive_data_acceptance,
            schemathesis.checks.negative_data_rejection]


@schemathesis.serializer(*ARCHIVE_TYPES)
def archive_bytes(context: Any, value: Any) -> dict[str, Any]:
    """POST /models's body: the bytes as they are (an archive, or what pretends to be one)."""
    return {"data": value if isinstance(value, bytes) else str(value).encode()}


@schema.parametrize()
@FUZZ_SETTINGS
def test_every_operation_with_the_token(case, tally):
    response = case.call()
    record(tally, case, response.status_code)
    if sends_a_digit(case, response) or names_models(case, response):
        # `digit` is schema-valid, but the tiny model is unconditional, and /compare's string
        # may name no model: the API refuses them with a 422 that says so (by design), which
        # schemathesis counts as valid data rejected
        case.validate_response(response, excluded_checks=[
            schemathesis.checks.positive_data_acceptance, *unjudged_when_oversized(response)])
        if sends_a_digit(case, response):
            assert response.status_code in (404, 422), (response.request.url,
                                                        response.status_code)
        if response.status_code == 422 and case.meta.generation.mode.is_positive:
            said = response.json()["detail"]
            assert any(words in said for words in (
                "is not conditional", "models: ", "not an exported model", "not a job parameter",
                "member ", "at least one value", "at most", "random range", "random choices",
            )), said
    else:
        case.validate_response(response, excluded_checks=unjudged_when_oversized(response))
    assert response.status_code < 500, response.text_lossy[:500]
    if 400 <= response.status_code < 500:
        assert_problem_json(response)
    if response.status_code in (401, 403):  # only where the negative phase dropped the token
        assert response.request.headers.get("Authorization") != f"Bearer {TOKEN}"


# (without the examples phase: @given draws the credentials for every request)
anonymous = load_schema(None, examples=False).include(method=["POST", "PUT", "DELETE"])

# what a client without the token sends: nothing, another scheme, an empty or a wrong token
CREDENTIALS = st.sampled_from([
    None, "Basic dXNlcjpwYXNz", "Bearer", "Bearer ", f"Token {TOKEN}", "Bearer wrong",
    f"Bearer {TOKEN}x", f"bearer {TOKEN[:-1]}",
])


def is_json(body: bytes | str | None) -> bool:
    try:
        json.loads(body or b"null")
    except ValueError:
        return False
    return True


@anonymous.parametrize()
@anonymous.given(credentials=CREDENTIALS)
@FUZZ_SETTINGS
def test_state_changes_without_the_token_are_refused(case, credentials, tally):
    headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    if credentials is not None:
        headers["Authorization"] = credentials
    case.headers = headers
    response = case.call()
    case.validate_response(response, excluded_checks=unjudged_when_oversized(response))
    record(tally, case, response.status_code, prefix="anonymous ")
    assert_problem_json(response)
    if response.status_code == 413:  # before the token is read
        return
    sent = response.request.body
    if response.status_code == 422 and {
            e["type"] for e in response.json()["errors"]} == {"repeated_parameter"}:
        return  # a query parameter given twice is refused before the token is looked at
    if response.status_code in (400, 422):
        # FastAPI decodes a JSON body before any dependency runs, so a body that is not JSON
        # (422) or not even UTF-8 (400) is answered before the token is looked at
        assert not is_json(sent), (sent, response.text)
        if response.status_code == 422:
            assert {e["type"] for e in response.json()["errors"]} == {"json_invalid"}
        return
    scheme, _, token = (credentials or "").partition(" ")
    expected = 403 if scheme.lower() == "bearer" and token.strip() else 401
    assert response.status_code == expected, (credentials, response.status_code, response.text)
    if expected == 401:
        assert header(response, "WWW-Authenticate") == "Bearer"


def test_the_fuzzing_reached_every_outcome(tally):
    """The runs above (this module, in order) hit each operation's success and error paths."""
    total = sum(tally.values())
    log.info("fuzzed %d requests: %s", total, dict(sorted(tally.items())))
    assert total >= 2_000, (total, tally)
    statuses: dict[str, set[int]] = {}
    for label, status in tally:
        statuses.setdefault(label, set()).add(status)
    expected = {
        "GET /generate": {200, 404, 405, 422},
        "GET /interpolate": {200, 404, 422},
        "GET /compare": {200, 404, 422},
        "POST /models": {422},
        "POST /sweeps": {202, 422},
        "anonymous POST /models": {401, 403},
        "GET /jobs": {200, 422},
        "GET /jobs/{job_id}": {200, 404, 405, 422},
        "GET /jobs/{job_id}/losses": {200, 404, 422},
        "POST /jobs": {202, 400, 422, 429},
        "POST /jobs/{job_id}/cancel": {202, 404, 409, 422},
        "DELETE /jobs/{job_id}": {204, 404, 409, 422},
        "GET /serving": {200},
        "PUT /serving/pin": {200, 404, 422},
        "DELETE /serving/pin": {200},
        "POST /serving/rollback": {409},
        "anonymous POST /jobs": {401, 403, 422},
        "anonymous POST /jobs/{job_id}/cancel": {401, 403},
        "anonymous DELETE /jobs/{job_id}": {401, 403},
        "anonymous PUT /serving/pin": {401, 403, 422},
        "anonymous DELETE /serving/pin": {401, 403},
        "anonymous POST /serving/rollback": {401, 403},
        "GET /livez": {200},
        "GET /readyz": {200},
        "GET /models": {200},
        "GET /metrics": {200},
    }
    for label, codes in expected.items():
        assert codes <= statuses.get(label, set()), (label, statuses.get(label))
