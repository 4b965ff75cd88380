"""uvicorn's server, ending open event streams as soon as it begins to shut down.

On SIGTERM uvicorn stops accepting connections and waits for the requests in flight, up to
the graceful timeout. An event stream would hold it to the end: the feed closes every stream
first (each ends cleanly, and its client reconnects to another replica with Last-Event-ID).
"""

from __future__ import annotations

import socket

import uvicorn


class Server(uvicorn.Server):
    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        state = getattr(self.config.app, "state", None)
        feed = getattr(state, "event_feed", None)  # none before the lifespan has run
        if feed is not None:
            feed.close()
        await super().shutdown(sockets)
