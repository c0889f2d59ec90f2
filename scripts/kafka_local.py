#!/usr/bin/env python3
"""A real single-node Kafka broker (KRaft, broker+controller in one JVM) for tests and development.

The broker's jars come from Maven Central: ``mvn dependency:copy-dependencies`` on
``deploy/kafka-local/pom.xml`` copies them into a git-ignored cache
(``.cache/kafka/<version>/libs``), and the broker runs as ``java -cp "<libs>/*" kafka.Kafka``.
Needs ``java`` (17+) and, for the first fetch, ``mvn`` on PATH. Standard library only.

Command line::

    python3 scripts/kafka_local.py fetch             # resolve the jars into the cache
    python3 scripts/kafka_local.py up                # start; prints 127.0.0.1:PORT on stdout
    python3 scripts/kafka_local.py status            # exit 0 if the broker answers, 1 if not
    python3 scripts/kafka_local.py down              # stop it and remove the run dir

    options: --run-dir DIR (default .cache/kafka/run), --port N (0 = a free one),
             --version 3.9.2, --cache-dir DIR, --timeout S, --heap 512m, --set key=value,
             --secure (a SASL_SSL listener too: see below)

Python API (used by tests/kafka_broker.py)::

    broker = start_broker(run_dir)       # -> Broker(bootstrap="127.0.0.1:PORT", pid=..., ...)
    broker.restart()                     # stop, then start again on the same port and data
    broker.stop()                        # stop, keep the data;  broker.down() also removes run_dir
    start_broker(run_dir, secure=True)   # also a SASL_SSL listener: broker.secure.bootstrap, .user,
                                         # .password, .ca_file (and .other_ca_file, a CA that signed nothing)

The SASL_SSL listener takes PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512. Its certificates are made with
``openssl`` when the run dir is first used (a CA, and the broker's key and certificate for 127.0.0.1
and localhost, in a PKCS12 key store); the SCRAM user is created when the storage is formatted
(``kafka-storage format --add-scram``), the PLAIN one in the listener's JAAS configuration.

Environment: KAFKA_LOCAL_CACHE (cache root), KAFKA_LOCAL_JAVA / KAFKA_LOCAL_MVN (executables),
KAFKA_LOCAL_JVM_OPTS (extra JVM options for the broker).
To simulate a fresh machine: MAVEN_OPTS=-Dmaven.repo.local=/tmp/empty-m2.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEPLOY_DIR = REPO_ROOT / "deploy" / "kafka-local"
POM = DEPLOY_DIR / "pom.xml"
LOG4J = DEPLOY_DIR / "log4j.properties"
DEFAULT_VERSION = "3.9.2"
DEFAULT_CACHE = REPO_ROOT / ".cache" / "kafka"
DEFAULT_RUN_DIR = DEFAULT_CACHE / "run"
DEFAULT_HEAP = "512m"
HOST = "127.0.0.1"
NODE_ID = 1

# Files inside a run dir. MARKER proves that a directory is ours before `down` removes it.
MARKER = ".kafka-local"
CONFIG_FILE = "config.json"  # ports, cluster id, version: stable across restarts
STATE_FILE = "state.json"  # pid of the running broker, written by `up`
PROPS_FILE = "server.properties"
TLS_DIR = "tls"  # the SASL_SSL listener's CA and key store
SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
SECURE_USER = "stream-guard"


class KafkaLocalError(RuntimeError):
    """Anything that keeps the local broker from being fetched, started or stopped."""


# --------------------------------------------------------------------------------------------
# tools


def _executable(path: str | None) -> str | None:
    if path and os.path.isfile(path) and os.access(path, os.X_OK):
        return path
    return shutil.which(path) if path else None


def find_java() -> str | None:
    explicit = os.environ.get("KAFKA_LOCAL_JAVA")
    if explicit:
        return _executable(explicit)
    java_home = os.environ.get("JAVA_HOME")
    if java_home and os.access(Path(java_home, "bin", "java"), os.X_OK):
        return str(Path(java_home, "bin", "java"))
    return shutil.which("java")


def find_mvn() -> str | None:
    explicit = os.environ.get("KAFKA_LOCAL_MVN")
    return _executable(explicit) if explicit else shutil.which("mvn")


def missing_tools(need_mvn: bool = True) -> list[str]:
    """Human-readable problems with the tools this module needs; empty when all is well."""
    problems = []
    if not find_java():
        problems.append(
            "`java` (JDK/JRE 17+) is not on PATH: install it "
            "(Debian/Ubuntu: apt-get install -y openjdk-17-jre-headless) or set JAVA_HOME"
        )
    if need_mvn and not find_mvn():
        problems.append(
            "`mvn` (Apache Maven) is not on PATH: it fetches the Kafka jars from Maven Central "
            "(Debian/Ubuntu: apt-get install -y maven)"
        )
    return problems


def _require_java() -> str:
    java = find_java()
    if not java:
        raise KafkaLocalError("; ".join(missing_tools(need_mvn=False)))
    return java


# --------------------------------------------------------------------------------------------
# fetch


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    return Path(cache_dir or os.environ.get("KAFKA_LOCAL_CACHE") or DEFAULT_CACHE).resolve()


def libs_dir(version: str = DEFAULT_VERSION, cache_dir=None) -> Path:
    return cache_root(cache_dir) / version / "libs"


def _fetch_key(version: str) -> str:
    # A changed POM (e.g. another logging backend) invalidates the cache.
    return hashlib.sha256(POM.read_bytes() + b"\0" + version.encode()).hexdigest()


def is_fetched(version: str = DEFAULT_VERSION, cache_dir=None) -> bool:
    stamp = libs_dir(version, cache_dir) / ".complete"
    return stamp.is_file() and stamp.read_text().strip() == _fetch_key(version)


def fetch(version: str = DEFAULT_VERSION, cache_dir=None, timeout: float = 900, log=None) -> Path:
    """Resolve the broker's jars from Maven Central into the cache; return the libs dir.

    Safe to run concurrently (a file lock serialises fetches); a no-op when already fetched.
    """
    libs = libs_dir(version, cache_dir)
    if is_fetched(version, cache_dir):
        return libs
    mvn = find_mvn()
    if not mvn:
        raise KafkaLocalError("; ".join(p for p in missing_tools() if "mvn" in p))
    libs.parent.mkdir(parents=True, exist_ok=True)
    with open(libs.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_fetched(version, cache_dir):  # another process fetched while we waited
            return libs
        tmp = libs.parent / f"libs.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        cmd = [
            mvn, "-B", "-q", "-Dstyle.color=never", "-f", str(POM),
            f"-Dkafka.version={version}",
            "dependency:copy-dependencies", f"-DoutputDirectory={tmp}", "-DincludeScope=runtime",
        ]  # fmt: skip
        if log:
            log(f"kafka-local: fetching Kafka {version} jars with Maven into {libs}")
        started = time.monotonic()
        try:
            proc = subprocess.run(
                cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
                cwd=DEPLOY_DIR,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            raise KafkaLocalError(f"mvn did not finish within {timeout:.0f}s: {' '.join(cmd)}") from exc
        if proc.returncode != 0 or not any(tmp.glob("kafka_*.jar")):
            shutil.rmtree(tmp, ignore_errors=True)
            output = (proc.stdout + proc.stderr).strip().splitlines()
            raise KafkaLocalError(
                f"fetching Kafka {version} with Maven failed (exit {proc.returncode}): "
                f"{' '.join(cmd)}\n" + "\n".join(output[-40:])
            )
        (tmp / ".complete").write_text(_fetch_key(version) + "\n")
        shutil.rmtree(libs, ignore_errors=True)
        os.replace(tmp, libs)
        if log:
            jars = len(list(libs.glob("*.jar")))
            log(f"kafka-local: fetched {jars} jars in {time.monotonic() - started:.1f}s")
    return libs


# --------------------------------------------------------------------------------------------
# the Kafka wire protocol, just enough to ask for metadata


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by the broker")
        buf += chunk
    return bytes(buf)


class _Reader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, fmt: str):
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> str | None:
        length = self.take(">h")
        if length < 0:
            return None
        value = self.data[self.pos : self.pos + length].decode()
        self.pos += length
        return value


def probe(host: str, port: int, timeout: float = 2.0) -> dict:
    """Send a Metadata request (v4, no topics) and return the decoded answer.

    Returns {"cluster_id", "controller_id", "brokers": [{"node_id", "host", "port"}]}.
    In KRaft mode a broker lists only unfenced brokers, so our node appearing here means the
    broker has caught up with the metadata log and can create topics and serve clients.
    Raises OSError / ConnectionError / struct.error when the broker does not answer properly.
    """
    correlation_id = random.randrange(1, 2**31)
    client_id = b"kafka-local-probe"
    # Request header v1: api_key=3 (Metadata), api_version=4, correlation_id, client_id.
    # Body v4: topics = [] (empty array: no topics), allow_auto_topic_creation = false.
    message = struct.pack(">hhih", 3, 4, correlation_id, len(client_id)) + client_id
    message += struct.pack(">i?", 0, False)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack(">i", len(message)) + message)
        (size,) = struct.unpack(">i", _recv_exact(sock, 4))
        reader = _Reader(_recv_exact(sock, size))
    if reader.take(">i") != correlation_id:
        raise ConnectionError("metadata response with a foreign correlation id")
    reader.take(">i")  # throttle_time_ms
    brokers = []
    for _ in range(reader.take(">i")):
        node_id = reader.take(">i")
        broker_host = reader.string()
        broker_port = reader.take(">i")
        reader.string()  # rack
        brokers.append({"node_id": node_id, "host": broker_host, "port": broker_port})
    cluster_id = reader.string()
    controller_id = reader.take(">i")
    return {"cluster_id": cluster_id, "controller_id": controller_id, "brokers": brokers}


# --------------------------------------------------------------------------------------------
# processes


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own child that exited but was not reaped yet) is not alive.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _is_our_broker(pid: int, run_dir: Path) -> bool:
    """The pid is alive and is the JVM started for this run dir (guards against pid reuse)."""
    if not _pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc: trust the pid
    return b"kafka.Kafka" in cmdline and str(run_dir / PROPS_FILE).encode() in cmdline


def rss_bytes(pid: int) -> int | None:
    """Resident set size of a process (Linux), or None."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _free_ports(count: int, avoid=()) -> list[int]:
    socks, ports = [], []
    try:
        while len(ports) < count:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
            port = s.getsockname()[1]
            if port not in avoid:
                ports.append(port)
    finally:
        for s in socks:
            s.close()
    return ports


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the JVM does
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def _new_cluster_id() -> str:
    # What kafka-storage.sh random-uuid prints: a random UUID, base64url without padding,
    # never starting with "-" (Kafka rejects that), without the cost of starting a JVM.
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


def _tail(path: Path, lines: int = 40) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            text = f.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _set_parent_death_signal() -> None:
    """preexec_fn: have the kernel SIGTERM the broker when the thread that started it exits."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------------------------
# the broker


@dataclasses.dataclass(frozen=True)
class Secure:
    """The SASL_SSL listener: its port, its user, and the CA files a client trusts."""

    port: int
    user: str
    password: str = dataclasses.field(repr=False)
    tls_dir: Path

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self.tls_dir / "ca.pem"

    @property
    def other_ca_file(self) -> Path:
        """A CA that signed nothing the broker has: what a client with the wrong CA trusts."""
        return self.tls_dir / "other-ca.pem"

    @property
    def keystore(self) -> Path:
        return self.tls_dir / "broker.p12"


def _openssl(*args: str, cwd: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise KafkaLocalError("the SASL_SSL listener needs openssl on PATH (Debian: apt-get install openssl)")
    proc = subprocess.run([openssl, *args], cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=60)
    if proc.returncode != 0:
        raise KafkaLocalError(f"openssl {args[0]} failed: {(proc.stdout + proc.stderr).strip()}")


def make_tls(tls_dir: Path, password: str) -> None:
    """A CA, another CA, and the broker's key and certificate (for 127.0.0.1 and localhost, signed
    by the first CA) in a PKCS12 key store; kept once made."""
    if (tls_dir / "broker.p12").exists():
        return
    tls_dir.mkdir(parents=True, exist_ok=True)
    key = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    for name in ("ca", "other-ca"):
        _openssl("req", "-x509", *key, "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "30",
                 "-subj", f"/CN=kafka-local {name}", cwd=tls_dir)
    _openssl("req", *key, "-keyout", "broker.key", "-out", "broker.csr", "-subj", f"/CN={HOST}", cwd=tls_dir)
    (tls_dir / "san.cnf").write_text(f"subjectAltName=IP:{HOST},DNS:localhost\n")
    _openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "broker.pem", "-days", "30", "-extfile", "san.cnf", cwd=tls_dir)
    _openssl("pkcs12", "-export", "-in", "broker.pem", "-inkey", "broker.key", "-certfile", "ca.pem",
             "-out", "broker.p12.tmp", "-passout", f"pass:{password}", cwd=tls_dir)
    (tls_dir / "broker.p12.tmp").rename(tls_dir / "broker.p12")


def secure_properties(secure: Secure) -> dict[str, str]:
    """The SASL_SSL listener's part of server.properties."""
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    plain = (f'org.apache.kafka.common.security.plain.PlainLoginModule required '
             f'user_{secure.user}="{secure.password}";')
    return {
        "sasl.enabled.mechanisms": ",".join(("PLAIN", *SCRAM_MECHANISMS)),
        "listener.name.sasl_ssl.plain.sasl.jaas.config": plain,
        **{f"listener.name.sasl_ssl.{m.lower()}.sasl.jaas.config": scram for m in SCRAM_MECHANISMS},
        "ssl.keystore.type": "PKCS12",
        "ssl.keystore.location": str(secure.keystore),
        "ssl.keystore.password": secure.password,
        "ssl.key.password": secure.password,
        "ssl.client.auth": "none",
    }


def broker_properties(
    run_dir: Path, port: int, controller_port: int, extra: dict[str, str] | None = None,
    secure: Secure | None = None,
) -> dict[str, str]:
    props = {
        # KRaft, one JVM acting as both broker and controller.
        "process.roles": "broker,controller",
        "node.id": str(NODE_ID),
        "controller.quorum.voters": f"{NODE_ID}@{HOST}:{controller_port}",
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(run_dir / "data"),
        # One node: every internal topic has replication factor 1; few partitions keep
        # start-up and the first consumer-group join fast.
        "num.partitions": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "1",
        # Tests must create their topics explicitly (as a production cluster would demand):
        # with auto-creation on, a misspelt topic or a missing create step would go unnoticed
        # and get a 1-partition topic. Override with --set auto.create.topics.enable=true.
        "auto.create.topics.enable": "false",
        "delete.topic.enable": "true",
        # Consumer groups form at once instead of waiting 3 s for more members.
        "group.initial.rebalance.delay.ms": "0",
        # Small footprint: the cleaner (needed for compacted Faust changelogs) would otherwise
        # allocate a 128 MiB dedupe buffer; fewer threads than a production broker.
        "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
        "log.cleaner.threads": "1",
        "num.network.threads": "2",
        "num.io.threads": "4",
        "num.recovery.threads.per.data.dir": "1",
        "log.segment.bytes": str(64 * 1024 * 1024),
    }
    if secure is not None:
        props["listeners"] += f",SASL_SSL://{HOST}:{secure.port}"
        props["advertised.listeners"] += f",SASL_SSL://{HOST}:{secure.port}"
        props["listener.security.protocol.map"] += ",SASL_SSL:SASL_SSL"
        props.update(secure_properties(secure))
    props.update(extra or {})
    return props


@dataclasses.dataclass
class Broker:
    """A running (or stopped) local broker. `bootstrap` stays the same across restart()."""

    run_dir: Path
    port: int
    controller_port: int
    cluster_id: str
    version: str
    libs: Path
    pid: int | None = None
    heap: str = DEFAULT_HEAP
    die_with_parent: bool = False
    start_timeout: float = 120.0
    secure: Secure | None = None
    _proc: subprocess.Popen | None = dataclasses.field(default=None, repr=False, compare=False)

    @property
    def host(self) -> str:
        return HOST

    @property
    def bootstrap(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.run_dir / "logs" / "server.log"

    @property
    def stdout_file(self) -> Path:
        return self.run_dir / "logs" / "stdout.log"

    def is_running(self) -> bool:
        if self._proc is not None:  # started by this process: the authoritative answer
            return self._proc.poll() is None
        return self.pid is not None and _is_our_broker(self.pid, self.run_dir)

    def rss_bytes(self) -> int | None:
        return rss_bytes(self.pid) if self.pid else None

    def probe(self, timeout: float = 2.0) -> dict:
        return probe(HOST, self.port, timeout)

    def log_tail(self, lines: int = 40) -> str:
        parts = []
        for path in (self.stdout_file, self.log_file):
            tail = _tail(path, lines)
            if tail:
                parts.append(f"--- {path} (last {lines} lines) ---\n{tail}")
        return "\n".join(parts) or f"(no log output in {self.run_dir / 'logs'})"

    # -- start / stop ------------------------------------------------------------------------

    def _java_command(self, java: str, main: str, *args: str) -> list[str]:
        return [
            java,
            f"-Dlog4j.configuration={LOG4J.as_uri()}",
            f"-Dkafka.logs.dir={self.run_dir / 'logs'}",
            "-Djava.awt.headless=true",
            "-cp", f"{self.libs}/*",
            main, *args,
        ]  # fmt: skip

    def _format_storage(self, java: str) -> None:
        if (self.run_dir / "data" / "meta.properties").exists():
            return
        cmd = self._java_command(
            java, "kafka.tools.StorageTool",
            "format", "-t", self.cluster_id, "-c", str(self.run_dir / PROPS_FILE),
            "--ignore-formatted",
        )  # fmt: skip
        if self.secure is not None:  # the SCRAM user, the KRaft way: in the storage's first metadata
            for mechanism in SCRAM_MECHANISMS:
                cmd += ["--add-scram", f"{mechanism}=[name={self.secure.user},password={self.secure.password}]"]
        cmd.insert(1, "-Xmx256m")
        proc = subprocess.run(
            cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120
        )
        if proc.returncode != 0:
            raise KafkaLocalError(
                f"formatting the broker storage failed (exit {proc.returncode}): "
                f"{' '.join(cmd)}\n{(proc.stdout + proc.stderr).strip()}"
            )

    def start(self, timeout: float | None = None) -> Broker:
        """Start the JVM (formatting the storage the first time) and wait until it answers."""
        if self.is_running():
            raise KafkaLocalError(f"a broker is already running from {self.run_dir} (pid {self.pid})")
        timeout = self.start_timeout if timeout is None else timeout
        java = _require_java()
        (self.run_dir / "logs").mkdir(parents=True, exist_ok=True)
        self._format_storage(java)
        for port in (self.port, self.controller_port, *((self.secure.port,) if self.secure else ())):
            if not _port_free(port):
                raise KafkaLocalError(f"port {HOST}:{port} is taken by another process")
        cmd = self._java_command(java, "kafka.Kafka", str(self.run_dir / PROPS_FILE))
        cmd[1:1] = [
            # C1 only: a test broker starts ~0.4 s faster and needs ~35 MiB less RSS;
            # KAFKA_LOCAL_JVM_OPTS="-XX:TieredStopAtLevel=4" gives back the full JIT.
            f"-Xmx{self.heap}", "-Xms64m", "-XX:TieredStopAtLevel=1", "-XX:+ExitOnOutOfMemoryError",
            *os.environ.get("KAFKA_LOCAL_JVM_OPTS", "").split(),
        ]  # fmt: skip
        # PR_SET_PDEATHSIG fires when the starting *thread* exits, so only ask for it from the
        # main thread (its exit is the process's); a broker restarted from a worker thread
        # (asyncio.to_thread) must not die when that pool thread is retired.
        pdeathsig = self.die_with_parent and threading.current_thread() is threading.main_thread()
        with open(self.stdout_file, "ab") as out:
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                cwd=self.run_dir, start_new_session=True,
                preexec_fn=_set_parent_death_signal if pdeathsig else None,
            )  # fmt: skip
        self.pid = self._proc.pid
        _write_json(
            self.run_dir / STATE_FILE,
            {
                "pid": self.pid,
                "bootstrap": self.bootstrap,
                "port": self.port,
                "controller_port": self.controller_port,
                "run_dir": str(self.run_dir),
                "version": self.version,
                "started_at": time.time(),
            },
        )
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_ready(self, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while True:
            if not self.is_running():
                code = self._proc.poll() if self._proc else None
                raise KafkaLocalError(
                    f"the Kafka broker exited during start-up (exit code {code}); "
                    f"run dir {self.run_dir}\n{self.log_tail()}"
                )
            try:
                answer = self.probe(timeout=2.0)
                if any(b["node_id"] == NODE_ID for b in answer["brokers"]):
                    return answer
                last_error = KafkaLocalError(f"broker not yet registered: {answer}")
            except (OSError, struct.error, UnicodeDecodeError) as exc:
                last_error = exc
            if time.monotonic() >= deadline:
                raise KafkaLocalError(
                    f"the Kafka broker (pid {self.pid}) did not answer a metadata request on "
                    f"{self.bootstrap} within {timeout:.0f}s (last error: {last_error}); "
                    f"run dir {self.run_dir}\n{self.log_tail()}"
                )
            time.sleep(0.2)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (a clean, flushed shutdown), SIGKILL after `timeout`. Keeps the data."""
        if self.is_running():
            _terminate(self.pid, timeout, self._proc)
        self.pid, self._proc = None, None
        with contextlib.suppress(FileNotFoundError):
            (self.run_dir / STATE_FILE).unlink()

    def restart(self, timeout: float | None = None, stop_timeout: float = 30.0) -> Broker:
        """Stop, then start on the SAME port and data dir (for 'broker restarted' tests)."""
        self.stop(stop_timeout)
        # The listening sockets are gone once the JVM has exited; the JVM binds with
        # SO_REUSEADDR, so connections left in TIME_WAIT do not block the port.
        return self.start(timeout)

    def down(self, timeout: float = 30.0) -> None:
        """Stop and remove the run dir (data included)."""
        self.stop(timeout)
        remove_run_dir(self.run_dir)

    def __enter__(self) -> Broker:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _terminate(pid: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    def gone() -> bool:
        if proc is not None:
            return proc.poll() is not None
        return not _pid_alive(pid)

    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while not gone():
        if time.monotonic() >= deadline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while not gone() and time.monotonic() < deadline:
                time.sleep(0.05)
            return
        time.sleep(0.05)


def remove_run_dir(run_dir: str | os.PathLike) -> None:
    run_dir = Path(run_dir)
    if not run_dir.exists():
        return
    if not (run_dir / MARKER).exists():
        raise KafkaLocalError(f"refusing to remove {run_dir}: it has no {MARKER} marker file")
    shutil.rmtree(run_dir)


def start_broker(
    run_dir: str | os.PathLike,
    *,
    port: int = 0,
    controller_port: int = 0,
    version: str = DEFAULT_VERSION,
    cache_dir: str | os.PathLike | None = None,
    timeout: float = 120.0,
    heap: str = DEFAULT_HEAP,
    properties: dict[str, str] | None = None,
    die_with_parent: bool = True,
    secure: bool = False,
    log=None,
) -> Broker:
    """Fetch if needed, configure `run_dir` and start a broker; returns once it answers.

    A run dir used before keeps its data, cluster id and (when free, and port=0) its ports.
    With die_with_parent the kernel SIGTERMs the broker if this process dies without stopping
    it (Linux; only when called from the main thread).
    """
    java_problem = missing_tools(need_mvn=False)
    if java_problem:
        raise KafkaLocalError("; ".join(java_problem))
    libs = fetch(version, cache_dir, log=log)
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    if any(run_dir.iterdir()) and not (run_dir / MARKER).exists():
        raise KafkaLocalError(f"{run_dir} is not empty and was not made by kafka_local.py")
    (run_dir / MARKER).write_text("made by scripts/kafka_local.py; `down` removes this dir\n")

    state = _read_json(run_dir / STATE_FILE)
    if state and _is_our_broker(state["pid"], run_dir):
        raise KafkaLocalError(
            f"a broker is already running from {run_dir}: pid {state['pid']}, {state['bootstrap']}"
        )
    config = _read_json(run_dir / CONFIG_FILE) or {}
    if config.get("version") not in (None, version):
        raise KafkaLocalError(
            f"{run_dir} holds data of Kafka {config['version']}, not {version}: use another "
            "--run-dir or `down` it first"
        )

    def pick(requested: int, previous: int | None, taken: set[int]) -> int:
        if requested:
            return requested
        if previous and previous not in taken and _port_free(previous):
            return previous
        return _free_ports(1, avoid=taken)[0]

    chosen_port = pick(port, config.get("port"), {controller_port} - {0})
    chosen_cport = pick(controller_port, config.get("controller_port"), {chosen_port})
    if chosen_port == chosen_cport:
        raise KafkaLocalError(f"broker and controller cannot share port {chosen_port}")
    listener = None
    if secure:
        if config.get("port") and not config.get("secure_port"):
            raise KafkaLocalError(f"{run_dir} was formatted without the SASL_SSL listener's user: `down` it first")
        password = config.get("secure_password") or base64.b32encode(os.urandom(15)).decode().lower()
        listener = Secure(port=pick(0, config.get("secure_port"), {chosen_port, chosen_cport}), user=SECURE_USER,
                          password=password, tls_dir=run_dir / TLS_DIR)
        make_tls(listener.tls_dir, password)
    config = {
        "version": version,
        "cluster_id": config.get("cluster_id") or _new_cluster_id(),
        "port": chosen_port,
        "controller_port": chosen_cport,
        "heap": heap,
        **({"secure_port": listener.port, "secure_password": listener.password} if listener else {}),
    }
    _write_json(run_dir / CONFIG_FILE, config)
    props = broker_properties(run_dir, chosen_port, chosen_cport, properties, listener)
    (run_dir / PROPS_FILE).write_text(
        "# Written by scripts/kafka_local.py; rewritten on every start.\n"
        + "".join(f"{k}={v}\n" for k, v in props.items())
    )
    broker = Broker(
        run_dir=run_dir,
        port=chosen_port,
        controller_port=chosen_cport,
        cluster_id=config["cluster_id"],
        version=version,
        libs=libs,
        heap=heap,
        die_with_parent=die_with_parent,
        start_timeout=timeout,
        secure=listener,
    )
    return broker.start(timeout)


def attach(run_dir: str | os.PathLike) -> Broker | None:
    """The broker described by run_dir's state file, or None if there is none."""
    run_dir = Path(run_dir).resolve()
    config, state = _read_json(run_dir / CONFIG_FILE), _read_json(run_dir / STATE_FILE)
    if not config:
        return None
    return Broker(
        run_dir=run_dir,
        port=config["port"],
        controller_port=config["controller_port"],
        cluster_id=config["cluster_id"],
        version=config["version"],
        libs=libs_dir(config["version"]),
        heap=config.get("heap", DEFAULT_HEAP),
        pid=state["pid"] if state else None,
        secure=Secure(config["secure_port"], SECURE_USER, config["secure_password"], run_dir / TLS_DIR)
        if config.get("secure_port") else None,
    )


# --------------------------------------------------------------------------------------------
# command line


def _eprint(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _cmd_fetch(args) -> int:
    started = time.monotonic()
    libs = fetch(args.version, args.cache_dir, log=_eprint)
    _eprint(f"kafka-local: Kafka {args.version} jars ready in {time.monotonic() - started:.1f}s")
    print(libs)
    return 0


def _cmd_up(args) -> int:
    existing = attach(args.run_dir)
    if existing and existing.is_running():
        try:
            existing.probe()
        except (OSError, struct.error) as exc:
            _eprint(f"kafka-local: broker pid {existing.pid} is running but not answering: {exc}")
            return 1
        _eprint(f"kafka-local: already running (pid {existing.pid}) from {existing.run_dir}")
        print(existing.bootstrap)
        return 0
    props = {}
    for item in args.set or ():
        key, sep, value = item.partition("=")
        if not sep:
            raise KafkaLocalError(f"--set expects key=value, got {item!r}")
        props[key.strip()] = value.strip()
    started = time.monotonic()
    broker = start_broker(
        args.run_dir,
        port=args.port,
        version=args.version,
        cache_dir=args.cache_dir,
        timeout=args.timeout,
        heap=args.heap,
        properties=props,
        die_with_parent=False,  # `up` returns and leaves the broker running
        secure=args.secure,
        log=_eprint,
    )
    rss = broker.rss_bytes()
    _eprint(
        f"kafka-local: Kafka {broker.version} up in {time.monotonic() - started:.1f}s, pid "
        f"{broker.pid}, RSS {rss / 2**20:.0f} MiB, run dir {broker.run_dir} (log: {broker.log_file})"
        if rss
        else f"kafka-local: Kafka {broker.version} up, pid {broker.pid}, run dir {broker.run_dir}"
    )
    if broker.secure is not None:
        _eprint(f"kafka-local: SASL_SSL on {broker.secure.bootstrap}, user {broker.secure.user}, password in "
                f"{broker.run_dir / CONFIG_FILE}, CA {broker.secure.ca_file}")
    print(broker.bootstrap)
    return 0


def _cmd_down(args) -> int:
    run_dir = Path(args.run_dir).resolve()
    broker = attach(run_dir)
    started = time.monotonic()
    if broker and broker.is_running():
        pid = broker.pid
        broker.stop(args.stop_timeout)
        _eprint(f"kafka-local: stopped pid {pid} in {time.monotonic() - started:.1f}s")
    else:
        _eprint("kafka-local: no broker running")
    if not args.keep:
        remove_run_dir(run_dir)
    return 0


def _cmd_status(args) -> int:
    broker = attach(args.run_dir)
    if not broker or not broker.is_running():
        _eprint(f"kafka-local: not running (run dir {Path(args.run_dir).resolve()})")
        return 1
    try:
        answer = broker.probe()
    except (OSError, struct.error) as exc:
        _eprint(f"kafka-local: pid {broker.pid} is running but not answering: {exc}")
        return 1
    rss = broker.rss_bytes()
    _eprint(
        f"kafka-local: up, Kafka {broker.version}, pid {broker.pid}, cluster {answer['cluster_id']}"
        + (f", RSS {rss / 2**20:.0f} MiB" if rss else "")
        + f", run dir {broker.run_dir}"
    )
    print(broker.bootstrap)
    return 0


def main(argv: list[str] | None = None) -> int:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--run-dir", default=str(DEFAULT_RUN_DIR), help="default: %(default)s")
    common.add_argument("--version", default=DEFAULT_VERSION, help="Kafka version (default: %(default)s)")
    common.add_argument("--cache-dir", default=None, help=f"jar cache root (default: {DEFAULT_CACHE})")
    parser = argparse.ArgumentParser(prog="kafka_local.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("fetch", parents=[common], help="resolve the jars from Maven Central")
    up = sub.add_parser("up", parents=[common], help="start; prints the bootstrap address")
    up.add_argument("--port", type=int, default=0, help="broker port (0 = a free one)")
    up.add_argument("--timeout", type=float, default=120.0, help="start-up timeout, seconds")
    up.add_argument("--heap", default=DEFAULT_HEAP, help="JVM -Xmx (default: %(default)s)")
    up.add_argument("--set", action="append", metavar="KEY=VALUE", help="extra server property")
    up.add_argument("--secure", action="store_true",
                    help="a SASL_SSL listener too (its address, user and CA file go to standard error)")
    down = sub.add_parser("down", parents=[common], help="stop and remove the run dir")
    down.add_argument("--keep", action="store_true", help="keep the run dir (data)")
    down.add_argument("--stop-timeout", type=float, default=30.0, help="SIGKILL after this")
    sub.add_parser("status", parents=[common], help="exit 0 and print the address if up")
    args = parser.parse_args(argv)
    handler = {"fetch": _cmd_fetch, "up": _cmd_up, "down": _cmd_down, "status": _cmd_status}
    try:
        return handler[args.command](args)
    except KafkaLocalError as exc:
        _eprint(f"kafka-local: error: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
