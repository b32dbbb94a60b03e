"""The `pod` backend: one short-lived privileged pod per read, pinned to the node.

The pod mounts the host's `/` read-only at `/host`, runs `chroot /host sh -c <script>` (so
absolute symlinks on the host resolve as on the host, and the host's own `base64`, `ls` and
`systemctl` do the work: the image needs only `chroot`), prints every requested file, directory
listing and unit state between markers (`probes.script`) and exits. The hostPath mount is
recursive (the runtime binds it with `rbind`), so the host's /proc, /sys and /run are there too:
`systemctl` reaches the host's systemd through /run/systemd, and /proc/1 is the host's init.
The backend waits for the pod (named timeout `node-probe`), reads its log, deletes it and waits
until it is gone (`object-deleted`).

What the pod is allowed, and why: `privileged` and a read-only hostPath `/` (host files such
as RKE2's TLS directory are root-only); no service-account token (it never calls the API);
`spec.nodeName` (no scheduler: a cordoned node is probed too) and a toleration of every taint
(witness and control-plane nodes are probed too); `restartPolicy: Never` with an
`activeDeadlineSeconds` (a forgotten pod stops by itself); no resource requests (BestEffort:
the kubelet admits it even on a full node). The namespace is the run's own, created by the
caller; it must admit privileged pods (PodSecurity `enforce: privileged`). A refusal (RBAC or
PodSecurity, HTTP 403) is ProbeUnavailable: no probe can be had there.
"""

from __future__ import annotations

import contextlib
import math
import secrets
from collections.abc import Sequence

from harvester_conformance.changes import RUN_LABEL
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster, ClusterUnreachable
from harvester_conformance.probes.base import (
    HostProbe,
    HostRead,
    ProbeError,
    ProbeUnavailable,
    check_nics,
    check_paths,
    check_units,
)
from harvester_conformance.probes.script import build_script, host_read, parse_output
from harvester_conformance.waits import TIMEOUTS, Abort, WaitTimeout, timeout_scale, wait_for

# The base image of the KB article "Package your own Toolbox Image" (kb/package_your_own_toolbox_image.md):
# openSUSE Leap, the same family as Harvester's OS. Air-gapped labs pass their own (--probe-image):
# any image with `chroot` will do, since the work is done by the host's own tools.
DEFAULT_IMAGE = "docker.io/opensuse/leap:15.4"
HOST_ROOT = "/host"
CONTAINER = "probe"
COMPONENT_LABELS = {"app.kubernetes.io/name": "harvester-conformance", "app.kubernetes.io/component": "node-probe"}
NODE_ANNOTATION = "harvester-conformance.io/probe-node"
# Container waiting reasons after which waiting longer cannot help.
STUCK_REASONS = {
    "ImagePullBackOff",
    "ErrImageNeverPull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
}
TERMINAL = ("Succeeded", "Failed")


def probe_pod(*, name: str, namespace: str, node: str, run_id: str, image: str, script: str) -> dict:
    """The Pod that prints `script`'s output on `node` (pure: no API call)."""
    deadline = max(30, math.ceil(TIMEOUTS["node-probe"] * timeout_scale()))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {RUN_LABEL: run_id, **COMPONENT_LABELS},
            "annotations": {NODE_ANNOTATION: node},
        },
        "spec": {
            "nodeName": node,
            "restartPolicy": "Never",
            "activeDeadlineSeconds": deadline,
            "terminationGracePeriodSeconds": 5,
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "tolerations": [{"operator": "Exists"}],
            "containers": [
                {
                    "name": CONTAINER,
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["chroot", HOST_ROOT, "/bin/sh", "-c", script],
                    "securityContext": {"privileged": True, "runAsUser": 0, "readOnlyRootFilesystem": True},
                    "volumeMounts": [{"name": "host-root", "mountPath": HOST_ROOT, "readOnly": True}],
                }
            ],
            "volumes": [{"name": "host-root", "hostPath": {"path": "/", "type": "Directory"}}],
        },
    }


class PodProbe(HostProbe):
    backend = "pod"

    def __init__(self, cluster: Cluster, namespace: str, run_id: str, image: str = DEFAULT_IMAGE) -> None:
        if not namespace or not run_id or not image:
            raise ValueError("the pod probe needs a namespace, a run ID and an image")
        self.cluster, self.namespace, self.run_id, self.image = cluster, namespace, run_id, image
        self.live: set[str] = set()  # pods created and not yet seen deleted

    # -- the pod's life ------------------------------------------------------------------------
    def manifest(
        self,
        node: str,
        paths: Sequence[str],
        dirs: Sequence[str] = (),
        units: Sequence[str] = (),
        nics: Sequence[str] = (),
    ) -> dict:
        return probe_pod(
            name=f"hc-probe-{secrets.token_hex(4)}",
            namespace=self.namespace,
            node=node,
            run_id=self.run_id,
            image=self.image,
            script=build_script(paths, dirs, units, nics),
        )

    def launch(
        self,
        node: str,
        paths: Sequence[str],
        dirs: Sequence[str] = (),
        units: Sequence[str] = (),
        nics: Sequence[str] = (),
    ) -> str:
        """Create the probe pod for `paths` (and `dirs`, `units`, `nics`) on `node`; its name.
        `close()` removes it."""
        body = self.manifest(node, paths, dirs, units, nics)
        name = body["metadata"]["name"]
        refused: list[ApiError] = []
        last: list[str] = ["no attempt yet"]

        def create() -> bool:
            try:
                self.cluster.create(R.PODS, body, self.namespace)
            except ApiError as exc:
                if exc.status == 409:  # a retried POST whose first attempt got through
                    return True
                last[0] = str(exc)
                if exc.forbidden and "error looking up service account" in exc.message:
                    return False  # a new namespace: its default ServiceAccount is not there yet
                refused.append(exc)
                raise Abort(str(exc)) from None
            return True

        self.live.add(name)
        try:
            wait_for("namespace-created", create, describe=lambda: last[0])
        except Abort:
            self.live.discard(name)
            if refused[0].forbidden:
                reason = f"may not create the probe pod in namespace {self.namespace}: {refused[0]}"
                raise ProbeUnavailable(reason) from None
            raise ProbeError(f"{node}: creating the probe pod failed: {refused[0]}") from None
        except WaitTimeout as exc:
            self.live.discard(name)
            raise ProbeError(f"{node}: creating the probe pod failed: {exc}") from None
        return name

    def remove(self, name: str, *, force: bool = False) -> None:
        """Delete one probe pod and wait until it is gone. `force` (grace period 0) is for a pod
        that did not finish: its node may have no kubelet left to confirm a graceful delete."""
        path = R.PODS.path(self.namespace, name)
        try:
            self.cluster.request("DELETE", path, query={"gracePeriodSeconds": 0} if force else None)
        except ApiError as exc:
            if not exc.not_found:
                raise ProbeError(f"could not delete probe pod {self.namespace}/{name}: {exc}") from None
        try:
            wait_for("object-deleted", lambda: self.cluster.get(R.PODS, name, self.namespace) is None)
        except WaitTimeout as exc:
            raise ProbeError(f"probe pod {self.namespace}/{name} was not removed: {exc}") from None
        self.live.discard(name)

    def close(self) -> None:
        left = []
        for name in sorted(self.live):
            try:
                self.remove(name, force=True)
            except (ProbeError, ApiError, ClusterUnreachable) as exc:
                left.append(str(exc))
        if left:
            raise ProbeError("; ".join(left))

    # -- reading ---------------------------------------------------------------------------------
    def collect(
        self,
        node: str,
        files: Sequence[str] = (),
        dirs: Sequence[str] = (),
        units: Sequence[str] = (),
        offloads: Sequence[str] = (),
    ) -> HostRead:
        wanted, listed, named, nics = check_paths(files), check_paths(dirs), check_units(units), check_nics(offloads)
        self._check_node(node)
        name = self.launch(node, wanted, listed, named, nics)
        finished = False
        try:
            result = self._collect(node, name, wanted, listed, named, nics)
            finished = True
            return result
        finally:
            # A pod that cannot be removed now stays in `live`: close() tries again and reports
            # it, apart from this read's result (a cleanup failure is not the check's).
            with contextlib.suppress(ProbeError, ApiError, ClusterUnreachable):
                self.remove(name, force=not finished)

    def _check_node(self, node: str) -> None:
        try:
            obj = self.cluster.get(R.NODES, node)
        except ApiError as exc:
            if exc.forbidden:
                raise ProbeUnavailable(f"may not read node {node}: {exc}") from None
            raise ProbeError(f"{node}: {exc}") from None
        if obj is None:
            raise ProbeError(f"node {node} does not exist")
        ready = next((c for c in obj.get("status", {}).get("conditions", []) if c.get("type") == "Ready"), {})
        if ready.get("status") != "True":
            why = ready.get("reason") or "no Ready condition"
            raise ProbeError(f"node {node} is not Ready ({why}): no kubelet to run the probe pod")

    def _collect(
        self, node: str, name: str, paths: list[str], dirs: list[str], units: list[str], nics: Sequence[str] = ()
    ) -> HostRead:
        where = f"{node}: probe pod {self.namespace}/{name}"
        last: list[str] = ["not seen yet"]

        def finished() -> dict | None:
            pod = self.cluster.get(R.PODS, name, self.namespace)
            if pod is None:
                raise Abort("was deleted by someone else")
            last[0] = pod_state(pod)
            if pod.get("status", {}).get("phase") in TERMINAL:
                return pod
            stuck = stuck_reason(pod)
            if stuck:
                raise Abort(stuck)
            return None

        try:
            pod = wait_for("node-probe", finished, describe=lambda: last[0])
        except Abort as exc:
            raise ProbeError(f"{where} {exc}") from None
        except WaitTimeout as exc:
            raise ProbeError(f"{where} did not finish: {exc}") from None
        if pod["status"]["phase"] == "Failed":
            output = ""
            with contextlib.suppress(Exception):  # diagnostics only: the failure is reported anyway
                output = " ".join(self._log(name).split())[:300]
            raise ProbeError(f"{where} failed: {pod_state(pod)}" + (f"; output: {output}" if output else ""))
        try:
            out = parse_output(self._log(name), paths, dirs, units, nics)
        except (ValueError, ApiError, ClusterUnreachable) as exc:
            raise ProbeError(f"{where}: {exc}") from None
        if out.errors:
            raise ProbeError(f"{node}: {out.error_text()}")
        try:
            return host_read(out)
        except ValueError as exc:
            raise ProbeError(f"{node}: {exc}") from None

    def _log(self, name: str) -> str:
        return read_text(self.cluster, R.PODS.path(self.namespace, name, "log"))


def read_text(cluster: Cluster, path: str, *, timeout: float | None = None) -> str:
    """GET a plain-text endpoint (a pod's log) through the one client, retried like every call."""
    return cluster.request("GET", path, timeout=timeout, text=True)


def _container(pod: dict) -> dict:
    """The probe container's status ({} until the kubelet reports one)."""
    for status in pod.get("status", {}).get("containerStatuses") or []:
        if status.get("name") == CONTAINER:
            return status
    return {}


def pod_state(pod: dict) -> str:
    """One line: phase, pod reason, the container's state (what a person needs to act)."""
    status = pod.get("status", {})
    parts = [f"phase={status.get('phase', '?')}"]
    if status.get("reason") or status.get("message"):
        parts.append(f"{status.get('reason', '')}: {status.get('message', '')}".strip(": "))
    for cond in status.get("conditions") or []:
        if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
            parts.append(f"not scheduled: {cond.get('reason', '')} {cond.get('message', '')}".strip())
    state = _container(pod).get("state", {})
    if "waiting" in state:
        w = state["waiting"]
        parts.append(f"container waiting: {w.get('reason', '')} {w.get('message', '')}".strip())
    elif "terminated" in state:
        t = state["terminated"]
        parts.append(f"container terminated: {t.get('reason', '')} exit code {t.get('exitCode')}")
    elif "running" in state:
        parts.append("container running")
    return "; ".join(parts)


def stuck_reason(pod: dict) -> str | None:
    """Why a pending pod can never finish (no image, cannot be scheduled), or None."""
    waiting = _container(pod).get("state", {}).get("waiting", {})
    if waiting.get("reason") in STUCK_REASONS:
        return f"cannot start: {waiting['reason']}: {waiting.get('message', '')}".rstrip(": ")
    for cond in pod.get("status", {}).get("conditions") or []:
        if (cond.get("type"), cond.get("status"), cond.get("reason")) == ("PodScheduled", "False", "Unschedulable"):
            return f"cannot be scheduled: {cond.get('message', '')}".rstrip(": ")
    return None
