"""Longhorn's data-engine-specific settings (facts-releases.md R4.1), for the seed and the webhooks.

From Longhorn 1.10.0 a setting whose `SettingDefinition.DataEngineSpecific` is true holds a JSON
map keyed by data engine, e.g. `default-replica-count` = `{"v1":"3","v2":"3"}` (LM
`types/setting.go` @v1.10.2, @v1.11.2). The mutating webhook (`webhook/resources/setting/mutator.go`,
new in 1.10.0, calling `datastore.GetSettingValidValue`) turns a plain value into that map for
every engine of the default and drops engines the default lacks; the validator
(`types.ValidateSetting`: `validateSettingBool/Int/Float/String`) then refuses a map whose engines
differ from the default's ("mismatched data engines"), values that do not parse, and values
outside the definition's range or choices. Before 1.10 the same settings hold plain values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from harvester_conformance.emulator.areas.longhorn_model import settings, version

V1, V2 = "v1", "v2"


@dataclass(frozen=True)
class Definition:
    display: str
    type: str  # bool | int | float | string
    default: dict[str, str]
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = field(default_factory=tuple)


def _both(value: str) -> dict[str, str]:
    return {V1: value, V2: value}


# LM types/setting.go @v1.10.2: every definition with DataEngineSpecific true.
_V110: dict[str, Definition] = {
    "freeze-filesystem-for-snapshot": Definition("Freeze Filesystem For Snapshot", "bool", {V1: "false"}),
    "default-replica-count": Definition("Default Replica Count", "int", _both("3"), 1, 20),
    "disable-revision-counter": Definition("Disable Revision Counter", "bool", {V1: "true"}),
    "guaranteed-instance-manager-cpu": Definition("Guaranteed Instance Manager CPU", "float", _both("12"), 0, 40),
    "engine-replica-timeout": Definition("Engine Replica Timeout", "int", _both("8"), 8, 30),
    "snapshot-data-integrity": Definition(
        "Snapshot Data Integrity", "string", _both("fast-check"), choices=("disabled", "enabled", "fast-check")
    ),
    "snapshot-data-integrity-immediate-check-after-snapshot-creation": Definition(
        "Immediate Snapshot Data Integrity Check After Creating a Snapshot", "bool", _both("false")
    ),
    "snapshot-data-integrity-cronjob": Definition(
        "Snapshot Data Integrity Check CronJob", "string", _both("0 0 */7 * *")
    ),
    "fast-replica-rebuild-enabled": Definition("Fast Replica Rebuild Enabled", "bool", _both("true")),
    "data-engine-hugepage-enabled": Definition("Data Engine Hugepage Enabled", "bool", {V2: "true"}),
    "data-engine-memory-size": Definition("Data Engine Memory Size", "int", {V2: "2048"}, 0),
    "data-engine-cpu-mask": Definition("Data Engine CPU Mask", "string", {V2: "0x1"}),
    "data-engine-interrupt-mode-enabled": Definition("Enable Interrupt Mode for Data Engine", "bool", {V2: "false"}),
    "data-engine-log-level": Definition(
        "Data Engine Log Level", "string", {V2: "Notice"}, choices=("Error", "Warning", "Notice", "Info", "Debug")
    ),
    "data-engine-log-flags": Definition("Data Engine Log Flags", "string", {V2: ""}),
    "replica-rebuilding-bandwidth-limit": Definition("Replica Rebuilding Bandwidth Limit", "int", {V2: "0"}),
    "offline-replica-rebuilding": Definition("Offline Replica Rebuilding", "bool", _both("false")),
}
# LM types/setting.go @v1.11.2: three more, and offline-replica-rebuilding global again.
_V111: dict[str, Definition] = {
    **{k: v for k, v in _V110.items() if k != "offline-replica-rebuilding"},
    "replica-rebuild-concurrent-sync-limit": Definition(
        "Replica Rebuild Concurrent Sync Limit", "int", {V1: "1"}, 1, 5
    ),
    "default-ublk-queue-depth": Definition("Default Ublk Queue Depth", "int", {V2: "128"}, 32),
    "default-ublk-number-of-queue": Definition("Default Ublk Number Of Queue", "int", {V2: "1"}, 1),
}


def definitions(longhorn: str) -> dict[str, Definition]:
    """The data-engine-specific settings of a Longhorn release (none before 1.10)."""
    lh = version(longhorn)
    if lh >= (1, 11, 0):
        return _V111
    if lh >= (1, 10, 0):
        return _V110
    return {}


def encode(values: dict[str, str]) -> str:
    """Go's json.Marshal of map[DataEngineType]string: keys sorted, no spaces."""
    return json.dumps(dict(sorted(values.items())), separators=(",", ":"))


def _json_map(value: str) -> dict | None:
    """types.IsJSONFormat: the value decodes as a JSON object."""
    try:
        decoded = json.loads(value)
    except ValueError:
        return None
    return decoded if isinstance(decoded, dict) else None


def _parse_one(defn: Definition, text: str) -> str:
    """One engine's value as upstream parses and re-formats it (strconv.Parse*, Format*)."""
    raw = text.strip() if isinstance(text, str) else text
    if defn.type == "bool":
        lowered = str(raw)
        if lowered in ("1", "t", "T", "TRUE", "true", "True"):
            return "true"
        if lowered in ("0", "f", "F", "FALSE", "false", "False"):
            return "false"
        raise ValueError(f'strconv.ParseBool: parsing "{raw}": invalid syntax')
    if defn.type == "int":
        try:
            return str(int(str(raw), 10))
        except ValueError:
            raise ValueError(f'strconv.ParseInt: parsing "{raw}": invalid syntax') from None
    if defn.type == "float":
        try:
            number = float(str(raw))
        except ValueError:
            raise ValueError(f'strconv.ParseFloat: parsing "{raw}": invalid syntax') from None
        return str(int(number)) if number.is_integer() else repr(number)
    return str(raw)


def valid_value(defn: Definition, value: str) -> str:
    """datastore.GetSettingValidValue: a plain value for every engine of the default, or the given
    map less the engines the default lacks; ValueError as the mutator refuses."""
    given = _json_map(value)
    if given is None:
        one = _parse_one(defn, value)
        return encode({engine: one for engine in defn.default})
    if not all(isinstance(v, str) for v in given.values()):  # json.Unmarshal into map[..]string
        raise ValueError(f"failed to parse JSON-formatted value {value}")
    parsed = {engine: _parse_one(defn, v) for engine, v in given.items() if engine in defn.default}
    return encode(parsed)


def problem(name: str, defn: Definition, value: str) -> str | None:
    """types.ValidateSetting for a data-engine-specific setting: the error text, or None."""
    given = _json_map(value)
    if given is not None and not all(isinstance(v, str) for v in given.values()):
        return f"failed to parse value {value} for setting {defn.display}: failed to parse JSON-formatted value {value}"
    try:
        values = (
            {engine: _parse_one(defn, value) for engine in defn.default}
            if given is None
            else {str(k): _parse_one(defn, str(v)) for k, v in given.items()}
        )
    except ValueError as exc:
        return f"failed to parse value {value} for setting {defn.display}: {exc}"
    if not values:
        return f"failed to parse value {value} for setting {defn.display}, value cannot be empty"
    if len(values) != len(defn.default):
        return f"mismatched data engines for setting {defn.display}"
    for engine in values:
        if engine not in defn.default:
            return f"data engine {engine} is not supported for setting {defn.display}"
    for engine, text in sorted(values.items()):
        if defn.type in ("int", "float"):
            number = float(text)
            if defn.minimum is not None and number < defn.minimum:
                return f"value {text} for data engine {engine} should be larger than or equal to {_num(defn.minimum)}"
            if defn.maximum is not None and number > defn.maximum:
                return f"value {text} for data engine {engine} should be less than or equal to {_num(defn.maximum)}"
        if defn.choices and text not in defn.choices:
            return f"value {text} is not a valid choice, available choices {list(defn.choices)}"
    return None


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


# LM types/setting.go @v1.9.2: the same settings as plain values (the ones the emulator writes).
_V19 = {n: _V110[n] for n in ("default-replica-count", "disable-revision-counter", "engine-replica-timeout")}


def plain_problem(longhorn: str, name: str, value: str) -> str | None:
    """Before 1.10 (LM types/setting.go @v1.9.2 validateBool / validateInt): a plain value only,
    so a JSON map is refused too. The error text, or None."""
    defn = _V19.get(name)
    if defn is None or version(longhorn) >= (1, 10, 0):
        return None
    if defn.type == "bool" and value not in ("true", "false"):
        reason = f"value {value} should be true or false"
    elif defn.type == "int":
        number = int(value, 10) if value.strip().lstrip("-").isdigit() else None
        if number is None:
            reason = f"value {value} is not a number"
        elif defn.minimum is not None and number < defn.minimum:
            reason = f"value {number} should be larger than {_num(defn.minimum)}"
        elif defn.maximum is not None and number > defn.maximum:
            reason = f"value {number} should be less than {_num(defn.maximum)}"
        else:
            return None
    else:
        return None
    return f"value {value} of settings {name} is invalid: failed to validate the setting {name}: {reason}"


def refusal(name: str, value: str, reason: str) -> str:
    """The validator's message: DataStore.ValidateSetting wrapping types.ValidateSetting."""
    return (
        f"failed to validate setting {name} with invalid value {value}: "
        f"value {value} of settings {name} is invalid: {reason}"
    )


def stored(longhorn: str, name: str, value: str) -> str:
    """What a setting written as `value` holds at `longhorn` (the mutator's work from 1.10)."""
    defn = definitions(longhorn).get(name)
    return valid_value(defn, value) if defn else value


def stored_settings(longhorn: str, harvester: str) -> dict[str, str]:
    """The seeded settings as the release stores them: from 1.10 the data-engine-specific ones as
    JSON per engine, what the 1.10 mutator and the v1.9 -> v1.10 upgrade (GetSettingValidValue) write."""
    return {name: stored(longhorn, name, value) for name, value in settings(longhorn, harvester).items()}


def engine_value(raw: str, engine: str = V1) -> str:
    """One engine's value of a setting, plain or JSON (what longhorn-manager reads for a volume of
    that engine: datastore GetSettingAsIntByDataEngine and friends)."""
    given = _json_map(raw)
    if given is None:
        return raw
    return str(given.get(engine, ""))
