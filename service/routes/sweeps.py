"""Sweeps: search job settings, rank the members, optionally serve the best
(``jobs.sweep_spec``, ``jobs.sweeps``, ``service.sweep_controller``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from jobs.sweep_ranking import by_setting, ranking
from jobs.sweep_spec import SweepError, SweepSpec, members
from jobs.sweeps import SweepRecord, SweepState
from service.auth import GUARDED, TokenRequired
from service.deps import SweepsDep
from service.errors import problems
from service.schemas import utc
from service.sweep_controller import SweepController

router = APIRouter(prefix="/sweeps", tags=["sweeps"])

SweepId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]


class MemberView(BaseModel):
    member: int = Field(description="its place in the sweep's order")
    rank: int | None = Field(description="1 is best, within its data set; null: not scored")
    params: dict[str, Any] = Field(description="its job settings, as the sweep made them")
    job: str | None = Field(description="its job; null: not submitted yet")
    state: str = Field(description="its job's state, or waiting")
    model: str | None = Field(description="its job's final (else newest) model")
    dataset: str
    score: float | None = Field(description="the figure the sweep ranks by")
    scores: dict[str, Any] | None = Field(description="every figure its model was scored with")
    wall_s: float | None = Field(None, description="its job's wall time, start to end")


class SettingView(BaseModel):
    rank: int | None = Field(description="by the mean score, within its data set; null until "
                             "every member of it is scored")
    params: dict[str, Any] = Field(description="its job settings, all but the seed")
    members: list[int] = Field(description="the members that tried it")
    seeds: list[int | None] = Field(description="their seeds")
    dataset: str
    scored: int = Field(description="how many of its members are scored")
    mean: float | None = Field(description="the mean of their scores")
    worst: float | None = Field(description="the worst of their scores")


class SweepView(BaseModel):
    id: str
    state: SweepState
    created_at: datetime
    updated_at: datetime
    spec: SweepSpec
    varied: list[str] = Field(description="the parameters it varies (grid, variants, random "
                              "draws), sorted")
    members: list[MemberView] = Field(description="ranked: the best first")
    settings: list[SettingView] = Field(
        description="the settings tried, each over the seeds it ran with, ranked by the mean")
    pinned: str | None = Field(None, description="the model pinned at its end (pin_best)")


def view(controller: SweepController, sweep: SweepRecord) -> SweepView:
    if sweep.result is not None:
        ranked = sweep.result["ranking"]
    else:
        ranked = ranking(sweep, controller.sweeps.member_jobs(sweep.id), controller.records)
    spec = SweepSpec.model_validate(sweep.spec)
    return SweepView(
        id=sweep.id, state=sweep.state, created_at=utc(sweep.created_at),
        updated_at=utc(sweep.updated_at), spec=spec, varied=sorted(spec.swept()),
        members=[MemberView.model_validate(row) for row in ranked],
        settings=[SettingView.model_validate(group)
                  for group in by_setting(ranked, sweep.rank_by)],
        pinned=(sweep.result or {}).get("pinned"),
    )


def found(controller: SweepController, sweep_id: str) -> SweepRecord:
    sweep = controller.sweeps.get(sweep_id)
    if sweep is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no sweep with id {sweep_id!r}")
    return sweep


@router.post(
    "", status_code=status.HTTP_202_ACCEPTED, dependencies=[TokenRequired],
    openapi_extra=GUARDED, responses=problems(422),
)
async def create_sweep(spec: SweepSpec, response: Response, controller: SweepsDep) -> SweepView:
    """Start a sweep: every member's job spec is checked now; members are submitted as the
    sweep's parallel cap and the job cap allow."""
    try:
        made = members(spec)
    except SweepError as error:
        raise RequestValidationError(
            [{"loc": ("body",), "msg": str(error), "type": "value_error"}]) from error
    sweep = await anyio.to_thread.run_sync(
        controller.sweeps.create, spec.model_dump(), made)
    await anyio.to_thread.run_sync(controller.advance, sweep)
    response.headers["Location"] = f"/sweeps/{sweep.id}"
    return await anyio.to_thread.run_sync(view, controller, found(controller, sweep.id))


@router.get("", responses=problems(422))
def list_sweeps(
    controller: SweepsDep,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> list[SweepView]:
    """Sweeps, newest first, each with its members ranked."""
    return [view(controller, sweep) for sweep in controller.sweeps.page(offset, limit)]


@router.get("/{sweep_id}", responses=problems(404, 422))
def describe_sweep(sweep_id: SweepId, controller: SweepsDep) -> SweepView:
    """One sweep: its spec, state and members ranked by its score."""
    return view(controller, found(controller, sweep_id))


@router.post(
    "/{sweep_id}/cancel", status_code=status.HTTP_202_ACCEPTED, dependencies=[TokenRequired],
    openapi_extra=GUARDED, responses=problems(404, 409, 422),
)
def cancel_sweep(sweep_id: SweepId, controller: SweepsDep) -> SweepView:
    """Stop a sweep: no more members are submitted; its queued and running members are
    cancelled (a running one stops at its next iteration with a checkpoint)."""
    sweep = found(controller, sweep_id)
    submitted = controller.sweeps.member_jobs(sweep.id)
    result = {"ranking": ranking(sweep, submitted, controller.records), "pinned": None}
    if not controller.sweeps.end(sweep.id, SweepState.CANCELLED, result):
        raise HTTPException(status.HTTP_409_CONFLICT,
                            detail=f"sweep {sweep.id} has already ended ({sweep.state})")
    for job in submitted.values():
        if not job.finished:
            controller.jobs.request_cancel(job.id)
    return view(controller, found(controller, sweep.id))


@router.delete(
    "/{sweep_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response,
    dependencies=[TokenRequired], openapi_extra=GUARDED, responses=problems(404, 409, 422),
)
def delete_sweep(sweep_id: SweepId, controller: SweepsDep) -> Response:
    """Delete an ended sweep's record; its members stay, as the jobs they are (DELETE
    /jobs/{id} deletes one). 409 while it runs: cancel it first."""
    sweep = found(controller, sweep_id)
    if sweep.state is SweepState.RUNNING:
        raise HTTPException(status.HTTP_409_CONFLICT,
                            detail=f"sweep {sweep.id} is running: cancel it first")
    controller.sweeps.delete(sweep.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
