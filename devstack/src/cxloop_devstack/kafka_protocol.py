"""Just enough of the Kafka wire protocol to ask a broker for its metadata.

Used as the readiness check: a broker that answers a Metadata request listing itself has
finished starting, and the check needs no event loop, so ``start()`` can stay synchronous.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

_METADATA_API_KEY = 3
# v4 is the oldest version Kafka 4.x still serves (KIP-896) and the newest non-flexible
# one, so the encoding stays trivial; Tansu serves it too.
_METADATA_VERSION = 4
_CLIENT_ID = b"cxloop-devstack"
_MAX_RESPONSE = 1 << 20


@dataclass(frozen=True)
class BrokerInfo:
    """One broker as listed in a Metadata response."""

    node_id: int
    host: str
    port: int


def fetch_brokers(host: str, port: int, timeout: float = 2.0) -> list[BrokerInfo]:
    """Send a Metadata v4 request to ``host:port`` and return the brokers it lists.

    Raises ``OSError`` when the broker is unreachable or hangs up, ``ValueError`` on a
    malformed answer.
    """
    correlation_id = 1
    header = struct.pack(
        ">hhih", _METADATA_API_KEY, _METADATA_VERSION, correlation_id, len(_CLIENT_ID)
    )
    # topics = null (int32 -1: no topic details wanted), allow_auto_topic_creation = false
    body = struct.pack(">ib", -1, 0)
    request = header + _CLIENT_ID + body
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(struct.pack(">i", len(request)) + request)
        size = struct.unpack(">i", _recv_exact(sock, 4))[0]
        # Something other than Kafka on that port would announce an absurd size.
        if not 0 < size <= _MAX_RESPONSE:
            raise ValueError(f"not a Kafka response (size {size})")
        payload = _recv_exact(sock, size)
    try:
        return _parse_brokers(payload, correlation_id)
    except struct.error as exc:
        raise ValueError(f"malformed Metadata response: {exc}") from exc


def _parse_brokers(payload: bytes, correlation_id: int) -> list[BrokerInfo]:
    got_id, _throttle_ms, count = struct.unpack_from(">iii", payload, 0)
    if got_id != correlation_id:
        raise ValueError(f"unexpected correlation id {got_id}")
    offset = 12
    brokers = []
    for _ in range(count):
        node_id, host_len = struct.unpack_from(">ih", payload, offset)
        offset += 6
        host = payload[offset : offset + host_len].decode()
        offset += host_len
        (port,) = struct.unpack_from(">i", payload, offset)
        offset += 4
        (rack_len,) = struct.unpack_from(">h", payload, offset)
        offset += 2 + max(rack_len, 0)
        brokers.append(BrokerInfo(node_id, host, port))
    return brokers


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size > 0:
        chunk = sock.recv(size)
        if not chunk:
            raise ConnectionError("broker closed the connection")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)
