"""PostgreSQL as the harness runs it: loopback only, rows kept across a kill, faults that reach
every process of the server, no process left behind, clear errors."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path

import psutil
import psycopg
import pytest

from chord_chaos.harness.infra import ports, postgres_server
from chord_chaos.harness.infra.errors import HarnessError
from chord_chaos.harness.infra.postgres_server import TEMP_ROOT, PostgresServer, answers, bin_dir
from chord_chaos.harness.infra.registry import Registry, reap_stale
from chord_chaos.harness.infra.supervisor import Supervisor
from tests.helpers import gone, running, wait_for

pytestmark = pytest.mark.cluster

ROOT = os.geteuid() == 0


@pytest.fixture
def workdir(tmp_path: Path) -> Iterator[Path]:
    """A work directory the ``postgres`` user can reach when the tests run as root (pytest's
    own temporary root is 0700)."""
    if not ROOT:
        yield tmp_path
        return
    path = Path(tempfile.mkdtemp(prefix="cc-pg-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def server(sup: Supervisor, workdir: Path) -> Iterator[PostgresServer]:
    server = PostgresServer(sup, workdir, "t").start()
    yield server
    server.stop()  # a fast shutdown; the supervisor's SIGTERM would wait for clients
    server.cleanup()


def _tree(server: PostgresServer) -> list[int]:
    """The postmaster's pid and those of every process below it."""
    return [server.pid, *(p.pid for p in psutil.Process(server.pid).children(recursive=True))]


def _state(pid: int) -> str:
    try:
        return str(psutil.Process(pid).status())
    except psutil.NoSuchProcess:
        return str(psutil.STATUS_DEAD)


def _hangs(port: int, timeout: float = 0.3) -> bool:
    """Whether a new connection gets no answer to its first message (an SSLRequest)."""
    with socket.create_connection((ports.HOST, port), timeout=timeout) as conn:
        conn.sendall(struct.pack("!ii", 8, 80877103))
        try:
            return conn.recv(1) == b""
        except TimeoutError:
            return True


def test_it_answers_and_listens_on_loopback_only(server: PostgresServer) -> None:
    assert server.port is not None and answers(server.port)
    with psycopg.connect(server.dsn()) as conn:
        assert conn.execute("SHOW fsync").fetchone() == ("off",)
        assert conn.execute("SHOW synchronous_commit").fetchone() == ("on",)
    listening = {(c.laddr.ip, c.laddr.port) for c in psutil.Process(server.pid).net_connections("inet")
                 if c.status == psutil.CONN_LISTEN}
    assert listening == {("127.0.0.1", server.port)}
    assert server.url() == f"db+postgresql+psycopg://postgres@127.0.0.1:{server.port}/postgres"
    assert psutil.Process(server.pid).username() == ("postgres" if ROOT else psutil.Process().username())


def test_restart_keeps_the_port_and_the_committed_rows(server: PostgresServer) -> None:
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute("CREATE TABLE kept (v int)")
        for v in range(20):
            conn.execute("INSERT INTO kept VALUES (%s)", (v,))
    port, old = server.port, _tree(server)
    server.restart()  # a kill -9 right after the last commit
    assert server.port == port and all(gone(pid) for pid in old)
    with psycopg.connect(server.dsn()) as conn:
        assert conn.execute("SELECT count(*) FROM kept").fetchone() == (20,)


def test_stop_is_a_fast_shutdown_that_leaves_no_process(server: PostgresServer, sup: Supervisor) -> None:
    assert server.proc is not None
    proc, pids = server.proc, _tree(server)
    with psycopg.connect(server.dsn()):  # a connected client does not hold the shutdown up
        server.stop(grace=5)
    assert proc.returncode == 0 and not any(running(pid) for pid in pids)
    assert sup.procs == [] and Registry(sup.state_dir).records() == []
    assert "database system is shut down" in server.log.read_text()


def test_kill_takes_every_process_down_at_once(server: PostgresServer) -> None:
    assert server.proc is not None
    proc, pids = server.proc, _tree(server)
    server.kill()
    assert proc.returncode == -signal.SIGKILL and not any(running(pid) for pid in pids)


def test_pause_hangs_every_process_and_resume_brings_them_back(server: PostgresServer,
                                                              sup: Supervisor) -> None:
    assert server.port is not None
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        server.pause()
        pids = _tree(server)
        # a backend that exited just before stays a zombie (its parent is stopped), or is gone
        halted = (psutil.STATUS_STOPPED, psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
        assert wait_for(lambda: all(_state(p) in halted for p in pids), 5.0)
        assert _hangs(server.port)
        recorded = {r.pid for r in Registry(sup.state_dir).records()}
        stopped = {p for p in pids if _state(p) == psutil.STATUS_STOPPED}
        assert server.pid in stopped and stopped <= recorded  # the next start reaps them if we die now
        server.resume()
        assert conn.execute("SELECT 1").fetchone() == (1,)  # the open connection answers again
    assert {r.pid for r in Registry(sup.state_dir).records()} == {server.pid}


def test_a_paused_server_still_stops_gracefully(server: PostgresServer) -> None:
    assert server.proc is not None
    proc, pids = server.proc, _tree(server)
    server.pause()
    server.stop(grace=5)
    assert proc.returncode == 0 and not any(running(pid) for pid in pids)


def test_a_port_in_use_is_a_one_line_error(sup: Supervisor, workdir: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(HarnessError) as info:
            PostgresServer(sup, workdir, "t", port=port).start()
    assert str(info.value) == f"port {port} in use on 127.0.0.1; pick another or stop what holds it"
    assert sup.procs == []


def test_a_lost_port_race_is_read_from_its_log(sup: Supervisor, workdir: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ports, "port_in_use", lambda port: False)  # taken after the check
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))  # bound, not listening: a probe is refused, not left hanging
        port = holder.getsockname()[1]
        with pytest.raises(HarnessError, match=f"^port {port} in use on 127.0.0.1;"):
            PostgresServer(sup, workdir, "t", port=port).start()
    assert "Address already in use" in (workdir / "postgres-t.log").read_text()
    assert sup.procs == []


def test_a_missing_postgresql_says_what_to_install(sup: Supervisor, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(postgres_server, "DEBIAN_ROOT", tmp_path / "none")
    with pytest.raises(HarnessError) as info:
        PostgresServer(sup, tmp_path, "t").start()
    assert str(info.value) == ("PostgreSQL not found: install it with 'apt-get install postgresql' "
                               "(or run 'make setup')")
    assert sup.procs == []


def test_the_newest_debian_version_is_found_off_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for version in ("9.6", "15", "16", "17"):
        folder = tmp_path / version / "bin"
        folder.mkdir(parents=True)
        for name in ("initdb", "postgres") if version != "17" else ("initdb",):  # 17: incomplete
            (folder / name).touch()
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))
    monkeypatch.setattr(postgres_server, "DEBIAN_ROOT", tmp_path)
    assert bin_dir() == tmp_path / "16" / "bin"


def test_its_data_lives_in_a_temporary_directory_that_cleanup_removes(sup: Supervisor,
                                                                       tmp_path: Path) -> None:
    """A run directory the server's user cannot enter (pytest's tmp_path, 0700 as root) is
    fine: the data directory is a temporary one, named in the run directory, gone after."""
    server = PostgresServer(sup, tmp_path, "t").start()
    home = server.home
    assert home.parent == TEMP_ROOT and (home / "data" / "PG_VERSION").is_file()
    assert (tmp_path / "postgres-t.dir").read_text().strip() == str(home)
    server.stop()
    server.cleanup()
    assert not home.exists()


HARNESS = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    import psutil
    from chord_chaos.harness.infra.supervisor import Supervisor
    from chord_chaos.harness.infra.postgres_server import PostgresServer
    server = PostgresServer(Supervisor(Path(sys.argv[1])), Path(sys.argv[2]), "victim").start()
    if sys.argv[3] == "paused":
        server.pause()
    def running(p):  # a backend that ended (gone, or a zombie not yet reaped) does not count
        try:
            return p.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False
    children = [p.pid for p in psutil.Process(server.pid).children(recursive=True) if running(p)]
    print(json.dumps([server.pid, children]), flush=True)
    time.sleep(60)
""")


@pytest.mark.parametrize("state", ["running", "paused"])
def test_a_sigkilled_harness_leaves_no_postgres_process(tmp_path: Path, workdir: Path, state: str) -> None:
    """The postmaster dies with the harness (PDEATHSIG, set after the switch to the postgres
    user); its running children follow it; stopped ones wait for the next start to reap them."""
    registry = tmp_path / "state"
    harness = subprocess.Popen([sys.executable, "-c", HARNESS, str(registry), str(workdir), state],
                               stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert harness.stdout is not None
        line = harness.stdout.readline()  # bounded: the harness prints or dies within READY_TIMEOUT
        assert line, f"child harness failed to start postgres (exit {harness.wait(10)})"
        postmaster, children = json.loads(line)
        assert children and running(postmaster)
        harness.kill()
        assert harness.wait(timeout=10) == -signal.SIGKILL
        assert gone(postmaster), "PR_SET_PDEATHSIG did not take the postmaster down"
        if state == "running":
            assert all(gone(pid) for pid in children)  # each notices the postmaster's death
        else:
            assert all(running(pid) for pid in children)  # stopped, they cannot notice it
        Supervisor(registry, handle_signals=False)  # the next start reaps what is left
        assert all(gone(pid) for pid in children)
        assert Registry(registry).records() == []
    finally:
        harness.kill()
        harness.wait(timeout=10)
        reap_stale(registry)  # if the test failed, what the dead harness left goes here
