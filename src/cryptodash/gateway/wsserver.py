"""uvicorn's WebSocket protocol with one addition for fan-out: the ASGI extension
`cryptodash.raw_frames`, through which the hub writes ready-made server frames straight to a
connection's transport.

A price update goes to every subscribed client. Through plain ASGI each copy costs a
`websocket.send` event, a frame built by the websockets library and a write — about 15 µs, or
most of a core for 1,000 clients at 40 ticks/s. The frame bytes of an update are the same for
every client (server frames are not masked), so the hub builds them once and writes them to each
idle client's transport directly; a client whose transport is full gets its updates conflated
until it drains (`fanout.Client`). Frames written this way are complete text frames, so they
interleave safely with the library's own pings and close frames.

`cryptodash.cli.server_config` runs uvicorn with this protocol; under any other server the hub
falls back to ASGI sends.
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

EXTENSION = "cryptodash.raw_frames"


class RawFrames:
    """Write access to one accepted WebSocket's transport."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocol = protocol

    def writable(self) -> bool:
        """False while the transport's buffer is above its high-water mark."""
        return self._protocol.writable.is_set()

    async def wait_writable(self) -> None:
        await self._protocol.writable.wait()

    def write(self, data: bytes) -> None:
        """Write complete frames; `ConnectionError` once the connection is closing or gone."""
        protocol = self._protocol
        if protocol.disconnected or protocol.close_sent or protocol.transport.is_closing():
            raise ConnectionError("WebSocket closed")
        protocol.transport.write(data)


class FanoutWebSocketProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # absent when the handshake was refused
        if scope is not None:
            scope["extensions"][EXTENSION] = RawFrames(self)
