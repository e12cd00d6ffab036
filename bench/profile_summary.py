"""Summarise a py-spy profile by function: where the time goes, self and inclusive.

    .venv/bin/py-spy record --format raw -o out.raw --pid PID --duration 20
    .venv/bin/python bench/profile_summary.py out.raw [--top 25] [--thread NAME]

`--format raw` writes collapsed stacks (`frame;frame;frame count`), one line per distinct
stack. "self" is time in the function itself, "total" includes its callees; both are shares of
all samples (idle samples included when py-spy was run with `--idle`).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def short(frame: str) -> str:
    """`func (path/to/module.py:12)` -> `module.py:func`."""
    file, func = where(frame)
    if not file:
        return func
    parts = file.split("/")
    module = "/".join(parts[-2:]) if parts[-1] == "__init__.py" else parts[-1]
    return f"{module}:{func}"


def where(frame: str) -> tuple[str, str]:
    """`func (path/to/module.py:12)` -> (`path/to/module.py`, `func`); ("", frame) if no file."""
    match = _FRAME.match(frame.strip())
    return (match.group("file"), match.group("func")) if match else ("", frame.strip())


def stacks(path: Path, thread: str | None = None) -> Iterator[tuple[list[str], int]]:
    """(frames from the outermost, samples) of each distinct stack of a raw profile whose
    outermost frame (its thread's) contains `thread`."""
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        if thread is None or thread in frames[0]:
            yield frames, int(count_text)


def summarise(
    path: Path, thread: str | None = None
) -> tuple[int, Counter[str], Counter[str], Counter[str]]:
    """Samples, self counts, inclusive counts, and counts per thread (the stack's root)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for frames, count in stacks(path, thread):
        root = frames[0]
        total += count
        threads[root] += count
        names = [short(f) for f in frames[1:]] or [root]
        own[names[-1]] += count
        for name in set(names):
            inclusive[name] += count
    return total, own, inclusive, threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("profile", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--thread", help="only stacks whose thread name contains this")
    args = parser.parse_args()
    total, own, inclusive, threads = summarise(args.profile, args.thread)
    if not total:
        print("no samples")
        return
    print(f"{total} samples")
    print("\nby thread:")
    for name, count in threads.most_common(8):
        print(f"  {count / total:6.1%}  {name}")
    print(f"\ntop {args.top} by self time:")
    for name, count in own.most_common(args.top):
        print(f"  {count / total:6.1%}  {name}")
    print(f"\ntop {args.top} by total time (self + callees):")
    for name, count in inclusive.most_common(args.top):
        print(f"  {count / total:6.1%}  {name}")


if __name__ == "__main__":
    main()
