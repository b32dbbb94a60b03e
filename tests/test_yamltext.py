"""The suite's YAML loader: libyaml's when PyYAML has it, and the same data as `yaml.safe_load`."""

from __future__ import annotations

import pytest
import yaml

from harvester_conformance import yamltext

DOCS = [
    "#cloud-config\npassword: x\nchpasswd: { expire: False }\nruncmd:\n  - [ip, route]\n",
    "network:\n  version: 2\n  ethernets:\n    enp1s0: {dhcp4: true, dhcp4-overrides: {use-routes: false}}\n",
    "a: 0o17\nb: 017\nc: yes\nd: 1_000\ne: 2026-12-05\nf: ~\n",  # YAML 1.1 scalars, as both resolve them
    b"stages:\n  initramfs:\n    - commands: [ethtool -K enp1s0 tso off]\n",
]


def test_libyaml_is_used_when_pyyaml_has_it() -> None:
    assert (yamltext._LOADER is yaml.CSafeLoader) is bool(yaml.__with_libyaml__)


@pytest.mark.parametrize("text", DOCS)
def test_the_data_is_what_safe_load_gives(text: str | bytes) -> None:
    assert yamltext.load(text) == yaml.safe_load(text)


def test_text_that_does_not_parse_raises_yaml_error_with_its_place() -> None:
    with pytest.raises(yaml.YAMLError) as err:
        yamltext.load("stages:\n  - [unclosed\n")
    assert err.value.problem_mark is not None
    with pytest.raises(yaml.YAMLError):
        yamltext.load("!!python/object:os.system x")  # no tag beyond YAML's own
