"""A longer fault campaign than the tests run: trials of random faults, each followed by reruns, checking that
no cell is lost or corrupt and that the data are bit-identical to an uninterrupted run (tests/campaign.py).

    python3 benchmarks/bench_faults.py --trials 40 --seed 1       # as root for the full-disk faults

Prints one line per trial and a summary: trials, faults by kind, failures.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from campaign import KINDS, Campaign  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--kinds", default=",".join(KINDS), help="comma-separated fault kinds to draw from")
    args = ap.parse_args()
    kinds = tuple(args.kinds.split(","))
    c = Campaign(Path(tempfile.mkdtemp(prefix="faults-")), seed=args.seed)
    t0 = time.time()
    outcomes = []
    try:
        c.reference()
        for i, kind in enumerate(c.schedule(args.trials, kinds)):
            o = c.trial(i, kind)
            outcomes.append(o)
            print(f"trial {i:3d} {o.kind:15s} {'ok  ' if o.ok else 'FAIL'} {o.seconds:6.1f} s  {o.detail}"
                  + ("" if o.ok else "\n      " + "\n      ".join(o.problems)), flush=True)
    finally:
        c.cleanup()
    by_kind = collections.Counter(o.kind for o in outcomes)
    failed = [o for o in outcomes if not o.ok]
    print(f"\n{len(outcomes)} trials in {time.time() - t0:.0f} s (seed {args.seed}); faults: "
          + ", ".join(f"{k} {by_kind[k]}" for k in kinds if by_kind[k]) + f"; failures: {len(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
