"""One field list per record: each table, its record, the stored JSON, the API's view and the
dashboard read the same fields, and a new field is shown, renamed or hidden on purpose."""

from __future__ import annotations

import re
from dataclasses import fields

import pytest
from pydantic import ValidationError

from artifacts.publishing import StoredModel
from core.tables import jobs, models, serving_pins
from jobs.job_store import JobRecord
from jobs.progress import JobProgress, TrainedSegment
from jobs.spec import JobSpec
from registry.model_records import SCORE_COLUMNS, ModelRecord
from registry.scores import Scores
from registry.serving_pins import PinRecord
from service.schemas import (
    JOB_FIELDS_NOT_SHOWN,
    MODEL_FIELDS_NOT_SHOWN,
    MODEL_FIELDS_RENAMED,
    PIN_FIELDS_NOT_SHOWN,
    PIN_FIELDS_RENAMED,
    JobView,
    ModelView,
    PinView,
)
from shared_models.evaluation.evaluate import EvaluationResult
from shared_models.training.setup import Segment
from tests.conftest import REPO

STATIC = REPO / "service" / "static"


def names(record: type) -> set[str]:
    return {field.name for field in fields(record)}


def shown(record: type, renamed: dict[str, str], hidden: frozenset[str]) -> set[str]:
    return {renamed.get(name, name) for name in names(record) - hidden}


def test_each_table_holds_the_fields_of_its_record():
    assert set(jobs.c.keys()) == names(JobRecord)
    assert set(models.c.keys()) == names(ModelRecord) | set(SCORE_COLUMNS)
    assert set(serving_pins.c.keys()) == names(PinRecord)


def test_a_models_row_is_the_stored_model_and_the_rows_own_fields():
    assert names(ModelRecord) - names(StoredModel) == {"id", "metrics", "created_at", "provenance"}


def test_the_api_shows_each_field_of_a_record_unless_it_is_hidden_on_purpose():
    assert set(JobView.model_fields) == shown(JobRecord, {}, JOB_FIELDS_NOT_SHOWN) | {"model"}
    assert set(ModelView.model_fields) == shown(
        ModelRecord, MODEL_FIELDS_RENAMED, MODEL_FIELDS_NOT_SHOWN
    ) | {"status", "error", "promotable", "gate"}
    assert set(PinView.model_fields) == shown(PinRecord, PIN_FIELDS_RENAMED, PIN_FIELDS_NOT_SHOWN)


def test_progress_reports_the_trainers_segments_and_the_evaluations_figures_as_they_are():
    assert set(TrainedSegment.model_fields) == names(Segment)
    stored = {"n", "seed", "frechet_distance", "inception_score", "classes_covered",
              "label_accuracy", "per_class_accuracy"}
    assert stored <= names(EvaluationResult)  # what Evaluation.figures() keeps
    assert stored | {"step", "error"} == set(Scores.model_fields)


def test_a_progress_report_names_only_fields_the_api_describes():
    with pytest.raises(ValidationError, match="checkpoint_stpe"):
        JobProgress.model_validate({"checkpoint_stpe": 3})
    # a stored report keeps what this version shows and leaves out what earlier ones wrote
    stored = JobProgress.stored({"step": 4, "checkpoint": "/runs/a/step.pt", "checkpoint_step": 4})
    assert stored.changes() == {"step": 4, "checkpoint_step": 4}


def script_fields(text: str, variable: str) -> set[str]:
    """Properties read from ``variable`` (not from some ``x.variable``)."""
    return set(re.findall(rf"(?<![\w.]){variable}\??\.(\w+)", text))


def test_the_dashboard_reads_only_fields_the_api_has():
    jobs_js = (STATIC / "jobs.js").read_text() + (STATIC / "detail.js").read_text()
    assert script_fields(jobs_js, "job") <= set(JobView.model_fields)
    assert script_fields(jobs_js, r"job\.params") <= set(JobSpec.model_fields)
    progress = script_fields(jobs_js, "p") | script_fields(jobs_js, "progress")
    assert progress and progress <= set(JobProgress.model_fields)
    assert script_fields(jobs_js, "m") <= set(ModelView.model_fields)
    assert script_fields(jobs_js, "metrics") <= set(Scores.model_fields)


def test_the_dashboards_form_sends_only_fields_of_the_job_spec():
    form = (STATIC / "form.js").read_text()
    body = form[form.index("function bodyOf"):form.index("return body;")]
    sent = set(re.findall(r"^\s+(\w+): ", body, re.M)) | set(re.findall(r"body\.(\w+) =", body))
    assert {"ema_decay", "iterations", "network_size"} <= sent
    assert sent <= set(JobSpec.model_fields)
    inputs = set(re.findall(r'name="(\w+)"', (STATIC / "index.html").read_text()))
    assert script_fields(body, "f") <= inputs
