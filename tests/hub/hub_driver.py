"""A real JupyterHub on 127.0.0.1, driven through its REST API and its users' servers.

``start_hub`` writes a hub configuration into a private state directory and runs ``jupyterhub``
from the single-user environment (scripts/hub-env.sh) as root: the default LocalProcessSpawner
starts every user's server as that Unix user, configurable-http-proxy (npm) routes
``/user/<name>/`` to it. The tests act as a hub administrator would, through a service whose token
may create user tokens and start servers; a user's kernels are then reached with that user's own
token at ``/user/<name>/api/kernels``, and cells run over the kernel's websocket, as JupyterLab
runs them.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

import websocket

SERVICE = "collab-reuse-tests"
#: what the tests' service may do: create tokens for users, start and stop their servers, read
#: their servers' state (the spawner's state holds the server's pid)
SERVICE_SCOPES = ["admin:users", "admin:servers", "admin:server_state", "tokens", "list:users", "read:users"]
#: the outputs a notebook shows, in the order the kernel sends them
OUTPUT_TYPES = ("stream", "display_data", "execute_result", "error")


class HubError(RuntimeError):
    """The hub, a server or a kernel did not do what was asked; the message says what it answered."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class CellRun:
    """One executed cell: its execution count, its outputs as nbformat dicts, its wall time."""

    code: str
    execution_count: int | None
    outputs: list[dict]
    status: str
    seconds: float


@dataclass
class Server:
    """A user's running single-user server."""

    user: str
    url: str
    pid: int


def _config(*, env_dir: Path, proxy: Path, state: Path, port: int, hub_port: int, proxy_api_port: int,
            users: Iterable[str], service_token: str, proxy_token: str, environment: Mapping[str, str],
            umask: int | None) -> str:
    """The jupyterhub_config.py of a test hub (every value a literal, so the file reads on its own)."""
    settings = {
        "JupyterHub.bind_url": f"http://127.0.0.1:{port}",
        "JupyterHub.hub_bind_url": f"http://127.0.0.1:{hub_port}",
        "JupyterHub.db_url": f"sqlite:///{state / 'jupyterhub.sqlite'}",
        "JupyterHub.cookie_secret_file": str(state / "jupyterhub_cookie_secret"),
        "JupyterHub.pid_file": str(state / "jupyterhub.pid"),
        # stop every server and the proxy routes when the hub stops: nothing outlives a test run
        "JupyterHub.cleanup_servers": True,
        "JupyterHub.cleanup_proxy": True,
        "ConfigurableHTTPProxy.command": [str(proxy)],
        "ConfigurableHTTPProxy.api_url": f"http://127.0.0.1:{proxy_api_port}",
        "ConfigurableHTTPProxy.auth_token": proxy_token,
        "ConfigurableHTTPProxy.pid_file": str(state / "proxy.pid"),
        # DummyAuthenticator's password is deprecated; nobody logs in with it anyway (tokens do)
        "JupyterHub.authenticator_class": "shared-password",
        "SharedPasswordAuthenticator.user_password": secrets.token_hex(16),
        "Authenticator.allowed_users": sorted(users),
        "JupyterHub.services": [{"name": SERVICE, "api_token": service_token}],
        "JupyterHub.load_roles": [{"name": SERVICE, "scopes": SERVICE_SCOPES, "services": [SERVICE]}],
        # the default spawner (LocalProcessSpawner): each server runs as its user
        "JupyterHub.spawner_class": "localprocess",
        "Spawner.cmd": [str(env_dir / "bin" / "jupyterhub-singleuser")],
        "Spawner.ip": "127.0.0.1",
        "Spawner.environment": dict(environment),
        # only these of the hub's variables reach a user: the test process's PYTHONPATH (a source
        # tree under /work or /root) must not, the users' kernels import the installed wheel
        "Spawner.env_keep": ["PATH", "LANG"],
        "Spawner.default_url": "/lab",
        # kernels on Unix sockets: with TCP, two servers starting kernels at the same moment can pick
        # the same free port (seen once on a clean CI run of the eight-kernel load test: "Address
        # already in use", the kernel restarted and the test's websocket timed out)
        "Spawner.args": ["--KernelManager.transport=ipc"],
        "Spawner.start_timeout": 120,
        "Spawner.http_timeout": 120,
    }
    if umask is not None:
        # Popen's own umask argument, applied in the child before the spawner drops to the user
        settings["LocalProcessSpawner.popen_kwargs"] = {"umask": umask}
    lines = ["# Written by tests/hub/hub_driver.py for one test run.", "c = get_config()  # noqa"]
    for key, value in settings.items():
        cls, name = key.split(".")
        lines.append(f"c.{cls}.{name} = {value!r}")
    return "\n".join(lines) + "\n"


class Hub:
    """A running hub: REST calls as its admin service or as a user, servers, kernels, cells."""

    def __init__(self, *, url: str, service_token: str, process: subprocess.Popen, log: Path, setup: "HubSetup"):
        self.url = url
        self.service_token = service_token
        self.process = process
        self.log = log
        self.setup = setup
        self._tokens: dict[str, str] = {}
        self._kernels: list[tuple[str, str]] = []  # (user, kernel id) still running

    # -- REST ------------------------------------------------------------------------------------

    def request(self, method: str, path: str, *, token: str, body: Any = None, timeout: float = 30) -> tuple[int, Any]:
        """``method`` ``path`` (relative to the hub's public URL) with ``token``; (status, decoded JSON or text)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path.lstrip("/"), data=data, method=method,
                                     headers={"Authorization": f"token {token}", "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        text = raw.decode(errors="replace")
        try:
            return status, json.loads(text) if text else None
        except json.JSONDecodeError:
            return status, text

    def api(self, method: str, path: str, body: Any = None, *, expect: Iterable[int] = (200, 201, 202, 204)) -> Any:
        """A hub REST call (``/hub/api/<path>``) as the admin service; raises unless the status is expected."""
        status, reply = self.request(method, f"hub/api/{path.lstrip('/')}", token=self.service_token, body=body)
        if status not in tuple(expect):
            raise HubError(f"{method} /hub/api/{path}: {status} {reply}")
        return reply

    def token(self, user: str) -> str:
        """An API token of ``user`` (made once by the admin service): it carries the user's own permissions."""
        if user not in self._tokens:
            reply = self.api("POST", f"users/{user}/tokens", {"note": "collab_reuse hub tests", "expires_in": 7200})
            self._tokens[user] = reply["token"]
        return self._tokens[user]

    def server_url(self, user: str) -> str:
        """The public URL of ``user``'s server (``/user/<name>/``)."""
        return f"{self.url}user/{user}/"

    def user_request(self, user: str, method: str, path: str, *, as_user: str | None = None, body: Any = None,
                     timeout: float = 30) -> tuple[int, Any]:
        """A call to ``user``'s server (e.g. ``collab-reuse/summary``) with ``as_user``'s token (default: ``user``'s)."""
        return self.request(method, f"user/{user}/{path.lstrip('/')}", token=self.token(as_user or user), body=body,
                            timeout=timeout)

    # -- servers ---------------------------------------------------------------------------------

    def start_server(self, user: str, timeout: float = 120) -> Server:
        """Start ``user``'s default server (the spawner runs it as that Unix user) and wait until it is ready."""
        self.api("POST", f"users/{user}/server", expect=(201, 202, 400))  # 400: already running
        deadline = time.monotonic() + timeout
        while True:
            model = self.api("GET", f"users/{user}")
            server = model.get("servers", {}).get("")
            if server and server.get("ready"):
                return Server(user=user, url=self.url + server["url"].lstrip("/"), pid=int(server["state"]["pid"]))
            if self.process.poll() is not None:
                raise HubError(f"the hub exited ({self.process.returncode}) while {user}'s server started")
            if time.monotonic() > deadline:
                raise HubError(f"{user}'s server not ready after {timeout:.0f} s: {server}; see {self.log}")
            time.sleep(0.25)

    def stop_server(self, user: str, timeout: float = 60) -> None:
        self.api("DELETE", f"users/{user}/server", expect=(202, 204, 400))
        deadline = time.monotonic() + timeout
        while self.api("GET", f"users/{user}").get("servers", {}).get(""):
            if time.monotonic() > deadline:
                raise HubError(f"{user}'s server still running {timeout:.0f} s after the stop request")
            time.sleep(0.25)

    # -- kernels ---------------------------------------------------------------------------------

    def start_kernel(self, user: str) -> str:
        """Start a kernel in ``user``'s server with ``user``'s token; return its id."""
        status, reply = self.user_request(user, "POST", "api/kernels", body={"name": "python3"}, timeout=120)
        if status != 201:
            raise HubError(f"starting a kernel for {user}: {status} {reply}")
        self._kernels.append((user, reply["id"]))
        return reply["id"]

    def shutdown_kernel(self, user: str, kernel_id: str) -> None:
        status, reply = self.user_request(user, "DELETE", f"api/kernels/{kernel_id}", timeout=60)
        if status not in (204, 404):
            raise HubError(f"shutting down {user}'s kernel {kernel_id}: {status} {reply}")
        if (user, kernel_id) in self._kernels:
            self._kernels.remove((user, kernel_id))

    def run_cells(self, user: str, cells: Iterable[str], *, timeout: float = 120, kernel_id: str | None = None) -> list[CellRun]:
        """Execute ``cells`` one after another in a kernel of ``user`` (a new one, shut down after, unless
        ``kernel_id`` names one) over the kernel's websocket; every cell runs, as with ``allow_errors``."""
        own = kernel_id is None
        kernel_id = kernel_id or self.start_kernel(user)
        try:
            with KernelChannel(self, user, kernel_id) as channel:
                return [channel.execute(code, timeout=timeout) for code in cells]
        finally:
            if own:
                self.shutdown_kernel(user, kernel_id)

    # -- the end ---------------------------------------------------------------------------------

    def shutdown(self, timeout: float = 60) -> None:
        """Shut down kernels started here, then the hub (it stops every server and the proxy it started)."""
        for user, kernel_id in list(self._kernels):
            try:
                self.shutdown_kernel(user, kernel_id)
            except (HubError, OSError):
                pass  # the server stops with the hub and takes its kernels along
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        _end_pid_file(self.setup.state / "proxy.pid")  # a proxy left by a hub that was killed


def _end_pid_file(path: Path) -> None:
    """End the process a pid file names, if it still runs."""
    try:
        pid = int(path.read_text().strip())
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        pass


class KernelChannel:
    """A kernel's websocket (``/api/kernels/<id>/channels``, Jupyter's JSON message protocol)."""

    def __init__(self, hub: Hub, user: str, kernel_id: str):
        self.session = uuid.uuid4().hex
        ws_url = hub.server_url(user).replace("http://", "ws://", 1)
        self.ws = websocket.create_connection(f"{ws_url}api/kernels/{kernel_id}/channels?session_id={self.session}",
                                              header=[f"Authorization: token {hub.token(user)}"], timeout=30)
        self.user = user

    def __enter__(self) -> "KernelChannel":
        return self

    def __exit__(self, *exc: object) -> None:
        self.ws.close()

    def execute(self, code: str, timeout: float = 120) -> CellRun:
        """Run ``code`` as a notebook cell; collect its outputs until the reply and the idle status are in."""
        msg_id = uuid.uuid4().hex
        self.ws.send(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": self.user,
                       "session": self.session, "version": "5.3",
                       "date": datetime.now(timezone.utc).isoformat()},
            "parent_header": {}, "metadata": {}, "buffers": [], "channel": "shell",
            "content": {"code": code, "silent": False, "store_history": True, "user_expressions": {},
                        "allow_stdin": False, "stop_on_error": False},
        }))
        outputs: list[dict] = []
        reply: dict | None = None
        idle = False
        started = time.monotonic()
        deadline = started + timeout
        while reply is None or not idle:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise HubError(f"{self.user}'s cell did not finish in {timeout:.0f} s: {code[:200]!r}")
            self.ws.settimeout(remaining)
            msg = json.loads(self.ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["header"]["msg_type"], msg["content"]
            if msg["channel"] == "shell" and kind == "execute_reply":
                reply = content
            elif kind == "status" and content.get("execution_state") == "idle":
                idle = True
            elif kind in OUTPUT_TYPES:
                outputs.append(_output(kind, content))
            elif kind == "clear_output":
                outputs.clear()
        return CellRun(code=code, execution_count=reply.get("execution_count"), outputs=outputs,
                       status=reply.get("status", "?"), seconds=time.monotonic() - started)


def _output(kind: str, content: dict) -> dict:
    """An iopub message as the nbformat output a notebook would save (what nbclient makes of it)."""
    if kind == "stream":
        return {"output_type": "stream", "name": content["name"], "text": content["text"]}
    if kind == "error":
        return {"output_type": "error", "ename": content["ename"], "evalue": content["evalue"],
                "traceback": content["traceback"]}
    out = {"output_type": kind, "data": content.get("data", {}), "metadata": content.get("metadata", {})}
    if kind == "execute_result":
        out["execution_count"] = content.get("execution_count")
    return out


@dataclass
class HubSetup:
    """Where a hub's pieces are: the single-user environment, the proxy, a private state directory."""

    env_dir: Path
    proxy: Path
    state: Path
    users: list[str]
    environment: dict[str, str] = field(default_factory=dict)
    #: the umask users' servers (and so their kernels) start with; None: the hub's own (root's, 022)
    umask: int | None = None


def start_hub(setup: HubSetup, timeout: float = 60) -> Hub:
    """Write the configuration, start ``jupyterhub`` as root and wait until its API answers through the proxy."""
    setup.state.mkdir(parents=True, exist_ok=True)
    os.chmod(setup.state, 0o700)  # cookie secret, database, tokens: root's only
    port, hub_port, proxy_api_port = free_port(), free_port(), free_port()
    service_token = secrets.token_hex(32)
    config = setup.state / "jupyterhub_config.py"
    config.write_text(_config(env_dir=setup.env_dir, proxy=setup.proxy, state=setup.state, port=port,
                              hub_port=hub_port, proxy_api_port=proxy_api_port, users=setup.users,
                              service_token=service_token, proxy_token=secrets.token_hex(32),
                              environment=setup.environment, umask=setup.umask))
    log = setup.state / "jupyterhub.log"
    env = {
        "PATH": f"{setup.env_dir / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "HOME": str(setup.state),
    }
    with log.open("w") as out:
        process = subprocess.Popen([str(setup.env_dir / "bin" / "jupyterhub"), "-f", str(config)], cwd=setup.state,
                                   env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    hub = Hub(url=f"http://127.0.0.1:{port}/", service_token=service_token, process=process, log=log, setup=setup)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            hub.shutdown()  # a proxy it started may outlive it
            raise HubError(f"jupyterhub exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            status, _ = hub.request("GET", "hub/api/", token=service_token, timeout=2)
            if status == 200:
                return hub
        except OSError:
            pass
        if time.monotonic() > deadline:
            hub.shutdown()
            raise HubError(f"jupyterhub did not answer in {timeout:.0f} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
