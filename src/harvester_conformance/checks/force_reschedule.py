"""Force reschedule of non-ready VMs during a node outage (article 2025-09-08): FRS-01.

When a node stops reporting Ready, Harvester's node-down controller waits `period` seconds of the
`vm-force-reset-policy` setting, then force-deletes the node's virt-launcher pods so that their
VMs start elsewhere; with `enable` false it never does (HV
`pkg/controller/master/node/node_down_controller.go`, v1.2.1 … v1.8.2). The controller reads the
setting's effective value (`value`, else `default`) through `DecodeVMForceResetPolicy`, which this
module reproduces per release (HV `pkg/settings`):

- every release: Go's `json.Unmarshal` into {enable bool, period int64}: field names match without
  regard to case, unknown fields are ignored, `null` leaves the zero value, a number with a
  fraction or exponent is refused for an int64;
- from v1.4.0 (`settings_helper.go`, absent at v1.3.2): `period` must be above 0;
- from v1.7.0: a third field `vmMigrationTimeout` (int64, seconds), refused when negative, 0 read
  as 180.

A value the decoder refuses leaves the controller failing on every NotReady node: no VM is ever
force-reset. Defaults (`InitVMForceResetPolicy`): period 300 s up to v1.6.x, 15 s with
vmMigrationTimeout 180 s from v1.7.0. The article (written for v1.6) calls 5 minutes the default
and advises lowering it; a period above the running release's default, or a disabled policy,
delays or prevents the rescheduling it describes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from harvester_conformance.checks.findings import Finding

SETTING = "vm-force-reset-policy"
OBJECT = f"Setting {SETTING}"
PERIOD_CHECKED_SINCE = (1, 4, 0)
MIGRATION_TIMEOUT_SINCE = (1, 7, 0)
SHORT_DEFAULT_SINCE = (1, 7, 0)
DEFAULT_PERIOD_BEFORE_1_7 = 300
DEFAULT_PERIOD_FROM_1_7 = 15
DEFAULT_MIGRATION_TIMEOUT = 180
INT64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class Policy:
    """The decoded setting as the node-down controller uses it."""

    enable: bool
    period: int
    vm_migration_timeout: int | None  # None before v1.7.0, which has no such field


def default_period(release: tuple[int, ...]) -> int:
    """The release's built-in period in seconds (InitVMForceResetPolicy)."""
    return DEFAULT_PERIOD_FROM_1_7 if release >= SHORT_DEFAULT_SINCE else DEFAULT_PERIOD_BEFORE_1_7


def effective(setting: dict | None) -> str:
    """What `settings.VMForceResetPolicySet.Get()` returns: `value` when non-empty, else `default`."""
    s = setting or {}
    return s.get("value") or s.get("default") or ""


def _field(doc: dict, name: str) -> object:
    """Go's encoding/json matches a field name exactly first, then without regard to case."""
    if name in doc:
        return doc[name]
    for key, value in doc.items():
        if key.lower() == name.lower():
            return value
    return None


def _int64(value: object, name: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not INT64[0] <= value <= INT64[1]:
        raise ValueError(f"{name} is {json.dumps(value)}, which Go cannot read as an int64 number of seconds")
    return value


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def decode(text: str, release: tuple[int, ...]) -> Policy:
    """DecodeVMForceResetPolicy of `release`; ValueError says why it refuses `text`."""
    try:
        doc = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise ValueError(f"value {text!r} is not JSON ({exc})") from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ValueError(f"value is a JSON {type(doc).__name__}, expected an object")
    enable = _field(doc, "enable")
    if enable is not None and not isinstance(enable, bool):
        raise ValueError(f"enable is {json.dumps(enable)}, expected true or false")
    period = _int64(_field(doc, "period"), "period")
    if release >= PERIOD_CHECKED_SINCE and period <= 0:
        raise ValueError(f"period is {period}, which this release refuses (it must be above 0)")
    timeout = None
    if release >= MIGRATION_TIMEOUT_SINCE:
        timeout = _int64(_field(doc, "vmMigrationTimeout"), "vmMigrationTimeout")
        if timeout < 0:
            raise ValueError(f"vmMigrationTimeout is {timeout}, which this release refuses (it must not be negative)")
        timeout = timeout or DEFAULT_MIGRATION_TIMEOUT
    return Policy(bool(enable), period, timeout)


def _release(release: tuple[int, ...]) -> str:
    return "v" + ".".join(map(str, release))


def check_decodes(setting: dict | None, release: tuple[int, ...]) -> tuple[Policy | None, Finding | None]:
    """FRS-01, first half: the setting exists and the release's decoder reads it."""
    if setting is None:
        return None, Finding(OBJECT, "the setting does not exist: the node-down controller cannot read a policy")
    text = effective(setting)
    try:
        return decode(text, release), None
    except ValueError as exc:
        return None, Finding(
            OBJECT,
            f"Harvester {_release(release)} cannot decode the policy: {exc}; the node-down controller fails on "
            "every NotReady node, so no VM is force-reset",
        )


def check_policy(policy: Policy, release: tuple[int, ...]) -> list[Finding]:
    """FRS-01, advisory half: enabled, with a period no longer than the release's default."""
    if not policy.enable:
        return [
            Finding(
                OBJECT,
                "enable is false: VMs of a node that stops responding are never force-reset and rescheduled "
                "(they stay on the lost node until it returns)",
            )
        ]
    default = default_period(release)
    if policy.period > default:
        return [
            Finding(
                OBJECT,
                f"period is {policy.period} s, above the {default} s default of Harvester {_release(release)}: "
                f"VMs of an unreachable node wait {policy.period} s before they are rescheduled",
            )
        ]
    return []
