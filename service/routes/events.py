"""Job events as server-sent events: one job's (``/jobs/{id}/events``) or every job's
(``/events``), readable like every other GET (a browser's EventSource sends no token)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Header, HTTPException, Request, Response, status
from fastapi.responses import StreamingResponse

from service.deps import JobsDep, SettingsDep
from service.errors import problems
from service.event_feed import EventFeed, Subscription
from service.event_stream import CURSOR, Cursor, all_jobs_stream, fresh_cursor, job_stream
from service.routes.jobs import JobId

router = APIRouter(tags=["events"])

MEDIA_TYPE = "text/event-stream"
HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # nginx and its kind pass each event on as it comes
}
STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {"content": {MEDIA_TYPE: {"schema": {
              "type": "object", "properties": {"job": {"type": "string"},
                                               "seq": {"type": "integer"}}}}},
          "description": "text/event-stream: `id`, `event` (the kind) and `data` (JSON)"},
}
EventNumber = Annotated[str, Header(
    alias="Last-Event-ID", pattern=r"^[0-9]{0,9}$",
    description="the number of the last event received (a reconnecting EventSource sends it)",
)]
EventCursor = Annotated[str, Header(
    alias="Last-Event-ID", max_length=8192, pattern=f"^$|{CURSOR.pattern}",
    description="the id of the last event received (a reconnecting EventSource sends it)",
)]


def _stream(
    request: Request, events: Callable[[Subscription], AsyncIterator[bytes]]
) -> StreamingResponse:
    feed: EventFeed = request.app.state.event_feed
    settings = request.app.state.settings
    if feed.closed or len(feed.subscribers) >= settings.max_event_streams:
        why = "the service is shutting down" if feed.closed else (
            f"{len(feed.subscribers)} event streams are open (the limit is "
            f"{settings.max_event_streams})")
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, detail=f"{why}; try again",
                            headers={"Retry-After": "5"})

    async def body() -> AsyncIterator[bytes]:
        with feed.subscribe() as subscription:
            async for chunk in events(subscription):
                yield chunk

    return StreamingResponse(body(), media_type=MEDIA_TYPE, headers=HEADERS)


@router.get("/jobs/{job_id}/events", response_class=StreamingResponse,
            responses={**STREAM_DOC, 204: {"description": "the job ended: nothing after "
                                                          "Last-Event-ID"},
                       **problems(404, 422, 503, retry_after=(503,))})
async def job_events(
    job_id: JobId, request: Request, store: JobsDep, settings: SettingsDep,
    last_event_id: EventNumber = "",
) -> Response:
    """The job's events as they happen: state changes, progress, checkpoints, their scores
    and its log lines; first those it already has (after `Last-Event-ID`, the number of the
    last one received). The stream ends with the event that ends the job."""
    after = int(last_event_id) if last_event_id else 0
    record = await anyio.to_thread.run_sync(store.get, job_id)
    if record is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no job with id {job_id!r}")
    if record.finished and last_event_id and after >= record.event_seq:
        return Response(status_code=status.HTTP_204_NO_CONTENT)  # tells EventSource to stop
    feed = request.app.state.event_feed
    return _stream(request, lambda subscription: job_stream(
        store, feed, subscription, job_id, after, record.finished,
        settings.event_heartbeat_seconds,
    ))


@router.get("/events", response_class=StreamingResponse,
            responses={**STREAM_DOC, **problems(422, 503, retry_after=(503,))})
async def all_events(
    request: Request, store: JobsDep, settings: SettingsDep, last_event_id: EventCursor = "",
) -> Response:
    """Every job's events as they happen, from now on or from `Last-Event-ID` (the id of the
    last one received); a client away for more than 15 minutes first gets a `reset` event."""
    if last_event_id:
        cursor = Cursor.decode(last_event_id)
    else:  # from now: the request's arrival, not the moment the stream starts to read
        cursor = await anyio.to_thread.run_sync(fresh_cursor, store)
    feed = request.app.state.event_feed
    return _stream(request, lambda subscription: all_jobs_stream(
        store, feed, subscription, cursor, settings.event_heartbeat_seconds,
    ))
