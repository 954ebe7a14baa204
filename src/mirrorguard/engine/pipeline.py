"""Two-stage micro-batch pipeline: parse/normalise on a worker thread, store on the caller's.

Polars and DuckDB both release the GIL, so on a two-core machine parsing batch *n + 1* overlaps
with storing batch *n*. The queue is bounded (``depth`` batches), so memory stays bounded by the
batch size whatever the source size. An exception on either side stops both and is re-raised in
the caller's thread; the store transaction then rolls back.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
U = TypeVar("U")

_DONE = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def pipelined(
    source: Callable[[], Iterable[T]], transform: Callable[[T], U], depth: int = 2
) -> Iterator[U]:
    """Yield ``transform(x)`` for each ``x`` of ``source()``, computed on a worker thread."""
    q: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for x in source():
                if not put(transform(x)):
                    return
            put(_DONE)
        except BaseException as exc:
            put(_Failure(exc))

    thread = threading.Thread(target=work, name="mirrorguard-parse", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.exc
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=5)
