"""The benchmark's outputs: the table, the final `bench:` line, the JSON file and the chart."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

from profiling import STAGES

TARGETS = {
    "decision_vs_ceiling": 0.30,
    "e2e_vs_http": 0.85,
    "latency_p99_ms": 50.0,
    "latency50_vs_serial": 20.0,
    "batch_vs_single": 5.0,
    "rss_mb": 300.0,
}


def ratios(r: dict[str, Any]) -> dict[str, float]:
    def div(a: str, b: str, key_a: str = "rate", key_b: str = "rate") -> float:
        if a not in r or b not in r or not r[b][key_b]:
            return 0.0
        return float(r[a][key_a] / r[b][key_b])

    return {
        "decision_vs_ceiling": div("decision", "ceiling"),
        "e2e_vs_http": div("e2e_0ms", "http_ceiling"),
        "latency50_vs_serial": div("e2e_50ms", "serial_50ms"),
        "batch50_vs_serial": div("batch_50ms", "serial_50ms"),
        "batch_vs_single": div("batch_0ms", "e2e_0ms"),
        "healthy_vs_alone": div("one_down", "e2e_0ms"),
        "scaleout_vs_single": div("scaleout", "e2e_0ms"),
    }


def _ok(value: float, target: float, below: bool = False) -> str:
    if not value:
        return "n/a"
    met = value < target if below else value >= target
    return "met" if met else "MISSED"


def rss_growth(catchup: dict[str, Any]) -> float:
    """RSS at 100 % over RSS at 25 % of the catch-up (1.0: flat)."""
    marks = catchup.get("rss_at", {})
    if "25" not in marks or "100" not in marks or not marks["25"]["rss_mb"]:
        return 0.0
    return float(marks["100"]["rss_mb"] / marks["25"]["rss_mb"])


def cpu(phase: dict[str, Any]) -> str:
    """The consumer's CPU per delivered event, for a table row."""
    return f"{phase['cpu_us_per_event']:,.0f} us CPU/event"


def stages(phase: dict[str, Any]) -> str:
    """The CPU per event by stage (`--profile`), for a table row."""
    us = phase["stages"]["us_per_event"]
    return ", ".join(f"{s} {us[s]:,.0f}" for s in STAGES)


def busy(shares: dict[str, Any]) -> str:
    """The cores each process and the machine used during a phase, for a table row."""
    names = [n for n in ("consumer", "broker", "server", "producer") if n in shares]
    each = ", ".join(
        f"{shares.get('server_kind', 'server') if n == 'server' else n} {shares[n]:.2f}"
        for n in names
    )
    return (
        f"{each}; machine {shares['machine_busy']:.2f} of {shares['machine_cores']:.0f} "
        f"({shares['machine_busy_share']:.0%} busy)"
    )


def instruction_rows(found: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """The instructions pass: one row per mode, the client, the syscalls."""
    rows = []
    parts = ("decode", "decide", "intake", "delivery_loop", "http_client")
    gates = found["gates"]
    calls = found.get("syscalls", {})
    for mode, f in found["modes"].items():
        gate = gates[mode]
        syscalls = f"; {calls[mode]['per_unit']:.1f} syscalls/event" if mode in calls else ""
        rows.append((
            f"instructions, {mode}-event mode" if mode == "single" else "instructions, batch mode",
            f"{f['total']:,.0f}/event",
            ", ".join(f"{k} {f[k]:,.0f}" for k in parts)
            + f" ({f['events_per_request']:,.0f} events/request){syscalls}",
            f"<={gate['limit']:,} {'met' if gate['holds'] else 'MISSED'}",
        ))  # fmt: skip
    gate = gates["client"]
    syscalls = f"; {calls['client']['per_unit']:.1f} syscalls/request" if "client" in calls else ""
    rows.append((
        "instructions, HTTP client (nginx)",
        f"{found['client_per_request']:,.0f}/request",
        f"the built-in client, {found.get('in_flight', 256)} in flight{syscalls}",
        f"<={gate['limit']:,} {'met' if gate['holds'] else 'MISSED'}",
    ))  # fmt: skip
    return rows


def table(r: dict[str, Any]) -> str:
    q = ratios(r)
    rows: list[tuple[str, str, str, str]] = []

    def add(figure: str, value: str, detail: str = "", target: str = "") -> None:
        rows.append((figure, value, detail, target))

    def by_stage(key: str) -> None:
        if "stages" in r[key]:
            add("    by stage, us CPU/event", "", stages(r[key]))
        if "busy" in r[key]:
            add("    cores used", "", busy(r[key]["busy"]))

    if "instructions" in r:
        rows.extend(instruction_rows(r["instructions"]))

    if "ceiling" in r:
        c = r["ceiling"]
        add(
            "(a) ceiling: consume + decode",
            f"{c['rate']:,.0f} ev/s",
            f"consume only {c['consume_only_rate']:,.0f} ev/s; decode {c['decode_us']:.1f} us",
        )
    if "decision" in r:
        d = r["decision"]
        add(
            "(b) decision core",
            f"{d['rate']:,.0f} ev/s",
            f"{d['us_per_event']:.1f} us/event ({d['decode_us']:.1f} decode); "
            f"{q['decision_vs_ceiling']:.0%} of (a)",
            f">=30% {_ok(q['decision_vs_ceiling'], 0.30)}",
        )
    if "e2e_0ms" in r:
        e = r["e2e_0ms"]
        add(
            "(c) end to end, 0 ms",
            f"{e['rate']:,.0f} ev/s",
            f"{cpu(e)}; to {e.get('server', 'the stand-in')}, peak RSS {e['peak_rss_mb']:.0f} MB",
        )
        by_stage("e2e_0ms")
    if "http_ceiling" in r:
        x = r["http_ceiling"]
        add(
            f"(c) client ceiling ({x['client']}, {x.get('loop', 'asyncio')}) to "
            f"{x.get('server', 'the stand-in')}",
            f"{x['rate']:,.0f} req/s",
            f"{x['client_us_per_request']:.0f} us CPU/request; e2e = {q['e2e_vs_http']:.0%}",
            f">=85% {_ok(q['e2e_vs_http'], 0.85)}",
        )
        by_stage("http_ceiling")
    if "e2e_50ms" in r:
        e = r["e2e_50ms"]
        add(
            "(d) end to end, 50 ms",
            f"{e['rate']:,.0f} ev/s",
            f"{cpu(e)}; consumer CPU {e['consumer_cpu']:.0%}",
        )
        by_stage("e2e_50ms")
    if "serial_50ms" in r:
        s = r["serial_50ms"]
        add(
            "(d) partition-serial baseline, 50 ms",
            f"{s['rate']:,.0f} ev/s",
            f"{s.get('partitions', '?')} partitions; single-event mode = "
            f"{q['latency50_vs_serial']:.1f}x",
            f">=20x {_ok(q['latency50_vs_serial'], 20)}",
        )
    if "batch_50ms" in r:
        b = r["batch_50ms"]
        add(
            "(d) batch mode, 50 ms",
            f"{b['rate']:,.0f} ev/s",
            f"{cpu(b)}; {q['batch50_vs_serial']:.1f}x the baseline",
        )
        by_stage("batch_50ms")
    if "latency" in r:
        lat = r["latency"]
        judged = lat.get("judged", True)
        add(
            "(e) latency p50/p95/p99",
            f"{lat['p50_ms']:.0f}/{lat['p95_ms']:.0f}/{lat['p99_ms']:.0f} ms",
            f"at {lat['achieved_rate']:,.0f} ev/s to {lat.get('server', 'the stand-in')}, "
            f"{lat['events']:,} events, {lat.get('within_50ms', 0):.1%} within 50 ms",
            f"p99<=50 ms {_ok(lat['p99_ms'], 50.0, below=True)}"
            if judged
            else "machine >=70% busy: not judged",
        )
        waits = lat.get("stage_seconds") or {}
        if waits:
            add(
                "(e) by stage, mean/p99 (ms)",
                " ".join(
                    f"{s} {v['mean_ms']:.1f}/{v.get('p99_ms', v['p99_le_ms']):.1f}"
                    for s, v in waits.items()
                ),
                "the consumer's stage_seconds, p99 interpolated in its buckets",
            )
        share = lat.get("busy") or {}
        if share:
            add("    cores used", "", busy(share))
    if "catchup" in r:
        k = r["catchup"]
        marks = k.get("rss_at", {})
        at = "/".join(
            f"{marks[p]['rss_mb']:.0f}" if p in marks else "?" for p in ("25", "50", "75", "100")
        )
        add(
            f"(f) catch-up of {k['events']:,}, peak RSS",
            f"{k['peak_rss_mb']:.0f} MB",
            f"RSS at 25/50/75/100%: {at} MB; {k['rate']:,.0f} ev/s ({k['mode']} mode), {cpu(k)}",
            f"<300 MB {_ok(k['peak_rss_mb'], 300, below=True)}",
        )
        by_stage("catchup")
    if "batch_0ms" in r:
        b = r["batch_0ms"]
        add(
            "(g) batch mode, 0 ms",
            f"{b['rate']:,.0f} ev/s",
            f"{cpu(b)}; {q['batch_vs_single']:.1f}x single-event mode",
            f">=5x {_ok(q['batch_vs_single'], 5)}",
        )
        by_stage("batch_0ms")
    if "one_down" in r:
        o = r["one_down"]
        add(
            "(g) healthy destination, other down",
            f"{o['rate']:,.0f} ev/s",
            f"{cpu(o)}; {q['healthy_vs_alone']:.0%} of its rate alone "
            f"(max_buffered {o['max_buffered']:,})",
        )
        by_stage("one_down")
    if "scaleout" in r:
        s = r["scaleout"]
        alone = f"{q['scaleout_vs_single']:.2f}x one process (c)" if "e2e_0ms" in r else ""
        add(
            f"(i) scale-out, {s['processes']} consumers in a group",
            f"{s['rate']:,.0f} ev/s",
            "; ".join(filter(None, [alone, cpu(s), f"their CPU {s['consumer_cpu']:.0%}"])),
        )
        by_stage("scaleout")
    for c in r.get("commits", {}).get("runs", []):
        add(
            f"(h) commits every {c['commit_interval']}",
            f"{c['offset_records_per_s']:.1f} rec/s",
            f"offset records written; CPU per event: consumer {c['consumer_cpu_us_per_event']:.0f}"
            f" us, broker {c['broker_cpu_us_per_event']:.0f} us (at {r['commits']['rate']:g}/s)",
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)] if rows else [0] * 4
    lines = []
    for row in rows:
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    return "\n".join(lines)


def final_line(r: dict[str, Any]) -> str:
    q = ratios(r)
    parts = []

    def rate(key: str, label: str, cpu: bool = False) -> None:
        """The phase's rate; with `cpu`, the consumer's CPU per event after it."""
        if key in r:
            parts.append(f"{label}={r[key]['rate']:.0f}/s")
            if cpu:
                parts.append(f"{key}_cpu={r[key]['cpu_us_per_event']:.0f}us")

    def ratio(text: str, *phases: str) -> None:
        """A ratio of `ratios`, when the phases it compares ran."""
        if all(phase in r for phase in phases):
            parts.append(text)

    if "instructions" in r:
        found = r["instructions"]
        for mode in ("single", "batch"):
            gate = found["gates"][mode]
            parts.append(f"instr_{mode}={gate['figure']:.0f}/{gate['limit']}")
        client = found["gates"]["client"]
        parts.append(f"instr_client={client['figure']:.0f}/{client['limit']}")
        if "identity_gate" in found:
            gate_cost = found["identity_gate"]
            parts.append(f"instr_intake_gate={gate_cost['off']:.0f}/{gate_cost['enforce']:.0f}")
        calls = found.get("syscalls", {})
        for key in ("single", "batch", "client"):
            if key in calls:
                parts.append(f"syscalls_{key}={calls[key]['per_unit']:.1f}")
        held = all(g["holds"] for g in found["gates"].values())
        parts.append("instr_gates=" + ("held" if held else "MISSED"))
    rate("ceiling", "ceiling")
    rate("decision", "decision")
    ratio(f"decision/ceiling={q['decision_vs_ceiling']:.0%}", "decision")
    rate("e2e_0ms", "e2e_0ms", cpu=True)
    rate("http_ceiling", "http_ceiling")
    ratio(f"e2e/http={q['e2e_vs_http']:.0%}", "http_ceiling")
    rate("e2e_50ms", "e2e_50ms")
    rate("serial_50ms", "serial_50ms")
    ratio(f"e2e_50ms/serial={q['latency50_vs_serial']:.1f}x", "serial_50ms")
    rate("batch_50ms", "batch_50ms")
    ratio(f"batch_50ms/serial={q['batch50_vs_serial']:.1f}x", "batch_50ms", "serial_50ms")
    if "latency" in r:
        lat = r["latency"]
        parts.append(
            f"latency_p50/p95/p99={lat['p50_ms']:.0f}/{lat['p95_ms']:.0f}/{lat['p99_ms']:.0f}ms"
            f"@{lat['achieved_rate']:.0f}/s"
        )
        if "busy" in lat:
            parts.append(f"latency_machine_busy={lat['busy']['machine_busy_share']:.0%}")
    if "catchup" in r:
        k = r["catchup"]
        parts.append(f"catchup_peak_rss={k['peak_rss_mb']:.0f}MB")
        parts.append(f"rss_100/25={rss_growth(k):.2f}")
    rate("batch_0ms", "batch_0ms", cpu=True)
    ratio(f"batch/single={q['batch_vs_single']:.1f}x", "batch_0ms")
    rate("scaleout", "scaleout")
    ratio(f"scaleout/single={q['scaleout_vs_single']:.2f}x", "scaleout", "e2e_0ms")
    ratio(f"healthy_with_one_down={q['healthy_vs_alone']:.0%}", "one_down")
    for c in r.get("commits", {}).get("runs", []):
        parts.append(
            f"commits_{c['commit_interval']}={c['offset_records_per_s']:.1f}rec/s"
            f"/{c['consumer_cpu_us_per_event']:.0f}+{c['broker_cpu_us_per_event']:.0f}us"
        )
    return "bench: " + " ".join(parts)


def write_json(r: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**r, "ratios": ratios(r)}, indent=2, default=str) + "\n")


def chart(r: dict[str, Any], path: Path) -> bool:
    """A PNG of the figures; False (and no file) without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, axes = plt.subplots(2, 2, figsize=(14, 9))
    ax = axes[0][0]
    bars = [
        ("ceiling", "(a) consume+decode"),
        ("decision", "(b) decision core"),
        ("http_ceiling", "(c) raw HTTP"),
        ("e2e_0ms", "(c) e2e 0 ms"),
        ("batch_0ms", "(g) batch 0 ms"),
        ("scaleout", "(i) scale-out"),
        ("one_down", "(g) healthy, other down"),
        ("e2e_50ms", "(d) e2e 50 ms"),
        ("batch_50ms", "(d) batch 50 ms"),
        ("serial_50ms", "(d) serial 50 ms"),
    ]
    shown = [(label, r[key]["rate"]) for key, label in bars if key in r]
    if shown:
        ax.barh([s[0] for s in shown][::-1], [s[1] for s in shown][::-1], color="tab:blue")
        ax.set_xscale("log")
        ax.set_xlabel("events (or requests) per second, log scale")
        for i, (_, value) in enumerate(shown[::-1]):
            ax.text(value, i, f" {value:,.0f}", va="center", fontsize=8)
    ax.set_title("Throughput")
    ax = axes[0][1]
    for key, label in (
        ("e2e_0ms", "single 0 ms"),
        ("batch_0ms", "batch 0 ms"),
        ("e2e_50ms", "single 50 ms"),
        ("one_down", "healthy, other down"),
    ):
        if key in r and r[key].get("timeline"):
            t, n = zip(*r[key]["timeline"], strict=True)
            ax.plot(t, [x - n[0] for x in n], label=label)
    ax.set_xlabel("seconds since the first event")
    ax.set_ylabel("events delivered")
    ax.set_title("End to end, events delivered over time")
    ax.legend(fontsize=8)
    ax = axes[1][0]
    if "latency" in r:
        lat = r["latency"]
        names = ["p50", "p95", "p99", "max"]
        values = [lat["p50_ms"], lat["p95_ms"], lat["p99_ms"], lat["max_ms"]]
        ax.bar(names, values, color="tab:orange")
        for i, value in enumerate(values):
            ax.text(i, value, f"{value:.0f}", ha="center", va="bottom", fontsize=8)
        ax.set_ylabel("ms, broker append to 2xx")
        ax.set_title(f"(e) latency at {lat['achieved_rate']:,.0f} events/s")
    ax = axes[1][1]
    if "catchup" in r and r["catchup"].get("timeline"):
        k = r["catchup"]
        points = k["timeline"]
        ax.plot([p[1] / k["events"] * 100 for p in points], [p[2] / 1024 for p in points])
        ax.axhline(300, color="tab:red", linestyle="--", label="300 MB target")
        ax.set_xlabel("% of the backlog finished")
        ax.set_ylabel("consumer RSS, MB")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=8)
        ax.set_title(f"(f) RSS during a catch-up of {k['events']:,} ({k['mode']} mode)")
    fig.suptitle("\n".join(textwrap.wrap(final_line(r), 180)), fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True
