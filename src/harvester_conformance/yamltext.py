"""YAML text to plain data, for every part of the suite: libyaml's safe loader when PyYAML was built
with it (its wheels are), the pure-Python one otherwise. At 2,000 VMs the pure-Python loader was the
largest cost of a run beside the API's answers: every VM's cloud-init is parsed, to find what to
redact and what the checks read."""

from __future__ import annotations

from typing import Any

import yaml

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str | bytes) -> Any:
    """As `yaml.safe_load`: YAML's own types only, `yaml.YAMLError` on text that does not parse."""
    return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader, C or Python
