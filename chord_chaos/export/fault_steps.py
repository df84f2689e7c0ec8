"""A fault plan as steps in ``repro.py``: plain tools where they can do it, comments where not.

A worker, a pool process or a redis-server is found and signalled by pid (``inspect().active()``
names the pool process running a task, ``INFO server`` a redis-server's pid), and a killed
worker or redis-server is started again the way README.md starts it (the worker is stopped when
the script ends, the redis-server left running in place of the one README.md started, its pid
printed). A network fault needs a
proxy between the processes (chord-chaos uses Toxiproxy): it becomes a commented step that
points at ``chord-chaos replay``, and so does a RabbitMQ or PostgreSQL restart (the user's
server is theirs to restart). Anchors name the task by its op, as seen in the reported run.
"""

from __future__ import annotations

from dataclasses import dataclass

from chord_chaos.check.history import History
from chord_chaos.models.canvas import Task, parse_workload, walk
from chord_chaos.models.faults import SERVER_KINDS, Fault, FaultPlan, node_role
from chord_chaos.models.vocabulary import FaultKind

PLAIN = {FaultKind.KILL_CHILD, FaultKind.KILL_WORKER, FaultKind.TERM_WORKER, FaultKind.KILL_REDIS,
         FaultKind.RESTART_REDIS, FaultKind.PAUSE_REDIS}
REDIS_KINDS = {FaultKind.KILL_REDIS, FaultKind.RESTART_REDIS, FaultKind.PAUSE_REDIS}

HELPERS = '''
STARTED = []  # workers repro.py started (in place of a killed one), stopped at the end
INSPECT_TIMEOUT = 0.3


def running(name, event="start", count=1, within=60.0):
    """(pool pid, worker hostname) of the count-th task named `name` seen running (event
    "start"), or once it is no longer running (event "end"), polling inspect().active()."""
    seen, gone = {}, []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        active = app.control.inspect(timeout=INSPECT_TIMEOUT).active() or {}
        now = {t["id"]: (t["worker_pid"], host) for host, tasks in active.items()
               for t in tasks if t.get("name") == name}
        for task_id, where in now.items():
            seen.setdefault(task_id, where)
        gone += [i for i in seen if i not in now and i not in gone]
        hits = list(seen) if event == "start" else gone
        if len(hits) >= count:
            return seen[hits[count - 1]]
        time.sleep(0.02)
    raise RuntimeError(f"no {name} task {event}ed within {within:g} s")


def worker_pid(host=None):
    """The main process of worker `host` (any worker when None)."""
    stats = app.control.inspect(timeout=1.0).stats() or {}
    if not stats:
        raise RuntimeError("no worker answered; start one as README.md says")
    return stats[host or sorted(stats)[0]]["pid"]


def start_worker():
    """Another worker, started as README.md starts one; stopped when repro.py ends."""
    name = f"restarted{len(STARTED)}@%h"
    STARTED.append(subprocess.Popen([sys.executable, "-m", "celery", "-A", "repro", "worker",
                                     "--concurrency", "2", "-n", name, "--loglevel", "WARNING"],
                                    cwd=HERE))


def redis_pid(url):
    import redis

    return redis.Redis.from_url(url).info("server")["process_id"]


def start_redis(url):
    """redis-server again on `url`'s port, without persistence, as README.md starts it. It is
    left running when repro.py ends, in place of the one README.md started (the worker needs it)."""
    port = str(urlparse(url).port)
    server = subprocess.Popen(["redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    print(f"restarted redis-server on port {port}: pid {server.pid} (stop it with kill {server.pid})")


def stop_started():
    for proc in reversed(STARTED):
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
'''


@dataclass(frozen=True)
class FaultSteps:
    """The plan as code: one function per fault (``fault_1`` ...), and the faults that need a
    proxy, as comments."""

    functions: tuple[str, ...]
    commented: tuple[str, ...]
    redis_faults: bool  # the broker and the backend then need a redis-server each

    @property
    def code(self) -> str:
        """Helpers and step functions; empty when no fault can be done with plain tools."""
        if not self.functions:
            return ""
        return HELPERS + "".join(f"\n\n{f}" for f in self.functions)


NO_STEPS = FaultSteps((), (), False)


def _anchor_op(fault: Fault, history: History) -> str | None:
    """The op of the task whose event the anchor matched in the reported run (its count-th)."""
    a = fault.anchor
    if a is None:
        return None
    ops = {n: op for n, op in _ops(history.workload)}
    hits = [e.node for e in sorted(history.events, key=lambda e: e.mono)
            if a.matches(e.kind, e.node) and e.node in ops]
    if not hits:  # the anchor never came in that run: take the first task of the role
        hits = [n for n in ops if a.role == "any" or node_role(n) == a.role]
    return ops[hits[min(a.count, len(hits)) - 1]] if hits else None


def _ops(workload: dict[str, object]) -> list[tuple[str, str]]:
    return [(path, node.op) for path, node in walk(parse_workload(workload).canvas)
            if isinstance(node, Task)]


def _when(fault: Fault, op: str | None) -> tuple[str, list[str]]:
    """A sentence saying when, and the lines that wait until then (setting ``pid``, ``host``)."""
    a = fault.anchor
    if a is None or op is None:
        return (f"{fault.at:g} s after submission",
                [f"time.sleep(max(0.0, T0[0] + {fault.at!r} - time.monotonic()))", "pid = host = None"])
    nth = {1: "1st", 2: "2nd", 3: "3rd"}.get(a.count, f"{a.count}th")
    lines = [f'pid, host = running("tasks.{op}", {a.event!r}, {a.count})']
    if fault.at:
        lines.append(f"time.sleep({fault.at!r})")
    role = "" if a.role == "any" else f" (a chord {a.role} task in the reported run)"
    return f"{fault.at:g} s after the {nth} {op} task {a.event}s{role}", lines


def _act(fault: Fault) -> tuple[str, list[str], list[str]]:
    """What the fault does, the lines that do it, and the lines that heal it."""
    kind, target = fault.kind, fault.target
    anchored = target == "@anchor"
    if kind == FaultKind.KILL_CHILD:
        if not anchored:
            return ("SIGKILL a pool process of a worker", [
                "pid = app.control.inspect(timeout=1.0).stats()",
                "pid = next(iter(pid.values()))['pool']['processes'][0]",
                "os.kill(pid, signal.SIGKILL)"], [])
        return ("SIGKILL the pool process running it (the worker starts another)",
                ["os.kill(pid, signal.SIGKILL)"], [])
    if kind in (FaultKind.KILL_WORKER, FaultKind.TERM_WORKER):
        sig = "SIGKILL" if kind == FaultKind.KILL_WORKER else "SIGTERM"
        whom = "the worker running it" if anchored else "a worker"
        host = "host" if anchored else "None"
        how = "its pool dies with it" if kind == FaultKind.KILL_WORKER else "a warm shutdown"
        return (f"{sig} {whom} ({how}), then start another worker",
                [f"os.kill(worker_pid({host}), signal.{sig})"], ["start_worker()"])
    url = "BROKER_URL" if target == "broker" else "BACKEND_URL"
    if kind == FaultKind.PAUSE_REDIS:
        return (f"SIGSTOP the {target} redis-server, then SIGCONT",
                [f"server = redis_pid({url})", "os.kill(server, signal.SIGSTOP)"],
                ["os.kill(server, signal.SIGCONT)"])
    what = "restart" if kind == FaultKind.RESTART_REDIS else "SIGKILL, then restart"
    return (f"{what} the {target} redis-server (no persistence: every key is lost)",
            [f"server = redis_pid({url})", "os.kill(server, signal.SIGKILL)"],
            [f"start_redis({url})"])


def _function(i: int, fault: Fault, history: History) -> str:
    op = _anchor_op(fault, history)
    when, wait = _when(fault, op)
    what, act, heal = _act(fault)
    body = [f'"""{fault.kind} {fault.target}: {when}, {what}."""', *wait, *act]
    if heal:
        pause = 0.0 if fault.kind == FaultKind.RESTART_REDIS else fault.duration
        body += [f"time.sleep({pause!r})", *heal] if pause else heal
    return f"def fault_{i}():\n" + "".join(f"    {line}\n" for line in body)


def _comment(fault: Fault) -> str:
    when = (f"{fault.at:g} s after submission" if fault.anchor is None else
            f"{fault.at:g} s after start #{fault.anchor.count} of a {fault.anchor.role} task"
            if fault.anchor.event == "start" else
            f"{fault.at:g} s after end #{fault.anchor.count} of a {fault.anchor.role} task")
    if fault.kind in SERVER_KINDS:
        return f"{fault.kind} (the {fault.target}'s server), {when}, for {fault.duration:g} s"
    params = ", ".join(f"{k}={v:g}" for k, v in fault.params.items())
    return (f"{fault.kind}{f' ({params})' if params else ''} on the link {fault.target}, {when}, "
            f"for {fault.duration:g} s")


def fault_steps(plan: FaultPlan, history: History) -> FaultSteps:
    functions: list[str] = []
    commented: list[str] = []
    for fault in plan.faults:
        if fault.kind in PLAIN:
            functions.append(_function(len(functions) + 1, fault, history))
        else:
            commented.append(_comment(fault))
    return FaultSteps(tuple(functions), tuple(commented),
                      any(f.kind in REDIS_KINDS for f in plan.faults))
