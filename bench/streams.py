"""Stream clients for the live section: thousands of SSE connections held by one asyncio loop
in a thread of the bench process, recording when each event arrives (wall clock, to compare
with commit times stamped by the producer in the main thread)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import defaultdict

from testkit import SSEParser, open_stream


class Receivers:
    """Open streams keyed by a name; `arrivals[key]` lists (time, id, type, data) per event.

    Only the event types in `keep` store their data (parsed); the others store None, so that
    thousands of idle streams cost the bench process little."""

    def __init__(self, port: int, keep: tuple[str, ...] = ()) -> None:
        self.port, self.keep = port, keep
        self.arrivals: dict = defaultdict(list)
        self.failures: list[str] = []
        self.loop = asyncio.new_event_loop()
        self._tasks: dict = {}
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine, timeout: float):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def _hold(self, key, token: str, last_id: int | None, opened: asyncio.Event) -> None:
        try:
            reader, writer = await open_stream(self.port, token, last_id)
        except (OSError, ConnectionError) as exc:
            self.failures.append(f"{key}: {exc}")
            opened.set()
            return
        parser = SSEParser()
        try:
            while data := await reader.read(1 << 16):
                now = time.time()
                for event_id, kind, body in parser.feed(data):
                    parsed = json.loads(body) if kind in self.keep else None
                    self.arrivals[key].append((now, event_id, kind, parsed))
                    if kind == "ready":
                        opened.set()
        finally:
            opened.set()
            writer.close()

    async def _connect(self, tokens: dict, last_ids: dict, concurrency: int) -> None:
        slots = asyncio.Semaphore(concurrency)

        async def one(key, token):
            async with slots:
                opened = asyncio.Event()
                self._tasks[key] = asyncio.ensure_future(
                    self._hold(key, token, last_ids.get(key), opened)
                )
                await opened.wait()

        await asyncio.gather(*(one(k, t) for k, t in tokens.items()))

    def connect(self, tokens: dict, *, last_ids: dict | None = None, concurrency: int = 50):
        """Open one stream per key and wait until each is live (its `ready` arrived)."""
        timeout = 60 + len(tokens) / 20
        self.run(self._connect(tokens, last_ids or {}, concurrency), timeout=timeout)
        if self.failures:
            raise RuntimeError(f"{len(self.failures)} streams failed: {self.failures[:3]}")

    async def _close(self, keys) -> None:
        tasks = [self._tasks.pop(k) for k in keys if k in self._tasks]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def close(self, keys=None) -> None:
        self.run(self._close(list(self._tasks) if keys is None else keys), timeout=60)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
