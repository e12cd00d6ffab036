"""The decision core at a git revision against the working tree, measured back to back.

Run: .venv/bin/python bench/ab_decision.py [REV (default HEAD)] [--rounds N (default 20)]

On a shared machine `bench_decision.py` moves by a third from one run to the next. Here each
side is a `bench_decision.py --serve` process with its own `consumer` package (REV's from
`git archive`), built once and then told to time one pass at a time; the passes alternate, so
both sides see the same load, and each stage keeps its best pass.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from bench_decision import with_gap

ROOT = Path(__file__).resolve().parent.parent


def _archive(rev: str, into: Path) -> None:
    """REV's `consumer` package and the schemas it reads, unpacked into `into`."""
    tar = subprocess.run(
        ["git", "archive", rev, "consumer", "schemas"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        archive.extractall(into, filter="data")


def _serve(path: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "bench_decision.py"), "--serve"],
        env={**os.environ, "PYTHONPATH": str(path)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def _measure(side: subprocess.Popen[str]) -> dict[str, float]:
    assert side.stdin is not None and side.stdout is not None
    side.stdin.write("\n")
    side.stdin.flush()
    answer: dict[str, float] = json.loads(side.stdout.readline())
    return answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev", nargs="?", default="HEAD")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as before_dir:
        _archive(args.rev, Path(before_dir))
        sides = {args.rev: _serve(Path(before_dir)), "working tree": _serve(ROOT)}
        best: dict[str, dict[str, float]] = {name: {} for name in sides}
        try:
            for _ in range(args.rounds):
                for name, side in sides.items():
                    for stage, us in _measure(side).items():
                        best[name][stage] = min(us, best[name].get(stage, us))
        finally:
            for side in sides.values():
                assert side.stdin is not None
                side.stdin.close()
                side.wait()
    print(f"best of {args.rounds} alternating passes, us/event")
    for name, stages in best.items():
        figures = with_gap(stages).items()
        print(f"  {name:14}", "  ".join(f"{stage} {us:6.2f}" for stage, us in figures))


if __name__ == "__main__":
    main()
