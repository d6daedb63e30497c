"""The upstream a provider's own HTTP/1.1 client is tested against: a real socket server that
writes each answer byte for byte (RFC 9112 framing, as the test chooses)."""

from __future__ import annotations

import asyncio


def chunked(*pieces: bytes) -> bytes:
    return b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


class Upstream:
    """Answers each request on a connection with the next of `answers`, then (with
    `close`) closes the connection."""

    def __init__(self, answers: list[bytes], close: bool = False) -> None:
        self.answers = answers
        self.close = close
        self.connections = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        while self.answers:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                int(line.split(b":")[1])
                for line in head.lower().split(b"\r\n")
                if line.startswith(b"content-length")
            )
            await reader.readexactly(length)
            writer.write(self.answers.pop(0))
            await writer.drain()
            if self.close:
                break
        writer.close()
