"""docker-compose.yml, checked statically (this machine has a docker client but no engine and no
compose plugin), and compose mode's container adapters driven through a recording fake of the
docker SDK's container objects."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from chord_chaos.cli.main import build_parser
from chord_chaos.harness.cluster.compose import ContainerRedis, ContainerWorker
from chord_chaos.harness.infra.toxiproxy import Link, ToxiproxyClient
from chord_chaos.harness.run.nemesis import Nemesis
from chord_chaos.models.faults import Fault, FaultPlan
from chord_chaos.models.vocabulary import FaultKind
from tests.helpers import REPO_ROOT

ROOT = REPO_ROOT
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
PROXIES = {p["name"]: p for p in json.loads((ROOT / "docker" / "toxiproxy.json").read_text())}
SERVICES = COMPOSE["services"]


def test_every_part_the_issue_names_is_a_service() -> None:
    assert {"redis-broker", "redis-backend", "postgres", "rabbitmq", "toxiproxy", "worker-w0",
            "worker-w1", "runner"} <= set(SERVICES)


def test_images_are_pinned_and_toxiproxy_matches_make_setup() -> None:
    for name, svc in SERVICES.items():
        image = svc.get("image", "")
        assert re.search(r":[0-9][\w.]*$", image) or image == "chord-chaos:local", (name, image)
    version = re.search(r"TOXIPROXY_VERSION := (\S+)", (ROOT / "Makefile").read_text())
    assert version and SERVICES["toxiproxy"]["image"].endswith(version.group(1).lstrip("v"))


def test_only_loopback_ports_are_published() -> None:
    for name, svc in SERVICES.items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), (name, port)


def test_each_worker_talks_through_its_own_proxies() -> None:
    for w in ("w0", "w1"):
        svc = SERVICES[f"worker-{w}"]
        env = svc["environment"]
        for server in ("broker", "backend"):
            port = int(env[f"CC_{server.upper()}_URL"].split(":")[2].split("/")[0])
            proxy = PROXIES[f"{w}.{server}"]
            assert proxy["listen"].endswith(f":{port}")
            assert proxy["upstream"] == f"redis-{server}:6379"
        assert svc["hostname"] == w and f"{w}@{w}" in svc["command"]  # ContainerWorker.hostname
        assert ContainerWorker(None, w).hostname == f"{w}@{w}"
    assert set(PROXIES) == {f"{who}.{s}" for who in ("w0", "w1", "client") for s in ("broker", "backend")}


def test_the_runner_command_is_a_valid_compose_campaign() -> None:
    runner = SERVICES["runner"]
    command = runner["command"]
    assert command[0] == "chord-chaos"
    args = build_parser().parse_args(command[1:])
    assert args.compose and args.command == "chaos"
    assert "/var/run/docker.sock:/var/run/docker.sock" in runner["volumes"]
    assert runner["environment"]["CC_DELIVERY"] in ("acks-early", "acks-late", "acks-late-reject")


def test_the_rabbitmq_override_routes_every_broker_link_to_rabbitmq() -> None:
    override = yaml.safe_load((ROOT / "docker" / "compose.rabbitmq.yml").read_text())["services"]
    config = json.loads((ROOT / "docker" / "toxiproxy-rabbitmq.json").read_text())
    rabbit = {p["name"]: p for p in config}
    assert set(rabbit) == set(PROXIES)  # the nemesis's link names, on the same ports
    assert SERVICES["rabbitmq"]["profiles"] == ["rabbitmq"] and "healthcheck" in SERVICES["rabbitmq"]
    for name, proxy in rabbit.items():
        assert proxy["listen"] == PROXIES[name]["listen"]
        upstream = "rabbitmq:5672" if name.endswith(".broker") else PROXIES[name]["upstream"]
        assert proxy["upstream"] == upstream
    for who, svc in (("w0", "worker-w0"), ("w1", "worker-w1"), ("client", "runner")):
        url = override[svc]["environment"]["CC_BROKER_URL"]
        port = url.split(":")[-1].removesuffix("//")
        assert url.startswith("amqp://") and rabbit[f"{who}.broker"]["listen"].endswith(f":{port}")
    args = build_parser().parse_args(override["runner"]["command"][1:])
    assert args.compose and args.broker == "rabbitmq"
    mount = override["toxiproxy"]["volumes"][0]
    assert mount.endswith(":/config/toxiproxy.json:ro") and (ROOT / mount.split(":")[0]).exists()


def test_compose_mode_skips_scenarios_that_restart_a_server_it_cannot(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from chord_chaos.cli.campaign_commands import _compose_pairs
    from chord_chaos.scenarios.registry import select

    monkeypatch.setenv("CC_DELIVERY", "acks-late")
    monkeypatch.setenv("CC_BACKEND_URL", "redis://toxiproxy:21021/0")
    pairs = _compose_pairs(select(None, ["redis"], "rabbitmq"))
    assert "rabbitmq-restart-mid-chord" not in {s.name for s, _ in pairs}
    assert "redis-restart-mid-chord" in {s.name for s, _ in pairs}
    assert "rabbitmq-restart-mid-chord/redis" in capsys.readouterr().err


def test_the_dockerfile_copies_what_exists() -> None:
    for line in (ROOT / "docker" / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            for src in line.split()[1:-1]:
                assert (ROOT / src).exists(), src


class FakeContainer:
    """Records the docker SDK calls the adapters make; status follows them like dockerd's."""

    def __init__(self, children: list[int] | None = None) -> None:
        self.status = "running"
        self.calls: list[tuple[str, Any]] = []
        self.children = children or []

    def reload(self) -> None:
        pass

    def kill(self, signal: int = 9) -> None:
        self.calls.append(("kill", signal))
        self.status = "exited"

    def pause(self) -> None:
        self.calls.append(("pause", None))
        self.status = "paused"

    def unpause(self) -> None:
        self.calls.append(("unpause", None))
        self.status = "running"

    def restart(self, timeout: int = 10) -> None:
        self.calls.append(("restart", timeout))
        self.status = "running"

    def exec_run(self, cmd: list[str]) -> tuple[int, bytes]:
        self.calls.append(("exec", cmd))
        if cmd[0] == "pgrep":
            return 0, "\n".join(map(str, self.children)).encode()
        return 0, b""

    def logs(self, tail: int = 100) -> bytes:
        return b"[x: CRITICAL/MainProcess] Unrecoverable error: OSError()\n"


class FakeComposeCluster:
    def __init__(self) -> None:
        self.links: dict[str, Link] = {}
        self.proxies: ToxiproxyClient | None = None
        self.workers = {w: ContainerWorker(FakeContainer([7, 8]), w) for w in ("w0", "w1")}
        self.servers = {r: ContainerRedis(FakeContainer(), r) for r in ("broker", "backend")}
        self.restarted: list[str] = []
        self.awaited: list[str] = []

    def worker(self, name: str) -> ContainerWorker:
        return self.workers[name]

    def redis(self, role: str) -> ContainerRedis:
        return self.servers[role]

    def server(self, kind: str, role: str) -> ContainerRedis:
        return self.redis(role)

    def respawn_worker(self, name: str) -> None:
        self.restarted.append(name)
        self.workers[name].container.restart(timeout=10)

    def await_workers(self, names: list[str]) -> None:
        self.awaited += names


def _drive(cluster: FakeComposeCluster, *faults: Fault) -> Nemesis:
    n = Nemesis(cluster, FaultPlan(faults), time.monotonic())
    deadline = time.monotonic() + 5
    while not n.done and time.monotonic() < deadline:
        n.step(())
        time.sleep(0.01)
    n.heal_all()
    return n


def test_the_nemesis_kills_pauses_and_restarts_containers_through_the_sdk() -> None:
    cluster = FakeComposeCluster()
    n = _drive(cluster, Fault(FaultKind.KILL_WORKER, "w0", 0.0, 0.05),
               Fault(FaultKind.PAUSE_REDIS, "backend", 0.0, 0.05),
               Fault(FaultKind.RESTART_REDIS, "broker", 0.0, 0.05),
               Fault(FaultKind.KILL_CHILD, "w1", 0.0, 0.05))
    assert not n.errors
    assert cluster.workers["w0"].container.calls == [("kill", signal.SIGKILL), ("restart", 10)]
    assert cluster.restarted == ["w0"]
    assert cluster.servers["backend"].container.calls == [("pause", None), ("unpause", None)]
    assert cluster.servers["broker"].container.calls == [("restart", 0)]
    assert ("exec", ["kill", "-9", "7"]) in cluster.workers["w1"].container.calls


def test_a_container_worker_never_kills_a_pid_that_is_not_its_pool_child() -> None:
    worker = ContainerWorker(FakeContainer([7, 8]), "w0")
    assert not worker.kill_child(1) and worker.kill_child(8)
    assert [c for c in worker.container.calls if c[0] == "exec" and c[1][0] == "kill"] == [
        ("exec", ["kill", "-9", "8"])]
    worker.kill()
    assert worker.wait_exit(0.1) and "Unrecoverable error: OSError()" in worker.last_error()


def test_compose_mode_without_an_engine_is_a_one_line_error() -> None:
    from chord_chaos.harness.cluster.compose import _docker_client
    from chord_chaos.harness.infra.errors import HarnessError

    if Path("/var/run/docker.sock").exists():
        pytest.skip("SKIPPED LOUDLY: a docker engine socket exists here; this checks the no-engine error")
    with pytest.raises(HarnessError, match="no docker engine reachable"):
        _docker_client()
