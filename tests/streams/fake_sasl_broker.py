"""A listener that speaks just enough Kafka to take a SASL PLAIN password and
refuse it: ApiVersions, SaslHandshake, SaslAuthenticate (neither the embedded
broker nor the shared Apache Kafka has SASL). It keeps every SaslAuthenticate
payload, so a test can prove the password was sent while it checks that no log
line repeats it."""

from __future__ import annotations

import socketserver
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aiokafka.protocol.admin import (
    ApiVersionResponse_v0,
    SaslAuthenticateResponse_v0,
    SaslHandShakeResponse_v1,
)

API_VERSIONS, SASL_HANDSHAKE, SASL_AUTHENTICATE = 18, 17, 36
SASL_AUTHENTICATION_FAILED = 58


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        while True:
            frame = self._read_frame()
            if frame is None:
                return
            api_key, _, correlation_id, client_id_length = struct.unpack(">hhih", frame[:10])
            body = frame[10 + max(client_id_length, 0):]
            if api_key == API_VERSIONS:
                reply = ApiVersionResponse_v0(
                    0, [(API_VERSIONS, 0, 0), (SASL_HANDSHAKE, 1, 1), (SASL_AUTHENTICATE, 0, 0)]
                )
            elif api_key == SASL_HANDSHAKE:
                reply = SaslHandShakeResponse_v1(0, ["PLAIN"])
            elif api_key == SASL_AUTHENTICATE:
                (length,) = struct.unpack(">i", body[:4])
                self.server.payloads.append(body[4:4 + length])
                reply = SaslAuthenticateResponse_v0(
                    SASL_AUTHENTICATION_FAILED, "Authentication failed: invalid credentials", b""
                )
            else:
                return
            message = struct.pack(">i", correlation_id) + reply.encode()
            self.request.sendall(struct.pack(">i", len(message)) + message)

    def _read_frame(self) -> bytes | None:
        head = self._read(4)
        return None if head is None else self._read(struct.unpack(">i", head)[0])

    def _read(self, size: int) -> bytes | None:
        data = b""
        while len(data) < size:
            chunk = self.request.recv(size - len(data))
            if not chunk:
                return None
            data += chunk
        return data


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    payloads: list[bytes]


@contextmanager
def sasl_refusing_broker() -> Iterator[tuple[str, list[bytes]]]:
    """`(bootstrap address, SaslAuthenticate payloads received)` while the block runs."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.payloads = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"{host}:{port}", server.payloads
    finally:
        server.shutdown()
        server.server_close()
