"""`harvester-conformance images` (issue 17, air-gapped labs): it lists every image the suite may
run on a cluster, as remapped by the options, and the suite's code creates containers from no
other image."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from harvester_conformance.cli import main
from harvester_conformance.probes.pod import DEFAULT_IMAGE, probe_pod

from .conftest import ROOT

MIRROR = "registry.lab.example:5000/opensuse/leap:15.4"


def test_images_lists_the_probe_image_and_its_mirror(capsys) -> None:
    assert main(["images", "--format", "json"]) == 0
    assert [r["image"] for r in json.loads(capsys.readouterr().out)] == [DEFAULT_IMAGE]
    assert main(["images", "--probe-image", MIRROR]) == 0
    out = capsys.readouterr().out
    assert out.startswith(MIRROR + "\t") and "--probe-image" in out
    # The probe runs what the option names.
    pod = probe_pod(name="p", namespace="ns", node="n0", run_id="r", image=MIRROR, script="true")
    assert [c["image"] for c in pod["spec"]["containers"]] == [MIRROR]


def _image_keys(path: Path) -> list[int]:
    """Lines where a dict literal sets an "image" key (a container the code would create)."""
    tree = ast.parse(path.read_text())
    return [
        key.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Dict)
        for key in node.keys
        if isinstance(key, ast.Constant) and key.value == "image"
    ]


def test_the_suite_creates_containers_only_from_listed_images() -> None:
    suite = [p for p in (ROOT / "src" / "harvester_conformance").rglob("*.py") if "emulator" not in p.parts]
    suite += list((ROOT / "conformance").rglob("*.py"))
    found = {str(p.relative_to(ROOT)): lines for p in suite if (lines := _image_keys(p))}
    assert set(found) == {"src/harvester_conformance/probes/pod.py", "src/harvester_conformance/cli.py"}, found
