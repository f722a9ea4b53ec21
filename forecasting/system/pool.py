"""Work spread over worker processes, answers in the order asked: the same results as a plain loop.

The workers are started by loky (joblib's process back end): fork + exec of a fresh interpreter that,
unlike multiprocessing's spawn and forkserver, does not import the caller's main module. A script that
calls a pool at top level (no ``if __name__ == "__main__":``), a script read from standard input,
``python -c`` and a notebook kernel all work; the work itself must pickle by reference (module-level
functions) or be pickled by the caller (Prefect cloudpickles its task calls)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from forecasting.system.runtime import pin_native_threads

Progress = Callable[[int, int], None]  # (done, total)


def worker_pool(workers: int, initializer: Callable | None = None, initargs: tuple = ()) -> ProcessPoolExecutor:
    """A ``concurrent.futures`` process pool of up to ``workers`` child processes that never re-import
    ``__main__``. ``shutdown(wait=True)`` (leaving its ``with`` block) joins them, so the caller's
    ``RUSAGE_CHILDREN`` counts their CPU."""
    from loky.backend import get_context

    return ProcessPoolExecutor(workers, mp_context=get_context("loky"), initializer=initializer, initargs=initargs)


def ordered_map(fn: Callable, items: Iterable, workers: int, progress: Progress | None = None,
                cost: Callable | None = None) -> list:
    """``[fn(item) for item in items]``, with up to ``workers`` processes (one BLAS/OpenMP thread each).
    ``fn`` and the items must pickle. ``progress(done, total)`` is called as items finish. An exception
    raised by ``fn`` cancels what has not started and is raised here, as the loop would raise it.
    ``cost(item)``: an estimate of an item's work; the costliest start first (longest processing time
    first: the last items to finish are short, so fewer cores wait at the tail). The answers keep
    the order of ``items``."""
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
    order = sorted(range(total), key=lambda i: -cost(items[i])) if cost else range(total)  # stable: equal costs keep their order
    with worker_pool(min(workers, total), initializer=pin_native_threads) as pool:
        submitted = {i: pool.submit(fn, items[i]) for i in order}
        futures = [submitted[i] for i in range(total)]
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
