"""What the operations tests share: where deploy/ is, its tools, and a topic of their own.

kustomize, promtool and prometheus come from `make ops-tools` (into .cache/ops-tools/bin);
hadolint and kubernetes-validate from the test extra. A missing tool fails its test with one
sentence naming the make target: nothing here is skipped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
DEPLOY = ROOT / "deploy"
TOOLS = Path(os.environ.get("MIK_CACHE_DIR", ROOT / ".cache")) / "ops-tools" / "bin"
RULES = DEPLOY / "prometheus" / "rules.yml"
METRIC = re.compile(r"\bmovableink_consumer_[a-z0-9_]+")
CONFIG_DIR = "/etc/movableink-consumer"


def tool(name: str, target: str = "ops-tools") -> str:
    """A tool's path: .cache/ops-tools/bin, then the venv's bin, then PATH."""
    for found in (TOOLS / name, Path(sys.executable).with_name(name), shutil.which(name)):
        if found and os.access(found, os.X_OK):
            return str(found)
    pytest.fail(f"{name} is missing: `make {target}` installs it.", pytrace=False)


def run(*args: str, timeout: float = 60) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}{done.stderr}"
    return done.stdout


def create_topic(bootstrap: str, partitions: int) -> str:
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = f"ops-{uuid.uuid4().hex[:10]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})  # alive until the topic exists
    futures = admin.create_topics([NewTopic(topic, partitions, 1)], operation_timeout=30)
    futures[topic].result(timeout=30)
    return topic
