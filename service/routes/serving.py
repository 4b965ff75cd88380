"""The serving policy's state and the operator's controls: pin a model, unpin, roll back.

A change is written to the database (``serving_pins``), then this replica applies it before
answering; the others follow within their reload interval.
"""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, HTTPException, status

from registry.model_records import ModelRecord
from registry.serving_pins import PinAction, ServingPins
from service.auth import GUARDED, TokenRequired
from service.deps import ModelServerDep, PinsDep
from service.errors import problems
from service.model_loader import InvalidModel
from service.model_server import ModelNotFound, ModelServer
from service.schemas import GateView, PinRequest, PinView, ServingState, ServingStatus

router = APIRouter(prefix="/serving", tags=["serving"])
HISTORY = 20


def serving_status(server: ModelServer, pins: ServingPins) -> ServingStatus:
    """Which model this replica serves and why (reads the pin in force)."""
    serving = server.serving
    pin = pins.current()
    return ServingStatus(
        model=serving.model.id if serving else None,
        reason=serving.reason if serving else None,
        detail=serving.detail if serving else "no model to serve yet: start a training job",
        gate=GateView.of(server.policy.gate),
        pin=PinView.of(pin) if pin else None,
    )


def serving_state(server: ModelServer, pins: ServingPins) -> ServingState:
    status_now = serving_status(server, pins)
    history = [PinView.of(pin) for pin in pins.history(HISTORY)]
    return ServingState(**status_now.model_dump(), history=history)


async def applied(server: ModelServer, pins: ServingPins) -> ServingState:
    await anyio.to_thread.run_sync(server.refresh)
    return await anyio.to_thread.run_sync(serving_state, server, pins)


async def loadable(server: ModelServer, model: str) -> ModelRecord:
    """The model's row, once its artifact has loaded and passed the checks. (The load may be
    another row's with the same weights, under that row's id: loads are shared by SHA-256.)"""
    try:
        record = await anyio.to_thread.run_sync(server.find, model)
        await server.load(record)
        return record
    except ModelNotFound as error:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(error)) from error
    except InvalidModel as error:
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail=f"model {model} cannot be served: {error}"
        ) from error


@router.get("")
def get_serving(server: ModelServerDep, pins: PinsDep) -> ServingState:
    """The served model, why it is served, the gate, the pin in force and the pin history."""
    return serving_state(server, pins)


@router.put(
    "/pin", dependencies=[TokenRequired], openapi_extra=GUARDED,
    responses=problems(400, 404, 409, 422),
)
async def pin_model(request: PinRequest, server: ModelServerDep, pins: PinsDep) -> ServingState:
    """Serve this model on every replica, whatever promotion would choose, until unpinned.
    It is loaded and checked first: 409 when it cannot be served."""
    record = await loadable(server, request.model)
    served = server.served
    await anyio.to_thread.run_sync(
        pins.record, PinAction.PIN, record.id, served.id if served else None, request.note
    )
    return await applied(server, pins)


@router.delete("/pin", dependencies=[TokenRequired], openapi_extra=GUARDED)
async def unpin_model(server: ModelServerDep, pins: PinsDep) -> ServingState:
    """Let promotion choose again (nothing happens when no model is pinned)."""
    if await anyio.to_thread.run_sync(pins.current) is not None:
        served = server.served
        await anyio.to_thread.run_sync(
            pins.record, PinAction.UNPIN, None, served.id if served else None
        )
    return await applied(server, pins)


@router.post(
    "/rollback", dependencies=[TokenRequired], openapi_extra=GUARDED, responses=problems(409)
)
async def rollback_model(server: ModelServerDep, pins: PinsDep) -> ServingState:
    """Pin the model served before the current one: the one a pin replaced, or the next one
    down the order that chose the current one. 409 when there is none that can be served."""
    serving = server.serving
    if serving is None:
        raise HTTPException(status.HTTP_409_CONFLICT, detail="no model is served yet")
    earlier = await anyio.to_thread.run_sync(
        server.policy.earlier, serving.model.record, serving.reason
    )
    for record in earlier:
        try:
            target = await server.load(record)
        except InvalidModel:
            continue
        await anyio.to_thread.run_sync(
            pins.record, PinAction.ROLLBACK, target.id, serving.model.id
        )
        return await applied(server, pins)
    raise HTTPException(
        status.HTTP_409_CONFLICT,
        detail=f"nothing to roll back to: no servable model was served before {serving.model.id} "
        f"({serving.reason})",
    )
