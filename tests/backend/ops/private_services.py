"""Private PostgreSQL and Redis instances, and the production server commands, for fault tests.

Each instance runs on a free port of 127.0.0.1 in a temporary directory and is stopped and
started by the test itself: the shared services on 5432/6379 that other test runs use are never
touched. Every wait is bounded.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from config.processes import BACKEND_DIR, MIGRATE_COMMAND, local
from tests.conftest import skip_or_fail

START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, *, timeout: float = START_TIMEOUT, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class PrivateRedis:
    def __init__(self) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            skip_or_fail("redis-server is not installed (Debian: redis-server)")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: port_open(self.port), what=f"redis on {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None
        wait_until(lambda: not port_open(self.port), timeout=10, what="redis to stop")


class PrivatePostgres:
    """A throwaway cluster (initdb + pg_ctl), run as the ``postgres`` OS user when we are root
    (initdb refuses root), with trust authentication on 127.0.0.1 only and no fsync."""

    def __init__(self) -> None:
        candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        self.bindir = Path(candidates[-1]).parent if candidates else None
        if self.bindir is None:
            found = shutil.which("initdb")
            self.bindir = Path(found).parent if found else None
        if self.bindir is None:
            skip_or_fail("PostgreSQL server binaries are missing (Debian: postgresql)")
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                skip_or_fail("running as root and there is no 'postgres' user for initdb")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="sociallab-pg-"))
        if self.as_user:
            os.chown(self.dir, owner.pw_uid, owner.pw_gid)
        self.data = self.dir / "data"
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync",
                  "-E", "UTF8", "--locale", "C")

    def _run(self, tool: str, *args: str) -> None:
        result = subprocess.run(
            [*self.as_user, str(self.bindir / tool), *args], capture_output=True, text=True, timeout=60
        )
        if result.returncode != 0:
            raise RuntimeError(f"{tool} failed: {result.stdout}{result.stderr}")

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-o", options, "-w",
                  "-t", "30", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def destroy(self) -> None:
        try:
            self.stop("immediate")
        except RuntimeError:
            pass  # already stopped
        shutil.rmtree(self.dir, ignore_errors=True)


def app_env(*, database_url: str, redis_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "SOCIALLAB_"))}
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        SOCIALLAB_MODE="development",
        DEBUG="0",
        LOG_FORMAT="json",
        WEB_CONCURRENCY="1",
        PYTHONPATH=os.pathsep.join([str(BACKEND_DIR), str(BACKEND_DIR.parent)]),
    )
    return env


def migrate(env: dict[str, str]) -> None:
    result = subprocess.run(local(MIGRATE_COMMAND), cwd=BACKEND_DIR, env=env, capture_output=True,
                            text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"migrate failed: {result.stdout}{result.stderr}")


class Server:
    """One of the production server commands, started from this checkout."""

    def __init__(self, command: list[str], *, port: int, env: dict[str, str], log: Path) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        self.log = log
        with open(log, "wb") as out:
            self.process = subprocess.Popen(local(command), cwd=BACKEND_DIR, env=env, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_until(lambda: self.get("/healthz")[0] == 200, what=f"{command[0]} on {port}")
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"{command[0]} did not start:\n{log.read_text()[-3000:]}") from None

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.base + path, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()
        except (urllib.error.URLError, OSError):
            return 0, b""

    def probe(self, path: str = "/readyz") -> int:
        """The Docker health check command, run as Docker runs it."""
        return subprocess.run(
            [sys.executable, "-m", "config.health", "--url", self.base + path],
            cwd=BACKEND_DIR, capture_output=True, timeout=30,
        ).returncode

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
