"""OFF-01 without a cluster: the ethtool commands a CloudInit runs, and the NICs' offload state
as `ethtool -k` prints it."""

from __future__ import annotations

from harvester_conformance.checks import nic_offloads as off
from harvester_conformance.emulator.areas import cloud_init_files as area

OFF = b"Features for eno2:\ngeneric-segmentation-offload: off\ngeneric-receive-offload: off\n"
ON = b"Features for eno2:\ngeneric-segmentation-offload: on\ngeneric-receive-offload: on [fixed]\n"


def ci(contents: str = area.OFFLOAD_CONTENTS, **spec) -> dict:
    return {
        "metadata": {"name": "disable-offloads"},
        "spec": {"matchSelector": {}, "filename": "99_disable_offloads.yaml", "contents": contents, **spec},
    }


def test_the_articles_commands_turn_gro_and_gso_off() -> None:
    assert off.turned_off(ci()) == {"eno2": ["generic-receive-offload", "generic-segmentation-offload"]}


def test_command_forms() -> None:
    text = (
        "stages:\n  network:\n    - commands:\n"
        "        - ethtool --offload ens1f0np0 gro off gso off tso on\n"
        "        - 'ip link set ens1f0np0 up && /sbin/ethtool -K ens1f1np1 lro off; echo done'\n"
        "        - ethtool -k eno1\n"
    )
    assert off.turned_off(ci(text)) == {
        "ens1f0np0": ["generic-receive-offload", "generic-segmentation-offload"],
        "ens1f1np1": ["large-receive-offload"],
    }
    assert off.turned_off(ci("#cloud-config\nusers: []\n")) == {}
    assert off.offload_cloudinits([ci(), ci(paused=True)]) == [ci()]


def test_nics_read_only_where_selected_and_valid() -> None:
    selective = ci(area.OFFLOAD_CONTENTS.replace("eno2", "eno2;x"))
    selective["spec"]["matchSelector"] = {"role": "a"}
    labels = {"n0": {"role": "a"}, "n1": {}}
    assert off.nics_to_read([ci()], labels) == {"n0": ["eno2"], "n1": ["eno2"]}
    assert off.nics_to_read([selective], labels) == {}


def test_offloads_off_pass_and_on_or_missing_nic_fail() -> None:
    assert off.check_node(ci(), "n0", {"eno2": OFF}) == []
    found = off.check_node(ci(), "n0", {"eno2": ON})
    assert len(found) == 2 and "fixed on by the driver" in found[0].message
    missing = off.check_node(ci(), "n1", {"eno2": None})
    assert len(missing) == 1 and "which the node does not have" in missing[0].message
    named = off.with_nodes(found + missing)
    assert [f.object for f in named[-2:]] == ["Node n0", "Node n1"]


def test_unparsable_output_and_unlisted_feature_are_findings() -> None:
    assert "does not begin" in off.check_node(ci(), "n0", {"eno2": b"garbage"})[0].message
    partial = b"Features for eno2:\ngeneric-receive-offload: off\n"
    assert "does not list generic-segmentation-offload" in off.check_node(ci(), "n0", {"eno2": partial})[0].message
