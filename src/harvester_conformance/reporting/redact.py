"""One redactor for all output: secret values seen by the cluster layer, and shapes that are
secrets whatever their origin (private keys, bearer tokens, kubeconfig credentials)."""

from __future__ import annotations

import base64
import re
import threading

MASK = "[REDACTED]"
_PATTERNS = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----", re.S),
    re.compile(r"LS0tLS1CRUdJTi[A-Za-z0-9+/=]{40,}"),  # base64 of a PEM block
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),  # JWT
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{16,}"),
    re.compile(r"(?i)((?:token|password|client-key-data|secret)[\"']?\s*[:=]\s*[\"']?)[^\s\"',}]{8,}"),
    # Rancher API token `name:secret`: the name is the Token object's, public, and kept
    re.compile(r"(kubeconfig-u-[a-z0-9]+:)[a-z0-9]{20,}"),
]


def _context(m: re.Match[str]) -> str:
    """What a shape keeps before its secret (its group 1: `Bearer `, `password: `, a token's name)."""
    return m.group(1) if m.groups() else ""


class Redactor:
    def __init__(self) -> None:
        self._values: set[str] = set()
        self._lock = threading.Lock()

    def add(self, value: str | bytes | None) -> None:
        """Remember a secret value (and its base64 form) so that it is masked wherever it appears."""
        if not value:
            return
        text = value.decode(errors="replace") if isinstance(value, bytes) else value
        if len(text) < 6:
            return  # too short to mask without masking ordinary words
        forms = {text, base64.b64encode(text.encode()).decode()}
        with self._lock:
            self._values |= forms

    def add_secret_data(self, data: dict[str, str] | None) -> None:
        for encoded in (data or {}).values():
            self.add(encoded)
            try:
                self.add(base64.b64decode(encoded, validate=True))
            except ValueError:
                pass

    def add_shapes(self, text: str) -> None:
        """Remember each credential-shaped part of `text` on its own, for text that cannot be parsed
        into fields: the token it carries may later be quoted without the context that marked it."""
        for pat in _PATTERNS:
            for m in pat.finditer(text or ""):
                self.add(m.group(0)[len(_context(m)) :])

    def __call__(self, text: str) -> str:
        if not text:
            return text
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for v in values:
            if v in text:
                text = text.replace(v, MASK)
        for pat in _PATTERNS:
            text = pat.sub(lambda m: _context(m) + MASK, text)
        return text


REDACT = Redactor()
