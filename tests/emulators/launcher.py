"""Installs and starts the local stand-ins the integration and contract tests
use, and stops them by PID (DESIGN.md section 8):

- Azurite 3.35.x (Blob Storage) on Node 20, launched as
  `node .../azurite/dist/src/blob/main.js` so the PID we keep is the server's;
- @vercel/cosmosdb-server (Cosmos DB NoSQL, in memory), through
  cosmos_server.js, which patches its known gaps before it starts.

Both are npm packages installed into `.emulators/` (git-ignored), on
loopback, on free ports. Usage (scripts/test does this):

    eval "$(python -m tests.emulators.launcher start)"   # prints export lines
    python -m tests.emulators.launcher stop "$OMS_TEST_EMULATOR_STATE"

Without node/npm, `start` prints OMS_TEST_EMULATORS_SKIPPED with the reason
and the tests that need the stand-ins skip naming it. With them, a failure to
install or start is an error (exit 1): the suite must not silently shrink.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HOME = ROOT / ".emulators"
HERE = Path(__file__).resolve().parent
# axe-core is no stand-in: the browser tests inject it into the console's pages
# (tests/helpers/browser.py); it is installed here so one npm install brings all.
PACKAGES = {"azurite": "~3.35.0", "@vercel/cosmosdb-server": "1.0.1", "axe-core": "~4.14.1"}
NODE_MAJOR = 20
START_TIMEOUT = 60.0


class LaunchError(RuntimeError):
    pass


def _log(message: str) -> None:
    print(f"emulators: {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _locked() -> Iterator[None]:
    """Several test runs on one machine share .emulators/: install under a lock."""
    HOME.mkdir(exist_ok=True)
    with (HOME / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def missing_tools() -> str | None:
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (Node {NODE_MAJOR} and npm are needed for Azurite and the Cosmos server)"
    version = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    try:
        major = int(version.lstrip("v").split(".")[0])
    except ValueError:
        return f"cannot read the node version ({version!r})"
    if major < NODE_MAJOR:
        return f"node {version} is too old; Node {NODE_MAJOR} is needed"
    return None


def install() -> Path:
    """npm install the pinned packages into .emulators/ (once; again when the pins change)."""
    manifest = {"name": "oms-test-emulators", "private": True,
                "description": "Local stand-ins for the tests (tests/emulators/launcher.py)",
                "dependencies": PACKAGES}
    text = json.dumps(manifest, indent=2) + "\n"
    stamp = HOME / f".installed-{hashlib.sha1(text.encode()).hexdigest()[:12]}"
    with _locked():
        if not stamp.exists():
            (HOME / "package.json").write_text(text)
            _log("installing " + ", ".join(f"{k}@{v}" for k, v in PACKAGES.items()) + " with npm")
            done = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"],
                                  cwd=HOME, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise LaunchError(f"npm install failed: {done.stderr.strip()[-2000:]}")
            for old in HOME.glob(".installed-*"):
                old.unlink()
            stamp.touch()
    return HOME / "node_modules"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _answers_https(port: int) -> bool:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the local server's own, self-signed (and expired) certificate
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/", context=context, timeout=2) as response:
            return bool(response.status < 500)
    except urllib.error.HTTPError as error:
        return error.code < 500
    except OSError:
        return False


def _answers_tcp(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _spawn(args: list[str], log_name: str) -> subprocess.Popen[bytes]:
    log = (HOME / log_name).open("ab")
    return subprocess.Popen(args, cwd=HOME, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)


def _wait(name: str, proc: subprocess.Popen[bytes], check: object, port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise LaunchError(f"{name} exited with {proc.returncode}; see .emulators/{name}.log")
        if check(port):  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise LaunchError(f"{name} did not answer on 127.0.0.1:{port} within {START_TIMEOUT:.0f}s")


def start() -> dict[str, str]:
    modules = install()
    blob_port, cosmos_port = free_port(), free_port()
    azurite = _spawn(["node", str(modules / "azurite" / "dist" / "src" / "blob" / "main.js"),
                      "--blobHost", "127.0.0.1", "--blobPort", str(blob_port), "--skipApiVersionCheck",
                      "--disableTelemetry", "--inMemoryPersistence", "--silent"], "azurite.log")
    cosmos = _spawn(["node", str(HERE / "cosmos_server.js"), str(modules), "127.0.0.1", str(cosmos_port)],
                    "cosmos.log")
    state = HOME / f"run-{os.getpid()}-{int(time.time())}.json"
    state.write_text(json.dumps({"pids": [azurite.pid, cosmos.pid]}))
    try:
        _wait("azurite", azurite, _answers_tcp, blob_port)
        _wait("cosmos", cosmos, _answers_https, cosmos_port)
    except LaunchError:
        stop(state)
        raise
    _log(f"Azurite on 127.0.0.1:{blob_port} (pid {azurite.pid}), "
         f"Cosmos server on 127.0.0.1:{cosmos_port} (pid {cosmos.pid})")
    return {
        "OMS_TEST_AZURITE_BLOB": f"http://127.0.0.1:{blob_port}/devstoreaccount1",
        "OMS_TEST_COSMOS_ENDPOINT": f"https://127.0.0.1:{cosmos_port}/",
        "OMS_TEST_EMULATOR_STATE": str(state),
    }


def stop(state: Path) -> None:
    """Stop the processes this run started, by PID: TERM, then KILL."""
    if not state.exists():
        return
    pids = [int(p) for p in json.loads(state.read_text()).get("pids", [])]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for pid in pids:
        while time.monotonic() < deadline and _alive(pid):
            time.sleep(0.1)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    state.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie whose parent (the `start` process) is gone is reaped by init.
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z":
            return False
    return True


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    if command == "start":
        reason = missing_tools()
        if reason is None and os.environ.get("OMS_EMULATORS") == "skip":
            reason = "OMS_EMULATORS=skip"
        if reason is not None:
            _log(f"not started: {reason}")
            print(f"export OMS_TEST_EMULATORS_SKIPPED={shlex.quote(reason)}")
            return 0
        try:
            env = start()
        except LaunchError as error:
            _log(str(error))
            return 1
        for name, value in env.items():
            print(f"export {name}={shlex.quote(value)}")
        return 0
    if command == "stop" and len(argv) == 2:
        stop(Path(argv[1]))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
