"""Work spread over worker processes, answers in the order asked: the same results as a plain loop."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from forecasting.system.runtime import pin_native_threads

Progress = Callable[[int, int], None]  # (done, total)


def ordered_map(fn: Callable, items: Iterable, workers: int, progress: Progress | None = None, preload: tuple[str, ...] = ()) -> list:
    """``[fn(item) for item in items]``, with up to ``workers`` processes (one BLAS/OpenMP thread each).
    ``fn`` and the items must pickle. ``progress(done, total)`` is called as items finish. An exception
    raised by ``fn`` cancels what has not started and is raised here, as the loop would raise it.
    ``preload``: modules the workers need, imported once for all of them."""
    items = list(items)
    total = len(items)
    if progress:
        progress(0, total)
    if workers <= 1 or total <= 1:
        results = []
        for item in items:
            results.append(fn(item))
            if progress:
                progress(len(results), total)
        return results
    with ProcessPoolExecutor(min(workers, total), mp_context=_context(preload), initializer=pin_native_threads) as pool:
        futures = [pool.submit(fn, item) for item in items]
        pending, done = set(futures), 0
        while pending:
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                if future.exception() is not None:
                    for other in pending:
                        other.cancel()
                    raise future.exception()
            done += len(finished)
            if progress:
                progress(done, total)
        return [future.result() for future in futures]


def _context(preload: tuple[str, ...]):
    """Workers fork from a server process that imported ``preload`` once: no import per worker, and never
    a fork of a parent that already runs threads (pyarrow's, for one). Spawn where there is no fork."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(preload))
    return context
