"""The receive side of a client's WebSocket: aiohttp's own (Cython) frame parser hands each binary
message straight to the session, inside the transport's `data_received`.

aiohttp's `WebSocketResponse` parses frames into a queue that a task drains with `await
ws.receive()`: per message a future, a task resume and a few coroutine frames, and per read a
`call_soon` to move the heartbeat. Here the handshake, the writer, closing and every control frame
stay aiohttp's (ping/pong, close frames with their codes, protocol errors and the message size cap
are parsed and answered exactly as before, through the same queue and `receive()`); only a binary
message, once complete (continuation frames joined by the parser), skips the queue: the queue's
`feed_data` calls the session's handler synchronously when nothing is queued ahead of it (so order
is kept), and a read only empties a dict for the heartbeat (a C call, no Python frame) instead of
scheduling a callback per read.

Relies on aiohttp's internals as of the pinned version (`WebSocketResponse._post_start` and the
heartbeat methods, `WebSocketDataQueue.feed_data`); tests/server/test_ws_receive.py checks them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import WSMsgType, web
from aiohttp._websocket.reader import WebSocketDataQueue, WebSocketReader
from aiohttp.helpers import DEFAULT_CHUNK_SIZE

_BINARY = WSMsgType.BINARY
#: A heartbeat timer firing this much before its time counts as on time (no busy rescheduling).
_EARLY = 0.1
#: While reads come, the heartbeat timer looks every `heartbeat / _LOOKS` seconds whether there was
#: one since its last look (counted as read then): a ping leaves between `heartbeat` and
#: `1.25 x heartbeat` after the last read.
_LOOKS = 4

#: A session's handler of one whole binary message.
OnBinary = Callable[[bytes], None]


class _DirectQueue(WebSocketDataQueue):
    """aiohttp's message queue, but a binary message goes to `on_binary` when one is attached and
    nothing waits in the queue ahead of it (messages that arrived before, and control frames, are
    read from the queue in order)."""

    on_binary: OnBinary | None = None

    def feed_data(self, data: Any, size: int) -> None:
        on_binary = self.on_binary
        if on_binary is not None and data[0] is _BINARY and not self._buffer:
            on_binary(data[1])
        else:
            super().feed_data(data, size)


class SessionWebSocket(web.WebSocketResponse):
    """A `WebSocketResponse` whose binary messages can be handed to a handler as they are parsed
    (`attach`); everything else behaves as aiohttp's."""

    _direct: _DirectQueue | None = None
    #: Loop time of the last read from the socket as the heartbeat knows it (its last look that saw
    #: one: never earlier than the read), and of the last heartbeat ping.
    _last_rx = 0.0
    _ping_at = 0.0
    #: Emptied by every read (`dict.clear` is the parser's data callback); the heartbeat refills it
    #: each time it looks, so empty means "read since the last look".
    _quiet: dict[int, None]

    def attach(self, on_binary: OnBinary | None) -> None:
        """From now on, binary messages go to `on_binary` (None: to the queue again, for
        `receive()`). Messages already queued are still read from the queue, first."""
        if self._direct is not None:
            self._direct.on_binary = on_binary

    def _post_start(self, request: web.BaseRequest, protocol: str | None, writer: Any) -> None:
        # aiohttp 3.14's `_post_start` with our queue in place of `WebSocketDataQueue`.
        self._ws_protocol = protocol
        self._writer = writer
        loop = self._loop
        assert loop is not None
        self._last_rx = loop.time()
        self._quiet = {0: None}
        self._reset_heartbeat()
        self._reader = self._direct = _DirectQueue(request._protocol, DEFAULT_CHUNK_SIZE, loop=loop)
        self._parser = WebSocketReader(
            self._reader, self._max_msg_size, compress=bool(self._compress), decode_text=self._decode_text
        )
        cb = None if self._heartbeat is None else self._quiet.clear
        request.protocol.set_parser(self._parser, data_received_cb=cb)
        request.protocol.keep_alive(False)

    # ---- the heartbeat: a ping after `heartbeat` seconds without a read (up to a quarter more);
    # closed (1006) when nothing comes back within half that. aiohttp moves a timer per read (a
    # `call_soon` each); here a read only empties `_quiet`, and the timer, when it fires, looks at it.

    def _looked(self, now: float) -> None:
        """The heartbeat looks: a read since its last look counts as a read now."""
        quiet = self._quiet
        if not quiet:
            quiet[0] = None
            self._last_rx = now

    def _send_heartbeat(self) -> None:
        loop = self._loop
        assert loop is not None and self._heartbeat is not None
        now = loop.time()
        self._looked(now)
        due = self._last_rx + self._heartbeat
        if now < due - _EARLY:  # read lately: not due yet (look again soon while reads come)
            self._heartbeat_cb = loop.call_at(min(due, now + self._heartbeat / _LOOKS), self._send_heartbeat)
            return
        self._ping_at = now
        self._heartbeat_when = now
        super()._send_heartbeat()  # sends the ping and arms `_pong_not_received`

    def _pong_not_received(self) -> None:
        loop = self._loop
        assert loop is not None and self._heartbeat is not None
        now = loop.time()
        self._looked(now)
        if self._last_rx >= self._ping_at:  # the pong, or anything else, came after the ping
            self._pong_response_cb = None
            self._heartbeat_cb = loop.call_at(now + self._heartbeat / _LOOKS, self._send_heartbeat)
            return
        super()._pong_not_received()
