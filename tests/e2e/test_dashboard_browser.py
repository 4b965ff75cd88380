"""The dashboard in a real headless Chromium, against a real worker, uvicorn and Redis.

Chromium is Debian's (``apt-get install chromium chromium-driver``), driven by the
``playwright`` package; no browser is downloaded. Jobs started from the form train the tiny
networks, held at the worker's gate where the test must see them running.
"""

import json
import logging
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from dcgan_cli.waiting import wait_for
from jobs.events import EventKind
from tests.e2e.conftest import REDIS_URL
from tests.support.stack import Stack, running_stack, submit_job, wait_for_job

pytestmark = pytest.mark.processes

try:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright
except ImportError:  # the browser fixture turns this into a failure that says what to install
    sync_playwright = None
    PlaywrightError = Exception

log = logging.getLogger(__name__)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
TOKEN = "dashboard-test-token"
NEEDS_TOKEN = "this endpoint needs 'Authorization: Bearer <DCGAN_API_TOKEN>'"
SHORT = 40  # iterations of the job followed to the end: checkpoints at 10, 20, 30 and 40


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    if sync_playwright is None:
        pytest.fail("the dashboard tests need Playwright: .venv/bin/pip install playwright "
                    "(it drives Debian's chromium; do not run `playwright install`)")
    if not CHROMIUM.exists():
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: as root run "
                    "apt-get install chromium chromium-driver")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def start_stack(root: Path, **env: str):
    with running_stack(root, REDIS_URL, **env) as stack:
        yield stack


@pytest.fixture(scope="module")
def open_stack(tmp_path_factory, data_dir):
    yield from start_stack(tmp_path_factory.mktemp("dashboard-stack"))


@pytest.fixture(scope="module")
def token_stack(tmp_path_factory, data_dir):
    yield from start_stack(tmp_path_factory.mktemp("dashboard-token-stack"),
                           DCGAN_API_TOKEN=TOKEN)


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


# --- helpers ---------------------------------------------------------------------------------


def until(page, stack: Stack, expression: str, what: str, timeout_s: float = 60, arg=None):
    """Wait for a JavaScript expression to be truthy in the page; return its value."""
    try:
        handle = page.wait_for_function(expression, arg=arg, timeout=timeout_s * 1000,
                                        polling=200)
    except PlaywrightError as error:
        raise AssertionError(
            f"timed out after {timeout_s}s waiting for {what}\n{stack.logs()}"
        ) from error
    return handle.json_value()


ROW = "document.querySelector(`tr[data-job-id=\"${id}\"]`)"


def row_state(page, stack, job_id, states, what, timeout_s=60):
    return until(page, stack, f"""([id, states]) => {{
        const row = {ROW};
        return row && states.includes(row.dataset.state) ? row.dataset.state : null;
    }}""", what, timeout_s, arg=[job_id, list(states)])


def row_step_above(page, stack, job_id, step, timeout_s=120):
    return until(page, stack, f"""([id, step]) => {{
        const row = {ROW};
        return row && ["running", "succeeded"].includes(row.dataset.state)
            && Number(row.dataset.step) > step ? Number(row.dataset.step) : 0;
    }}""", f"job {job_id} to pass step {step} in the list", timeout_s, arg=[job_id, step])


def fill_job_form(
    page, iterations: int, batch_size: int, checkpoint_every: int, seed=None, ema_decay=None,
    network_size="tiny",
):
    # the form takes its starting values from the job spec when the API sends it: filled
    # before that, the test's values would be overwritten
    page.wait_for_function(
        "() => document.getElementById('job-form').dataset.spec === 'applied'", timeout=60_000
    )
    page.get_by_label("Length").select_option("iterations")
    page.get_by_label("Network size").select_option(network_size)
    page.get_by_label("Iterations", exact=True).fill(str(iterations))
    page.get_by_label("Batch size").fill(str(batch_size))
    page.get_by_label("Checkpoint every").fill(str(checkpoint_every))
    if seed is not None:
        page.get_by_label("Seed").fill(str(seed))
    if ema_decay is not None:
        page.get_by_label("Weight average decay").fill(str(ema_decay))


def press(button) -> None:
    """Press ``button`` from the keyboard. The page's header and job list change height as
    their answers arrive (the form's button moves tens of pixels after a load), and a mouse
    click aimed before such a shift lands on whatever has moved under it."""
    button.press("Enter")


def submit_form(page, stack) -> tuple[str, str, str | None]:
    """Press Start and wait for the verdict: (kind, message text, job id)."""
    message = page.get_by_test_id("form-message")
    page.evaluate("() => { document.getElementById('form-message').dataset.kind = ''; }")
    invalid = page.evaluate("""() => [...document.getElementById('job-form').elements]
        .filter((field) => !field.checkValidity())
        .map((field) => `${field.name}=${field.value}: ${field.validationMessage}`)""")
    assert invalid == [], f"the browser would not submit the form: {invalid}"
    page.wait_for_function("() => !document.getElementById('job-submit').disabled",
                           timeout=60_000)
    press(page.get_by_role("button", name="Start training"))
    kind = until(page, stack, """() => {
        const kind = document.getElementById("form-message").dataset.kind;
        return kind === "ok" || kind === "error" ? kind : null;
    }""", "the form's answer")
    return kind, message.inner_text(), message.get_attribute("data-job-id")


def start_job(page, stack, **form) -> str:
    fill_job_form(page, **form)
    kind, text, job_id = submit_form(page, stack)
    assert kind == "ok" and job_id and f"Started job {job_id[:8]}" in text, text
    return job_id


def no_horizontal_scroll(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")


# --- tests -----------------------------------------------------------------------------------


def test_a_job_started_from_the_form_is_followed_until_it_finishes(open_stack, page):
    stack = open_stack
    gate = stack.gates["worker1"]
    gate.arm(15, 25)  # held after its first checkpoint, then after its second
    page.goto(f"{stack.url}/")
    assert page.title() == "DCGAN training dashboard"
    until(page, stack, "() => document.getElementById('connection').dataset.state === 'live'",
          "the first poll")
    assert page.get_by_test_id("jobs-empty").is_visible()

    job_id = start_job(page, stack, iterations=SHORT, batch_size=32, checkpoint_every=10, seed=11,
                       ema_decay=0.99)
    with stack.client() as client:
        params = client.get(f"/jobs/{job_id}").json()["params"]
    assert {k: params[k] for k in ("iterations", "batch_size", "checkpoint_every", "seed",
                                   "dataset", "conditional", "network_size", "ema_decay",
                                   "precision", "compile")} == {
        "iterations": SHORT, "batch_size": 32, "checkpoint_every": 10, "seed": 11,
        "dataset": "mnist", "conditional": True, "network_size": "tiny", "ema_decay": 0.99,
        "precision": "auto", "compile": False,
    }
    row = page.locator(f'tr[data-job-id="{job_id}"]')

    # live progress in the list: the step moves on while it runs. Progress is reported at
    # each checkpoint (and at most once a second between them): held at 15, the list comes to
    # show step 10 or later and never more than 15; held at 25, 20 or later and at most 25
    gate.wait_reached(15)
    first = row_step_above(page, stack, job_id, 9, timeout_s=60)
    assert 10 <= first <= 15
    assert row.get_attribute("class") == "selected"  # a new job is the one shown in detail
    assert row.get_by_test_id("job-state").inner_text() == "running"
    cells = {key: row.get_by_test_id(f"job-{key}").inner_text()
             for key in ("d-loss", "g-loss", "rate", "eta", "device")}
    assert re.fullmatch(r"-?\d+\.\d{3}", cells["d-loss"]), cells
    assert re.fullmatch(r"-?\d+\.\d{3}", cells["g-loss"]), cells
    assert cells["device"].startswith("cpu"), cells
    progress = row.locator("progress")
    assert progress.get_attribute("max") == str(SHORT)
    shown, of = row.get_by_test_id("job-step").inner_text().split(" / ")
    assert first <= int(shown) <= 15 and of == str(SHORT)

    # the sample grid appears once the first checkpoint exists, then follows newer ones
    first_src = until(page, stack, """() => {
        const img = document.getElementById("sample-image");
        return !img.hidden && img.complete && img.naturalWidth > 0 ? img.src : null;
    }""", "the first sample grid", timeout_s=120)
    assert re.search(rf"/generate\?model={job_id}%3A(\d+)&seed=1234&n=64$", first_src)
    until(page, stack, """() => {
        const path = document.querySelector('[data-testid="loss-path-d"]');
        return path && (path.getAttribute("d").match(/L/g) || []).length >= 2;
    }""", "the loss plot")
    until(page, stack, """() => document.getElementById("loss-note").textContent
        .startsWith("(from checkpoint at step")""", "the loss history from a checkpoint")
    screenshot = stack.root / "dashboard.png"
    page.screenshot(path=str(screenshot), full_page=True)
    log.info("dashboard screenshot mid-training: %s", screenshot)
    gate.release(15)
    gate.wait_reached(25)
    assert 20 <= row_step_above(page, stack, job_id, 19) <= 25
    until(page, stack, """(before) => {
        const img = document.getElementById("sample-image");
        return img.src !== before && img.complete && img.naturalWidth > 0;
    }""", "a newer checkpoint's samples", timeout_s=120, arg=first_src)
    gate.release(25)

    # the end: the final model's samples and its whole history
    row_state(page, stack, job_id, ["succeeded", "failed"], "the job to finish", 240)
    assert row.get_attribute("data-state") == "succeeded", stack.logs()
    assert row.get_by_test_id("job-step").inner_text() == f"{SHORT} / {SHORT}"
    assert not row.get_by_test_id("job-cancel").is_visible()
    until(page, stack, """([id, last]) => {
        const img = document.getElementById("sample-image");
        return img.dataset.model === `${id}:${last}` && img.naturalWidth > 0;
    }""", "the final samples", arg=[job_id, SHORT])
    until(page, stack, """(last) => {
        const chart = document.querySelector('[data-testid="loss-svg"]');
        return chart && chart.dataset.lastStep === String(last)
            && chart.dataset.points === String(last);
    }""", "the whole loss history in the plot", arg=SHORT)

    # one row per kept checkpoint; evaluation figures show once an evaluation writes them
    final_row_selector = f'tr[data-testid="eval-row"][data-step="{SHORT}"]'
    until(page, stack, "(selector) => document.querySelector(selector)",
          "the final checkpoint in the evaluation table", arg=final_row_selector)
    final_row = page.locator(final_row_selector)
    assert final_row.locator("td").first.inner_text() == "yes"
    assert final_row.get_by_test_id("eval-fd").inner_text() == "—"
    figures = {"frechet_distance": 12.3456, "inception_score": 7.891, "classes_covered": 9}
    stack.models().set_metrics(f"{job_id}:{SHORT}", figures)  # as the scorer writes them,
    stack.jobs().add_event(job_id, EventKind.SCORED,  # with the event that tells the page
                           {"model": f"{job_id}:{SHORT}", "scores": figures})
    until(page, stack, """(selector) => {
        const row = document.querySelector(selector);
        return row && row.querySelector('[data-testid="eval-fd"]').textContent === "12.35";
    }""", "the evaluation figures", arg=final_row_selector)
    assert final_row.get_by_test_id("eval-is").inner_text() == "7.89"
    assert final_row.get_by_test_id("eval-classes").inner_text() == "9"
    earlier = page.locator(f'tr[data-testid="eval-row"]:not([data-step="{SHORT}"])')
    assert earlier.count() >= 1
    assert set(earlier.get_by_test_id("eval-fd").all_inner_texts()) == {"—"}


def test_the_cancel_button_stops_a_long_job(open_stack, page):
    stack = open_stack
    gate = stack.gates["worker1"]
    gate.arm(2)
    page.goto(f"{stack.url}/")
    job_id = start_job(page, stack, iterations=100, batch_size=32, checkpoint_every=0)
    gate.wait_reached()
    row_state(page, stack, job_id, ["running"], "the job to run")

    row = page.locator(f'tr[data-job-id="{job_id}"]')
    press(row.get_by_role("button", name=f"Cancel job {job_id[:8]}"))
    with stack.client() as client:
        wait_for(lambda: client.get(f"/jobs/{job_id}").json()["cancel_requested"], 30,
                 "the cancel to be recorded")
    gate.release()
    row_state(page, stack, job_id, ["cancelled", "failed", "succeeded"], "the job to stop", 120)
    assert row.get_attribute("data-state") == "cancelled", stack.logs()
    assert page.get_by_test_id("action-message").inner_text() == f"Cancelling job {job_id[:8]}."
    assert not row.get_by_test_id("job-cancel").is_visible()
    with stack.client() as client:
        job = client.get(f"/jobs/{job_id}").json()
    assert job["state"] == "cancelled" and job["progress"]["step"] == 3

    # a finished job can be deleted, with its checkpoints (after a confirmation)
    page.once("dialog", lambda dialog: dialog.dismiss())
    press(row.get_by_role("button", name=f"Delete job {job_id[:8]}"))
    assert row.is_visible()
    with stack.client() as client:
        served = client.get("/models").json()["served"] or ""
    page.once("dialog", lambda dialog: dialog.accept())
    press(row.get_by_role("button", name=f"Delete job {job_id[:8]}"))
    if served.startswith(f"{job_id}:"):
        # run alone, this job holds the only model, which is served: it is kept
        until(page, stack, "() => document.getElementById('action-message').textContent"
              ".includes('being served')", "the refused delete's message")
        assert row.is_visible()
        return
    until(page, stack, "(id) => !" + ROW, "the deleted job's row to go", arg=job_id)
    assert page.get_by_test_id("action-message").inner_text() == f"Deleted job {job_id[:8]}."
    with stack.client() as client:
        assert client.get(f"/jobs/{job_id}").status_code == 404


def test_the_page_follows_jobs_through_the_event_stream(open_stack, page):
    """With the page's clock stopped, none of its timers fires (no polling, fallback or
    safety net), so what changes in the page came through GET /events: a job submitted
    through the API appears in the list, and the selected job's log lines in its detail."""
    stack = open_stack
    gate = stack.gates["worker1"]
    gate.arm(2)
    page.clock.install()
    page.clock.pause_at(datetime.now() + timedelta(hours=1))
    page.goto(f"{stack.url}/")
    until(page, stack, "() => document.getElementById('connection').dataset.state === 'live'",
          "the event stream to open")
    connection = page.get_by_test_id("connection")
    assert connection.get_attribute("data-live") == "true"
    assert connection.inner_text() == "Live"

    with stack.client() as client:
        job_id = submit_job(client, {"iterations": 4, "batch_size": 32,
                                     "checkpoint_every": 0})["id"]
    row_state(page, stack, job_id, ["queued", "running"], "the job submitted through the API")
    press(page.get_by_role("button", name=f"Show job {job_id[:8]}"))
    until(page, stack, "(id) => document.getElementById('detail-id').title === id",
          "the job in the detail", arg=job_id)
    gate.wait_reached()
    gate.release()
    until(page, stack, """(id) => [...document.querySelectorAll('#job-log .log-message')]
        .some((line) => line.textContent === `job ${id} succeeded at step 4`)""",
          "the job's log line that it succeeded", arg=job_id)
    assert not page.get_by_test_id("log-empty").is_visible()

    # the clock runs again: the refreshes the job's later events asked for come through
    page.clock.resume()
    row_state(page, stack, job_id, ["succeeded"], "the job to succeed in the list")


def test_the_api_docs_render_with_no_network(open_stack, page):
    """Swagger UI draws every operation from assets the service serves itself; any request
    elsewhere is refused, as on an offline host."""
    stack = open_stack
    elsewhere: list[str] = []

    def only_the_service(route):
        if route.request.url.startswith(stack.url):
            route.continue_()
        else:
            elsewhere.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_service)
    page.goto(f"{stack.url}/docs")
    until(page, stack, "() => document.querySelectorAll('.opblock').length >= 15",
          "Swagger UI to draw the operations")
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert {"/jobs/{job_id}/cancel", "/serving/pin", "/generate"} <= {p.strip() for p in paths}
    assert elsewhere == []


def test_a_sweeps_members_are_listed_plotted_and_drawn_side_by_side(open_stack, page):
    stack = open_stack
    with stack.client() as client:
        reply = client.post("/sweeps", json={
            "base": {"iterations": 4, "batch_size": 16, "network_size": "tiny",
                     "checkpoint_every": 2},
            "grid": {"seed": [1, 2]}, "parallel": 2})
        assert reply.status_code == 202, reply.text
        sweep = reply.json()
        for member in sweep["members"]:
            assert wait_for_job(client, member["job"])["state"] == "succeeded"
    page.goto(f"{stack.url}/")
    until(page, stack, """(id) => document.getElementById("sweep-id").textContent === id
        && document.querySelectorAll("#sweep-rows tr[data-state=succeeded]").length === 2""",
          "both members listed as succeeded", arg=sweep["id"])
    height = until(page, stack, """() => {
        const image = document.getElementById("sweep-compare");
        return !image.hidden && image.complete && image.naturalHeight;
    }""", "the members' digits side by side")
    assert height == 2 * (14 + 32)  # a labelled row of ten digits per member
    until(page, stack, """() => document.querySelectorAll("#sweep-losses polyline").length
        === 2""", "a loss line per member")
    columns = page.evaluate(
        "() => [...document.querySelectorAll('#sweep-head th')].map((th) => th.textContent)")
    assert columns == ["Rank", "Member", "seed", "frechet_distance", "Wall s", "State", "Model"]
    setting = until(page, stack, """() => {
        const cells = [...document.querySelectorAll("#sweep-settings-rows td")];
        return !document.getElementById("sweep-settings-box").hidden && cells.length
            && cells.map((td) => td.textContent);
    }""", "the one setting over both seeds")
    assert setting[1] == "1, 2"  # rank, seeds, mean, worst: only the seed varies


def test_a_token_protected_service_in_a_narrow_window(token_stack, page):
    stack = token_stack
    gate = stack.gates["worker1"]
    gate.arm(1)  # the job runs until the test has cancelled it
    page.set_viewport_size({"width": 380, "height": 800})
    # a browser without EventSource: the page polls, and everything below works as well
    page.add_init_script("delete window.EventSource;")
    page.goto(f"{stack.url}/")
    until(page, stack, "() => document.getElementById('connection').dataset.state === "
          "'polling'", "the first poll")
    assert page.get_by_test_id("connection").get_attribute("data-live") == "false"
    assert no_horizontal_scroll(page)
    fill_job_form(page, iterations=100, batch_size=32, checkpoint_every=0)

    kind, text, _ = submit_form(page, stack)  # no token
    assert kind == "error" and text.startswith("401") and NEEDS_TOKEN in text, text
    page.get_by_label("API token").fill("not-the-token")
    kind, text, _ = submit_form(page, stack)
    assert kind == "error" and text.startswith("403") and "wrong API token" in text, text
    with stack.client() as client:
        assert client.get("/jobs").json()["total"] == 0

    page.get_by_label("API token").fill(TOKEN)
    kind, text, job_id = submit_form(page, stack)
    assert kind == "ok" and job_id, text
    row_state(page, stack, job_id, ["queued", "running"], "the new job in the list")
    stored = page.evaluate("() => localStorage.getItem('dcgan.apiToken')")
    assert stored == TOKEN
    page.reload()
    assert page.get_by_label("API token").input_value() == TOKEN
    assert no_horizontal_scroll(page)

    # cancelling needs the token as well
    page.get_by_label("API token").fill("")
    cancel = page.get_by_role("button", name=f"Cancel job {job_id[:8]}")
    press(cancel)
    message = page.get_by_test_id("action-message")
    until(page, stack, "() => document.getElementById('action-message').textContent",
          "the refused cancel's message")
    assert "401" in message.inner_text() and NEEDS_TOKEN in message.inner_text()
    with stack.client() as client:
        assert client.get(f"/jobs/{job_id}").json()["state"] in ("queued", "running")
    page.get_by_label("API token").fill(TOKEN)
    press(cancel)
    with stack.client() as client:
        wait_for(lambda: client.get(f"/jobs/{job_id}").json()["cancel_requested"], 30,
                 "the cancel to be recorded")
    gate.release()
    row_state(page, stack, job_id, ["cancelled"], "the job to be cancelled", 120)
    with stack.client() as client:
        job = client.get(f"/jobs/{job_id}").json()
    assert job["state"] == "cancelled", json.dumps(job)
