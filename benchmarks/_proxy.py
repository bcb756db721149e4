"""A TCP proxy on 127.0.0.1 that adds a fixed delay to every request.

    with DelayProxy("127.0.0.1", 5000, delay_ms=20) as proxy:
        url = proxy.url            # http://127.0.0.1:<port>, point clients here
        ...
        proxy.requests             # request bursts seen so far (about: HTTP requests)

The delay models a round trip to a remote object store: the first bytes of each
client->server burst wait ``delay_ms`` before they are forwarded. A burst starts with
the first client bytes on a connection and with any client bytes sent after the server
has answered (HTTP/1.1 without pipelining, as botocore and Go's net/http do), so a
keep-alive connection pays the delay once per request, not once per connection. The
body of a request is part of its burst and is not delayed again; a request with
``Expect: 100-continue`` pays twice (header, then body after the interim answer), as it
would over a real link.

Bounded: listens on 127.0.0.1 only, serves at most ``max_connections`` connections at
once (more wait in the accept queue), and closes every socket and thread when the
context manager exits.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from types import TracebackType

__all__ = ["DelayProxy"]

_CHUNK = 256 << 10


class _Conn:
    """One client connection and its upstream socket; two pump threads."""

    def __init__(self, proxy: DelayProxy, client: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = socket.create_connection((proxy.target_host, proxy.target_port))
        for s in (client, self.upstream):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.new_request = True  # the next client bytes start a request
        self._lock = threading.Lock()
        self._open = 2

    def start(self) -> None:
        threading.Thread(target=self._pump_up, daemon=True).start()
        threading.Thread(target=self._pump_down, daemon=True).start()

    def _pump_up(self) -> None:
        """client -> server, delaying the first chunk of each request."""
        try:
            while True:
                data = self.client.recv(_CHUNK)
                if not data:
                    break
                with self._lock:
                    first, self.new_request = self.new_request, False
                if first:
                    self.proxy._count()
                    if self.proxy.delay > 0:
                        time.sleep(self.proxy.delay)
                self.upstream.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                self.upstream.shutdown(socket.SHUT_WR)
            self._done()

    def _pump_down(self) -> None:
        """server -> client; any answer ends the current request."""
        try:
            while True:
                data = self.upstream.recv(_CHUNK)
                if not data:
                    break
                with self._lock:
                    self.new_request = True
                self.client.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                self.client.shutdown(socket.SHUT_WR)
            self._done()

    def _done(self) -> None:
        with self._lock:
            self._open -= 1
            last = self._open == 0
        if last:
            self.close()

    def close(self) -> None:
        for s in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()
        self.proxy._release(self)


class DelayProxy:
    """Forward 127.0.0.1:<port> to ``target_host:target_port`` with ``delay_ms`` per request."""

    def __init__(
        self,
        target_host: str,
        target_port: int,
        *,
        delay_ms: float = 0.0,
        max_connections: int = 128,
    ) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.delay = delay_ms / 1000.0
        self.max_connections = max_connections
        self._slots = threading.BoundedSemaphore(max_connections)
        self._conns: set[_Conn] = set()
        self._lock = threading.Lock()
        self._requests = 0
        self.connections = 0  # accepted so far
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @classmethod
    def for_url(cls, url: str, **kw: float | int) -> DelayProxy:
        """A proxy in front of ``http://host:port``."""
        hostport = url.split("://", 1)[-1].split("/", 1)[0]
        host, _, port = hostport.rpartition(":")
        return cls(host, int(port), **kw)  # type: ignore[arg-type]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def requests(self) -> int:
        """Request bursts forwarded so far."""
        with self._lock:
            return self._requests

    def set_delay(self, delay_ms: float) -> None:
        self.delay = delay_ms / 1000.0

    def _count(self) -> None:
        with self._lock:
            self._requests += 1

    def _release(self, conn: _Conn) -> None:
        with self._lock:
            if conn not in self._conns:
                return
            self._conns.discard(conn)
        self._slots.release()

    def _serve(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            if not self._slots.acquire(timeout=0.2):
                continue
            client = None
            while not self._stop.is_set():
                try:
                    client, _ = self._sock.accept()
                    break
                except TimeoutError:
                    continue
                except OSError:
                    break
            if client is None:
                self._slots.release()
                continue
            try:
                conn = _Conn(self, client)
            except OSError:
                client.close()
                self._slots.release()
                continue
            with self._lock:
                self._conns.add(conn)
                self.connections += 1
            conn.start()

    def __enter__(self) -> DelayProxy:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        sock.settimeout(0.2)
        self._sock = sock
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, name="delay-proxy", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            c.close()


if __name__ == "__main__":  # a self-check: a tiny HTTP server, keep-alive requests
    import http.client
    import http.server

    class _H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            body = b"ok"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    for delay in (0, 20):
        with DelayProxy("127.0.0.1", srv.server_address[1], delay_ms=delay) as p:
            c = http.client.HTTPConnection("127.0.0.1", p.port)
            t0 = time.perf_counter()
            for _ in range(10):
                c.request("GET", "/")
                assert c.getresponse().read() == b"ok"
            dt = (time.perf_counter() - t0) / 10 * 1000
            c.close()
            print(
                f"delay {delay} ms: {dt:.1f} ms per request on one keep-alive connection, "
                f"{p.requests} requests, {p.connections} connection(s)"
            )
    srv.shutdown()
