"""Requests as raw bytes, for what an HTTP client library refuses to send (header bytes that are
not UTF-8, hand-made multipart bodies), and the reply as a tests.fixtures.api.Reply."""

from __future__ import annotations

import asyncio
import json

from multidict import CIMultiDict, CIMultiDictProxy

from tests.fixtures.api import Api, Reply


async def raw_request(
    api: Api, method: str, path: str, headers: list[tuple[str, bytes]], body: bytes = b""
) -> Reply:
    """Send one request over a fresh connection exactly as given; header values are bytes."""
    server = api.client.server
    reader, writer = await asyncio.open_connection(server.host, server.port)
    lines = [f"{method} {path} HTTP/1.1".encode(), f"Host: {server.host}:{server.port}".encode()]
    lines += [name.encode() + b": " + value for name, value in headers]
    lines += [b"Connection: close", f"Content-Length: {len(body)}".encode()]
    writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
    try:
        raw = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, content = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed: CIMultiDict[str] = CIMultiDict()
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed.add(name.strip(), value.strip())
    text = content.decode("utf-8", "replace")
    is_json = parsed.get("Content-Type", "").startswith("application/json")
    return Reply(
        int(status_line.split()[1]),
        json.loads(text) if is_json else None,
        CIMultiDictProxy(parsed),
        text,
    )
