"""A TLS proxy in front of a cluster's apiserver that throttles and slows some of its answers,
as an overloaded apiserver does (API Priority and Fairness answers 429 with Retry-After), for the
API-fault tests of issue 16.

It terminates TLS with a CA of its own (written into the kubeconfig it hands out) and calls the
apiserver with the original kubeconfig's credentials, so every call through it has that identity.
Each injected fault meets a request once: its retry goes through, so what is measured is whether
the client retries and how long that takes, never luck. Whole answers are relayed (no streaming):
the suite never watches.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.client
import json
import ssl
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from harvester_conformance.emulator import pki

_HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length", "authorization"}


class ApiProxy:
    """`throttle_every`-th request: 429 with Retry-After `retry_after`; `slow_every`-th: answered
    after `slow_seconds`. Counters say what was injected and whether each was asked again."""

    def __init__(
        self,
        kubeconfig: Path,
        workdir: Path,
        *,
        throttle_every: int = 0,
        retry_after: int = 1,
        slow_every: int = 0,
        slow_seconds: float = 0.0,
    ) -> None:
        self.throttle_every, self.retry_after = throttle_every, retry_after
        self.slow_every, self.slow_seconds = slow_every, slow_seconds
        self.workdir = workdir
        self.requests = 0
        self.throttled: list[str] = []
        self.slowed: list[str] = []
        self.asked_again: set[str] = set()
        # Seconds from a faulted request's arrival to its retry, by fault.
        self.gaps: dict[str, list[float]] = {"throttle": [], "slow": []}
        self._faulted: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._original = yaml.safe_load(kubeconfig.read_text())
        self._upstream, self._upstream_ctx = self._upstream_context()
        ca = pki.make_ca("api-proxy-ca", dt.timedelta(days=3650))
        serving = pki.issue(ca, "api-proxy", dt.timedelta(days=365), ips=("127.0.0.1",))
        self._ca_pem = ca.cert_pem
        self._server = self._serve(serving)

    # -- set-up ----------------------------------------------------------------------------------
    def _current(self) -> tuple[dict, dict]:
        doc = self._original
        context = next(c for c in doc["contexts"] if c["name"] == doc["current-context"])["context"]
        cluster = next(c for c in doc["clusters"] if c["name"] == context["cluster"])["cluster"]
        user = next(u for u in doc["users"] if u["name"] == context["user"])["user"]
        return cluster, user

    def _file(self, name: str, data: str | None, path: str | None) -> str:
        if path:
            return path
        target = self.workdir / name
        target.write_bytes(base64.b64decode(data or ""))
        return str(target)

    def _upstream_context(self) -> tuple[tuple[str, int], ssl.SSLContext]:
        cluster, user = self._current()
        ctx = ssl.create_default_context(
            cafile=self._file(
                "upstream-ca.crt", cluster.get("certificate-authority-data"), cluster.get("certificate-authority")
            )
        )
        cert = self._file("client.crt", user.get("client-certificate-data"), user.get("client-certificate"))
        key = self._file("client.key", user.get("client-key-data"), user.get("client-key"))
        ctx.load_cert_chain(cert, key)
        host, _, port = cluster["server"].removeprefix("https://").partition(":")
        return (host, int(port or 443)), ctx

    def _serve(self, serving: pki.KeyPair) -> ThreadingHTTPServer:
        with tempfile.NamedTemporaryFile("wb", dir=self.workdir, delete=False) as chain:
            chain.write(serving.cert_pem + serving.key_pem)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(chain.name)
        proxy = self

        class Handler(_Relay):
            owner = proxy

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, name="api-proxy", daemon=True).start()
        return server

    # -- what the tests use ------------------------------------------------------------------------
    def kubeconfig(self) -> Path:
        """A kubeconfig whose cluster is this proxy (the user's entry unchanged)."""
        doc = json.loads(json.dumps(self._original))
        cluster, _ = self._current()
        name = next(c for c in doc["contexts"] if c["name"] == doc["current-context"])["context"]["cluster"]
        entry = next(c for c in doc["clusters"] if c["name"] == name)["cluster"]
        entry.pop("certificate-authority", None)
        entry["certificate-authority-data"] = base64.b64encode(self._ca_pem).decode()
        entry["server"] = f"https://127.0.0.1:{self._server.server_address[1]}"
        assert cluster["server"] != entry["server"]
        path = self.workdir / "proxied.kubeconfig"
        path.write_text(yaml.safe_dump(doc))
        return path

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- per request -------------------------------------------------------------------------------
    def decide(self, key: str) -> str:
        """'throttle', 'slow' or 'pass' for this request; a request met by a fault passes next time."""
        with self._lock:
            self.requests += 1
            n, now = self.requests, time.monotonic()
            if key in self._faulted:
                fault, since = self._faulted.pop(key)
                self.gaps[fault].append(now - since)
                self.asked_again.add(key)
                return "pass"
            if self.throttle_every and n % self.throttle_every == 0:
                self._faulted[key] = ("throttle", now)
                self.throttled.append(key)
                return "throttle"
            if self.slow_every and n % self.slow_every == 0:
                self._faulted[key] = ("slow", now)
                self.slowed.append(key)
                return "slow"
            return "pass"

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes | None) -> tuple[int, list, bytes]:
        conn = http.client.HTTPSConnection(*self._upstream, context=self._upstream_ctx, timeout=120)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()


class _Relay(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's connection pool expects
    owner: ApiProxy

    def log_message(self, fmt: str, *args: object) -> None:
        return

    def _relay(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        key = f"{self.command} {self.path} {hash(body)}"
        verdict = self.owner.decide(key)
        if verdict == "throttle":
            status = {
                "kind": "Status",
                "apiVersion": "v1",
                "status": "Failure",
                "message": "Too many requests, please try again later.",
                "reason": "TooManyRequests",
                "code": 429,
            }
            self._answer(
                429,
                [("Content-Type", "application/json"), ("Retry-After", str(self.owner.retry_after))],
                json.dumps(status).encode(),
            )
            return
        if verdict == "slow":
            time.sleep(self.owner.slow_seconds)  # the injected fault is this delay itself
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        status_code, upstream_headers, data = self.owner.forward(self.command, self.path, headers, body)
        self._answer(status_code, [(k, v) for k, v in upstream_headers if k.lower() not in _HOP], data)

    def _answer(self, code: int, headers: list[tuple[str, str]], data: bytes) -> None:
        try:
            self.send_response(code)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the client gave up waiting (a slow answer past its timeout): it asks again

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _relay  # noqa: N815 - http.server API
