"""Build (or find cached) control-plane binaries; a failure names the step and how to retry."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from harvester_conformance.emulator import versions

SCRIPT = Path(__file__).with_name("build_control_plane.sh")


class BuildError(Exception):
    """The control plane could not be built; the message names the missing piece or failing step."""


def binaries_present(bin_dir: Path | None = None) -> bool:
    d = bin_dir or versions.bin_dir()
    return all(os.access(d / b, os.X_OK) for b in versions.BINARIES)


def ensure_binaries(progress=lambda msg: print(msg, file=sys.stderr)) -> Path:
    bin_dir = versions.bin_dir()
    if binaries_present(bin_dir):
        return bin_dir
    if shutil.which("go") is None:
        raise BuildError(
            "the Go toolchain is missing: install Go >= 1.24 (your distribution's golang package) so that the "
            "emulated cluster's control plane can be built, or pass --kubeconfig for a real cluster"
        )
    progress(
        f"building the control plane (Kubernetes {versions.KUBERNETES}, etcd {versions.ETCD}, "
        f"kwok {versions.KWOK}) into {bin_dir}; first time only, several minutes"
    )
    env = {
        **os.environ,
        "K8S_VERSION": versions.KUBERNETES,
        "ETCD_VERSION": versions.ETCD,
        "KWOK_VERSION": versions.KWOK,
        "HC_BIN_DIR": str(bin_dir),
    }
    started = time.monotonic()
    proc = subprocess.Popen(["bash", str(SCRIPT)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail: list[str] = []
    assert proc.stdout
    for line in proc.stdout:
        line = line.rstrip()
        tail = (tail + [line])[-15:]
        if line.startswith("[build]"):
            progress(f"{line} ({time.monotonic() - started:.0f}s)")
    code = proc.wait()
    if code != 0:
        detail = "\n  ".join(tail)
        hint = ""
        if any("dial tcp" in t or "no such host" in t or "GOPROXY" in t for t in tail):
            hint = " (the Go module proxy is unreachable: check GOPROXY and the network)"
        raise BuildError(f"control-plane build failed{hint}; last output:\n  {detail}")
    return bin_dir
