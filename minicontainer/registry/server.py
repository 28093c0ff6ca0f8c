"""The lab registry: Debian's `docker-registry` (CNCF distribution) on 127.0.0.1 (lesson 06).

`minicontainer registry start` runs a real registry, the same server Docker Hub grew from, so that
every registry lesson works offline. It listens on 127.0.0.1 only, keeps its configuration and
storage under the course's state directory (`lib_dir/registry/`), and is seeded with the course's
busybox image. `minicontainer registry stop` (and `minicontainer reset`, through `sweep`) stops it.

`RegistryServer` is the same thing as a context manager with a free port and optional TLS and
authentication: the tests start several of them side by side.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ContainerError
from ..paths import Paths

REGISTRY_BINARY = "/usr/bin/docker-registry"
LAB_PORT = 5000
LAB_REPOSITORY = "busybox"


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM if the process that started us dies (no stray registries
    when a test run or a notebook kernel is killed). The lab registry is detached and skips this."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on host that nothing listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class RegistryServer:
    """One docker-registry process with its own config and storage under `root`."""

    root: Path
    port: int = 0
    auth: dict | None = None                # the config's `auth` section (htpasswd, token)
    tls: tuple[Path, Path] | None = None    # (certificate, key) to serve https
    host: str = "127.0.0.1"                 # the address to listen on: loopback, or a lab network's (lesson 11)
    process: subprocess.Popen | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root)
        self.port = self.port or free_port(self.host)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.address}"

    @property
    def config_path(self) -> Path:
        return self.root / "config.yml"

    @property
    def storage(self) -> Path:
        return self.root / "storage"

    def config(self) -> dict:
        http: dict = {"addr": self.address, "secret": secrets.token_hex(16),
                      "headers": {"X-Content-Type-Options": ["nosniff"]}}
        if self.tls:
            http["tls"] = {"certificate": str(self.tls[0]), "key": str(self.tls[1])}
        config = {
            "version": "0.1",
            "log": {"level": "warn", "accesslog": {"disabled": True}, "fields": {"service": "minicontainer-registry"}},
            "storage": {"filesystem": {"rootdirectory": str(self.storage)}, "delete": {"enabled": True},
                        "cache": {"blobdescriptor": "inmemory"}},
            "http": http,
        }
        if self.auth:
            config["auth"] = self.auth
        return config

    def start(self, timeout: float = 15.0, detach: bool = False) -> "RegistryServer":
        """Write the config (JSON is valid YAML), start the server and wait until /v2/ answers."""
        if not os.access(REGISTRY_BINARY, os.X_OK):
            raise ContainerError("docker-registry is not installed", step="start registry", path=REGISTRY_BINARY,
                                 fix="make deps (installs Debian's docker-registry)")
        self.storage.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(json.dumps(self.config(), indent=2))
        log = open(self.root / "registry.log", "ab")
        try:
            self.process = subprocess.Popen([REGISTRY_BINARY, "serve", str(self.config_path)], stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=log, start_new_session=detach, close_fds=True,
                                            preexec_fn=None if detach else _die_with_parent)
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = (self.root / "registry.log").read_text(errors="replace")[-500:]
                raise ContainerError(f"docker-registry exited with status {self.process.returncode}: {tail}",
                                     step="start registry", path=str(self.config_path),
                                     fix="read the log; is the port taken?")
            if self._answers():
                return self
            time.sleep(0.05)
        self.stop()
        raise ContainerError(f"docker-registry did not answer on {self.address} within {timeout:.0f} s",
                             step="start registry", path=str(self.root / "registry.log"))

    def _answers(self) -> bool:
        try:
            with socket.create_connection((self.host, self.port), timeout=0.2):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s; waits so no zombie is left."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL now (the fault tests use it to cut a pull in the middle)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> "RegistryServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- the lab registry: `minicontainer registry start|stop` --------------------------------------

def lab_root(paths: Paths) -> Path:
    return paths.lib_dir / "registry"


def _pid_file(paths: Paths) -> Path:
    return paths.run_dir / "registry.json"


def lab_status(paths: Paths) -> dict | None:
    """{'pid', 'port', 'address'} of the running lab registry, or None (stale records are removed)."""
    try:
        state = json.loads(_pid_file(paths).read_text())
        cmdline = Path(f"/proc/{state['pid']}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError, KeyError):
        _pid_file(paths).unlink(missing_ok=True)
        return None
    if str(lab_root(paths) / "config.yml").encode() not in cmdline:
        _pid_file(paths).unlink(missing_ok=True)
        return None
    return state


def start_lab(paths: Paths | None = None, port: int = LAB_PORT, seed: bool = True) -> dict:
    """Start the lab registry on 127.0.0.1:port (idempotent) and seed it with the course image."""
    paths = paths or Paths.from_env()
    state = lab_status(paths)
    if state is None:
        try:
            with socket.socket() as s:
                s.bind(("127.0.0.1", port))
        except OSError:
            raise ContainerError(f"port {port} on 127.0.0.1 is taken", step="start registry",
                                 fix="stop what listens there (the distribution's docker-registry service? "
                                     "`make deps` disables it), or pass --port") from None
        server = RegistryServer(lab_root(paths), port).start(detach=True)
        state = {"pid": server.process.pid, "port": port, "address": server.address}
        paths.run_dir.mkdir(parents=True, exist_ok=True)
        _pid_file(paths).write_text(json.dumps(state))
        server.process = None  # it outlives this process; stop_lab() ends it
    if seed:
        state["seeded"] = seed_lab(paths, state["address"])
    return state


def seed_lab(paths: Paths, address: str) -> str:
    """Push the course's busybox image to the lab registry unless it is there already."""
    from ..image import prepare_default_image
    from ..image.store import Store
    from .client import RegistryClient
    from .push import push

    target = f"{address}/{LAB_REPOSITORY}:latest"
    client = RegistryClient(address)
    try:
        if "latest" in client.list_tags(LAB_REPOSITORY):
            return f"{target} already there"
    except ContainerError:
        pass
    prepare_default_image(paths)
    result = push("localhost/busybox:latest", target, paths, store=Store(paths), client=client)
    return f"seeded {target} ({result.digest[:19]}...)"


def stop_lab(paths: Paths | None = None) -> str | None:
    """Stop the lab registry if it runs; return what was done."""
    paths = paths or Paths.from_env()
    state = lab_status(paths)
    if state is None:
        return None
    pid = int(state["pid"])
    try:
        os.kill(pid, signal.SIGTERM)
        for _ in range(100):
            time.sleep(0.05)
            os.kill(pid, 0)
            try:  # reap it if it is our child (it is not when another process started it)
                if os.waitpid(pid, os.WNOHANG)[0] == pid:
                    break
            except ChildProcessError:
                pass
        else:
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _pid_file(paths).unlink(missing_ok=True)
    return f"stopped the lab registry (pid {pid}, {state['address']})"


def sweep(paths: Paths) -> list[str]:
    """For `minicontainer reset`: stop the lab registry (its storage goes with lib_dir)."""
    done = stop_lab(paths)
    return [done] if done else []
