"""Parsers of host files, shared by every probe backend: pure functions on the files' real
formats, so a check sees the same data whether the bytes came from a pod, SSH or a simulated
host. Malformed input raises ValueError with a message a person can act on.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from cryptography import x509


def _text(data: str | bytes, what: str) -> str:
    if isinstance(data, bytes):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"{what} is not UTF-8 text: {exc}") from None
    return data


# -- kernel command line (/proc/cmdline) --------------------------------------------------------
def parse_cmdline(data: str | bytes) -> list[tuple[str, str | None]]:
    """Ordered (key, value) pairs of a kernel command line; value None for a bare flag.

    Follows the kernel's own splitter (lib/cmdline.c `next_arg`): blanks separate arguments,
    double quotes protect blanks (`key="a b"` and `"key=a b"` both give value `a b`), the first
    `=` splits key from value, repeated keys are kept in order (`arg_values`). An unterminated
    quote or an argument with no name is refused.
    """
    text = _text(data, "kernel command line")
    if "\x00" in text:
        raise ValueError("kernel command line contains NUL bytes (that is /proc/<pid>/cmdline, not /proc/cmdline)")
    s, pos, out = text.strip(), 0, []
    while pos < len(s):
        while pos < len(s) and s[pos].isspace():
            pos += 1
        if pos >= len(s):
            break
        quoted = s[pos] == '"'
        start = pos + 1 if quoted else pos
        in_quote, equals, i = quoted, -1, start
        while i < len(s) and (in_quote or not s[i].isspace()):
            if equals < 0 and s[i] == "=":
                equals = i
            if s[i] == '"':
                in_quote = not in_quote
            i += 1
        if in_quote:
            raise ValueError(f"unterminated quote in kernel command line: {s[pos:i]!r}")
        if equals < 0:
            key, value = s[start:i], None
            if quoted and key.endswith('"'):
                key = key[:-1]
        else:
            key, value = s[start:equals], s[equals + 1 : i]
            if value.startswith('"'):
                value = value[1:]
                if value.endswith('"'):
                    value = value[:-1]
            elif quoted and value.endswith('"'):
                value = value[:-1]
        if not key:
            raise ValueError(f"kernel command line argument without a name: {s[pos:i]!r}")
        out.append((key, value))
        pos = i
    return out


def arg_values(args: list[tuple[str, str | None]], key: str) -> list[str | None]:
    """Every value `key` was given, in order (None for the bare flag); [] when it is absent.
    For most kernel parameters the last one wins."""
    return [v for k, v in args if k == key]


# -- GRUB configuration (COS_STATE grub2/grub.cfg) ------------------------------------------------
LINUX_COMMANDS = ("linux", "linux16", "linuxefi")
_ENTRY_OPTIONS_WITH_VALUE = ("--class", "--users", "--hotkey", "--id", "--source")


@dataclass(frozen=True)
class LinuxLine:
    """One `linux` command of a menu entry: the kernel image and its arguments, unquoted but
    with GRUB variables (`$kernelcmd`, `${extra_cmdline}`) left unexpanded."""

    kernel: str
    args: tuple[str, ...]
    line: int

    @property
    def variables(self) -> tuple[str, ...]:
        """Arguments that name a GRUB variable: their value is set elsewhere (bootargs.cfg in
        the OS image), so a check cannot see what they expand to."""
        return tuple(a for a in self.args if "$" in a)

    def params(self) -> list[tuple[str, str | None]]:
        """The literal arguments as (key, value) pairs, variables left out."""
        return [(a.partition("=")[0], a.partition("=")[2] if "=" in a else None) for a in self.args if "$" not in a]


@dataclass(frozen=True)
class MenuEntry:
    title: str  # as written, GRUB variables unexpanded
    id: str | None
    submenu: tuple[str, ...]  # titles of the enclosing submenus, outermost first
    line: int
    linux: tuple[LinuxLine, ...]

    def has_arg(self, key: str) -> bool:
        """True when every `linux` line of the entry carries `key` (bare or key=value); False
        for an entry with no linux line."""
        return bool(self.linux) and all(key in (k for k, _ in ln.params()) for ln in self.linux)


def parse_grub_menuentries(data: str | bytes) -> list[MenuEntry]:
    """Every `menuentry` of a grub.cfg, in file order (entries inside `submenu` blocks
    included), with the arguments of its `linux` lines.

    An empty list means the file has no menuentry at all; that is a valid GRUB file (it may only
    chain another one), so the parser does not refuse it: a caller that needs entries calls
    `require_menuentries`, which raises ValueError naming the file. Unbalanced braces or quotes,
    and a menuentry without a title, raise ValueError with the line number.
    """
    tokens = _grub_tokens(_text(data, "grub.cfg"))
    entries: list[MenuEntry] = []
    pos = _grub_block(tokens, 0, (), entries, None, None)
    if pos != len(tokens):  # pragma: no cover - _grub_block consumes everything at top level
        raise ValueError(f"grub.cfg: unexpected text at line {tokens[pos][2]}")
    return entries


def require_menuentries(entries: list[MenuEntry], source: str) -> list[MenuEntry]:
    """`entries`, or ValueError when there are none (the caller names the file in `source`)."""
    if not entries:
        raise ValueError(f"{source}: no menuentry found; a persisted GRUB configuration needs at least one")
    return entries


def _grub_tokens(text: str) -> list[tuple[str, str, int]]:
    """(kind, value, line) with kind word|sep|lbrace|rbrace, as GRUB's shell-like lexer splits
    them: blanks separate words; quotes and backslashes protect; `#` at a word's start comments;
    `;` and newlines end a command; `{`/`}` at a word's start are braces, `${...}` is part of a word."""
    tokens: list[tuple[str, str, int]] = []
    i, n, line = 0, len(text), 1
    while i < n:
        c = text[i]
        if c == "\n" or c == ";":
            tokens.append(("sep", c, line))
            line += c == "\n"
            i += 1
        elif c in " \t\r":
            i += 1
        elif c == "\\" and text.startswith("\\\n", i):
            line, i = line + 1, i + 2
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif c in "{}":
            tokens.append(("lbrace" if c == "{" else "rbrace", c, line))
            i += 1
        else:
            start_line = line
            word, i, line = _grub_word(text, i, line)
            tokens.append(("word", word, start_line))
    return tokens


def _grub_word(text: str, i: int, line: int) -> tuple[str, int, int]:
    buf: list[str] = []
    n = len(text)
    while i < n and text[i] not in " \t\r\n;":
        c = text[i]
        if c == "\\":
            if i + 1 < n and text[i + 1] != "\n":
                buf.append(text[i + 1])
            line += i + 1 < n and text[i + 1] == "\n"
            i += 2
        elif c == "'":
            j = text.find("'", i + 1)
            if j < 0:
                raise ValueError(f"grub.cfg line {line}: unterminated single quote")
            buf.append(text[i + 1 : j])
            line += text.count("\n", i, j)
            i = j + 1
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n and text[j + 1] in '$"\\\n':
                    if text[j + 1] != "\n":
                        buf.append(text[j + 1])
                    line += text[j + 1] == "\n"
                    j += 2
                    continue
                line += text[j] == "\n"
                buf.append(text[j])
                j += 1
            if j >= n:
                raise ValueError(f"grub.cfg line {line}: unterminated double quote")
            i = j + 1
        elif c == "$" and text.startswith("${", i):
            j = text.find("}", i + 2)
            if j < 0 or "\n" in text[i:j]:
                raise ValueError(f"grub.cfg line {line}: unterminated '${{'")
            buf.append(text[i : j + 1])
            i = j + 1
        else:
            buf.append(c)
            i += 1
    return "".join(buf), i, line


def _grub_block(
    tokens: list[tuple[str, str, int]],
    pos: int,
    submenu: tuple[str, ...],
    entries: list[MenuEntry],
    linux: list[LinuxLine] | None,
    opened: tuple[str, int] | None,
) -> int:
    """Parse commands from `pos` to the `}` closing `opened` (or the end of the file at top
    level); menu entries go to `entries`, linux lines of the entry being read to `linux`."""
    cmd: list[tuple[str, int]] = []
    while pos < len(tokens):
        kind, value, line = tokens[pos]
        pos += 1
        if kind == "word":
            cmd.append((value, line))
            continue
        if kind == "sep":
            _grub_command(cmd, linux)
            cmd = []
            continue
        if kind == "rbrace":
            _grub_command(cmd, linux)
            if opened is None:
                raise ValueError(f"grub.cfg line {line}: '}}' without a matching '{{'")
            return pos
        head, cmd = cmd, []
        name = head[0][0] if head else ""
        where = (f"{name} {head[1][0]!r}" if len(head) > 1 else name or "block", line)
        if name in ("menuentry", "submenu"):
            title, entry_id = _entry_header(head, line)
            if name == "submenu":
                pos = _grub_block(tokens, pos, (*submenu, title), entries, None, where)
            else:
                lines: list[LinuxLine] = []
                index = len(entries)
                pos = _grub_block(tokens, pos, submenu, entries, lines, where)
                entries.insert(index, MenuEntry(title, entry_id, submenu, head[0][1], tuple(lines)))
        else:  # function bodies and other blocks: still inside the same entry, if any
            _grub_command(head, linux)
            pos = _grub_block(tokens, pos, submenu, entries, linux, where)
    _grub_command(cmd, linux)
    if opened is not None:
        raise ValueError(f"grub.cfg line {opened[1]}: {opened[0]} has no closing '}}'")
    return pos


def _grub_command(cmd: list[tuple[str, int]], linux: list[LinuxLine] | None) -> None:
    if linux is None or not cmd or cmd[0][0] not in LINUX_COMMANDS:
        return
    if len(cmd) < 2:
        raise ValueError(f"grub.cfg line {cmd[0][1]}: '{cmd[0][0]}' without a kernel image")
    linux.append(LinuxLine(cmd[1][0], tuple(w for w, _ in cmd[2:]), cmd[0][1]))


def _entry_header(head: list[tuple[str, int]], line: int) -> tuple[str, str | None]:
    title: str | None = None
    entry_id: str | None = None
    words = [w for w, _ in head[1:]]
    i = 0
    while i < len(words):
        w = words[i]
        opt, eq, val = w.partition("=")
        if opt in _ENTRY_OPTIONS_WITH_VALUE:
            if not eq:
                val = words[i + 1] if i + 1 < len(words) else ""
                i += 1
            if opt == "--id":
                entry_id = val
        elif not w.startswith("--") and title is None:
            title = w
        i += 1
    if title is None:
        raise ValueError(f"grub.cfg line {line}: {head[0][0]} without a title")
    return title, entry_id


# -- systemd unit state (systemctl show -p ActiveState,SubState,UnitFileState,LoadState) -------------
ACTIVE_STATES = {"active", "reloading", "inactive", "failed", "activating", "deactivating", "maintenance", "refreshing"}
UNIT_PROPERTIES = ("LoadState", "ActiveState", "SubState", "UnitFileState")


@dataclass(frozen=True)
class UnitState:
    load: str  # loaded, not-found, masked, bad-setting, error ...
    active: str  # active, inactive, failed, activating ...
    sub: str  # running, exited, dead ...
    unit_file: str  # enabled, disabled, static, masked, "" for a unit with no file
    id: str | None = None  # when `-p Id` was asked too

    @property
    def enabled(self) -> bool:
        """Started at boot: `enabled` or `enabled-runtime` (static units are pulled in by others)."""
        return self.unit_file in ("enabled", "enabled-runtime")

    @property
    def running(self) -> bool:
        return self.active == "active" and self.sub == "running"

    @property
    def found(self) -> bool:
        return self.load not in ("not-found", "")


def parse_systemctl_show(data: str | bytes) -> list[UnitState]:
    """Unit states from `systemctl show -p ActiveState,SubState,UnitFileState,LoadState [-p Id]
    UNIT...`: one block of KEY=value lines per unit, blocks separated by a blank line, in the
    order the units were named. A missing property or an unknown ActiveState raises ValueError."""
    text = _text(data, "systemctl show output")
    units: list[UnitState] = []
    for n, block in enumerate(re.split(r"\n\s*\n", text.strip())):
        if not block.strip():
            continue
        props: dict[str, str] = {}
        for line in block.splitlines():
            key, eq, value = line.strip().partition("=")
            if not eq or not key:
                raise ValueError(f"systemctl show output, unit {n + 1}: not KEY=value: {line.strip()!r}")
            props[key] = value
        missing = [p for p in UNIT_PROPERTIES if p not in props]
        if missing:
            raise ValueError(f"systemctl show output, unit {n + 1}: lacks {', '.join(missing)}")
        if props["ActiveState"] not in ACTIVE_STATES:
            raise ValueError(f"systemctl show output, unit {n + 1}: unknown ActiveState {props['ActiveState']!r}")
        state = (props["LoadState"], props["ActiveState"], props["SubState"], props["UnitFileState"])
        units.append(UnitState(*state, id=props.get("Id")))
    return units


def parse_unit_state(data: str | bytes) -> UnitState:
    """The state of the one unit `systemctl show -p ... UNIT` was asked about."""
    units = parse_systemctl_show(data)
    if len(units) != 1:
        raise ValueError(f"systemctl show output: expected one unit, found {len(units)}")
    return units[0]


# -- /etc/os-release ----------------------------------------------------------------------------
_OS_RELEASE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def parse_os_release(data: str | bytes) -> dict[str, str]:
    """KEY=value pairs of os-release(5): shell-style quoting, `#` comments, blank lines."""
    out: dict[str, str] = {}
    for n, raw in enumerate(_text(data, "os-release").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, eq, value = line.partition("=")
        if not eq or not _OS_RELEASE_KEY.fullmatch(key):
            raise ValueError(f"os-release line {n}: not KEY=value: {line!r}")
        try:
            words = shlex.split(value, comments=True)
        except ValueError as exc:
            raise ValueError(f"os-release line {n}: {exc}: {line!r}") from None
        if len(words) > 1:
            raise ValueError(f"os-release line {n}: value with unquoted blanks: {line!r}")
        out[key] = words[0] if words else ""
    return out


# -- /proc/modules ------------------------------------------------------------------------------
@dataclass(frozen=True)
class KernelModule:
    name: str
    size: int
    refcount: int | None  # None when the kernel cannot unload modules ("-")
    used_by: tuple[str, ...]
    state: str  # Live, Loading, Unloading
    taints: str = ""  # e.g. "OE" for an out-of-tree unsigned module


def parse_proc_modules(data: str | bytes) -> list[KernelModule]:
    """Loaded modules from /proc/modules (`name size refcount used_by state address [taints]`).
    Built-in modules are not listed there (see modules.builtin)."""
    out: list[KernelModule] = []
    for n, line in enumerate(_text(data, "/proc/modules").splitlines(), 1):
        if not line.strip():
            continue
        f = line.split()
        if len(f) < 6 or not f[1].isdigit() or not (f[2].isdigit() or f[2] == "-"):
            raise ValueError(f"/proc/modules line {n}: expected 'name size refcount used_by state address': {line!r}")
        if f[4] not in ("Live", "Loading", "Unloading"):
            raise ValueError(f"/proc/modules line {n}: unknown state {f[4]!r}")
        used_by = tuple(d for d in f[3].split(",") if d and d != "-")
        taints = f[6].strip("()") if len(f) > 6 else ""
        out.append(KernelModule(f[0], int(f[1]), int(f[2]) if f[2] != "-" else None, used_by, f[4], taints))
    return out


def module_loaded(modules: list[KernelModule], name: str) -> bool:
    """True when `name` is loaded; `-` and `_` are the same in module names (modprobe's rule)."""
    want = name.replace("-", "_")
    return any(m.name.replace("-", "_") == want for m in modules)


# -- PEM certificates -------------------------------------------------------------------------------
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.S)


def parse_pem_certificates(data: str | bytes) -> list[x509.Certificate]:
    """Every CERTIFICATE block of a PEM file, in order. Other blocks (a private key beside the
    certificate) are skipped and never decoded, so no key material is kept. A file with no
    certificate, or a block that does not decode, raises ValueError naming the block."""
    text = _text(data, "PEM file")
    certs: list[x509.Certificate] = []
    for n, m in enumerate(_PEM_BLOCK.finditer(text), 1):
        if m.group(1) != "CERTIFICATE":
            continue
        try:
            certs.append(x509.load_pem_x509_certificate(m.group(0).encode()))
        except ValueError as exc:
            raise ValueError(f"PEM block {n} (CERTIFICATE) does not decode: {exc}") from None
    if not certs:
        raise ValueError("no CERTIFICATE block in the PEM data")
    return certs


# -- cloud-config of the OS (/oem/*.yaml: yip/elemental stages) ----------------------------------
# Stages elemental runs at every boot (elemental-toolkit's setup services: rootfs and initramfs in
# the initrd, then boot, fs, network, and reconcile on a timer), each also as `<stage>.before` and
# `<stage>.after`. Any other name (`default`, yip's command-line default) never runs at boot.
BOOT_STAGES = ("rootfs", "initramfs", "boot", "fs", "network", "reconcile")


def runs_at_boot(stage: str) -> bool:
    """Whether elemental runs a stage of this name at boot (`initramfs`, `boot.after`, ...)."""
    base = stage.removesuffix(".before").removesuffix(".after")
    return base in BOOT_STAGES


@dataclass(frozen=True)
class CloudConfig:
    """One /oem file: its stages in file order, each a list of steps (yip's stage entries)."""

    name: str | None
    stages: tuple[tuple[str, tuple[dict, ...]], ...]

    def steps(self, boot_only: bool = False) -> list[tuple[str, dict]]:
        """(stage, step) in file order; only the stages that run at boot when `boot_only`."""
        return [(stage, step) for stage, steps in self.stages for step in steps if not boot_only or runs_at_boot(stage)]


def parse_cloud_config(data: str | bytes) -> CloudConfig:
    """An elemental cloud-config (yip) file: `name` and `stages: {stage: [step, ...]}`.

    A file that is not YAML, or whose `stages` is not a mapping of lists of mappings, raises
    ValueError with the line (yip skips such a file entirely at boot). A `#cloud-config` file
    without `stages` is valid and has none.
    """
    import yaml  # local: only the cloud-config parser needs it

    from harvester_conformance import yamltext

    try:
        doc = yamltext.load(_text(data, "cloud-config"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValueError(f"not YAML{at}: {problem}") from None
    if doc is None:
        return CloudConfig(None, ())
    if not isinstance(doc, dict):
        raise ValueError(f"expected a mapping at the top, got {type(doc).__name__}")
    stages = doc.get("stages") or {}
    if not isinstance(stages, dict):
        raise ValueError(f"`stages` must be a mapping of stage name to steps, got {type(stages).__name__}")
    out = []
    for stage, steps in stages.items():
        if steps is None:
            steps = []
        if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
            raise ValueError(f"stage {stage!r} must be a list of steps (mappings)")
        out.append((str(stage), tuple(steps)))
    name = doc.get("name")
    return CloudConfig(str(name) if name is not None else None, tuple(out))


def step_units(step: dict, action: str) -> list[str]:
    """The units a step's `systemctl.<action>` names (enable, disable, start, mask ...), with
    the `.service` suffix systemctl adds to a bare name."""
    names = ((step.get("systemctl") or {}) if isinstance(step.get("systemctl"), dict) else {}).get(action) or []
    if isinstance(names, str):
        names = [names]
    return [n if "." in n else f"{n}.service" for n in (str(x).strip() for x in names) if n]


_ENCODINGS = {"": (), "b64": ("b64",), "base64": ("b64",), "gz": ("gz",), "gzip": ("gz",)}
_ENCODINGS |= {f"{z}+{b}": ("b64", "gz") for z in ("gz", "gzip") for b in ("b64", "base64")}


def step_files(step: dict) -> list[tuple[str, bytes | None]]:
    """(path, content) of the files a step writes (`files:`), decoded as yip decodes them
    (`encoding` "", b64/base64, gz/gzip, gz+b64 ...); content None when it cannot be decoded."""
    import base64
    import gzip

    out: list[tuple[str, bytes | None]] = []
    for f in step.get("files") or []:
        if not isinstance(f, dict) or not f.get("path"):
            continue
        raw = str(f.get("content") or "").encode()
        how = _ENCODINGS.get(str(f.get("encoding") or "").lower())
        try:
            for op in how if how is not None else ("unknown",):
                if op == "unknown":
                    raise ValueError("unknown encoding")
                raw = base64.b64decode(raw) if op == "b64" else gzip.decompress(raw)
            out.append((str(f["path"]), raw))
        except (ValueError, OSError):
            out.append((str(f["path"]), None))
    return out


# -- /proc/<pid>/mountinfo ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Mount:
    mount_point: str
    root: str  # the mounted subtree of the filesystem (a bind mount's source directory)
    fstype: str
    source: str
    options: str  # per-mount options (rw, ro, ...)


def _unescape_mount(field: str) -> str:
    """mountinfo escapes blanks, tabs, newlines and backslashes as octal (`\\040`)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(data: str | bytes) -> list[Mount]:
    """Mounts of /proc/<pid>/mountinfo (proc(5)): `id parent major:minor root mount-point
    options [optional fields...] - fstype source super-options`, in mount order."""
    out: list[Mount] = []
    for n, line in enumerate(_text(data, "mountinfo").splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        try:
            sep = fields.index("-", 6)
        except ValueError:
            raise ValueError(f"mountinfo line {n}: no ' - ' separator: {line!r}") from None
        if sep + 2 >= len(fields) + 1 or len(fields) < sep + 3:
            raise ValueError(f"mountinfo line {n}: no filesystem type and source after ' - ': {line!r}")
        out.append(
            Mount(
                mount_point=_unescape_mount(fields[4]),
                root=_unescape_mount(fields[3]),
                fstype=fields[sep + 1],
                source=_unescape_mount(fields[sep + 2]),
                options=fields[5],
            )
        )
    return out


def _under(path: str, top: str) -> bool:
    return top == "/" or path == top or path.startswith(top.rstrip("/") + "/")


def covering_mount(mounts: list[Mount], path: str) -> Mount | None:
    """The mount `path` lies on: the longest mount point above it, the last mounted on a tie
    (a later mount hides an earlier one at the same place)."""
    best: Mount | None = None
    for m in mounts:
        if _under(path, m.mount_point) and (best is None or len(m.mount_point) >= len(best.mount_point)):
            best = m
    return best


# -- multipath configuration (multipath.conf(5)) -------------------------------------------------------
@dataclass(frozen=True)
class MultipathRules:
    """The `blacklist` and `blacklist_exceptions` sections of one or more multipath config files:
    devnode and wwid regular expressions, and device entries as (vendor, product) expressions
    (None: the entry does not name it)."""

    blacklist_devnode: tuple[str, ...] = ()
    blacklist_device: tuple[tuple[str | None, str | None], ...] = ()
    exception_devnode: tuple[str, ...] = ()
    exception_device: tuple[tuple[str | None, str | None], ...] = ()

    def __add__(self, other: MultipathRules) -> MultipathRules:
        return MultipathRules(
            self.blacklist_devnode + other.blacklist_devnode,
            self.blacklist_device + other.blacklist_device,
            self.exception_devnode + other.exception_devnode,
            self.exception_device + other.exception_device,
        )


def _multipath_tokens(text: str) -> list[tuple[str, int]]:
    """Words, quoted strings and braces with their line; `#` or `!` starts a comment outside quotes
    (libmultipath's parser); a quoted value keeps its `!`."""
    tokens: list[tuple[str, int]] = []
    for n, line in enumerate(text.splitlines(), 1):
        i = 0
        while i < len(line):
            c = line[i]
            if c.isspace():
                i += 1
            elif c in "#!":
                break
            elif c in "{}":
                tokens.append((c, n))
                i += 1
            elif c == '"':
                j = line.find('"', i + 1)
                if j < 0:
                    raise ValueError(f"multipath config line {n}: unterminated quote")
                tokens.append(('"' + line[i + 1 : j], n))
                i = j + 1
            else:
                j = i
                while j < len(line) and not line[j].isspace() and line[j] not in '{}"':
                    j += 1
                tokens.append((line[i:j], n))
                i = j
    return tokens


def parse_multipath_conf(data: str | bytes) -> MultipathRules:
    """The blacklist rules of a multipath.conf (or a conf.d file). Other sections are skipped;
    unbalanced braces raise ValueError with the line."""
    tokens = _multipath_tokens(_text(data, "multipath config"))
    rules: dict[str, list] = {"bd": [], "bv": [], "ed": [], "ev": []}
    stack: list[str] = []
    device: dict[str, str] = {}
    i = 0
    while i < len(tokens):
        tok, line = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if tok == "}":
            if not stack:
                raise ValueError(f"multipath config line {line}: '}}' without a matching '{{'")
            closed = stack.pop()
            if closed == "device" and stack and stack[-1] in ("blacklist", "blacklist_exceptions"):
                rules["bv" if stack[-1] == "blacklist" else "ev"].append((device.get("vendor"), device.get("product")))
            i += 1
        elif tok == "{":
            raise ValueError(f"multipath config line {line}: '{{' without a section name")
        elif nxt is not None and nxt[0] == "{":
            stack.append(tok.lstrip('"'))
            device = {} if stack[-1] == "device" else device
            i += 2
        else:
            value = None
            if nxt is not None and nxt[1] == line and nxt[0] not in ("{", "}"):
                value = nxt[0][1:] if nxt[0].startswith('"') else nxt[0]
            section = stack[-1] if stack else None
            if section in ("blacklist", "blacklist_exceptions") and tok == "devnode" and value is not None:
                rules["bd" if section == "blacklist" else "ed"].append(value)
            elif section == "device" and tok in ("vendor", "product") and value is not None:
                device[tok] = value
            i += 2 if value is not None else 1
    if stack:
        raise ValueError(f"multipath config: section {stack[-1]!r} has no closing '}}'")
    return MultipathRules(tuple(rules["bd"]), tuple(rules["bv"]), tuple(rules["ed"]), tuple(rules["ev"]))


def _regex_matches(expr: str, value: str) -> bool:
    """multipath's match: an extended regular expression searched in the value; a leading `!`
    inverts it. An expression Python cannot compile matches nothing."""
    negate = expr.startswith("!")
    try:
        found = re.search(expr[1:] if negate else expr, value) is not None
    except re.error:
        return False
    return found != negate


def _device_matches(entry: tuple[str | None, str | None], vendor: str, product: str) -> bool:
    v, p = entry
    if v is None and p is None:
        return False
    return (v is None or _regex_matches(v, vendor)) and (p is None or _regex_matches(p, product))


def multipath_blacklisted(rules: MultipathRules, devnode: str, vendor: str, product: str) -> bool:
    """Whether multipath leaves a device alone: a blacklist entry (devnode or device) matches
    and no blacklist exception of the same kind does (libmultipath `filter_devnode`,
    `filter_device`; wwid and property rules are not evaluated)."""
    by_node = any(_regex_matches(e, devnode) for e in rules.blacklist_devnode) and not any(
        _regex_matches(e, devnode) for e in rules.exception_devnode
    )
    by_device = any(_device_matches(e, vendor, product) for e in rules.blacklist_device) and not any(
        _device_matches(e, vendor, product) for e in rules.exception_device
    )
    return by_node or by_device


# -- kernel modules configured to load ------------------------------------------------------------------
def modprobe_modules(command: str) -> list[str]:
    """The modules a shell command line loads with `modprobe` (`modprobe rbd`, `modprobe -a rbd
    nbd`, `/sbin/modprobe -q nbd && ...`)."""
    try:
        words = shlex.split(command, comments=True)
    except ValueError:
        words = command.split()
    out: list[str] = []
    i = 0
    while i < len(words):
        if words[i].rsplit("/", 1)[-1] != "modprobe":
            i += 1
            continue
        args = []
        i += 1
        while i < len(words) and words[i] not in (";", "&&", "||", "|"):
            args.append(words[i])
            i += 1
        names = [a for a in args if not a.startswith("-") and "=" not in a]
        if any(a in ("-a", "--all") for a in args):
            out += names
        elif names:
            out.append(names[0])
    return [m.replace("-", "_") for m in out]


def modules_load_conf(data: str | bytes) -> list[str]:
    """Module names of a modules-load.d(5) file: one a line, `#` and `;` comments."""
    out = []
    for line in _text(data, "modules-load.d file").splitlines():
        s = line.strip()
        if s and s[0] not in "#;":
            out.append(s.replace("-", "_"))
    return out


def parse_oem(files: dict[str, bytes | None]) -> tuple[list[tuple[str, CloudConfig]], dict[str, str]]:
    """The cloud-config files of a host's /oem (path -> bytes; None: not a file), parsed, in the
    order elemental applies them (by file name), and path -> why each other one does not parse
    (such a file is skipped whole at boot). Messages name lines, never file contents."""
    parsed: list[tuple[str, CloudConfig]] = []
    broken: dict[str, str] = {}
    for path in sorted((p for p, data in files.items() if data is not None), key=lambda p: p.rsplit("/", 1)[-1]):
        try:
            parsed.append((path, parse_cloud_config(files[path] or b"")))
        except ValueError as exc:
            broken[path] = str(exc)
    return parsed, broken


# -- NIC offloads (`ethtool -k NIC`) ------------------------------------------------------------
@dataclass(frozen=True)
class Feature:
    """One line of `ethtool -k`: `name: on|off [fixed]` (fixed: the driver cannot change it)."""

    name: str
    on: bool
    fixed: bool


_FEATURE = re.compile(r"([A-Za-z0-9_-]+):\s+(on|off)(?:\s+\[(fixed|requested on|requested off)\])?")


def parse_ethtool_features(data: str | bytes) -> dict[str, Feature]:
    """The features `ethtool -k NIC` prints (ethtool's `dump_features`): a `Features for NIC:`
    header, then one `name: on|off` per line, sub-features indented under their group, a
    `[fixed]` or `[requested on|off]` note after some. ValueError when there is no header or a
    line does not read so."""
    text = _text(data, "ethtool -k output")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("Features for "):
        raise ValueError("ethtool -k output does not begin with 'Features for <nic>:'")
    out: dict[str, Feature] = {}
    for line in lines[1:]:
        m = _FEATURE.fullmatch(line.strip())
        if m is None:
            raise ValueError(f"ethtool -k output: not a 'feature: on|off' line: {line.strip()[:80]!r}")
        out[m.group(1)] = Feature(m.group(1), m.group(2) == "on", m.group(3) == "fixed")
    return out


# -- boot time (/proc/stat) ---------------------------------------------------------------------
def parse_boot_time(data: str | bytes) -> int:
    """The `btime` of /proc/stat: when the host booted, in seconds since the epoch (proc(5)).
    ValueError when the line is missing or not a number."""
    for line in _text(data, "/proc/stat").splitlines():
        parts = line.split()
        if parts and parts[0] == "btime":
            if len(parts) != 2 or not parts[1].isdigit():
                raise ValueError(f"/proc/stat: malformed btime line {line.strip()!r}")
            return int(parts[1])
    raise ValueError("/proc/stat has no btime line")


# -- local users (/etc/passwd) ------------------------------------------------------------------
def parse_passwd_users(data: str | bytes) -> list[str]:
    """The user names of /etc/passwd (passwd(5): seven `:`-separated fields; comment and blank
    lines are skipped). Only the names are kept. ValueError on a line without seven fields."""
    names = []
    for n, line in enumerate(_text(data, "/etc/passwd").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split(":")
        if len(fields) != 7 or not fields[0]:
            raise ValueError(f"/etc/passwd line {n}: expected 7 ':'-separated fields")
        names.append(fields[0])
    return names
