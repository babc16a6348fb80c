"""A TCP proxy between the app and a server (PostgreSQL) that a test can cut, like a restart.

``cut()`` resets every proxied connection and stops listening, so new connections are
refused (what clients see while a database restarts); ``restore()`` listens again on the
same port. Plain threads: two pumps per connection, one acceptor.
"""
from __future__ import annotations

import socket
import struct
import threading

from tests.support.net import free_port


def _reset(sock: socket.socket) -> None:
    """Close with an RST, as a crashed peer would, waking any thread blocked on it."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


class TcpProxy:
    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self.accepted = 0  # connections proxied since start, to prove the app went through us
        self._lock = threading.Lock()
        self._pairs: set[tuple[socket.socket, socket.socket]] = set()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None

    # --- control ----------------------------------------------------------------------------

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        self._acceptor = threading.Thread(target=self._accept_loop, args=(listener,), daemon=True,
                                          name=f"proxy-{self.port}-accept")
        self._acceptor.start()

    def cut(self) -> int:
        """Refuse new connections and reset the open ones; returns how many were open."""
        self._stop_listening()
        with self._lock:
            pairs, self._pairs = self._pairs, set()
        for client, upstream in pairs:
            _reset(client)
            _reset(upstream)
        return len(pairs)

    def restore(self) -> None:
        self.start()

    def close(self) -> None:
        self.cut()

    @property
    def open_connections(self) -> int:
        with self._lock:
            return len(self._pairs)

    # --- internals --------------------------------------------------------------------------

    def _stop_listening(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
            except OSError:
                pass
            listener.close()
        if self._acceptor is not None:
            self._acceptor.join(timeout=5)
            self._acceptor = None

    def _accept_loop(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # listener closed: cut() or close()
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _reset(client)
                continue
            for sock in (client, upstream):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = (client, upstream)
            with self._lock:
                if self._listener is not listener:  # cut while we were connecting
                    _reset(client)
                    _reset(upstream)
                    return
                self._pairs.add(pair)
                self.accepted += 1
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst, pair), daemon=True,
                                 name=f"proxy-{self.port}-pump").start()

    def _pump(self, src: socket.socket, dst: socket.socket, pair) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        # One side closed (or was reset): close both, once.
        with self._lock:
            if pair not in self._pairs:
                return
            self._pairs.discard(pair)
        for sock in pair:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
