"""Minimal raw-socket SSE client used by the bench scripts (asyncio streams, uvloop)."""
import asyncio
import json
import time


class Stream:
    __slots__ = ("reader", "writer", "buf", "frames", "hb", "task", "on_frame")

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer
        self.buf = b""
        self.frames = 0
        self.hb = 0
        self.task = None
        self.on_frame = None

    async def pump(self):
        """Read until EOF; count heartbeats, hand data frames to on_frame(stream, text, t_recv)."""
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    return
                now = time.time()
                self.buf += data
                while b"\n\n" in self.buf:
                    frame, self.buf = self.buf.split(b"\n\n", 1)
                    if b": hb" in frame or b"keep-alive" in frame:
                        self.hb += 1
                    elif b"data: {" in frame and self.on_frame:
                        self.frames += 1
                        self.on_frame(self, frame, now)
        except (ConnectionError, asyncio.CancelledError):
            return

    def close(self):
        try:
            self.writer.transport.abort()
        except Exception:
            pass


async def open_stream(host, port, path, ready_marker=b": connected", timeout=60):
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n\r\n".encode()
    )
    buf = b""
    deadline = time.monotonic() + timeout
    while ready_marker not in buf:
        chunk = await asyncio.wait_for(reader.read(65536), max(0.01, deadline - time.monotonic()))
        if not chunk:
            raise ConnectionError("closed before first event: %r" % buf[:200])
        buf += chunk
    if not buf.startswith(b"HTTP/1.1 200"):
        raise ConnectionError(buf[:200])
    s = Stream(reader, writer)
    # keep what followed the marker's frame
    s.buf = buf.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in buf else b""
    return s


async def open_many(host, port, paths, concurrency=200):
    """Open all streams (at most `concurrency` handshakes in flight). Returns (streams, failures, seconds)."""
    sem = asyncio.Semaphore(concurrency)
    streams, failures = [], []

    async def one(p):
        async with sem:
            try:
                streams.append(await open_stream(host, port, p))
            except Exception as e:  # noqa: BLE001
                failures.append(repr(e)[:200])

    t0 = time.monotonic()
    await asyncio.gather(*(one(p) for p in paths))
    dt = time.monotonic() - t0
    for s in streams:
        s.task = asyncio.ensure_future(s.pump())
    return streams, failures, dt


async def http_get_json(host, port, path):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    data = await reader.read(-1)
    writer.close()
    head, body = data.split(b"\r\n\r\n", 1)
    if b"chunked" in head.lower():
        out, rest = b"", body
        while rest:
            size_s, rest = rest.split(b"\r\n", 1)
            size = int(size_s, 16)
            if size == 0:
                break
            out += rest[:size]
            rest = rest[size + 2:]
        body = out
    return json.loads(body)
