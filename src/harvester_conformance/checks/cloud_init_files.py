"""CloudInit files on the hosts (article "How to create an SSH user for Harvester nodes",
2025-09-16): a CloudInit resource (`node.harvesterhci.io/v1beta1`, cluster-scoped, from Harvester
v1.3.0: harvester-node-manager chart 0.2.x) is rendered by harvester-node-manager into
`/oem/<spec.filename>` on every node its `matchSelector` selects, and removed from the others.

Upstream (harvester/node-manager `pkg/controller/cloudinit/controller.go`, `pkg/cloudinit/cloudinit.go`,
the same from v0.2.0 to v1.8.2 but for the condition timestamps):
- the controller stores sha256(spec.contents) in the annotation `node.harvesterhci.io/cloudinit-hash`
  and rewrites the file when the file's sha256 differs (`RequireLocal`);
- `MatchesNode`: `labels.SelectorFromSet(matchSelector)`; an empty selector selects every node;
- `spec.paused`: only the status is updated; the file is neither written nor removed;
- each node reports `status.rollouts[<node>].conditions`: `Applicable` (True on a selected node),
  `Present` (True when the file exists; its lastTransitionTime the file's ctime when it changed)
  and `OutOfSync` (False with reason CloudInitChecksumMatch when the file's checksum equals the
  annotation; its lastTransitionTime the file's mtime when it changed). A condition whose status,
  reason and message did not change keeps its time, so a rewrite of a file that stays in sync
  leaves them alone; the rewrite is recorded by the Event `cloudinit-overwrite-<name>.<node>` in
  namespace `default` (its lastTimestamp), which the apiserver keeps for its event TTL (1 h).
- the webhook (`pkg/mutator`, `pkg/admitter`) makes the filename a base name ending in .yaml/.yml,
  unique across CloudInits, and not one of the installer's own files.

Elemental reads /oem at boot only, so what a file does (users it creates, commands it runs) holds
on nodes booted since the file was rendered. When a node booted is /proc/stat's `btime`; when the
file was rendered, the latest of the two condition times and the overwrite Event. A node not
booted since, or whose render time is unknown, is pending: judged after its next reboot.

The contents may hold password hashes and keys: no message quotes them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

import yaml

from harvester_conformance import yamltext
from harvester_conformance.checks.findings import Finding
from harvester_conformance.checks.timestamps import parse_time
from harvester_conformance.probes.parsers import parse_boot_time, parse_passwd_users

OEM = "/oem"
PROC_STAT = "/proc/stat"
USERS_FILE = "/etc/passwd"  # noqa: S105 - the file of user names, no secret
HASH_ANNOTATION = "node.harvesterhci.io/cloudinit-hash"
EVENT_NAMESPACE = "default"  # the controller's events: CloudInit is cluster-scoped
CLOUD_CONFIG_HEADER = "#cloud-config"
ADMIN_GROUP = "admin"
# A filename the webhook admits and a probe path can carry: a base name without NUL or line break.
_FILENAME = re.compile(r"[^/\x00\r\n]+")

Files = dict[str, bytes | None]


def name_of(ci: dict) -> str:
    return ci["metadata"]["name"]


def ref(ci: dict) -> str:
    return f"CloudInit {name_of(ci)}"


def spec_of(ci: dict) -> dict:
    return ci.get("spec") or {}


def paused(ci: dict) -> bool:
    return bool(spec_of(ci).get("paused"))


def oem_path(ci: dict) -> str | None:
    """`/oem/<filename>`, or None for a filename no node-manager would write (not a base name)."""
    filename = str(spec_of(ci).get("filename") or "")
    if not _FILENAME.fullmatch(filename) or filename in (".", ".."):
        return None
    return f"{OEM}/{filename}"


def oem_paths(cloudinits: Iterable[dict]) -> list[str]:
    """The host paths the CloudInits render to (the probe reads them on every node)."""
    return sorted({p for p in (oem_path(ci) for ci in cloudinits) if p})


def selects(ci: dict, labels: dict[str, str]) -> bool:
    """node-manager's MatchesNode: every key of matchSelector has that value on the node."""
    selector = spec_of(ci).get("matchSelector") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def expected_hash(ci: dict) -> str:
    """The checksum node-manager compares the file with: its annotation, or (before the controller
    has annotated the object) sha256 of spec.contents."""
    annotated = ((ci["metadata"].get("annotations") or {}).get(HASH_ANNOTATION) or "").lower()
    return annotated or hashlib.sha256(str(spec_of(ci).get("contents") or "").encode()).hexdigest()


def _conditions(ci: dict, node: str) -> dict[str, dict]:
    rollout = ((ci.get("status") or {}).get("rollouts") or {}).get(node) or {}
    return {c.get("type", ""): c for c in rollout.get("conditions") or []}


def _overwrite_event(events: Iterable[dict], ci: dict, node: str) -> dict | None:
    name = f"cloudinit-overwrite-{name_of(ci)}.{node}"
    return next((e for e in events if e["metadata"].get("name") == name), None)


def rendered_at(ci: dict, node: str, events: Iterable[dict] = ()) -> dt.datetime | None:
    """When node-manager last wrote the CloudInit's file on `node`, as far as the API tells: the
    latest of the Present/OutOfSync condition times and the overwrite Event's last time; None
    when the node reported no rollout."""
    times = []
    for kind in ("Present", "OutOfSync"):
        stamp = _conditions(ci, node).get(kind, {}).get("lastTransitionTime")
        when = parse_time(stamp) if stamp else None
        if when is not None:
            times.append(when)
    event = _overwrite_event(events, ci, node)
    if event is not None:
        stamp = (
            event.get("lastTimestamp") or event.get("eventTime") or (event.get("series") or {}).get("lastObservedTime")
        )
        when = parse_time(stamp) if stamp else None
        if when is not None:
            times.append(when)
    return max(times) if times else None


def boot_time(files: Files) -> dt.datetime | None:
    """The node's boot time (/proc/stat btime); None when it could not be read."""
    raw = files.get(PROC_STAT)
    if raw is None:
        return None
    return dt.datetime.fromtimestamp(parse_boot_time(raw), dt.UTC)


@dataclass(frozen=True)
class Boot:
    """Whether a node has run the CloudInit's file: booted after it was rendered."""

    node: str
    booted: dt.datetime | None
    rendered: dt.datetime | None

    @property
    def since_render(self) -> bool:
        return self.booted is not None and self.rendered is not None and self.booted > self.rendered

    def pending_note(self, ci: dict) -> str:
        if self.rendered is None:
            return f"{self.node} ({name_of(ci)}: no rollout reported)"
        if self.booted is None:
            return f"{self.node} (boot time unknown)"
        stamp = "%Y-%m-%dT%H:%M:%SZ"
        return f"{self.node} (booted {self.booted:{stamp}}, {name_of(ci)} rendered {self.rendered:{stamp}})"


def boot_of(ci: dict, node: str, files: Files, events: Iterable[dict] = ()) -> Boot:
    """The node's boot against the CloudInit's render; a /proc/stat that does not parse raises
    ValueError (the caller reports the node)."""
    return Boot(node, boot_time(files), rendered_at(ci, node, events))


def booted_since_render(
    ci: dict, files_by_node: Mapping[str, Files], labels: Mapping[str, dict[str, str]], events: Iterable[dict] = ()
) -> tuple[list[str], list[str]]:
    """The nodes `ci` selects that booted after it was rendered (those a check can judge), and a
    note for each other selected node (pending: not rebooted yet, or its boot time unreadable)."""
    events = list(events)
    judged, pending = [], []
    for node, files in sorted(files_by_node.items()):
        if not selects(ci, labels.get(node, {})):
            continue
        try:
            boot = boot_of(ci, node, files, events)
        except ValueError as exc:
            pending.append(f"{node} ({exc})")
            continue
        if boot.since_render:
            judged.append(node)
        else:
            pending.append(boot.pending_note(ci))
    return judged, pending


def active(cloudinits: Iterable[dict]) -> list[dict]:
    """The CloudInits node-manager acts on (not paused), by name."""
    return sorted((ci for ci in cloudinits if not paused(ci)), key=name_of)


# -- CIN-01 ------------------------------------------------------------------------------------
def _status_problem(ci: dict, node: str) -> str | None:
    conds = _conditions(ci, node)
    if not conds:
        return "status.rollouts has no entry for the node (node-manager has not reported)"
    present, out_of_sync = conds.get("Present", {}), conds.get("OutOfSync", {})
    if present.get("status") != "True" or out_of_sync.get("status") != "False":
        reason = out_of_sync.get("reason") or present.get("reason") or "-"
        return (
            f"status.rollouts reports Present={present.get('status', 'missing')} "
            f"OutOfSync={out_of_sync.get('status', 'missing')} ({reason})"
        )
    return None


def rollout_problems(ci: dict, node: str, labels: dict[str, str], files: Files) -> list[str]:
    """What is wrong with one active CloudInit on one read node (empty: in sync)."""
    path = oem_path(ci)
    if path is None:
        return [f"spec.filename {spec_of(ci).get('filename')!r} is not a file name node-manager can write under {OEM}"]
    data = files.get(path)
    if not selects(ci, labels):
        if data is not None:
            return [f"{path} is present although matchSelector does not select the node (node-manager removes it)"]
        return []
    if data is None:
        return [f"{path} is missing although matchSelector selects the node"]
    problems = []
    if hashlib.sha256(data).hexdigest() != expected_hash(ci):
        problems.append(f"{path} differs from spec.contents (sha256 does not match {HASH_ANNOTATION})")
    status = _status_problem(ci, node)
    if status:
        problems.append(status)
    return problems


def check_rollouts(
    cloudinits: Iterable[dict], node_labels: dict[str, dict[str, str]], hosts: dict[str, Files]
) -> list[Finding]:
    """CIN-01 on the read nodes: one finding per CloudInit and node out of sync, then one per such
    node (so that both the resource and the host are named)."""
    found: list[Finding] = []
    by_node: dict[str, list[str]] = {}
    for ci in active(cloudinits):
        for node in sorted(hosts):
            for problem in rollout_problems(ci, node, node_labels.get(node, {}), hosts[node]):
                found.append(Finding(ref(ci), f"on node {node}: {problem}"))
                by_node.setdefault(node, []).append(name_of(ci))
    for node, names in sorted(by_node.items()):
        listed = ", ".join(sorted(set(names)))
        found.append(Finding(f"Node {node}", f"/oem out of sync with CloudInit(s) {listed}"))
    return found


# -- CIN-02 ------------------------------------------------------------------------------------
def _load(ci: dict) -> object:
    try:
        return yamltext.load(str(spec_of(ci).get("contents") or ""))
    except yaml.YAMLError:
        return None


def _groups(value: object) -> list[str]:
    """cloud-init's `groups` of a user: a list, or a comma-separated string."""
    if isinstance(value, str):
        return [g.strip() for g in value.split(",") if g.strip()]
    if isinstance(value, list):
        return [str(g).strip() for g in value]
    return []


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...]
    cloud_config: bool  # declared in cloud-config `users` (else in a yip stage's `users`)


def _yip_users(doc: dict) -> Iterator[User]:
    for steps in (doc.get("stages") or {}).values() if isinstance(doc.get("stages"), dict) else ():
        for step in steps if isinstance(steps, list) else ():
            users = step.get("users") if isinstance(step, dict) else None
            for name, spec in users.items() if isinstance(users, dict) else ():
                yield User(str(name), tuple(_groups((spec or {}).get("groups"))), False)


def users_of(ci: dict) -> list[User]:
    """The users a CloudInit's contents create: cloud-config `users` entries (a mapping with
    `name`, or a bare name; cloud-init's `default` entry is not a user of its own) and yip stage
    steps' `users` (a mapping name -> spec)."""
    doc = _load(ci)
    if not isinstance(doc, dict):
        return []
    out = []
    for entry in doc.get("users") or [] if isinstance(doc.get("users"), list) else []:
        if isinstance(entry, str) and entry != "default":
            out.append(User(entry, (), True))
        elif isinstance(entry, dict) and entry.get("name"):
            out.append(User(str(entry["name"]), tuple(_groups(entry.get("groups"))), True))
    return out + list(_yip_users(doc))


def check_user_contents(ci: dict) -> list[Finding]:
    """CIN-02's statement on the resource: cloud-config users need `#cloud-config` as the first
    line (else Elemental's yip reads the file in its own format and creates none of them), and
    every user belongs to the admin group (the article: "User must be in the admin group")."""
    users = users_of(ci)
    found = []
    contents = str(spec_of(ci).get("contents") or "")
    first = contents.lstrip("\ufeff").split("\n", 1)[0].rstrip()
    if any(u.cloud_config for u in users) and first != CLOUD_CONFIG_HEADER:
        found.append(
            Finding(ref(ci), f"creates users but does not start with {CLOUD_CONFIG_HEADER!r}: no user is created")
        )
    outside = sorted(u.name for u in users if ADMIN_GROUP not in u.groups)
    if outside:
        found.append(Finding(ref(ci), f"user(s) {', '.join(outside)} not in the {ADMIN_GROUP!r} group"))
    return found


def creates_users(ci: dict) -> bool:
    return bool(users_of(ci))


def missing_users(ci: dict, files: Files) -> list[str] | None:
    """The CloudInit's users absent from the node's /etc/passwd; None when it was not read."""
    raw = files.get(USERS_FILE)
    if raw is None:
        return None
    present = set(parse_passwd_users(raw))
    return sorted({u.name for u in users_of(ci)} - present)


def check_users_exist(ci: dict, node: str, files: Files) -> Finding | None:
    """CIN-02 on a selected node booted since the render: every user exists."""
    missing = missing_users(ci, files)
    if missing is None:
        return Finding(f"Node {node}", f"{USERS_FILE} could not be read (no such file)")
    if not missing:
        return None
    return Finding(
        f"Node {node}",
        f"user(s) {', '.join(missing)} of CloudInit {name_of(ci)} do not exist although the node booted "
        "since the file was rendered",
    )
