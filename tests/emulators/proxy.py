"""A TCP proxy the tests put between the app and a real local server (the
Cosmos DB stand-in, Azurite) to make that dependency fail for a while:

- `pass_()`: bytes flow both ways (the default);
- `refuse()`: every open connection is cut and new ones are closed at once
  (the service is down: connection refused / reset);
- `stall()`: connections are accepted and held, nothing is forwarded (the
  service hangs: the client's timeouts fire).

Threads only, standard library only; loopback only.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlparse, urlunparse

PASS, REFUSE, STALL = "pass", "refuse", "stall"


class FaultProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.mode = PASS
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        self.accepted = 0
        self.refused = 0
        threading.Thread(target=self._accept, name="fault-proxy", daemon=True).start()

    @classmethod
    def for_url(cls, url: str) -> FaultProxy:
        parsed = urlparse(url)
        return cls(parsed.hostname or "127.0.0.1", parsed.port or (443 if parsed.scheme == "https" else 80))

    def url(self, original: str) -> str:
        """`original` with the proxy's address in place of the server's."""
        parsed = urlparse(original)
        return urlunparse(parsed._replace(netloc=f"127.0.0.1:{self.port}"))

    # ----------------------------------------------------------------- modes
    def pass_(self) -> None:
        self.mode = PASS

    def refuse(self) -> None:
        self.mode = REFUSE
        self._cut_all()

    def stall(self) -> None:
        self.mode = STALL
        self._cut_all()

    @contextlib.contextmanager
    def down(self, mode: str = REFUSE) -> Iterator[None]:
        (self.refuse if mode == REFUSE else self.stall)()
        try:
            yield
        finally:
            self.pass_()

    def close(self) -> None:
        self._closed = True
        self._cut_all()
        self._listener.close()

    # ------------------------------------------------------------- plumbing
    def _cut_all(self) -> None:
        with self._lock:
            sockets, self._open = list(self._open), set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._open.add(sock)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.mode == REFUSE:
                self.refused += 1
                with contextlib.suppress(OSError):
                    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                client.close()  # an RST: connection reset by peer
                continue
            self.accepted += 1
            self._track(client)
            if self.mode == STALL:
                continue  # held open, never answered, until the mode changes or the client gives up
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            self._track(upstream)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data or self.mode != PASS:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()
