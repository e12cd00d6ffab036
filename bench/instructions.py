"""The instructions pass: CPU instructions per event of the consumer's whole path, counted with
valgrind, and the gates they must hold. Part of `make bench`; alone: `make bench-instructions`.

Run: .venv/bin/python bench/instructions.py [--json PATH] [--no-syscalls]
     (`--once decode|decide N`, `--once client N URL` run one harness pass)

CPU time per event moves by up to 2x within one run on a shared machine; instructions counted
by valgrind (`--tool=callgrind`, hash seed fixed) repeat to about 0.01 %, so they are the figures
that gate. Each figure is the difference of two passes of one harness, `MANY` and `FEW` units,
over `MANY - FEW`, so start-up (imports, config, connections) is not in it. Harnesses:

- whole path, per mode (`whole_path.py`): the consumer's own `run` command, librdkafka faked at
  confluent-kafka's interface, delivering with the built-in HTTP client to nginx
  (`nginx_server.py`); one thread per valgrind file (`--separate-threads=yes`): thread 1 is the
  delivery loop (sender, HTTP client, outcomes, offsets), the later ones the Kafka thread
  (records, decision, hand-over, commits);
- decode: `Decoder.decode` of the workload's Confluent-Avro values;
- decide: `decide_record` (decode, check, route, map, bodies) minus decode;
- client: `open_transport` (the built-in client) POSTing the workload's bodies to nginx,
  `max_in_flight` at a time, per request.

Derived: intake = the Kafka thread - decide_record (the Kafka thread's work per record beyond the
decision); delivery loop = the loop thread - the client's per request x requests per event. The
sum per mode is the whole path from a consumed record to its committed offset. What valgrind
does not see (the kernel) is beside it: system calls per event, counted by `strace -c -f` over
the same harnesses run natively (a difference of two passes too).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import concurrent.futures
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ab_intake
import kit
import orjson
from bench_decision import default_destination
from nginx_server import NginxServer
from workload import events

from consumer import cli
from consumer.core.decision import decide_record
from consumer.core.decode import Decoder, avro_codec
from consumer.core.movableink import Request, body_bytes
from consumer.core.segment import Place
from consumer.settings import DeliverySettings
from consumer.shell.http import open_transport
from devkit import harness

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve()
WHOLE_PATH = HERE.with_name("whole_path.py")
FEW, MANY = 300, 1_500  # events of a whole-path pass, requests of a client pass
UNIT_FEW, UNIT_MANY = 500, 2_500  # events of a decode or decide pass
POOL = 1_000
MAX_IN_FLIGHT = 256
MODES = ("single", "batch")
# The gates (issue 26), in instructions per event (per request for the client).
GATES = {"single": 250_000, "batch": 140_000, "client": 30_000}
CALLGRIND = ("valgrind", "--tool=callgrind", "--separate-threads=yes")
SYSCALL_ROW = re.compile(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$")


# -- the small harnesses (`--once`) ---------------------------------------------------------


def _values() -> list[bytes]:
    return [avro_codec.frame(1, avro_codec.encode(m)) for m in events(POOL, people=POOL)]


def once_decode(count: int) -> None:
    values, decoder = _values(), Decoder()
    for i in range(count):
        decoder.decode(values[i % POOL])


def once_decide(count: int) -> None:
    values, decoder, destinations = _values(), Decoder(), (default_destination(),)
    places = [Place("t", 0, i) for i in range(POOL)]  # made before, as records are read
    for i in range(count):
        decide_record(values[i % POOL], decoder, destinations, places[i % POOL])


def once_client(count: int, url: str) -> None:
    """`count` POSTs of the workload's bodies, `MAX_IN_FLIGHT` at a time, on the consumer's
    own event loop; as the consumer sends them: each body encoded once, before."""
    auth = base64.b64encode(f"{harness.USERNAME}:{harness.PASSWORD}".encode()).decode()
    headers = {"Authorization": f"Basic {auth}", "Content-Type": "application/json"}
    requests = [(Request(url, headers, b), body_bytes(b)) for b in events(POOL, people=POOL)]

    async def load() -> None:
        transport = open_transport(
            "builtin", max_connections=MAX_IN_FLIGHT, timeout_s=DeliverySettings.timeout
        )
        left = iter(range(count))

        async def worker() -> None:
            for i in left:
                answer = await transport.post(*requests[i % POOL])
                assert answer.status == 200, answer

        try:
            await asyncio.gather(*(worker() for _ in range(MAX_IN_FLIGHT)))
        finally:
            await transport.aclose()

    cli.run_loop(load())


# -- counting -------------------------------------------------------------------------------


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "0"}


def _under(tool: str, wrapper: list[str], command: tuple[str, ...]) -> str:
    """The stdout of `python COMMAND...` run by `wrapper`; its failure raised with its stderr."""
    run = subprocess.run(
        [*wrapper, sys.executable, *command],
        env=_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed under {tool}:\n{run.stderr[-3000:]}")
    return run.stdout


def callgrind(*command: str) -> tuple[dict[int, int], str]:
    """Instructions per valgrind thread number of `python COMMAND...`, and its stdout."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "cg.out"
        stdout = _under("valgrind", [*CALLGRIND, f"--callgrind-out-file={out}"], command)
        threads = {}
        for path in Path(folder).glob("cg.out-*"):
            found = re.search(r"^summary:\s+(\d+)", path.read_text(errors="replace"), re.M)
            assert found is not None, path
            threads[int(path.name.rsplit("-", 1)[1])] = int(found.group(1))
    return threads, stdout


def strace(*command: str) -> tuple[dict[str, int], str]:
    """System calls by name of `python COMMAND...` and all its threads, and its stdout."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "strace.txt"
        stdout = _under("strace", ["strace", "-c", "-f", "-o", str(out)], command)
        calls = {}
        for line in out.read_text().splitlines():
            row = SYSCALL_ROW.match(line)
            if row is not None and row.group(2) != "total":
                calls[row.group(2)] = int(row.group(1))
    return calls, stdout


def _per(few: float, many: float, span: int) -> float:
    return (many - few) / span


def _whole_path(mode: str, url: str) -> dict[str, Any]:
    """Instructions per event of one mode's whole path, split by thread, and its requests."""
    counted = {}
    for n in (FEW, MANY):
        threads, out = callgrind(str(WHOLE_PATH), mode, str(n), url)
        made = orjson.loads(out.strip().splitlines()[-1])
        loop = threads[1]
        kafka = sum(v for t, v in threads.items() if t >= 3)
        counted[n] = (loop, kafka, made["requests"])
    span = MANY - FEW
    return {
        "loop": _per(counted[FEW][0], counted[MANY][0], span),
        "kafka_thread": _per(counted[FEW][1], counted[MANY][1], span),
        "requests_per_event": counted[MANY][2] / MANY,
    }


def _unit(stage: str, *extra: str, few: int = UNIT_FEW, many: int = UNIT_MANY) -> float:
    command = (str(HERE), "--once", stage)
    total = [sum(callgrind(*command, str(n), *extra)[0].values()) for n in (few, many)]
    return _per(total[0], total[1], many - few)


def _syscalls(url: str) -> dict[str, Any]:
    """System calls per event of each mode's whole path, and per request of the client."""
    found: dict[str, Any] = {}
    for mode in MODES:
        few, _ = strace(str(WHOLE_PATH), mode, str(FEW), url)
        many, _ = strace(str(WHOLE_PATH), mode, str(MANY), url)
        found[mode] = _syscall_figures(few, many, MANY - FEW)
    few, _ = strace(str(HERE), "--once", "client", str(FEW), url)
    many, _ = strace(str(HERE), "--once", "client", str(MANY), url)
    found["client"] = _syscall_figures(few, many, MANY - FEW)
    return found


def _syscall_figures(few: dict[str, int], many: dict[str, int], span: int) -> dict[str, Any]:
    by_name = {k: (many.get(k, 0) - few.get(k, 0)) / span for k in set(few) | set(many)}
    top = sorted(by_name.items(), key=lambda kv: -kv[1])[:6]
    return {"per_unit": sum(by_name.values()), "top": {k: round(v, 2) for k, v in top}}


def _said(name: str, job: Callable[[], Any]) -> Any:
    started = time.monotonic()
    found = job()
    kit.say(f"  instructions: {name} counted ({time.monotonic() - started:.0f} s)")
    return found


def measure(folder: Path, syscalls: bool = True) -> dict[str, Any]:
    """Every figure of the pass, and the gates; nginx runs for the duration."""
    with NginxServer(folder / "nginx") as server:
        url = server.url
        jobs: dict[str, Callable[[], Any]] = {
            "single": lambda: _whole_path("single", url),
            "batch": lambda: _whole_path("batch", url),
            "decode": lambda: _unit("decode"),
            "decision": lambda: _unit("decide"),
            "client": lambda: _unit("client", url, few=FEW, many=MANY),
            "identity_gate": ab_intake.gate_instructions,
        }
        with concurrent.futures.ThreadPoolExecutor(2) as pool:  # the machine's two cores
            futures = {name: pool.submit(_said, name, job) for name, job in jobs.items()}
            got = {name: future.result() for name, future in futures.items()}
        found_syscalls = _syscalls(url) if syscalls else None
    decode, decision, client = got["decode"], got["decision"], got["client"]
    modes = {}
    for mode in MODES:
        whole = got[mode]
        per_request = client * whole["requests_per_event"]
        modes[mode] = {
            "decode": decode,
            "decide": decision - decode,
            "intake": whole["kafka_thread"] - decision,
            "delivery_loop": whole["loop"] - per_request,
            "http_client": per_request,
            "total": whole["loop"] + whole["kafka_thread"],
            "kafka_thread": whole["kafka_thread"],
            "loop_thread": whole["loop"],
            "events_per_request": 1 / whole["requests_per_event"],
        }
    gates = {
        "batch": {"figure": modes["batch"]["total"], "limit": GATES["batch"]},
        "single": {"figure": modes["single"]["total"], "limit": GATES["single"]},
        "client": {"figure": client, "limit": GATES["client"]},
    }
    for gate in gates.values():
        gate["holds"] = gate["figure"] <= gate["limit"]
    return {
        "unit": "instructions per event (client: per request)",
        "passes": {"few": FEW, "many": MANY, "unit_few": UNIT_FEW, "unit_many": UNIT_MANY},
        "client_per_request": client,
        "in_flight": MAX_IN_FLIGHT,
        "modes": modes,
        "identity_gate": got["identity_gate"],
        "gates": gates,
        **({"syscalls": found_syscalls} if found_syscalls else {}),
    }


def lines(found: dict[str, Any]) -> list[str]:
    """The pass as the bench prints it: one line per mode, then each gate."""
    shown = []
    parts = ("decode", "decide", "intake", "delivery_loop", "http_client")
    for mode, figures in found["modes"].items():
        split = "  ".join(f"{k} {figures[k]:,.0f}" for k in parts)
        shown.append(
            f"  {mode:6} {figures['total']:9,.0f} instructions/event = {split}"
            f"  ({figures['events_per_request']:,.0f} events/request)"
        )
    shown.append(f"  client {found['client_per_request']:9,.0f} instructions/request (nginx)")
    gate = found.get("identity_gate")
    if gate:
        shown.append(
            f"  the Kafka thread per record (read to hand-over, bench/ab_intake.py --gate): "
            f"identity gate off {gate['off']:,.0f}, enforce {gate['enforce']:,.0f} instructions"
        )
    calls = found.get("syscalls")
    if calls:
        shown.append(
            "  syscalls: "
            + ", ".join(f"{k} {v['per_unit']:.1f}" for k, v in calls.items())
            + " per event (client: per request)"
        )
    for name, gate in found["gates"].items():
        verdict = "holds" if gate["holds"] else "MISSED"
        shown.append(f"  gate {name}: {gate['figure']:,.0f} <= {gate['limit']:,}: {verdict}")
    return shown


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--once", nargs="+", metavar="STAGE")
    parser.add_argument(
        "--json",
        type=Path,
        default=kit.RESULTS / "instructions-latest.json",
        help="where the figures go too (default: instructions-latest.json in the results folder)",
    )
    parser.add_argument("--no-syscalls", action="store_true")
    args = parser.parse_args()
    if args.once:
        stage, count, *rest = args.once
        once: dict[str, Callable[..., object]] = {
            "decode": once_decode,
            "decide": once_decide,
            "client": once_client,
        }
        once[stage](int(count), *rest)
        return 0
    with tempfile.TemporaryDirectory() as folder:
        found = measure(Path(folder), syscalls=not args.no_syscalls)
    print("instructions (valgrind --tool=callgrind, at HEAD):")
    print("\n".join(lines(found)))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_bytes(orjson.dumps(found, option=orjson.OPT_INDENT_2))
    return 0 if all(g["holds"] for g in found["gates"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
