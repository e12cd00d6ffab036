"""A local Apicurio Registry 3.x on 127.0.0.1, serving the Confluent Schema Registry REST API.

The server is Apicurio's ready-built Quarkus application, the `all` tar.gz of
`io.apicurio:apicurio-registry-app` on Maven Central, fetched through
`devkit/maven/registry/pom.xml` and unpacked into `.cache/registry/<version>/` (git-ignored), so
only the first run on a machine downloads anything (about 110 MB). It keeps its schemas in an
in-memory H2 database: every start is empty. It runs with `java -jar` on free ports and is ready
when its Confluent-compatible API answers: no sleeps. Clients take `Registry.url`, the
Confluent-compatible base URL (`http://127.0.0.1:PORT/apis/ccompat/v7`), as their
`schema.registry.url`.

Apicurio 3.0.x runs on Java 17; 3.1 and later need Java 21: the JDK is chosen from JAVA_HOME,
`java` on PATH and the JDKs under /usr/lib/jvm, the first one new enough.

    python -m devkit.registry fetch
    python -m devkit.registry up [--state-dir .run/registry]     # prints the URL
    python -m devkit.registry down [--state-dir .run/registry]
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from devkit import processes

ROOT = Path(__file__).resolve().parents[1]
POM = Path(__file__).resolve().parent / "maven" / "registry" / "pom.xml"
DEFAULT_STATE_DIR = ROOT / ".run" / "registry"
JVM_ROOT = Path("/usr/lib/jvm")
CCOMPAT_PATH = "/apis/ccompat/v7"
START_TIMEOUT_S = 120.0
JVM_OPTS = (
    "-Xms64m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",  # a short-lived test server: start fast rather than peak fast
    "-Djava.awt.headless=true",
)


class RegistryError(RuntimeError):
    """The local registry could not be fetched, started or stopped; the message says why."""


def apicurio_version() -> str:
    """The version pinned in the POM, so the cache folder follows the POM."""
    version = processes.pom_property(POM, "apicurio.version")
    if version is None:
        raise RegistryError(f"{POM} does not set <apicurio.version>.")
    return version


def cache_dir() -> Path:
    return processes.cache_root(ROOT) / "registry" / apicurio_version()


def _require(tool: str, why: str) -> str:
    return processes.require(
        tool,
        subject="The local schema registry",
        why=why,
        instead="set SCHEMA_REGISTRY_URL to a running registry",
        error=RegistryError,
    )


def _launcher(app: Path) -> Path:
    """The jar to run: `quarkus-run.jar` (fast-jar, 3.1+) or `*-runner.jar` (legacy-jar, 3.0)."""
    fast = app / "quarkus-run.jar"
    if fast.is_file():
        return fast
    runners = sorted(app.glob("*-runner.jar"))
    if len(runners) != 1:
        raise RegistryError(f"{app} holds no single Quarkus launcher jar; delete it and refetch.")
    return runners[0]


def _class_release(app: Path) -> int:
    """The newest Java release Apicurio's own jars were compiled for (class file major - 44).

    Its client-side modules target older releases than the server, so every jar is read."""
    releases = []
    for jar in sorted(app.rglob("*apicurio-registry-*.jar")):
        with zipfile.ZipFile(jar) as zf:
            name = next(
                (n for n in zf.namelist() if n.startswith("io/apicurio/") and n.endswith(".class")),
                None,
            )
            if name is not None:
                with zf.open(name) as f:
                    releases.append(int.from_bytes(f.read(8)[6:8], "big") - 44)
    if not releases:
        raise RegistryError(f"No Apicurio Registry classes under {app}; delete it and refetch.")
    return max(releases)


def fetch() -> Path:
    """Fetch and unpack the server with Maven unless it is cached; return its folder."""
    cache = cache_dir()
    app = cache / "app"
    marker = cache / ".complete"
    if marker.exists():
        return app
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as lock:  # parallel test sessions fetch once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.exists():
            return app
        mvn = _require("mvn", "to fetch Apicurio Registry from Maven Central")
        download = cache / "download.partial"
        unpacked = cache / "app.partial"
        for stale in (download, unpacked):
            shutil.rmtree(stale, ignore_errors=True)
        cmd = [mvn, "-q", "-B", "-f", str(POM), "dependency:copy", f"-DoutputDirectory={download}"]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
            raise RegistryError("Maven could not fetch Apicurio Registry: " + " | ".join(tail))
        try:
            with tarfile.open(download / "apicurio-registry-app.tar.gz") as archive:
                archive.extractall(unpacked, filter="data")
        except (OSError, tarfile.TarError) as exc:
            raise RegistryError(f"Unpacking the Apicurio Registry archive failed: {exc}") from exc
        _launcher(unpacked)
        (cache / "java-release").write_text(f"{_class_release(unpacked)}\n")
        shutil.rmtree(app, ignore_errors=True)
        unpacked.rename(app)
        shutil.rmtree(download, ignore_errors=True)
        marker.touch()
    return app


def _java_release(java: str) -> int | None:
    try:
        done = subprocess.run(
            [java, "-version"], capture_output=True, text=True, check=False, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr)
    if found is None:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def _java_candidates() -> list[str]:
    seen: list[str] = []
    home = os.environ.get("JAVA_HOME")
    on_path = shutil.which("java")
    listed = [str(p) for p in sorted(JVM_ROOT.glob("*/bin/java"))] if JVM_ROOT.is_dir() else []
    for cand in [str(Path(home) / "bin" / "java") if home else None, on_path, *listed]:
        if cand and os.access(cand, os.X_OK) and os.path.realpath(cand) not in seen:
            seen.append(os.path.realpath(cand))
    return seen


def find_java(release: int) -> str:
    """The first JDK (JAVA_HOME, PATH, /usr/lib/jvm) whose Java release is at least `release`."""
    found: list[str] = []
    for java in _java_candidates():
        have = _java_release(java)
        if have is not None and have >= release:
            return java
        found.append(f"{java} is Java {have if have is not None else '?'}")
    if not found:
        _require("java", f"Java {release} or newer runs Apicurio Registry {apicurio_version()}")
    raise RegistryError(
        f"Apicurio Registry {apicurio_version()} needs Java {release} or newer, but "
        f"{'; '.join(found)}: install a newer JDK or point JAVA_HOME at one."
    )


@dataclass(frozen=True)
class Registry:
    """A running local registry: its Confluent-compatible base URL and how to stop it."""

    url: str
    pid: int
    state_dir: Path

    def stop(self) -> None:
        stop(self.state_dir)


def _java_cmd(java: str, launcher: Path, state_dir: Path, port: int, mgmt_port: int) -> list[str]:
    props = {
        "quarkus.http.host": "127.0.0.1",
        "quarkus.http.port": port,
        # 3.1+ builds in a management interface, by default on 0.0.0.0:9000: keep it local and free.
        "quarkus.management.host": "127.0.0.1",
        "quarkus.management.port": mgmt_port,
        "apicurio.storage.kind": "sql",
        "apicurio.storage.sql.kind": "h2",
        "apicurio.datasource.url": "jdbc:h2:mem:registry",
        "apicurio.storage.snapshot.location": state_dir,
        # Confluent's API lets clients delete subjects and versions; Apicurio 3 forbids it unless
        # told, and tests clean up after themselves.
        "apicurio.rest.deletion.group.enabled": "true",
        "apicurio.rest.deletion.artifact.enabled": "true",
        "apicurio.rest.deletion.artifact-version.enabled": "true",
    }
    return [java, *JVM_OPTS, *(f"-D{k}={v}" for k, v in props.items()), "-jar", str(launcher)]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/subjects", timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _wait_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if _answers(url):
            return
        try:
            proc.wait(timeout=0.1)  # a poll interval that also notices an early exit
        except subprocess.TimeoutExpired:
            continue
        raise RegistryError(
            f"Apicurio Registry exited with status {proc.returncode} while starting; "
            f"see {log}: {processes.tail(log)}"
        )
    raise RegistryError(
        f"Apicurio Registry was not ready within {START_TIMEOUT_S:.0f} s; see {log}."
    )


def start(state_dir: Path = DEFAULT_STATE_DIR) -> Registry:
    """Start an empty registry; return once its Confluent-compatible API answers."""
    if (state_dir / "pid").exists():
        stop(state_dir)
    app = fetch()
    java = find_java(int((cache_dir() / "java-release").read_text()))
    shutil.rmtree(state_dir, ignore_errors=True)
    state_dir.mkdir(parents=True)
    port, mgmt_port = processes.free_port(), processes.free_port()
    log = state_dir / "registry.log"
    proc = processes.spawn(
        _java_cmd(java, _launcher(app), state_dir, port, mgmt_port), log, state_dir
    )
    url = f"http://127.0.0.1:{port}{CCOMPAT_PATH}"
    try:
        _wait_ready(url, proc, log)
    except BaseException:
        stop(state_dir)
        raise
    (state_dir / "url").write_text(url)
    return Registry(url=url, pid=proc.pid, state_dir=state_dir)


def stop(state_dir: Path = DEFAULT_STATE_DIR) -> None:
    """Stop the registry recorded in `state_dir` by its PID: SIGTERM, then SIGKILL."""
    processes.stop(state_dir, "url")


def main(argv: list[str] | None = None) -> int:
    return processes.cli(
        argv,
        doc=__doc__,
        default_state_dir=DEFAULT_STATE_DIR,
        fetch=fetch,
        start=start,
        stop=stop,
        address=lambda registry: registry.url,
        ready=lambda registry, seconds: (
            f"registry: Apicurio {apicurio_version()} ready in {seconds:.1f} s "
            f"(pid {registry.pid}); stop it with `python -m devkit.registry down`"
        ),
        error=RegistryError,
    )


if __name__ == "__main__":
    sys.exit(main())
