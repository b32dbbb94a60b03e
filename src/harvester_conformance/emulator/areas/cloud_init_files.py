"""Area: CloudInit files on the hosts (articles 2025-09-16 "How to create an SSH user" and
2025-12-08 "VM network slowness (GRO/GSO)").

Upstream: harvester/node-manager, whose CloudInit API (`node.harvesterhci.io/v1beta1`, cluster
scope) ships from node-manager v0.2.0, i.e. Harvester v1.3.0 (harvester chart dependency
harvester-node-manager 0.2.3; v1.2.1 ships 0.1.5, without it). The controller
(`pkg/controller/cloudinit/controller.go`, `pkg/cloudinit/cloudinit.go`, v0.2.0 ... v1.8.2) runs on
every node, here one pass per node:

- annotates the object with `node.harvesterhci.io/cloudinit-hash` = sha256(spec.contents);
- `spec.paused`: only the node's rollout status is updated; nothing is written or removed;
- a node its matchSelector selects (`labels.SelectorFromSet`, empty = every node): `/oem/<filename>`
  is rewritten when its sha256 differs, with the Event `cloudinit-overwrite-<name>.<node>` in
  `default` (reason CloudInitFileModified, lastTimestamp and count bumped on each rewrite);
- any other node: the file is removed (Event `cloudinit-remove-<name>.<node>`);
- a deleted CloudInit's file is removed everywhere (OnCloudInitRemove);
- `status.rollouts[<node>].conditions`, sorted by type: Applicable (True/CloudInitApplicable or
  False/CloudInitNotApplicable "MatchSelector does not match Node labels"), OutOfSync
  (False/CloudInitChecksumMatch, True/CloudInitChecksumMismatch, Unknown/CloudInitError when the
  file cannot be opened), Present (True/CloudInitPresentOnDisk "<file> is present under /oem",
  False/CloudInitAbsentFromDisk "<file> is absent from /oem"). A condition whose status, reason and
  message are unchanged keeps its lastTransitionTime; a changed one takes the file's ctime
  (Present), mtime (OutOfSync) or now (Applicable); a missing file's times read as now (v1.5+).
The webhook (filename made a .yaml base name, unique, not an installer file) is not emulated: the
seed and the faults write valid objects.

Elemental applies /oem at boot only. The seed renders the CloudInits and then reboots every host
(`boot`): `btime` becomes now, cloud-config `users` (files starting with `#cloud-config`, as yip
reads them) and yip stage `users` are added to /etc/passwd and /etc/group, and stage commands
`ethtool -K <nic> <feature> on|off` set the NIC's offloads (offloads.json). Seeded from v1.3.0:
`add-test-user` and `disable-offloads` as the articles write them (every node; the offloads for
the VM network's NIC eno2), and `node-0-inotify` selecting harvester-node-0 only.

Faults: CIN-01 (node-manager down on harvester-node-1 and the user file gone there), CIN-02 (the
user CloudInit edited: its user not in the admin group), OFF-01 (harvester-node-1 rebooted with
its network stage's ethtool commands failing: GRO/GSO on for eno2).
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import os
import shlex
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import ApiError, Cluster
from harvester_conformance.emulator import clock, lifecycle
from harvester_conformance.emulator.areas import harvester_hosts_fs as hostfs
from harvester_conformance.emulator.faults import ORIGINAL_ANNOTATION, Fault
from harvester_conformance.emulator.profiles import ProfileSpec
from harvester_conformance.emulator.seed import grant_simulator, node_names
from harvester_conformance.emulator.versions import version_tuple
from harvester_conformance.waits import wait_for

MANAGER = "harvester-conformance-emulator"
SINCE = "v1.3.0"  # the first Harvester release serving the CloudInit API
HASH_ANNOTATION = "node.harvesterhci.io/cloudinit-hash"
EVENT_NS = "default"
AGENT_DOWN = "cloudinit-agent-down.json"  # state dir: nodes whose node-manager is not running
RENDERED = "cloudinit-rendered.json"  # state dir: node -> {filename: CloudInit} written by the controller
FAULT_NODE = "harvester-node-1"
CONTROLLER_PERIOD = 2.0  # seconds between the simulated node-manager's passes
USER_CLOUDINIT = "add-test-user"
OFFLOAD_CLOUDINIT = "disable-offloads"

# The article's public-key example (a made-up key: the article elides its own).
USER_CONTENTS = """#cloud-config
users:
  - name: test-user
    gecos: "admin_user"
    groups: [users, admin]
    sudo: ALL=(ALL) NOPASSWD:ALL
    shell: /bin/bash
    ssh_authorized_keys:
    - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHc2ZXJ2ZXItY29uZm9ybWFuY2UtZXhhbXBsZS1rZXk test-user@example
"""
OFFLOAD_CONTENTS = f"""stages:
  network:
    - commands:
        - /usr/sbin/ethtool -K {hostfs.VM_NET_NIC} gro off
        - /usr/sbin/ethtool -K {hostfs.VM_NET_NIC} gso off
"""
INOTIFY_CONTENTS = """stages:
  initramfs:
    - name: "Raise inotify watches"
      sysctl:
        fs.inotify.max_user_watches: "524288"
"""


def cloudinit(name: str, filename: str, contents: str, selector: dict[str, str] | None = None) -> dict:
    return {
        "apiVersion": "node.harvesterhci.io/v1beta1",
        "kind": "CloudInit",
        "metadata": {"name": name},
        "spec": {"matchSelector": selector or {}, "filename": filename, "contents": contents},
    }


SEEDED = (
    cloudinit(USER_CLOUDINIT, "99_add_test_user.yaml", USER_CONTENTS),
    cloudinit(OFFLOAD_CLOUDINIT, "99_disable_offloads.yaml", OFFLOAD_CONTENTS),
    cloudinit("node-0-inotify", "99_inotify.yaml", INOTIFY_CONTENTS, {"kubernetes.io/hostname": "harvester-node-0"}),
)

RULES = [
    {
        "apiGroups": ["node.harvesterhci.io"],
        "resources": ["cloudinits", "cloudinits/status"],
        "verbs": ["get", "list", "watch", "update", "patch"],
    },
    {"apiGroups": [""], "resources": ["events"], "verbs": ["get", "create", "update", "patch"]},
]


def served(spec_or_version: ProfileSpec | str) -> bool:
    version = spec_or_version if isinstance(spec_or_version, str) else spec_or_version.harvester
    return version_tuple(version) >= version_tuple(SINCE)


# -- node-manager ---------------------------------------------------------------------------
def checksum(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


RACY_SECONDS = 1.0
_digests: dict[Path, tuple[tuple[int, ...], str]] = {}
_digests_lock = threading.Lock()


def file_digest(path: Path) -> tuple[os.stat_result, str] | None:
    """(stat, checksum) of a host file, None when absent or not a regular file: what node-manager's
    `cloudinit.Measure` of the opened file gives (pkg/cloudinit/cloudinit.go), which it computes on
    every handler run. The simulator's pass comes every 2 s for every node, so the checksum is
    kept while the file's stat is unchanged: the same answer without reading 300 files each pass."""
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            return None
        key = (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        with _digests_lock:
            known = _digests.get(path)
        # A file changed within the last few ms may change again with the same size and mtime
        # (timestamps are coarse): as git's racy-clean rule, it is read until its mtime has aged.
        if known is not None and known[0] == key and time.time() - st.st_mtime > RACY_SECONDS:
            return st, known[1]
        digest = checksum(path.read_bytes())
    except (FileNotFoundError, NotADirectoryError):
        return None
    with _digests_lock:
        _digests[path] = (key, digest)
    return st, digest


def selects(ci: dict, labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in ((ci.get("spec") or {}).get("matchSelector") or {}).items())


def _json(state_dir: Path, name: str) -> Any:
    try:
        return json.loads((Path(state_dir) / name).read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _write_json(state_dir: Path, name: str, doc: Any) -> None:
    """Atomic, with a temporary file of the writer's own: the seed (in `cluster up`) and the
    simulator's controller both write these files."""
    tmp = Path(state_dir) / f".{name}.{os.getpid()}.{threading.get_ident()}.tmp"
    tmp.write_text(json.dumps(doc, indent=2, sort_keys=True))
    tmp.replace(Path(state_dir) / name)


def agent_down(state_dir: Path) -> set[str]:
    return set(_json(state_dir, AGENT_DOWN) or [])


def set_agent_down(state_dir: Path, node: str, down: bool) -> None:
    nodes = agent_down(state_dir)
    nodes = nodes | {node} if down else nodes - {node}
    _write_json(state_dir, AGENT_DOWN, sorted(nodes))


def _file(state_dir: Path, node: str, filename: str) -> Path:
    return hostfs.host_dir(Path(state_dir), node) / "oem" / filename


def _condition(kind: str, status: str, reason: str, message: str) -> dict:
    return {"type": kind, "status": status, "reason": reason, "message": message}


def conditions(ci: dict, node: str, labels: dict[str, str], state_dir: Path, prev: list[dict]) -> list[dict]:
    """The node's rollout conditions as updateStatus computes them."""
    filename = ci["spec"]["filename"]
    path = _file(state_dir, node, filename)
    now = clock.now()
    found = file_digest(path)
    if found is not None:
        created = dt.datetime.fromtimestamp(found[0].st_ctime, dt.UTC)
        modified = dt.datetime.fromtimestamp(found[0].st_mtime, dt.UTC)
    else:
        created = modified = now
    if selects(ci, labels):
        applicable = _condition("Applicable", "True", "CloudInitApplicable", "")
    else:
        applicable = _condition(
            "Applicable", "False", "CloudInitNotApplicable", "MatchSelector does not match Node labels"
        )
    if found is None:
        out_of_sync = _condition(
            "OutOfSync", "Unknown", "CloudInitError", f"Open file: open /host/oem/{filename}: no such file or directory"
        )
        present = _condition("Present", "False", "CloudInitAbsentFromDisk", f"{filename} is absent from /oem")
    else:
        annotated = (ci["metadata"].get("annotations") or {}).get(HASH_ANNOTATION)
        if found[1] == annotated:
            out_of_sync = _condition(
                "OutOfSync",
                "False",
                "CloudInitChecksumMatch",
                "Local file checksum is the same as the CloudInit checksum",
            )
        else:
            out_of_sync = _condition(
                "OutOfSync",
                "True",
                "CloudInitChecksumMismatch",
                "Local file checksum is different than the CloudInit checksum",
            )
        present = _condition("Present", "True", "CloudInitPresentOnDisk", f"{filename} is present under /oem")
    old = {c.get("type"): c for c in prev}
    times = {"Applicable": now, "OutOfSync": modified, "Present": created}
    out = []
    for cond in sorted((applicable, out_of_sync, present), key=lambda c: c["type"]):
        before = old.get(cond["type"])
        same = before and all(before.get(k) == cond[k] for k in ("status", "reason", "message"))
        cond["lastTransitionTime"] = before["lastTransitionTime"] if same else clock.stamp(times[cond["type"]])
        out.append(cond)
    return out


def _event(cl: Cluster, ci: dict, node: str, remove: bool) -> None:
    """emitOverwriteEvent / emitRemoveEvent: one Event per CloudInit and node, its count bumped."""
    action = "remove" if remove else "overwrite"
    name = f"cloudinit-{action}-{ci['metadata']['name']}.{node}"
    now = clock.stamp()
    filename = ci["spec"]["filename"]
    try:
        event = cl.get(R.EVENTS, name, EVENT_NS)
        if event is None:
            cl.create(
                R.EVENTS,
                {
                    "apiVersion": "v1",
                    "kind": "Event",
                    "metadata": {"name": name, "namespace": EVENT_NS},
                    "involvedObject": {
                        "kind": "CloudInit",
                        "name": ci["metadata"]["name"],
                        "uid": ci["metadata"].get("uid"),
                    },
                    "action": "RemoveFile" if remove else "ReconcileContents",
                    "reason": "CloudInitNotApplicable" if remove else "CloudInitFileModified",
                    "message": f"{filename} has been {'removed from' if remove else 'overwritten on'} {node}",
                    "source": {"component": "harvester-node-manager", "host": node},
                    "type": "Normal",
                    "reportingComponent": "harvesterhci.io/harvester-node-cloud-init-controller",
                    "reportingInstance": node,
                    "eventTime": clock.now().strftime("%Y-%m-%dT%H:%M:%S.000000Z"),
                    "firstTimestamp": now,
                    "lastTimestamp": now,
                    "count": 1,
                },
                EVENT_NS,
            )
        else:
            event["lastTimestamp"] = now
            event["count"] = int(event.get("count") or 1) + 1
            cl.replace(R.EVENTS, {**event, "apiVersion": "v1", "kind": "Event"})
    except ApiError:
        pass  # as upstream: a failed event is logged, the reconcile goes on


def _render(cl: Cluster, ci: dict, node: str, labels: dict[str, str], state_dir: Path, rendered: dict) -> None:
    spec = ci["spec"]
    filename, contents = spec["filename"], spec.get("contents") or ""
    mine = rendered.setdefault(node, {})
    if spec.get("paused"):
        return
    path = _file(state_dir, node, filename)
    if selects(ci, labels):
        current = file_digest(path)
        if (current[1] if current else checksum(b"")) != ci["metadata"]["annotations"][HASH_ANNOTATION]:
            hostfs.write(state_dir, node, f"oem/{filename}", contents, 0o600)
            _event(cl, ci, node, remove=False)
        mine[filename] = ci["metadata"]["name"]
    elif path.exists():
        path.unlink()
        mine.pop(filename, None)
        _event(cl, ci, node, remove=True)


def reconcile(cl: Cluster, state_dir: Path) -> None:
    """One pass of every node's CloudInit controller."""
    try:
        items = cl.list(R.CLOUD_INITS)
    except ApiError as exc:
        if exc.not_found or exc.forbidden:
            return  # not served on this release (or not yet granted)
        raise
    nodes = {n["metadata"]["name"]: n["metadata"].get("labels") or {} for n in cl.list(R.NODES)}
    down = agent_down(state_dir)
    rendered = _json(state_dir, RENDERED) or {}
    before = copy.deepcopy(rendered)
    names = {ci["metadata"]["name"] for ci in items}
    for node in nodes:  # OnCloudInitRemove: files of deleted CloudInits
        if node in down:
            continue
        for filename, owner in list((rendered.get(node) or {}).items()):
            if owner not in names:
                hostfs.remove(state_dir, node, f"oem/{filename}")
                rendered[node].pop(filename)
    for ci in items:
        meta = ci["metadata"]
        if meta.get("deletionTimestamp"):
            continue
        want = checksum(ci["spec"].get("contents") or "")
        try:
            if (meta.get("annotations") or {}).get(HASH_ANNOTATION) != want:
                ci = cl.patch(R.CLOUD_INITS, meta["name"], {"metadata": {"annotations": {HASH_ANNOTATION: want}}})
            rollouts = dict((ci.get("status") or {}).get("rollouts") or {})
            changed = False
            for node, labels in nodes.items():
                if node in down:
                    continue
                _render(cl, ci, node, labels, state_dir, rendered)
                prev = (rollouts.get(node) or {}).get("conditions") or []
                new = conditions(ci, node, labels, state_dir, prev)
                if new != prev:
                    rollouts[node] = {"conditions": new}
                    changed = True
            if changed:
                body = {**ci, "apiVersion": "node.harvesterhci.io/v1beta1", "kind": "CloudInit"}
                cl.replace(R.CLOUD_INITS, {**body, "status": {"rollouts": rollouts}}, sub="status")
        except ApiError as exc:
            if exc.status not in (403, 404, 409):
                raise
    if rendered != before:  # written on a change only: a pass every 2 s rewrote the same file
        _write_json(state_dir, RENDERED, rendered)


def in_sync(cl: Cluster, state_dir: Path) -> bool:
    """Every active CloudInit is rendered, and reported, as it stands on every node whose
    node-manager runs (what a fault waits for before the suite looks)."""
    nodes = {n["metadata"]["name"]: n["metadata"].get("labels") or {} for n in cl.list(R.NODES)}
    down = agent_down(state_dir)
    for ci in cl.list(R.CLOUD_INITS):
        if (ci.get("spec") or {}).get("paused"):
            continue
        want = checksum(ci["spec"].get("contents") or "")
        if (ci["metadata"].get("annotations") or {}).get(HASH_ANNOTATION) != want:
            return False
        rollouts = (ci.get("status") or {}).get("rollouts") or {}
        for node, labels in nodes.items():
            if node in down:
                continue
            path = _file(state_dir, node, ci["spec"]["filename"])
            conds = {c["type"]: c["status"] for c in (rollouts.get(node) or {}).get("conditions") or []}
            if selects(ci, labels):
                found = file_digest(path)
                if found is None or found[1] != want:
                    return False
                if conds.get("Present") != "True" or conds.get("OutOfSync") != "False":
                    return False
            elif path.exists():
                return False
    return True


def settle(cl: Cluster, state_dir: Path) -> None:
    """Run the controller here until the hosts stay in sync for a whole controller period (a
    simulator pass that listed the objects before a change may still write the old contents once)."""
    since: list[float | None] = [None]

    def settled() -> bool:
        reconcile(cl, state_dir)
        if not in_sync(cl, state_dir):
            since[0] = None
            return False
        since[0] = since[0] or time.monotonic()
        return time.monotonic() - since[0] >= CONTROLLER_PERIOD + 0.5

    wait_for("cluster-seeded", settled, timeout=60)


def controller_factory(cl: Cluster, state_dir: Any) -> Callable[[], None]:
    return lambda: reconcile(cl, Path(state_dir))


# -- Elemental at boot ------------------------------------------------------------------------
def _groups(value: object) -> list[str]:
    if isinstance(value, str):
        return [g.strip() for g in value.split(",") if g.strip()]
    return [str(g) for g in value] if isinstance(value, list) else []


def _apply_file(text: str, users: list[tuple[str, list[str]]], offloads: dict[str, dict[str, str]]) -> None:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return  # yip skips a file it cannot parse
    if not isinstance(doc, dict):
        return
    if text.startswith("#cloud-config"):
        for entry in doc.get("users") or []:
            if isinstance(entry, dict) and entry.get("name"):
                users.append((str(entry["name"]), _groups(entry.get("groups"))))
            elif isinstance(entry, str) and entry != "default":
                users.append((entry, []))
    for steps in (doc.get("stages") or {}).values():
        for step in steps or []:
            if not isinstance(step, dict):
                continue
            for name, spec in (step.get("users") or {}).items():
                users.append((str(name), _groups((spec or {}).get("groups"))))
            for command in step.get("commands") or []:
                args = shlex.split(str(command))
                if len(args) >= 5 and os.path.basename(args[0]) == "ethtool" and args[1] == "-K":
                    nic = args[2]
                    if nic not in hostfs.NICS:
                        continue  # no such device: the command fails, the stage goes on
                    for feature, value in zip(args[3::2], args[4::2], strict=False):
                        long = {
                            "gro": "generic-receive-offload",
                            "gso": "generic-segmentation-offload",
                            "tso": "tcp-segmentation-offload",
                            "lro": "large-receive-offload",
                        }.get(feature, feature)
                        offloads.setdefault(nic, {})[long] = value


def boot(state_dir: Path, node: str, btime: int | None = None) -> None:
    """Reboot a simulated host: Elemental runs every /oem file (users, ethtool commands)."""
    users: list[tuple[str, list[str]]] = []
    offloads: dict[str, dict[str, str]] = {}
    for name in hostfs.listdir(state_dir, node, "oem"):
        if name.endswith((".yaml", ".yml")):
            _apply_file((hostfs.read(state_dir, node, f"oem/{name}") or b"").decode(), users, offloads)
    hostfs.write_users(state_dir, node, users)
    hostfs.write_offloads(state_dir, node, offloads)
    hostfs.write_boot_time(state_dir, node, btime if btime is not None else int(clock.now().timestamp()) + 1)


# -- seed -------------------------------------------------------------------------------------
def seed(cl: Cluster, spec: ProfileSpec, state_dir: Path, progress: Callable[[str], None]) -> None:
    """From v1.3.0: the articles' CloudInits, rendered, then every host rebooted to apply them."""
    if not served(spec):
        return
    grant_simulator(cl, "harvester-simulator-node-manager", RULES)
    for body in SEEDED:
        cl.apply(R.CLOUD_INITS, body, manager=MANAGER)
    reconcile(cl, Path(state_dir))
    for node in node_names(spec):
        boot(Path(state_dir), node)
    progress(f"{len(SEEDED)} CloudInits rendered into /oem and the hosts rebooted")


def ready(cl: Cluster, spec: ProfileSpec) -> bool:
    """Every CloudInit reports a rollout from every node."""
    if not served(spec):
        return True
    nodes = set(node_names(spec))
    return all(nodes <= set((ci.get("status") or {}).get("rollouts") or {}) for ci in cl.list(R.CLOUD_INITS))


CONTROLLERS = [("harvester-node-manager-cloudinit", controller_factory, CONTROLLER_PERIOD)]
WEBHOOKS: list = []
API_GROUPS: list = []


# -- faults -----------------------------------------------------------------------------------
def state_dir_of(cl: Cluster) -> Path:
    return lifecycle.State.serving(cl.host).dir


def _user_file() -> str:
    return f"oem/{SEEDED[0]['spec']['filename']}"


def _cin01(cl: Cluster) -> None:
    """node-manager stops on one node (its pod crash-looping), then the user file goes there."""
    state_dir = state_dir_of(cl)
    set_agent_down(state_dir, FAULT_NODE, True)
    hostfs.remove(state_dir, FAULT_NODE, _user_file())


def _cin01_revert(cl: Cluster) -> None:
    """node-manager back: the file is rendered again, and the node rebooted to apply it."""
    state_dir = state_dir_of(cl)
    set_agent_down(state_dir, FAULT_NODE, False)
    settle(cl, state_dir)
    boot(state_dir, FAULT_NODE)


def _set_contents(cl: Cluster, contents: str | None) -> None:
    ci = cl.get(R.CLOUD_INITS, USER_CLOUDINIT)
    assert ci is not None, f"CloudInit {USER_CLOUDINIT} does not exist"
    ann = ci["metadata"].get("annotations") or {}
    if contents is None:  # revert
        if ORIGINAL_ANNOTATION not in ann:
            return
        original = json.loads(ann[ORIGINAL_ANNOTATION])
        cl.patch(
            R.CLOUD_INITS,
            USER_CLOUDINIT,
            {"metadata": {"annotations": {ORIGINAL_ANNOTATION: None}}, "spec": {"contents": original}},
        )
        return
    saved = ann.get(ORIGINAL_ANNOTATION, json.dumps(ci["spec"]["contents"]))
    cl.patch(
        R.CLOUD_INITS,
        USER_CLOUDINIT,
        {"metadata": {"annotations": {ORIGINAL_ANNOTATION: saved}}, "spec": {"contents": contents}},
    )


def _cin02(cl: Cluster) -> None:
    _set_contents(cl, USER_CONTENTS.replace("groups: [users, admin]", "groups: [users]"))
    settle(cl, state_dir_of(cl))


def _cin02_revert(cl: Cluster) -> None:
    """The contents fixed, rendered again, and every node rebooted (the article's last step)."""
    _set_contents(cl, None)
    state_dir = state_dir_of(cl)
    settle(cl, state_dir)
    for node in sorted(n["metadata"]["name"] for n in cl.list(R.NODES)):
        boot(state_dir, node)


def _off01(cl: Cluster) -> None:
    """The node rebooted, and the network stage's ethtool commands failed (the NIC not up yet)."""
    state_dir = state_dir_of(cl)
    hostfs.write_offloads(state_dir, FAULT_NODE, {})
    hostfs.write_boot_time(state_dir, FAULT_NODE, int(clock.now().timestamp()) + 1)


def _off01_revert(cl: Cluster) -> None:
    boot(state_dir_of(cl), FAULT_NODE)


_WHY_NOT = "the CloudInit API is served from Harvester v1.3.0 (node-manager v0.2.0)"
FAULTS: list[Fault] = [
    Fault(
        "CIN-01",
        f"node-manager down on {FAULT_NODE} and {_user_file()} gone there",
        _cin01,
        _cin01_revert,
        objects=(f"CloudInit {USER_CLOUDINIT}", f"Node {FAULT_NODE}"),
        releases=(SINCE, ""),
        why_not=_WHY_NOT,
    ),
    Fault(
        "CIN-02",
        f"CloudInit {USER_CLOUDINIT} edited: test-user no longer in the admin group",
        _cin02,
        _cin02_revert,
        objects=(f"CloudInit {USER_CLOUDINIT}",),
        releases=(SINCE, ""),
        why_not=_WHY_NOT,
    ),
    Fault(
        "OFF-01",
        f"{FAULT_NODE} rebooted with the network stage's ethtool commands failing: GRO/GSO on for {hostfs.VM_NET_NIC}",
        _off01,
        _off01_revert,
        objects=(f"CloudInit {OFFLOAD_CLOUDINIT}", f"Node {FAULT_NODE}"),
        releases=(SINCE, ""),
        why_not=_WHY_NOT,
    ),
]
