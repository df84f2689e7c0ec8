"""Toxiproxy: a real ``toxiproxy-server`` on a loopback port, and a client for its proxies.

Network faults (latency, black holes, resets, cut connections) are toxics on a proxy that sits
between Celery and redis-server. The server is spawned through the Supervisor like every other
process; the client is a thin layer over toxiproxy-python that adds what the harness needs:
a timeout on every request and one-line ``HarnessError``s.

Toxiproxy 2.12 quirks this module accounts for:

* A server that cannot bind its API port logs ``address already in use`` and keeps running
  instead of exiting, and whatever holds the port still answers ``GET /version``. Readiness
  is therefore "our pid listens on the port and /version answers", and a lost port race is
  recognised in the log.
* ``-seed`` has no effect (the server seeds a generator it then discards), so jitter and
  slicer sizes are not reproducible: draw the randomness on our side, toxicity is always 1.
* With no ``LOG_LEVEL`` the server logs at trace level; we ask for debug (one line per API
  request, enough to reconstruct when each fault was applied).
* ``reset_peer`` sends a TCP RST only on connections opened after it was added; a connection
  already open just gets closed (redis-py: "Connection closed by server." instead of
  "Connection reset by peer").
* Removing a ``timeout`` toxic closes the connections it was holding: they never resume.
* A request the client gave up on (timeout) may still be applied once a paused server resumes.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psutil
import requests
import toxiproxy.api as toxiproxy_api
from toxiproxy import Proxy, Toxiproxy
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from chord_chaos.harness.infra.errors import HarnessError, one_line
from chord_chaos.harness.infra.owned import OwnedProcess
from chord_chaos.harness.infra.ports import HOST
from chord_chaos.harness.infra.supervisor import Managed, Supervisor

READY_TIMEOUT = 10.0
REQUEST_TIMEOUT = 3.0
LOG_LEVEL = "debug"
REPO_BINARY = Path(__file__).resolve().parents[3] / "bin" / "toxiproxy-server"
T = TypeVar("T")


def toxiproxy_binary() -> str:
    """``<repo>/bin/toxiproxy-server`` (what ``make setup`` builds), else the one on PATH."""
    if REPO_BINARY.is_file() and REPO_BINARY.stat().st_mode & 0o111:
        return str(REPO_BINARY)
    binary = shutil.which("toxiproxy-server")
    if binary is None:
        raise HarnessError("toxiproxy-server not found: run 'make setup' (it builds it with go install) "
                           "or put toxiproxy-server on PATH")
    return binary


def _session() -> requests.Session:
    """A session that ignores HTTP(S)_PROXY: a loopback API must never go through a proxy."""
    session = requests.Session()
    session.trust_env = False
    return session


def _answers(port: int, timeout: float) -> bool:
    """One ``GET /version``, for readiness: any 200 answer will do."""
    try:
        with _session() as session:
            return session.get(f"http://{HOST}:{port}/version", timeout=timeout).ok
    except requests.RequestException:
        return False


def _listens(pid: int, port: int) -> bool:
    """Whether process ``pid`` itself holds the listening socket on ``port``."""
    try:
        conns = psutil.Process(pid).net_connections("tcp")
    except psutil.Error:
        return False
    return any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in conns)


class ToxiproxyServer(OwnedProcess):
    """One toxiproxy-server process on 127.0.0.1: start, stop, kill, and a client for it."""

    def __init__(self, supervisor: Supervisor, workdir: Path, port: int | None = None,
                 ready_timeout: float = READY_TIMEOUT) -> None:
        super().__init__(supervisor, workdir, port, ready_timeout)

    @property
    def log(self) -> Path:
        return self.workdir / "toxiproxy.log"

    def _binary(self) -> str:
        return toxiproxy_binary()

    def _spawn(self, binary: str, port: int) -> Managed:
        self.workdir.mkdir(parents=True, exist_ok=True)
        argv = [binary, "-host", HOST, "-port", str(port)]
        return self.supervisor.spawn(argv, "toxiproxy", self.log, env={"LOG_LEVEL": LOG_LEVEL})

    def _answers(self, proc: Managed, port: int) -> bool:
        """It listens itself (a holder of the port may answer HTTP too) and ``GET /version`` works."""
        return _listens(proc.pid, port) and _answers(port, timeout=0.25)

    @property
    def label(self) -> str:
        return "toxiproxy-server"

    def client(self, timeout: float = REQUEST_TIMEOUT) -> ToxiproxyClient:
        if self.port is None or self.proc is None:
            raise HarnessError("toxiproxy-server is not running; start it first")
        return ToxiproxyClient(HOST, self.port, timeout)


@dataclass(frozen=True)
class Link:
    """A proxy in front of a redis-server: connect to ``listen_port`` to go through the faults."""

    name: str
    listen_port: int
    upstream_port: int

    def url(self, db: int = 0) -> str:
        return f"redis://{HOST}:{self.listen_port}/{db}"


class _TimedRequests:
    """Stands in for the ``requests`` module inside ``toxiproxy.api``.

    toxiproxy-python calls ``requests.get/post/delete`` with no timeout, so a hung or
    SIGSTOPped server would hang the harness for ever; and it lets a 5xx through silently.
    Each call here carries our timeout, ignores proxy environment variables, and raises
    ``requests.HTTPError`` on any 4xx/5xx (the client turns all of these into HarnessErrors).
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        with _session() as session:
            response = session.request(method, url, **kwargs)
        response.raise_for_status()
        return response

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", url, **kwargs)


class ToxiproxyClient:
    """Proxies and toxics on one toxiproxy-server, every request bounded by ``timeout``.

    toxiproxy-python keeps the server address in class attributes of ``APIConsumer`` (and its
    HTTP module in a module global), so there is one Toxiproxy server per process: each call
    here points them at this client's server first, which keeps clients used one after the
    other correct, but not two clients of different servers used from concurrent threads.
    """

    def __init__(self, host: str, port: int, timeout: float = REQUEST_TIMEOUT) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._http = _TimedRequests(timeout)
        self._configure()

    def _configure(self) -> None:
        toxiproxy_api.APIConsumer.host = self.host
        toxiproxy_api.APIConsumer.port = self.port
        toxiproxy_api.requests = self._http

    def _call(self, operation: str, proxy: str | None, request: Callable[[], T]) -> T:
        """Run one API request; any failure becomes a one-line HarnessError naming it."""
        self._configure()
        try:
            return request()
        except requests.HTTPError as exc:
            raise self._error(operation, proxy, _http_reason(exc.response)) from None
        except requests.Timeout:
            raise self._error(operation, proxy, f"no answer from {self.host}:{self.port} within "
                              f"{self.timeout:g} s (it may still apply the request); "
                              "is toxiproxy-server hung or paused?") from None
        except requests.ConnectionError:
            raise self._error(operation, proxy, f"cannot connect to {self.host}:{self.port}; "
                              "is toxiproxy-server running? (ToxiproxyServer.start)") from None
        except (requests.RequestException, ProxyExists, NotFound, InvalidToxic, ValueError,
                KeyError, TypeError) as exc:
            raise self._error(operation, proxy, one_line(exc)) from None

    def _error(self, operation: str, proxy: str | None, reason: str) -> HarnessError:
        target = f" on proxy {proxy!r}" if proxy is not None else ""
        return HarnessError(f"toxiproxy {operation}{target} failed: {reason}")

    def _get(self, path: str) -> Any:
        return toxiproxy_api.APIConsumer.get(path).json()

    def version(self) -> str:
        def request() -> str:
            answer = toxiproxy_api.APIConsumer.get("/version")
            try:
                return str(answer.json()["version"])
            except (ValueError, KeyError, TypeError):
                return str(answer.text).strip()  # before 2.5 the answer was plain text

        return self._call("version", None, request)

    def create_proxy(self, name: str, upstream_port: int) -> Link:
        """A proxy to ``127.0.0.1:upstream_port`` on a port the server picks (no race)."""

        def request() -> Link:
            proxy = Toxiproxy().create(upstream=f"{HOST}:{upstream_port}", name=name,
                                       listen=f"{HOST}:0")
            return Link(name, int(str(proxy.listen).rsplit(":", 1)[1]), upstream_port)

        return self._call("create_proxy", name, request)

    def add_toxic(self, proxy: str, name: str, type: str, attributes: dict[str, Any],
                  stream: str = "downstream") -> None:
        """Always toxicity 1.0: whether a fault happens is decided by our seeded randomness."""
        self._call(f"add_toxic {name!r} ({type})", proxy, lambda: _proxy(proxy).add_toxic(
            name=name, type=type, stream=stream, toxicity=1.0, attributes=attributes))

    def remove_toxic(self, proxy: str, name: str) -> None:
        """Idempotent: a toxic already gone is fine (a proxy that is gone is not)."""

        def request() -> None:
            try:
                _proxy(proxy).destroy_toxic(name)
            except requests.HTTPError as exc:
                if exc.response is None or "toxic not found" not in exc.response.text:
                    raise

        self._call(f"remove_toxic {name!r}", proxy, request)

    def update_toxic(self, proxy: str, name: str, attributes: dict[str, Any]) -> None:
        """Change some of a toxic's attributes in place (the others are kept), on live
        connections too. toxiproxy-python has no call for it."""
        self._call(f"update_toxic {name!r}", proxy,
                   lambda: self._patch(f"/proxies/{proxy}/toxics/{name}", {"attributes": attributes}))

    def disable(self, proxy: str) -> None:
        """Stop listening and close every connection: new connections are refused."""
        self._call("disable", proxy, lambda: self._patch(f"/proxies/{proxy}", {"enabled": False}))

    def enable(self, proxy: str) -> None:
        """Listen again, on the same port."""
        self._call("enable", proxy, lambda: self._patch(f"/proxies/{proxy}", {"enabled": True}))

    def _patch(self, path: str, body: dict[str, Any]) -> None:
        """A PATCH: toxiproxy-python updates with POST, which 2.12 deprecates (a warning per call)."""
        self._http.request("PATCH", f"http://{self.host}:{self.port}{path}", json=body)

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        return self._call("toxics", proxy, lambda: list(self._get(f"/proxies/{proxy}/toxics")))

    def proxies(self) -> dict[str, dict[str, Any]]:
        """Every proxy as the server reports it (raw JSON: name, listen, upstream, enabled, toxics)."""
        return self._call("proxies", None, lambda: dict(self._get("/proxies")))

    def reset(self) -> None:
        """Heal everything at once: every proxy enabled, every toxic removed."""
        self._call("reset", None, lambda: Toxiproxy().reset())


def _proxy(name: str) -> Any:
    """A toxiproxy-python Proxy by name, without a GET: the methods we call only use the name."""
    return Proxy(name=name, upstream="", enabled=True, listen="")


def _http_reason(response: requests.Response | None) -> str:
    """``HTTP 404: proxy not found``, from toxiproxy's JSON error body when there is one."""
    if response is None:
        return "HTTP error without a response"
    try:
        detail = str(response.json()["error"])
    except (ValueError, KeyError, TypeError):
        detail = response.text
    return f"HTTP {response.status_code}: {' '.join(detail.split())[:300]}"
