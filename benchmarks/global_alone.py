"""The global model alone on a whole competition set, in seconds: fitted once on every series' training
part (``forecasting.global_fit.fit_final``), scored on the test part beside the anchors' mean of a saved
run (``benchmarks/results/accuracy-tourism.json`` by default). How its settings were compared.

    python -m benchmarks.global_alone tourism-quarterly tourism-monthly
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np

from benchmarks.candidates import prepare_series
from benchmarks.datasets import SETS
from benchmarks.scoring import ANCHOR_MEAN, mase, smape

SAVED = Path(__file__).resolve().parent / "results" / "accuracy-tourism.json"


def main(argv: list[str] | None = None) -> int:
    from forecasting.global_fit import fit_final
    from forecasting.models import ModelSpec

    parser = argparse.ArgumentParser(prog="python -m benchmarks.global_alone", description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="+", choices=sorted(SETS))
    parser.add_argument("--saved", type=Path, default=SAVED, help="a saved accuracy run with the anchors' per-series scores")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    saved = json.loads(args.saved.read_text())["sets"]
    for name in args.sets:
        series = SETS[name]()
        segments = [prepare_series(s)[0] for s in series]
        started = time.perf_counter()
        _, members = fit_final([g for g in segments if g is not None], ModelSpec())
        seconds = time.perf_counter() - started
        anchors = {r["series"]: r["mase"][ANCHOR_MEAN] for r in saved.get(name, {}).get("per_series", [])}
        scored = [(s, members[s.name].path["yhat"].to_numpy()[: s.horizon]) for s in series if s.name in members]
        q = np.mean([mase(s.test, f, s.train, s.season) for s, f in scored])
        line = f"{name}: global alone sMAPE {np.mean([smape(s.test, f) for s, f in scored]):.2f} MASE {q:.3f} ({len(scored)} series, fit and forecast {seconds:.0f} s)"
        if anchors:
            line += f"; anchors' mean MASE {np.mean([anchors[s.name] for s, _ in scored if s.name in anchors]):.3f} (saved run)"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
