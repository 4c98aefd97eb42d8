"""Run the real `flink` executable: argv only (never a shell), own process group, masked streamed output.

Why this shape: Airflow's `on_kill` must be able to stop a submission mid-flight (three JVM starts,
fabric8 retries), and the JVM may fork; killing the process group is the only way to leave nothing
behind. Output is logged line by line as it arrives (after masking secrets) and only a bounded tail
is kept, so a chatty CLI cannot grow memory; facts the CLI prints (cluster created, web UI address,
job id, savepoint path) and known failures are recognised line by line, so they are found even when
they scrolled out of the tail.

What the CLI cannot know: it returns once the Kubernetes objects are created, so an image that
cannot be pulled or a pod that cannot be scheduled shows up later in the Kubernetes view and the
JobManager REST API, never here.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)


class LineLogger(Protocol):
    """What FlinkCli logs through: a `logging.Logger`, or Airflow's task logger (`BaseHook.log`)."""

    def info(self, msg: Any, /, *args: Any) -> Any: ...

    def warning(self, msg: Any, /, *args: Any) -> Any: ...


MASK = "***"

# A `key=value` / `key: value` pair (the lookbehind starts keys only at token starts: linear time) ...
_KV = re.compile(r"(?<![\w.-])([\w.-]+)([\"']?\s*[=:]\s*[\"']?)([^\s\"',;]+)")
# ... is secret when its key names one (Flink's own sensitive-key words plus a few more).
_SECRET_KEY = re.compile(r"(?i)password|passwd|secret|token|api-?_?key|access-?_?key|credential|"
                         r"auth-params|basic-auth|jaas\.config|http-headers|private-key")
_URL_USERINFO = re.compile(r"(://[^\s/:@]+:)([^\s/@]+)@")
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]+")


class SecretMasker:
    """Masks known secret strings, secret-looking `key=value` pairs, URL passwords and bearer tokens.

    One regex pass per rule, linear in the line length.
    """

    def __init__(self, secrets: Iterable[str] = (), min_length: int = 3) -> None:
        # Very short values (e.g. "1") would mask half the output.
        values = sorted({s for s in secrets if s and len(s) >= min_length}, key=len, reverse=True)
        self._literal = re.compile("|".join(map(re.escape, values))) if values else None

    def mask(self, text: str) -> str:
        if self._literal is not None:
            text = self._literal.sub(MASK, text)
        text = _BEARER.sub(lambda m: m.group(1) + MASK, text)
        text = _URL_USERINFO.sub(lambda m: m.group(1) + MASK + "@", text)
        return _KV.sub(_mask_pair, text)


def _mask_pair(m: re.Match) -> str:
    return m.group(1) + m.group(2) + MASK if _SECRET_KEY.search(m.group(1)) else m.group(0)


# -- what the CLI prints -----------------------------------------------------------------------------------

_JOB_ID = re.compile(r"Job has been submitted with JobID ([0-9a-f]{32})")
_CLUSTER_CREATED = re.compile(
    r"Create flink (application|session) cluster (\S+) successfully, JobManager Web Interface: (\S+)")
_CLUSTER_RETRIEVED = re.compile(r"Retrieve flink cluster (\S+) successfully, JobManager Web Interface: (\S+)")
_SAVEPOINT_PATH = re.compile(r"Savepoint completed\. Path: (\S+)")
_ALREADY_EXISTS = re.compile(r"The Flink cluster (\S+) already exists\.")
_PROGRAM_FAILED = "The program finished with the following exception:"
_K8S_CLIENT = "KubernetesClientException"
_CONNECT_FAILURE = re.compile(
    r"Failed to connect to|java\.net\.ConnectException|UnknownHostException|NoRouteToHostException|"
    r"SocketTimeoutException|connect timed out|Connection refused")
_HOST_PORT = re.compile(r"(?:to|refused:)\s+/?([\w.-]*/?[\w.:-]+:\d+)")
_JM_SUBMISSION = re.compile(r"JobSubmissionException|RestClientException|Could not retrieve the execution result")


@dataclass
class CliOutput:
    """Facts recognised in the CLI output so far (filled line by line)."""

    job_id: str | None = None
    cluster_kind: str | None = None  # "application" | "session"
    cluster_id: str | None = None
    web_interface_url: str | None = None
    savepoint_path: str | None = None
    already_exists_cluster_id: str | None = None
    exception: str | None = None  # first line after "The program finished with the following exception:"
    root_cause: str | None = None  # last "Caused by:" line
    kubernetes_client_error: bool = False
    connect_failure: bool = False
    connect_target: str | None = None  # first "host:port" a connection failure names
    jobmanager_submission_error: bool = False
    _expect_exception: bool = field(default=False, repr=False)

    def feed(self, line: str) -> None:
        text = line.strip()
        if self._expect_exception and text:
            self.exception, self._expect_exception = text, False
        if text == _PROGRAM_FAILED:
            self._expect_exception = True
        if text.startswith("Caused by:"):
            self.root_cause = text[len("Caused by:"):].strip()
        if m := _JOB_ID.search(text):
            self.job_id = m.group(1)
        if m := _CLUSTER_CREATED.search(text):
            self.cluster_kind, self.cluster_id, self.web_interface_url = m.groups()
        elif m := _CLUSTER_RETRIEVED.search(text):
            self.cluster_id, self.web_interface_url = m.groups()
        if m := _SAVEPOINT_PATH.search(text):
            self.savepoint_path = m.group(1)
        if m := _ALREADY_EXISTS.search(text):
            self.already_exists_cluster_id = m.group(1)
        if _K8S_CLIENT in text:
            self.kubernetes_client_error = True
        if _CONNECT_FAILURE.search(text):
            self.connect_failure = True
            if self.connect_target is None and (m := _HOST_PORT.search(text)):
                self.connect_target = m.group(1)
        if _JM_SUBMISSION.search(text):
            self.jobmanager_submission_error = True


def parse_output(lines: Iterable[str]) -> CliOutput:
    """Pure: recognise the facts in complete CLI output (the runner does the same while streaming)."""
    out = CliOutput()
    for line in lines:
        out.feed(line)
    return out


# -- errors ------------------------------------------------------------------------------------------------

class FlinkCliError(RuntimeError):
    """The `flink` CLI failed; carries the masked argv, exit code and the tail of its output."""

    def __init__(self, message: str, argv: Sequence[str] = (), returncode: int | None = None,
                 tail: Sequence[str] = (), output: CliOutput | None = None) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.tail = list(tail)
        self.output = output or CliOutput()
        self.pid: int | None = None  # the CLI's pid (= process group id), set by FlinkCli.run
        shown = "\n".join(self.tail[-40:])
        super().__init__(f"{message}\ncommand: {' '.join(self.argv)}\nexit code: {returncode}\n"
                         f"last output lines:\n{shown}" if self.tail else
                         f"{message}\ncommand: {' '.join(self.argv)}\nexit code: {returncode}")


class ClusterAlreadyExists(FlinkCliError):
    """A cluster with this `kubernetes.cluster-id` exists (its `<id>-rest` Service is there)."""


class ApiServerUnreachable(FlinkCliError):
    """The Kubernetes API server named by the kubeconfig could not be reached."""


class JobManagerUnreachable(FlinkCliError):
    """The JobManager REST endpoint (session target, `-m`, or list/cancel/stop) could not be reached."""


class CliTimeout(FlinkCliError):
    """The CLI ran longer than its timeout; its process group was killed."""


class CliKilled(FlinkCliError):
    """`kill()` was called (e.g. Airflow's on_kill) while the CLI ran; its process group was killed."""


class CliFailed(FlinkCliError):
    """Any other non-zero exit; the message carries the CLI's own exception and root cause."""


def classify_failure(out: CliOutput, returncode: int, argv: Sequence[str], tail: Sequence[str]) -> FlinkCliError:
    """Pure: the typed error for a failed run, with a message that says what to check."""
    if out.already_exists_cluster_id:
        return ClusterAlreadyExists(
            f"kubernetes.cluster-id={out.already_exists_cluster_id!r}: a Flink cluster with this id already "
            "exists (its '<id>-rest' Service is present); stop it or choose another cluster id",
            argv, returncode, tail, out)
    if out.kubernetes_client_error and out.connect_failure:
        return ApiServerUnreachable(
            f"the Kubernetes API server at {out.connect_target or '(address not printed)'} could not be reached "
            f"(check kubernetes.config.file / the kubeconfig's server URL and the network): {out.root_cause}",
            argv, returncode, tail, out)
    if out.connect_failure and out.jobmanager_submission_error:
        return JobManagerUnreachable(
            f"the JobManager REST endpoint at {out.connect_target or '(address not printed)'} could not be "
            f"reached (check -m / rest.address and rest.port): {out.root_cause}", argv, returncode, tail, out)
    detail = out.exception or "no exception printed"
    if out.root_cause and out.root_cause not in detail:
        detail += f" (root cause: {out.root_cause})"
    return CliFailed(f"flink exited with code {returncode}: {detail}", argv, returncode, tail, out)


# -- the runner --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CliResult:
    argv: list[str]  # masked
    pid: int  # also the process group id; gone when run() returns
    returncode: int
    duration_s: float
    output: CliOutput
    tail: list[str]

    @property
    def job_id(self) -> str | None:
        return self.output.job_id

    @property
    def cluster_id(self) -> str | None:
        return self.output.cluster_id

    @property
    def web_interface_url(self) -> str | None:
        return self.output.web_interface_url

    @property
    def savepoint_path(self) -> str | None:
        return self.output.savepoint_path


class FlinkCli:
    """Runs `flink` commands one at a time; `kill()` from another thread stops the running one.

    `flink_home` locates `bin/flink` when argv[0] is the bare name `flink`; `conf_dir` sets FLINK_CONF_DIR,
    `log_dir` FLINK_LOG_DIR (the CLI writes a log file there; FLINK_HOME may be read-only),
    `hadoop_conf_dir` HADOOP_CONF_DIR, `kubeconfig` KUBECONFIG (fabric8's fallback when no
    `-Dkubernetes.config.file` is given). `secrets` are masked wherever they appear in logs and errors.
    """

    def __init__(
        self,
        flink_home: str | Path | None = None,
        *,
        conf_dir: str | Path | None = None,
        log_dir: str | Path | None = None,
        hadoop_conf_dir: str | Path | None = None,
        kubeconfig: str | Path | None = None,
        extra_env: Mapping[str, str] | None = None,
        inherit_env: bool = True,
        secrets: Iterable[str] = (),
        logger: LineLogger | None = None,
        tail_lines: int = 200,
        kill_grace: float = 5.0,
    ) -> None:
        self.flink_home = Path(flink_home) if flink_home else None
        self.conf_dir, self.log_dir = conf_dir, log_dir
        self.hadoop_conf_dir, self.kubeconfig = hadoop_conf_dir, kubeconfig
        self.extra_env = dict(extra_env or {})
        self.inherit_env = inherit_env
        self.masker = SecretMasker([*secrets, *self._secret_env_values()])
        self.logger = logger or log
        self.tail_lines = tail_lines
        self.kill_grace = kill_grace
        # Re-entrant: Airflow calls on_kill -> kill() from a signal handler in the thread that may hold it.
        self._lock = threading.RLock()
        self._proc: subprocess.Popen | None = None
        self._killed = False

    def _secret_env_values(self) -> list[str]:
        return [v for k, v in self.extra_env.items() if _SECRET_KEY.search(k)]

    @property
    def executable(self) -> str:
        if self.flink_home is None:
            return "flink"
        return str(self.flink_home / "bin" / "flink")

    def command(self, *args: str) -> list[str]:
        """`[<flink_home>/bin/flink, *args]`."""
        return [self.executable, *args]

    def env(self) -> dict[str, str]:
        env = dict(os.environ) if self.inherit_env else {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        for name, value in (("FLINK_HOME", self.flink_home), ("FLINK_CONF_DIR", self.conf_dir),
                            ("FLINK_LOG_DIR", self.log_dir), ("HADOOP_CONF_DIR", self.hadoop_conf_dir),
                            ("KUBECONFIG", self.kubeconfig)):
            if value is not None:
                env[name] = str(value)
        env.update(self.extra_env)
        return env

    def _resolve(self, argv: Sequence[str]) -> list[str]:
        if not argv:
            raise ValueError("argv=[]: expected the flink executable followed by its arguments")
        argv = [str(a) for a in argv]
        if self.flink_home is not None and "/" not in argv[0]:
            argv[0] = str(self.flink_home / "bin" / argv[0])
        return argv

    def run(self, argv: Sequence[str], timeout: float | None = None, check: bool = True) -> CliResult:
        """Run argv (argv[0] = `flink` or its path); raise a FlinkCliError subclass unless it exits 0.

        With `check=False` a non-zero exit returns the CliResult instead (timeouts and kills still raise).
        """
        argv = self._resolve(argv)
        shown = [self.masker.mask(a) for a in argv]
        tail: deque[str] = deque(maxlen=self.tail_lines)
        out = CliOutput()
        started = time.monotonic()
        with self._lock:
            if self._proc is not None:
                raise RuntimeError("this FlinkCli is already running a command; use one instance per command")
            self._killed = False
            self.logger.info("Running: %s", " ".join(shown))
            proc = subprocess.Popen(  # noqa: S603 - argv list, never a shell
                argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self.env(), start_new_session=True, text=True, errors="replace", bufsize=1)
            self._proc = proc
        reader = threading.Thread(target=self._pump, args=(proc, tail, out), name="flink-cli-output", daemon=True)
        try:
            reader.start()
            returncode = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._kill_group(proc)
            reader.join(timeout=self.kill_grace)
            raise _with_pid(CliTimeout(
                f"flink did not finish within timeout={timeout}s; its process group was killed",
                shown, proc.returncode, list(tail), out), proc.pid) from None
        except BaseException:
            self._kill_group(proc)  # e.g. Airflow's SIGTERM handler raised while we waited: leave nothing behind
            raise
        else:
            self._reap_group(proc)  # the CLI JVM was the leader: anything left in its group is an orphan
            reader.join(timeout=self.kill_grace)
        finally:
            with self._lock:
                self._proc = None
        duration = time.monotonic() - started
        if self._killed:
            raise _with_pid(CliKilled("flink was killed on request (kill())", shown, returncode, list(tail), out),
                            proc.pid)
        result = CliResult(argv=shown, pid=proc.pid, returncode=returncode, duration_s=duration, output=out,
                           tail=list(tail))
        self.logger.info("flink exited with code %s after %.1fs", returncode, duration)
        if returncode != 0 and check:
            raise _with_pid(classify_failure(out, returncode, shown, list(tail)), proc.pid)
        return result

    def _pump(self, proc: subprocess.Popen, tail: deque[str], out: CliOutput) -> None:
        assert proc.stdout is not None
        with proc.stdout:
            for raw in proc.stdout:
                line = self.masker.mask(raw.rstrip("\n"))
                tail.append(line)
                out.feed(line)
                self.logger.info("%s", line)

    def kill(self) -> None:
        """Kill the running command's whole process group (SIGTERM, SIGKILL after `kill_grace`). Thread-safe."""
        with self._lock:
            proc = self._proc
            if proc is None:
                return
            self._killed = True
        self._kill_group(proc)

    def _kill_group(self, proc: subprocess.Popen) -> None:
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=self.kill_grace)
        except subprocess.TimeoutExpired:
            pass
        self._reap_group(proc)

    def _reap_group(self, proc: subprocess.Popen) -> None:
        """SIGKILL whatever is left in the group (a forked JVM may outlive the leader), then reap the leader."""
        _signal_group(proc.pid, signal.SIGKILL)
        try:
            proc.wait(timeout=self.kill_grace)
        except subprocess.TimeoutExpired:
            self.logger.warning("flink process %s did not exit after SIGKILL", proc.pid)

    @property
    def pid(self) -> int | None:
        """Pid (= process group id) of the running command, if any."""
        proc = self._proc
        return proc.pid if proc else None


def _with_pid(error: FlinkCliError, pid: int) -> FlinkCliError:
    error.pid = pid
    return error


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass
