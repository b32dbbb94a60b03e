"""The node probe's backends for real: the simulated backend on the emulated cluster's hosts,
the pod backend against the emulated cluster's real apiserver (kwok runs no container, so the
pod is checked as an object, and a read must end in a ProbeError), and the SSH backend against
a real sshd on a loopback port when this machine has one."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from harvester_conformance.changes import RUN_LABEL
from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster
from harvester_conformance.probes import NodeProbe, ProbeError, ProbeSettings, ProbeUnavailable, make_probe
from harvester_conformance.probes.parsers import (
    arg_values,
    covering_mount,
    module_loaded,
    parse_cloud_config,
    parse_cmdline,
    parse_ethtool_features,
    parse_grub_menuentries,
    parse_mountinfo,
    parse_os_release,
    parse_pem_certificates,
    parse_proc_modules,
    require_menuentries,
)
from harvester_conformance.probes.pod import HOST_ROOT, PodProbe
from harvester_conformance.probes.simulated import SimulatedProbe
from harvester_conformance.probes.ssh import SshProbe, SshTarget
from harvester_conformance.waits import wait_for

PROFILE = "v1.3.1"
GRUB = "/run/initramfs/cos-state/grub2/grub.cfg"
SERVING = "/var/lib/rancher/rke2/server/tls/serving-kube-apiserver.crt"
IBFT = "/sys/firmware/ibft/initiator/initiator-name"


@pytest.fixture(scope="module")
def cluster(emulated) -> Iterator[tuple[Cluster, Path]]:
    c = emulated(PROFILE)
    cl = Cluster.from_kubeconfig(str(c.kubeconfig))
    yield cl, c.state.dir / "hosts"
    cl.close()


@pytest.fixture(scope="module")
def nodes(cluster) -> list[str]:
    names = sorted(n["metadata"]["name"] for n in cluster[0].list(R.NODES))
    assert names
    return names


# -- simulated ----------------------------------------------------------------------------------
def test_simulated_backend_reads_the_emulated_hosts(cluster, nodes) -> None:
    cl, hosts_dir = cluster
    assert (hosts_dir / "README.md").is_file()
    probe = make_probe(
        ProbeSettings(backend="simulated", hosts_dir=hosts_dir), cluster=None, namespace=None, run_id="t"
    )
    assert isinstance(probe, SimulatedProbe)
    for node in nodes:
        files = probe.read(
            node, ["/proc/cmdline", GRUB, "/etc/os-release", "/proc/modules", SERVING, IBFT, "/no/such/file"]
        )
        assert files["/no/such/file"] is None
        args = parse_cmdline(files["/proc/cmdline"])
        assert arg_values(args, "root") == ["LABEL=COS_STATE"], node
        # Only a host booted from iSCSI (iBFT in sysfs) carries the iSCSI article's arguments.
        assert arg_values(args, "rd.iscsi.firmware") == ([None] if files[IBFT] else []), node
        entries = require_menuentries(parse_grub_menuentries(files[GRUB]), f"{node}:{GRUB}")
        assert len(entries) >= 3  # active, fallback, recovery at least
        assert all(PROFILE in e.title and e.linux for e in entries)
        assert all("$kernelcmd" in e.linux[0].args for e in entries)
        assert parse_os_release(files["/etc/os-release"])["VERSION"] == PROFILE
        assert module_loaded(parse_proc_modules(files["/proc/modules"]), "kvm")
        certs = parse_pem_certificates(files[SERVING])
        assert certs[0].subject.rfc4514_string() == "CN=kube-apiserver"
    probe.close()


def test_simulated_backend_lists_directories_and_answers_unit_states(cluster, nodes) -> None:
    probe = SimulatedProbe(cluster[1])
    for node in nodes:
        got = probe.collect(
            node,
            files=["/etc/multipath.conf", "/proc/1/mountinfo"],
            dirs=["/oem", "/sys/block", "/sys/block/sdc/device", "/etc/multipath.conf", "/no/such/dir"],
            units=["multipathd.service", "rke2-server.service", "nosuch.service"],
        )
        assert b'vendor "!NETAPP"' in got.files["/etc/multipath.conf"]
        mounts = parse_mountinfo(got.files["/proc/1/mountinfo"])
        assert covering_mount(mounts, "/var/lib/kubelet/pods").fstype == "ext4"  # persisted by Harvester
        assert covering_mount(mounts, "/var/lib/rook").fstype == "overlay"  # not persisted by default
        assert {"90_custom.yaml", "99_multipathd.yaml"} <= set(got.dirs["/oem"])
        assert {"sda", "sdc"} <= set(got.dirs["/sys/block"])
        assert {"vendor", "model"} <= set(got.dirs["/sys/block/sdc/device"])
        assert got.dirs["/etc/multipath.conf"] is None and got.dirs["/no/such/dir"] is None
        multipathd = got.units["multipathd.service"]
        assert multipathd.found and multipathd.enabled and multipathd.running
        assert got.units["rke2-server.service"].running
        assert not got.units["nosuch.service"].found
        oem = parse_cloud_config(probe.read_one(node, "/oem/99_multipathd.yaml"))
        assert [stage for stage, _ in oem.stages] == ["initramfs"]  # the article as revised on 2026-02-17
        assert probe.units(node, ["multipathd.service"]) == {"multipathd.service": multipathd}
        assert probe.listdir(node, ["/oem"])["/oem"] == got.dirs["/oem"]


def test_a_probe_that_only_reads_files_refuses_more() -> None:
    class FilesOnly(NodeProbe):
        backend = "files-only"

        def read(self, node: str, paths) -> dict[str, bytes | None]:
            return dict.fromkeys(paths)

    probe = FilesOnly()
    assert probe.collect("n", files=["/etc/hostname"]).files == {"/etc/hostname": None}
    with pytest.raises(ProbeError, match="files-only node probe cannot list directories or read unit states"):
        probe.units("n", ["multipathd.service"])
    with pytest.raises(ValueError, match="not a systemd unit name"):
        probe.units("n", ["multipathd; reboot"])


def test_simulated_backend_reports_an_unknown_node(cluster) -> None:
    probe = SimulatedProbe(cluster[1])
    with pytest.raises(ProbeError, match="no simulated host 'no-such-node'"):
        probe.read("no-such-node", ["/proc/cmdline"])
    with pytest.raises(ValueError, match="must not contain"):
        probe.read("x", ["/etc/../../../etc/passwd"])


# -- pod ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def probe_ns(cluster) -> Iterator[tuple[str, str]]:
    """A namespace of this test's own, labelled with its run ID, admitting privileged pods."""
    cl = cluster[0]
    run_id = f"probe-test-{secrets.token_hex(3)}"
    ns = f"hc-{run_id}"
    labels = {RUN_LABEL: run_id, "pod-security.kubernetes.io/enforce": "privileged"}
    cl.create(R.NAMESPACES, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": labels}})
    yield ns, run_id
    cl.delete(R.NAMESPACES, ns)
    wait_for("namespace-deleted", lambda: cl.get(R.NAMESPACES, ns) is None)
    assert cl.get(R.NAMESPACES, ns) is None


def test_pod_is_what_a_real_node_needs_and_cleanup_removes_it(cluster, nodes, probe_ns) -> None:
    cl, ns, run_id = cluster[0], *probe_ns
    probe = make_probe(ProbeSettings(), cluster=cl, namespace=ns, run_id=run_id)
    assert isinstance(probe, PodProbe)
    node = nodes[-1]
    name = probe.launch(node, ["/proc/cmdline", GRUB])
    pod = cl.get(R.PODS, name, ns)  # as the apiserver stored it, defaults and admission applied
    assert pod is not None
    spec = pod["spec"]
    assert pod["metadata"]["labels"][RUN_LABEL] == run_id
    assert spec["nodeName"] == node and spec["restartPolicy"] == "Never"
    assert spec["tolerations"] == [{"operator": "Exists"}]
    assert spec["automountServiceAccountToken"] is False
    assert [v["name"] for v in spec["volumes"]] == ["host-root"]  # no service-account token volume injected
    assert spec["volumes"][0]["hostPath"] == {"path": "/", "type": "Directory"}
    [container] = spec["containers"]
    assert container["securityContext"]["privileged"] is True
    assert container["image"] == ProbeSettings().image
    assert container["volumeMounts"] == [{"name": "host-root", "mountPath": HOST_ROOT, "readOnly": True}]
    assert container["command"][:4] == ["chroot", HOST_ROOT, "/bin/sh", "-c"]
    assert "hc_read 1 /run/initramfs/cos-state/grub2/grub.cfg" in container["command"][4]
    body = probe.manifest(node, ["/etc/multipath.conf"], ["/oem"], ["multipathd.service"])
    script = body["spec"]["containers"][0]["command"][4]
    assert "hc_read 0 /etc/multipath.conf\n" in script and "hc_list 1 /oem\n" in script
    assert "hc_unit 2 multipathd.service\n" in script and "SYSTEMD_IGNORE_CHROOT=1" in script
    assert spec["activeDeadlineSeconds"] > 0
    probe.close()
    assert cl.get(R.PODS, name, ns) is None
    assert probe.live == set()


def test_pod_read_on_kwok_ends_in_probe_error_and_leaves_nothing(cluster, nodes, probe_ns, monkeypatch) -> None:
    monkeypatch.setenv("HC_TIMEOUT_SCALE", "0.05")  # node-probe: 9 s, object-deleted: 3 s
    cl, ns, run_id = cluster[0], *probe_ns
    probe = PodProbe(cl, ns, run_id)
    started = time.monotonic()
    with pytest.raises(ProbeError, match=rf"{nodes[0]}: probe pod {ns}/hc-probe-\w+ did not finish"):
        probe.read(nodes[0], ["/proc/cmdline"])
    assert time.monotonic() - started < 60
    assert probe.live == set()
    assert cl.list(R.PODS, ns, label_selector=f"{RUN_LABEL}={run_id}") == []
    with pytest.raises(ProbeError, match="node no-such-node does not exist"):
        probe.read("no-such-node", ["/proc/cmdline"])
    probe.close()


# -- ssh (only where an sshd binary exists) ----------------------------------------------------------------
SSHD = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else None)


def _keypair(path: Path) -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
    )
    path.chmod(0o600)
    return key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory) -> Iterator[tuple[int, Path, Path]]:
    """A real sshd on a loopback port, accepting one fresh key for the current user; yields
    (port, client key file, known_hosts file)."""
    if SSHD is None or os.geteuid() != 0:
        pytest.skip("no sshd binary on this machine (or not root): the SSH end-to-end test needs one")
    d = tmp_path_factory.mktemp("sshd")
    port = _free_port()
    host_pub = _keypair(d / "host_key")
    (d / "authorized_keys").write_text(_keypair(d / "client_key") + "\n")
    (d / "known_hosts").write_text(f"[127.0.0.1]:{port} {host_pub}\n")
    (d / "sshd_config").write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {d / 'host_key'}\nPidFile {d / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\nUsePAM no\nStrictModes no\n"
    )
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
    with open(d / "sshd.log", "w") as log:
        proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(d / "sshd_config")], stdout=log, stderr=log)
    try:

        def listening() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"sshd exited: {(d / 'sshd.log').read_text()[-300:]}")
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", port)) == 0

        wait_for("sshd-listening", listening, timeout=15)
        yield port, d / "client_key", d / "known_hosts"
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_ssh_backend_reads_files_from_a_real_sshd(sshd, tmp_path) -> None:
    port, key, known = sshd
    (tmp_path / "grub.cfg").write_bytes(b'menuentry "A" --id a {\n  linux /vmlinuz root=LABEL=COS_STATE\n}\n')
    wanted = ["/proc/cmdline", str(tmp_path / "grub.cfg"), str(tmp_path / "absent")]
    user = os.environ.get("USER") or "root"
    probe = SshProbe({"node-1": SshTarget("127.0.0.1", port)}, user=user, key_file=key, known_hosts=known)
    try:
        first = probe.read("node-1", wanted)
        again = probe.read("node-1", wanted[:1])  # the same connection, a second command
    finally:
        probe.close()
    assert first["/proc/cmdline"] == Path("/proc/cmdline").read_bytes() == again["/proc/cmdline"]
    assert parse_grub_menuentries(first[wanted[1]])[0].has_arg("root")
    assert first[wanted[2]] is None


def test_ssh_backend_rejects_unknown_and_changed_host_keys(sshd, tmp_path) -> None:
    port, key, _ = sshd
    user = os.environ.get("USER") or "root"
    hosts = {"node-1": SshTarget("127.0.0.1", port)}
    other = tmp_path / "known_hosts"
    other.write_text(f"[127.0.0.1]:{port} {_keypair(tmp_path / 'other')}\n")
    with pytest.raises(ProbeError, match="host key does not match known_hosts"):
        SshProbe(hosts, user=user, key_file=key, known_hosts=other).read("node-1", ["/proc/cmdline"])
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    with pytest.raises(ProbeError, match="not found in known_hosts"):
        SshProbe(hosts, user=user, key_file=key, known_hosts=empty).read("node-1", ["/proc/cmdline"])
    insecure = SshProbe(hosts, user=user, key_file=key, insecure=True)
    assert insecure.read("node-1", ["/proc/cmdline"])["/proc/cmdline"]
    insecure.close()
    with pytest.raises(ProbeUnavailable, match="no SSH address for node node-2"):
        insecure.read("node-2", ["/proc/cmdline"])


# -- NIC offloads (`ethtool -k`, OFF-01) ----------------------------------------------------------
def test_nic_names_are_validated_before_any_backend_runs() -> None:
    from harvester_conformance.probes.base import check_nics

    assert check_nics(["eno2", "enp3s0f1np1", "vm-net-bo", "eth0.100"]) == [
        "eno2",
        "enp3s0f1np1",
        "vm-net-bo",
        "eth0.100",
    ]
    for bad in ("-K", "eno2; reboot", "a/b", "..", "x" * 16, "", "eno 2", "$(id)"):
        with pytest.raises(ValueError, match="not a network interface name"):
            check_nics([bad])
    with pytest.raises(ValueError, match="not one string"):
        check_nics("eno2")


def test_script_reads_offloads_between_markers_and_reports_a_missing_nic(tmp_path) -> None:
    from harvester_conformance.probes.script import build_script, host_read, parse_output

    script = build_script(["/etc/hostname"], nics=["hcnosuchnic0"])
    assert 'ethtool -k "$2"' in script and "nsenter --net=/proc/1/ns/net" in script
    assert "hc_offloads 1 hcnosuchnic0" in script
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout
    got = host_read(parse_output(out, ["/etc/hostname"], nics=["hcnosuchnic0"]))
    assert got.offloads == {"hcnosuchnic0": None}


def test_script_output_with_an_offload_block_parses() -> None:
    import base64

    from harvester_conformance.probes.script import MARK, parse_output

    payload = base64.b64encode(b"Features for eno2:\ngeneric-receive-offload: off\n").decode()
    text = f"{MARK} begin 0\n{payload}\n{MARK} end 0 ok\n{MARK} begin 1\n{MARK} end 1 error\n{MARK} done\n"
    out = parse_output(text, [], nics=["eno2", "eno3"])
    assert out.offloads == {"eno2": b"Features for eno2:\ngeneric-receive-offload: off\n"}
    assert "NIC eno3" in out.error_text()


def test_simulated_backend_prints_offloads_as_ethtool_does(tmp_path) -> None:
    root = tmp_path / "n0"
    (root / "sys/class/net/eno2").mkdir(parents=True)
    (root / "offloads.json").write_text('{"eno2": {"generic-receive-offload": "off"}}')
    got = SimulatedProbe(tmp_path).collect("n0", offloads=["eno2", "eno9"]).offloads
    assert got["eno9"] is None
    features = parse_ethtool_features(got["eno2"])
    assert not features["generic-receive-offload"].on and features["generic-segmentation-offload"].on
    with pytest.raises(ValueError, match="not a network interface name"):
        SimulatedProbe(tmp_path).collect("n0", offloads=["../x"])


def test_files_only_probe_refuses_offloads() -> None:
    class FilesOnly(NodeProbe):
        backend = "files-only"

        def read(self, node: str, paths) -> dict[str, bytes | None]:
            return dict.fromkeys(paths)

    with pytest.raises(ProbeError, match="NIC offloads"):
        FilesOnly().offloads("n", ["eno2"])
