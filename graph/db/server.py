"""The local Neo4j 5.26 + GDS 2.13 that `ringwatch db start|stop|status|logs|reset` runs.

Neo4j is not a Debian package and Docker does not run here, so the server is the Neo4j
DBMS embedded in a small Java launcher (`server/`), resolved with Maven from Maven
Central together with the open GDS modules. Its state (data, logs, password, pid) lives
in the state directory (`RINGWATCH_STATE`, default `.ringwatch/`).

Settings, all from the environment: `RINGWATCH_BOLT_PORT` (7687), `RINGWATCH_HEAP` and
`RINGWATCH_PAGECACHE` (else sized from the machine and the store, see graph.db.memory),
`RINGWATCH_NEO4J_PASSWORD` (else generated at first start). LOAD CSV cannot read local
files (the launcher turns file URLs off).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from graph.db.connection import (
    DatabaseUnavailable,
    local_bolt_port,
    local_password,
    open_driver,
    password_file,
    read,
    resolve_target,
    state_dir,
)
from graph.db.memory import plan_for, show_size

# The Maven project that assembles Neo4j + GDS: the checkout's server/, or RINGWATCH_SERVER_DIR.
SERVER_DIR = Path(os.environ.get("RINGWATCH_SERVER_DIR") or Path(__file__).resolve().parents[2] / "server")
PLUGINS = SERVER_DIR / "target" / "plugins"
LIB = SERVER_DIR / "target" / "lib"

# The JVM options Neo4j's own neo4j.conf ships (server.jvm.additional), which its start
# script would pass and a plain `java` does not. Without the --add-opens the page cache
# logs "Reflection access to java.nio.DirectByteBuffer is not available, using fallback
# mode", which Neo4j warns may cost performance and memory.
NEO4J_JVM_OPTIONS = [
    "-XX:+UseG1GC",
    "-XX:-OmitStackTraceInFastThrow",
    "-XX:+UnlockExperimentalVMOptions",
    "-XX:+TrustFinalNonStaticFields",
    "-XX:+DisableExplicitGC",
    "-Djdk.nio.maxCachedBufferSize=1024",
    "-Dio.netty.tryReflectionSetAccessible=true",
    "-Dlog4j2.disable.jmx=true",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
]
LAUNCHER_JAR = PLUGINS / "ringwatch-neo4j-1.0.jar"
START_TIMEOUT_S = float(os.environ.get("RINGWATCH_START_TIMEOUT", "180"))


class ServerError(RuntimeError):
    """A local-server operation failed; the message says why and what to do."""


@dataclass(frozen=True)
class Paths:
    state: Path

    @property
    def pid(self) -> Path:
        return self.state / "server.pid"

    @property
    def out(self) -> Path:
        return self.state / "logs" / "neo4j.out"

    @property
    def debug_log(self) -> Path:
        return self.state / "logs" / "debug.log"


def paths() -> Paths:
    """The files of the local server's state directory."""
    return Paths(state_dir())


def build(quiet: bool = True) -> None:
    """Resolve Neo4j and GDS with Maven (cached in ~/.m2) and build the launcher."""
    sources = [SERVER_DIR / "pom.xml", *sorted((SERVER_DIR / "src").rglob("*"))]
    if LAUNCHER_JAR.exists() and all(p.stat().st_mtime <= LAUNCHER_JAR.stat().st_mtime for p in sources if p.is_file()):
        return
    cmd = ["mvn", "-B", "-f", str(SERVER_DIR / "pom.xml"), "package", "-DskipTests"]
    if quiet:
        cmd.insert(2, "-q")
    result = subprocess.run(cmd, capture_output=quiet, text=True)
    if result.returncode != 0:
        tail = (result.stdout or "")[-2000:] + (result.stderr or "")[-2000:]
        raise ServerError(f"building the Neo4j launcher with Maven failed:\n{tail}")


def running_pid() -> int | None:
    """The launcher's pid if it is alive, else None (and a stale pid file is removed)."""
    p = paths().pid
    if not p.exists():
        return None
    try:
        pid = int(p.read_text().split()[0])
        os.kill(pid, 0)
    except (ValueError, ProcessLookupError, PermissionError):
        p.unlink(missing_ok=True)
        return None
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists() and b"ringwatch.Launcher" not in cmdline.read_bytes():
        p.unlink(missing_ok=True)
        return None
    return pid


def port_in_use(port: int) -> bool:
    """Whether something answers on 127.0.0.1:`port`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def ensure_password() -> str:
    """The local password: from the environment, or generated once into an 0600 file."""
    existing = local_password()
    if existing:
        return existing
    path = password_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return secret


def tail(path: Path, lines: int = 40) -> str:
    """The last `lines` lines of a log file."""
    if not path.exists():
        return f"(no {path})"
    with path.open(errors="replace") as f:
        return "".join(deque(f, maxlen=lines))


def start(timeout_s: float = START_TIMEOUT_S) -> str:
    """Start the local server and wait until Bolt and `gds.version()` answer.

    Returns a one-line message. Raises ServerError (with the log's tail) on failure.
    """
    pid = running_pid()
    port = local_bolt_port()
    if pid:
        return f"already running (pid {pid}) on bolt://127.0.0.1:{port}"
    if port_in_use(port):
        raise ServerError(
            f"port {port} on 127.0.0.1 is taken by another program: stop it, "
            "or choose another port with RINGWATCH_BOLT_PORT"
        )
    build()
    p = paths()
    try:
        memory = plan_for(p.state / "data")
    except ValueError as e:
        raise ServerError(str(e)) from e
    (p.state / "memory.json").parent.mkdir(parents=True, exist_ok=True)
    (p.state / "memory.json").write_text(json.dumps(asdict(memory)) + "\n")
    (p.state / "logs").mkdir(parents=True, exist_ok=True)
    os.chmod(p.state, 0o700)
    password = ensure_password()
    env = dict(os.environ)
    env.update(
        RINGWATCH_HOME=str(p.state),
        RINGWATCH_BOLT_PORT=str(port),
        RINGWATCH_PLUGINS=str(PLUGINS),
        RINGWATCH_NEO4J_PASSWORD=password,
        RINGWATCH_PAGECACHE=memory.pagecache_setting(),
    )
    heap = memory.jvm_heap()
    cmd = [
        "java",
        f"-Xms{heap}",
        f"-Xmx{heap}",
        *NEO4J_JVM_OPTIONS,
        "-XX:+ExitOnOutOfMemoryError",
        "-Dfile.encoding=UTF-8",
        "-cp",
        f"{LIB}/*:{PLUGINS}/*",
        "ringwatch.Launcher",
    ]
    with p.out.open("ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
            cwd=p.state,
        )
    p.pid.write_text(f"{proc.pid}\n")
    deadline = time.monotonic() + timeout_s
    last_error = "not started"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            p.pid.unlink(missing_ok=True)
            raise ServerError(f"Neo4j exited with code {proc.returncode} while starting; the log ends:\n" + tail(p.out))
        try:
            driver = open_driver(resolve_target())
            try:
                version = read(driver, "RETURN gds.version() AS v")[0]["v"]
            finally:
                driver.close()
            return f"started (pid {proc.pid}) on bolt://127.0.0.1:{port}, GDS {version}"
        except DatabaseUnavailable as e:
            last_error = str(e)
        except Exception as e:  # not ready yet: procedures still loading, etc.
            last_error = str(e).splitlines()[0] if str(e) else type(e).__name__
        time.sleep(1.0)
    _terminate(proc.pid, grace_s=20)
    p.pid.unlink(missing_ok=True)
    raise ServerError(f"Neo4j did not answer within {timeout_s:.0f}s ({last_error}); the log ends:\n" + tail(p.out))


def _terminate(pid: int, grace_s: float) -> bool:
    """SIGTERM (clean shutdown via the launcher's hook), then SIGKILL after grace_s."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        _reap(pid)
        if not _alive(pid):
            return True
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
    _reap(pid)
    return False


def _alive(pid: int) -> bool:
    """Whether process `pid` still runs. A server that has exited is a zombie until its
    parent reaps it, and signal 0 still reaches a zombie: a server started by a long-lived
    process (a bench run, a test session) and stopped by another (`ingest --bulk`) looked
    alive until the stop's grace ran out, 90 s, and was then reported killed. So the state
    is read from /proc (Linux; elsewhere signal 0 alone decides)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # the state letter follows the command name, which is in parentheses and may hold spaces
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def stop(grace_s: float = 90) -> str:
    """Shut the local server down cleanly (killed after `grace_s`); returns a one-line message."""
    pid = running_pid()
    if not pid:
        return "not running"
    clean = _terminate(pid, grace_s)
    paths().pid.unlink(missing_ok=True)
    return "stopped" if clean else f"did not stop within {grace_s:.0f}s; killed"


STATUS_QUERY = """
CALL dbms.components() YIELD name, versions, edition
WITH versions[0] AS neo4j, edition
RETURN neo4j, edition, gds.version() AS gds,
       COUNT { MATCH (n) } AS nodes, COUNT { MATCH ()-[r]->() } AS relationships
"""


def status() -> dict:
    """Versions and counts of the configured database (local or NEO4J_URI)."""
    target = resolve_target()
    driver = open_driver(target)
    try:
        row = read(driver, STATUS_QUERY)[0]
    finally:
        driver.close()
    row["uri"] = target.describe()
    if target.local:
        row["pid"] = running_pid()
        row["state"] = str(state_dir())
        row.update(_memory_status())
    return row


def _memory_status() -> dict:
    """Heap and page cache the running server was given, the store size, the page-cache hit ratio."""
    out: dict = {}
    saved = paths().state / "memory.json"
    if saved.exists():
        m = json.loads(saved.read_text())
        out["heap"] = show_size(m["heap"])
        out["pagecache"] = show_size(m["pagecache"])
        out["memory"] = f"{m['source']} (machine {show_size(m['total'])})"
    from graph.db.memory import store_size

    out["store"] = show_size(store_size(paths().state / "data"))
    driver = open_driver()
    try:
        rows = read(driver, PAGE_CACHE_QUERY)
        out["pagecache hit ratio"] = f"{rows[0]['ratio']:.3f}" if rows and rows[0]["ratio"] is not None else NO_RATIO
    except Exception:  # noqa: BLE001 - the bean is informational; its absence is shown as "-"
        out["pagecache hit ratio"] = NO_RATIO
    finally:
        driver.close()
    return out


# Neo4j Community publishes no page-cache metrics (JMX beans and metrics are Enterprise); a
# server that does (Enterprise, or a future launcher procedure) answers this query.
NO_RATIO = "- (not published by Neo4j Community)"
PAGE_CACHE_QUERY = """
CALL dbms.queryJmx('org.neo4j:*') YIELD name, attributes
WHERE name CONTAINS 'Page cache'
RETURN attributes.HitRatio.value AS ratio LIMIT 1
"""

RESET_QUERY = "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
DROP_PROJECTIONS = """
CALL gds.graph.list() YIELD graphName
CALL gds.graph.drop(graphName) YIELD graphName AS dropped
RETURN count(dropped) AS dropped
"""


def reset() -> int:
    """Delete every node and relationship of the configured database; returns nodes deleted."""
    driver = open_driver()
    try:
        before = read(driver, "RETURN COUNT { MATCH (n) } AS n")[0]["n"]
        with driver.session(database=driver._ringwatch_target.database) as s:
            s.run(RESET_QUERY).consume()
            try:
                s.run(DROP_PROJECTIONS).consume()
            except Exception:  # GDS absent: nothing to drop
                pass
        return before
    finally:
        driver.close()


# The offline importer: Neo4j's own `neo4j-admin database import full` (org.neo4j.cli.AdminTool
# with the import command of neo4j-import-tool, both among the jars server/pom.xml resolves).
ADMIN_TOOL = "org.neo4j.cli.AdminTool"
IMPORT_HEAP = "2g"  # the importer keeps its large structures off the heap (--max-off-heap-memory)


def import_offline(
    folder: Path,
    arguments: list[str],
    database: str = "neo4j",
    on_line: Callable[[str], None] | None = None,
) -> None:
    """Run Neo4j's offline importer on the local server's store; the server must be stopped.

    `arguments` are the importer's own options (`--nodes=Label=file.csv`, ...), naming files
    relative to `folder`: the importer reads a file name as a pattern, so a state directory
    whose path holds pattern characters cannot break it. DATABASE's store is replaced
    (--overwrite-destination): the caller makes sure it held nothing worth keeping. Every
    line the importer prints goes to `on_line` and to logs/import.log. When the import fails
    or is interrupted, the half-written store is removed, so the next start opens an empty
    database, and ServerError carries the importer's last lines.
    """
    pid = running_pid()
    if pid:
        raise ServerError(f"the local server is running (pid {pid}): stop it with `ringwatch db stop` first")
    build()
    p = paths()
    log = p.state / "logs" / "import.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="import-conf-", dir=p.state) as conf:
        cmd = [
            "java",
            f"-Xmx{IMPORT_HEAP}",
            *NEO4J_JVM_OPTIONS,
            "-Dfile.encoding=UTF-8",
            "-cp",
            f"{LIB}/*",
            ADMIN_TOOL,
            "database",
            "import",
            "full",
            "--overwrite-destination=true",
            "--report-file=import.report",
            *arguments,
            database,
        ]
        # NEO4J_HOME is the launcher's home, so the store lands where the server reads it;
        # NEO4J_CONF is empty: the importer runs with Neo4j's defaults, as the launcher does.
        env = dict(os.environ, NEO4J_HOME=str(p.state), NEO4J_CONF=conf)
        try:
            code = _run_importer(cmd, env, folder, log, on_line)
        except BaseException:  # interrupted: the store it was writing is of no use
            _remove_store(p.state, database)
            raise
    if code != 0:
        _remove_store(p.state, database)
        raise ServerError(
            f"the offline import failed (exit status {code}); the database is empty again. "
            f"The importer's log ({log}) ends:\n" + tail(log, 25)
        )


def _run_importer(
    cmd: list[str], env: dict[str, str], cwd: Path, log: Path, on_line: Callable[[str], None] | None
) -> int:
    """Run the importer, copying its output to `log` and `on_line`; its exit status."""
    with log.open("a", encoding="utf-8") as out:
        out.write(f"\n# {time.strftime('%Y-%m-%dT%H:%M:%S')} {' '.join(cmd[cmd.index(ADMIN_TOOL) :])}\n")
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=cwd,
            text=True,
            errors="replace",
        )
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                out.write(line)
                if on_line is not None:
                    on_line(line.rstrip("\n"))
            return proc.wait()
        finally:
            if proc.poll() is None:  # interrupted (or on_line failed): no importer is left behind
                proc.kill()
                proc.wait()


def _remove_store(state: Path, database: str) -> None:
    """Delete DATABASE's store and transaction logs; the server creates it empty at its next start."""
    for sub in ("databases", "transactions"):
        shutil.rmtree(state / "data" / sub / database, ignore_errors=True)
