"""The simulated node-manager's view of a host file: read again only when the file changed."""

from __future__ import annotations

import os
from pathlib import Path

from harvester_conformance.emulator.areas import cloud_init_files as cif


def test_a_file_rewritten_in_place_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "99_settings.yaml"
    path.write_text("a: 1\n")
    first = cif.file_digest(path)
    assert first is not None and first[1] == cif.checksum("a: 1\n")
    path.write_text("a: 2\n")  # same size and inode, and within the timestamps' granularity
    second = cif.file_digest(path)
    assert second is not None and second[1] == cif.checksum("a: 2\n")


def test_an_aged_file_is_not_read_again_until_its_stat_changes(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "99_settings.yaml"
    path.write_text("a: 1\n")
    old = path.stat().st_mtime - 10
    os.utime(path, (old, old))
    assert cif.file_digest(path)[1] == cif.checksum("a: 1\n")  # type: ignore[index]
    reads: list[Path] = []
    real = Path.read_bytes

    def counting(self: Path) -> bytes:
        reads.append(self)
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", counting)
    assert cif.file_digest(path)[1] == cif.checksum("a: 1\n")  # type: ignore[index]
    assert reads == []
    path.write_text("a: 3\n")
    assert cif.file_digest(path)[1] == cif.checksum("a: 3\n")  # type: ignore[index]
    assert reads == [path]


def test_an_absent_file_or_a_directory_has_no_digest(tmp_path: Path) -> None:
    assert cif.file_digest(tmp_path / "gone.yaml") is None
    assert cif.file_digest(tmp_path) is None
