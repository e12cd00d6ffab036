"""The decision core at a git revision against the working tree, measured back to back.

Run: .venv/bin/python bench/ab_decision.py [REV (default HEAD)] [--rounds N (default 20)]
     .venv/bin/python bench/ab_decision.py [REV] --instructions   (needs valgrind, ~2 minutes)

On a shared machine `bench_decision.py` moves by a third from one run to the next. Here each
side is a `bench_decision.py --serve` process with its own `consumer` package (REV's from
`git archive`), built once and then told to time one pass at a time. Each pass of one side is
followed by the same pass of the other (who goes first alternates), so both see the same load.
Printed per side: each stage's best pass, and the median over rounds of the decision's cost
beyond decoding (that round's whole-decision pass minus its decode pass).

`--instructions` counts instead, with valgrind: the CPU instructions per event of the decision
beyond decoding (a whole-decision pass minus a decode pass, over every tenth bench event, hash
seed fixed). It does not move with the machine's load: the figure for changes of a few percent.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from bench_decision import AFTER_DECODE, COUNT, DECODE, WHOLE, with_gap

ROOT = Path(__file__).resolve().parent.parent
STAGES = (DECODE, WHOLE)
VALGRIND = ("valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null")


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


def instructions(path: Path, *command: str) -> int:
    """The instructions valgrind counts in `python COMMAND...` run with the `consumer` package
    at `path` (hash seed fixed): the figure that does not move with the machine's load."""
    run = subprocess.run(
        [*VALGRIND, sys.executable, *command],
        env={**os.environ, "PYTHONPATH": str(path), "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        check=True,
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", run.stderr)
    assert found is not None, run.stderr
    return int(found.group(1).replace(",", ""))


def _instructions(path: Path, stage: str) -> int:
    return instructions(path, str(ROOT / "bench" / "bench_decision.py"), "--once", stage)


def _count(paths: dict[str, Path]) -> None:
    events = len(range(0, COUNT, 10))
    for name, path in paths.items():
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(path / "consumer")], check=True
        )
        gap = _instructions(path, WHOLE) - _instructions(path, DECODE)
        print(f"  {name:12}  {AFTER_DECODE} {gap / events:9,.0f} instructions/event")


def _pass(side: subprocess.Popen[str], stage: str) -> float:
    assert side.stdin is not None and side.stdout is not None
    side.stdin.write(stage + "\n")
    side.stdin.flush()
    return float(side.stdout.readline())


def _rounds(
    sides: dict[str, subprocess.Popen[str]], rounds: int
) -> dict[str, list[dict[str, float]]]:
    """Each side's figures per round, every stage timed on both sides one after the other."""
    names = list(sides)
    timed: dict[str, list[dict[str, float]]] = {name: [] for name in names}
    for number in range(rounds):
        order = names if number % 2 == 0 else names[::-1]
        figures: dict[str, dict[str, float]] = {name: {} for name in names}
        for stage in STAGES:
            for name in order:
                figures[name][stage] = _pass(sides[name], stage)
        for name in names:
            timed[name].append(figures[name])
    return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rev", nargs="?", default="HEAD")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--instructions", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as before_dir:
        _archive(args.rev, Path(before_dir))
        if args.instructions:
            _count({args.rev: Path(before_dir), "working tree": ROOT})
            return
        sides = {args.rev: _serve(Path(before_dir)), "working tree": _serve(ROOT)}
        try:
            timed = _rounds(sides, args.rounds)
        finally:
            for side in sides.values():
                assert side.stdin is not None
                side.stdin.close()
                side.wait()
    print(f"{args.rounds} rounds, us/event: best pass per stage; median of the per-round gap")
    for name, rows in timed.items():
        best = with_gap({stage: min(row[stage] for row in rows) for stage in STAGES})
        median = statistics.median(row[WHOLE] - row[DECODE] for row in rows)
        figures = "  ".join(f"{stage} {us:6.2f}" for stage, us in best.items())
        print(f"  {name:12}  {figures}  ({AFTER_DECODE}, median {median:6.2f})")


if __name__ == "__main__":
    main()
