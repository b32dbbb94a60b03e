"""Start, inspect and stop an emulated cluster: one process group, one state directory.

`up` refuses to start a second cluster under the same name; `down` is idempotent and leaves
no process behind (the whole group is signalled, then each recorded pid is checked).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harvester_conformance.emulator import controlplane, versions
from harvester_conformance.waits import Abort, WaitTimeout, wait_for

ORDER = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "simulator")


class ClusterStartError(Abort):
    """The emulated cluster could not start (exit code 3); names the component and its log."""


@dataclass
class State:
    name: str
    dir: Path
    profile: str = ""
    pgid: int = 0
    ports: dict[str, int] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)
    started: float = 0.0
    options: dict[str, Any] = field(default_factory=dict)
    # The process running the start-up, and whether it finished: a cluster whose start-up was
    # killed (SIGKILL, a lost terminal) runs half-seeded, and must not be reported as up.
    starter: int = 0
    ready: bool = False

    @property
    def file(self) -> Path:
        return self.dir / "state.json"

    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig"

    def log(self, component: str) -> Path:
        return self.dir / "logs" / f"{component}.log"

    def save(self) -> None:
        self.file.write_text(
            json.dumps(
                {
                    "name": self.name,
                    "profile": self.profile,
                    "pgid": self.pgid,
                    "ports": self.ports,
                    "pids": self.pids,
                    "started": self.started,
                    "options": self.options,
                    "starter": self.starter,
                    "ready": self.ready,
                },
                indent=2,
            )
        )

    @classmethod
    def load(cls, name: str) -> State:
        d = versions.state_root() / name
        st = cls(name=name, dir=d)
        if st.file.exists():
            raw = json.loads(st.file.read_text())
            for key in ("profile", "pgid", "ports", "pids", "started", "options", "starter"):
                setattr(st, key, raw.get(key, getattr(st, key)))
            st.ready = raw.get("ready", True)  # a state written before this field: its start-up finished
        return st

    @classmethod
    def serving(cls, server: str) -> State:
        """The emulated cluster whose apiserver is `server` (faults get only a client)."""
        port = urllib.parse.urlparse(server).port
        for f in versions.state_root().glob("*/state.json"):
            try:
                if json.loads(f.read_text()).get("ports", {}).get("apiserver") == port:
                    return cls.load(f.parent.name)
            except (OSError, ValueError):
                continue
        raise RuntimeError(f"no emulated cluster state found for {server}")


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] != "Z":
            return True
        # A zombie counts as gone once its last thread has exited: a killed Go process's leader
        # turns zombie first, and its other threads still hold its sockets (its port) a moment.
        return len(list(Path(f"/proc/{pid}/task").iterdir())) > 1
    except OSError:
        return False


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                members.append(int(entry.name))
    return members


def _referencing(state_dir: Path) -> list[int]:
    """Processes whose command line names this state directory: found even when state.json
    (and so the recorded pids) was lost, so that `down` never leaves a component behind."""
    needle = str(state_dir).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "cmdline").read_bytes() and pid_alive(int(entry.name)):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def running(st: State) -> bool:
    return bool(st.pids) and any(pid_alive(p) for p in st.pids.values())


def half_started(st: State) -> bool:
    """Running, but its start-up neither finished nor is still going: the process that ran it
    died (killed mid-seed), so what runs is an unfinished cluster."""
    return running(st) and not st.ready and not (st.starter and pid_alive(st.starter))


def _http_ok(url: str, *, tls: bool, ctx: ssl.SSLContext | None = None) -> bool:
    if tls and ctx is None:
        ctx = ssl._create_unverified_context()  # noqa: S323 - self-signed /healthz on loopback; no data read
    try:
        with urllib.request.urlopen(url, timeout=2, context=ctx) as resp:  # noqa: S310 - loopback
            return resp.status == 200
    except OSError:
        return False


def health_url(st: State, component: str) -> str | None:
    ports = st.ports
    return {
        "etcd": f"http://127.0.0.1:{ports.get('etcd')}/health",
        "kube-controller-manager": f"https://127.0.0.1:{ports.get('controller-manager')}/healthz",
        "kube-scheduler": f"https://127.0.0.1:{ports.get('scheduler')}/healthz",
        "kwok": f"http://127.0.0.1:{ports.get('kwok')}/healthz",
        "simulator": f"https://127.0.0.1:{ports.get('simulator')}/healthz",
    }.get(component)


def component_healthy(st: State, component: str) -> bool:
    if not pid_alive(st.pids.get(component, 0)):
        return False
    if component == "kube-apiserver":
        pki_dir = st.dir / "pki"
        ctx = ssl.create_default_context(cafile=str(pki_dir / "ca.crt"))
        ctx.load_cert_chain(str(pki_dir / "admin.crt"), str(pki_dir / "admin.key"))
        return _http_ok(f"https://127.0.0.1:{st.ports.get('apiserver')}/readyz", tls=True, ctx=ctx)
    url = health_url(st, component)
    return _http_ok(url, tls=url.startswith("https")) if url else True


def _spawn(st: State, component: str, argv: list[str], env: dict[str, str] | None = None) -> None:
    """Start one component; without `env`, with the component's own (so that a restart keeps it)."""
    extra = env if env is not None else controlplane.component_env(st.ports).get(component, {})
    logf = st.log(component).open("ab")
    # The first process leads a new group (not the terminal's, so Ctrl-C in the shell does not
    # reach it); the others join it, so that one killpg reaches every component.
    kwargs: dict[str, Any] = {"process_group": st.pgid or 0}
    proc = subprocess.Popen(  # noqa: S603 - argv built from our own paths
        argv,
        stdin=subprocess.DEVNULL,
        stdout=logf,
        stderr=subprocess.STDOUT,
        env={**os.environ, **extra},
        cwd=st.dir,
        **kwargs,
    )
    logf.close()
    if not st.pgid:
        st.pgid = proc.pid
    st.pids[component] = proc.pid
    st.save()


def _await_healthy(st: State, component: str, progress) -> None:
    def probe() -> bool:
        if not pid_alive(st.pids[component]):
            raise ClusterStartError(_died(st, component))
        return component_healthy(st, component)

    try:
        wait_for("control-plane-ready", probe)
    except WaitTimeout as exc:
        raise ClusterStartError(f"{component} did not become healthy ({exc}); log: {st.log(component)}") from None
    progress(f"{component} healthy")


def _died(st: State, component: str) -> str:
    tail = ""
    try:
        lines = st.log(component).read_text(errors="replace").splitlines()
        tail = " | ".join(line.strip() for line in lines[-3:])
    except OSError:
        pass
    return f"{component} exited during start-up; log: {st.log(component)} (last lines: {tail[:400]})"


def _claim_ports(st: State) -> None:
    """Choose the cluster's ports and record them in its state file, one cluster at a time (two
    test workers start clusters at once): the ports another cluster's state holds are not chosen.
    The lock and the clusters consulted are the machine's, whatever HC_STATE_DIR this one uses."""
    roots = {versions.state_root(), versions.cache_root() / "clusters"}
    versions.cache_root().mkdir(parents=True, exist_ok=True)
    with open(versions.cache_root() / "ports.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        taken: set[int] = set()
        for f in (f for root in roots for f in root.glob("*/state.json")):
            if f.parent != st.dir:
                try:
                    taken.update(int(p) for p in json.loads(f.read_text()).get("ports", {}).values())
                except (OSError, ValueError, TypeError, AttributeError):
                    continue
        st.ports = controlplane.free_ports(taken=taken)
        st.save()


def start_processes(st: State, bin_dir: Path, progress) -> None:
    """Start the real control plane and kwok, each waited on before the next."""
    for sub in ("logs", "kubeconfigs"):
        (st.dir / sub).mkdir(parents=True, exist_ok=True)
    shutil.rmtree(st.dir / "etcd", ignore_errors=True)
    _claim_ports(st)
    controlplane.write_pki(st.dir / "pki")
    server = f"https://127.0.0.1:{st.ports['apiserver']}"
    for ident in controlplane.IDENTITIES:
        controlplane.write_kubeconfig(
            st.dir / "kubeconfigs" / f"{ident}.kubeconfig", server, st.dir / "pki", ident, "harvester-emulated"
        )
    shutil.copy(st.dir / "kubeconfigs" / "admin.kubeconfig", st.kubeconfig)
    st.kubeconfig.chmod(0o600)
    st.started = time.time()
    argvs = component_argv(st, bin_dir)
    for component in ORDER[:-1]:
        progress(f"starting {component}")
        _spawn(st, component, argvs[component])
        _await_healthy(st, component, progress)


def component_argv(st: State, bin_dir: Path) -> dict[str, list[str]]:
    """The components' command lines as this cluster was started with them (a restart keeps them)."""
    return controlplane.component_argv(bin_dir, st.dir, st.ports, watch_cache=st.options.get("watch_cache", True))


def restart_component(st: State, component: str, argv: list[str], progress=lambda _msg: None) -> None:
    """Replace one running component with the same one started from `argv` (a reconfiguration)."""
    old = st.pids.get(component, 0)
    if pid_alive(old):
        _end([old])
    try:
        _spawn(st, component, argv)
    except PermissionError:  # the group belongs to another session: a group of its own (stop finds it by path)
        pgid, st.pgid = st.pgid, 0
        _spawn(st, component, argv)
        st.pgid = pgid
        st.save()
    _await_healthy(st, component, progress)


def start_simulator(st: State, progress) -> None:
    progress("starting simulator")
    _spawn(
        st,
        "simulator",
        [
            sys.executable,
            "-m",
            "harvester_conformance.emulator.simulator",
            "--state-dir",
            str(st.dir),
        ],
    )
    _await_healthy(st, "simulator", progress)


def _end(pids: list[int]) -> None:
    """SIGTERM, then SIGKILL what outlives the process-exit timeout, then reap. An apiserver whose
    clients are still connected takes 60 s to exit on SIGTERM (measured: it waits out their watches),
    so a restart of one component would otherwise time out."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        try:
            wait_for("process-exit", lambda: not any(pid_alive(p) for p in pids))
            break
        except WaitTimeout:
            continue
    for pid in pids:  # reap our own children (when this process started them) so no zombie lingers
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass


def stop(st: State) -> list[str]:
    """Signal the group, wait, then kill what is left. Returns what could not be stopped."""
    pids = {p for p in st.pids.values() if pid_alive(p)} | set(_referencing(st.dir))
    if st.pgid:
        pids |= set(_group_members(st.pgid))
    pids = sorted(pids)
    _end(pids)
    left = [f"pid {p}" for p in pids if pid_alive(p)]
    st.pids, st.pgid = {}, 0
    if st.file.exists():
        st.save()
    shutil.rmtree(st.dir / "etcd", ignore_errors=True)
    return left


def status(st: State) -> dict[str, Any]:
    comps = {}
    for component in ORDER:
        pid = st.pids.get(component, 0)
        alive = pid_alive(pid)
        comps[component] = {
            "pid": pid or None,
            "alive": alive,
            "healthy": alive and component_healthy(st, component),
            "log": str(st.log(component)),
        }
    any_alive = any(c["alive"] for c in comps.values())
    all_healthy = all(c["healthy"] for c in comps.values())
    state = "running" if all_healthy else ("degraded" if any_alive else "stopped")
    if any_alive and not st.ready:  # its start-up still going, or killed before it finished
        state = "half-started" if half_started(st) else "starting"
    return {
        "name": st.name,
        "state": state,
        "profile": st.profile or None,
        "kubeconfig": str(st.kubeconfig) if any_alive else None,
        "state_dir": str(st.dir),
        "versions": {"kubernetes": versions.KUBERNETES, "etcd": versions.ETCD, "kwok": versions.KWOK},
        "ports": st.ports,
        "components": comps,
    }
