"""The simulator process: controllers on a resync period, webhooks and health over TLS.

Runs with its own client identity (`harvester-simulator`, bound by RBAC), so that what it
may change is what the ClusterRole grants, as for the real controllers.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import signal
import ssl
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from harvester_conformance.cluster import resources as R
from harvester_conformance.cluster.client import Cluster, load_configuration
from harvester_conformance.emulator import controlplane, pki
from harvester_conformance.emulator.areas import AREAS, metrics_server
from harvester_conformance.emulator.simulator import diagnosis, webhooks
from harvester_conformance.emulator.simulator.informers import CachedCluster, Reads

log = logging.getLogger("simulator")


API_GROUPS = [route for area in AREAS for route in area.API_GROUPS]


class Handler(BaseHTTPRequestHandler):
    """Webhooks, conversions and aggregated APIs, for the apiserver. Keep-alive, as a Go server's
    connections are: one TLS handshake per apiserver connection, not per admission call (at 2,000
    VMs the handshakes, serialised in the accept loop, were a third of the simulator's serving time)."""

    protocol_version = "HTTP/1.1"
    cluster: Cluster

    def log_message(self, fmt: str, *args: object) -> None:  # quiet access log
        return

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        url = urllib.parse.urlsplit(self.path)
        if url.path == "/healthz":
            self._reply(200, b"ok", "text/plain")
            return
        for prefix, serve_get in API_GROUPS:
            if url.path == prefix or url.path.startswith(prefix + "/"):
                query = dict(urllib.parse.parse_qsl(url.query))
                code, body = serve_get(self.cluster, url.path, query, self._peer_cn(), self.headers)
                self._reply(code, json.dumps(body).encode(), "application/json")
                return
        self._reply(404, b"not found", "text/plain")

    def _peer_cn(self) -> str | None:
        """CN of a verified client certificate (only the aggregator's front-proxy client has one)."""
        cert = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
        for rdn in (cert or {}).get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    return value
        return None

    def do_POST(self) -> None:  # noqa: N802 - http.server API
        length = int(self.headers.get("Content-Length", "0"))
        review = json.loads(self.rfile.read(length) or b"{}")
        path = self.path.split("?", 1)[0]  # the apiserver appends ?timeout=
        converter = webhooks.CONVERSIONS.get(path)
        if converter is not None and review.get("kind") == "ConversionReview":
            answer = webhooks.respond_conversion(review, converter, self.cluster)
            self._reply(200, json.dumps(answer).encode(), "application/json")
            return
        handler = webhooks.ROUTES.get(path)
        if handler is None:
            self._reply(404, b"not found", "text/plain")
            return
        response = webhooks.respond(review, handler, self.cluster)
        self._reply(200, json.dumps(response).encode(), "application/json")

    def _reply(self, code: int, body: bytes, ctype: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve(state_dir: Path, port: int, cluster: Cluster) -> ThreadingHTTPServer:
    Handler.cluster = cluster
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    pki_dir = state_dir / "pki"
    ctx.load_cert_chain(str(pki_dir / "simulator-serving.crt"), str(pki_dir / "simulator-serving.key"))
    # Webhook calls come without a client certificate; the aggregator presents its front-proxy one.
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.load_verify_locations(str(pki_dir / "front-proxy-ca.crt"))
    # The handshake on the connection's own thread, not in the one accepting every connection.
    server.socket = ctx.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    threading.Thread(target=server.serve_forever, name="https", daemon=True).start()
    return server


class KubeletHandler(BaseHTTPRequestHandler):
    """One node's kubelet inside a tunnel: x509 authentication against the cluster CA (anonymous
    requests refused, as RKE2 runs the kubelet), webhook authorisation, then the simulated endpoints."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the apiserver's transport reuses connections
    cluster: Cluster
    node = ""

    def log_message(self, fmt: str, *args: object) -> None:
        return

    def do_GET(self) -> None:  # noqa: N802 - http.server API
        if metrics_server.kubelet_down(self.cluster, self.node):
            self.close_connection = True  # no answer: the connection drops, as a dead kubelet's does
            return
        url = urllib.parse.urlsplit(self.path)
        user, groups = self._identity()
        if user is None:
            self._reply(401, "text/plain; charset=utf-8", b"Unauthorized")
            return
        verb, sub = metrics_server.kubelet_attributes("GET", url.path)
        if not metrics_server.kubelet_authorized(self.cluster, user, groups, verb, sub, self.node):
            msg = f"Forbidden (user={user}, verb={verb}, resource=nodes, subresource(s)=[{sub}])\n"
            self._reply(403, "text/plain; charset=utf-8", msg.encode())
            return
        query = dict(urllib.parse.parse_qsl(url.query))
        self._reply(*metrics_server.kubelet_get(self.cluster, self.node, url.path, query))

    def _identity(self) -> tuple[str | None, list[str]]:
        cert = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
        subject = [pair for rdn in (cert or {}).get("subject", ()) for pair in rdn]
        user = next((v for k, v in subject if k == "commonName"), None)
        return user, [v for k, v in subject if k == "organizationName"]

    def _reply(self, code: int, ctype: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class KubeletTunnels(BaseHTTPRequestHandler):
    """The HTTP CONNECT endpoint the apiserver's kubelet client is pointed at: a CONNECT to a
    node's address and kubelet port becomes a TLS session served with that node's kubelet
    certificate; any other target is refused as an unreachable host would be."""

    cluster: Cluster
    state_dir: Path
    _contexts: dict[tuple[str, tuple[str, ...]], ssl.SSLContext] = {}
    _lock = threading.Lock()

    def log_message(self, fmt: str, *args: object) -> None:
        return

    def do_CONNECT(self) -> None:  # noqa: N802 - http.server API
        host, _, port = self.path.rpartition(":")
        host = host.strip("[]")
        nodes = self.cluster.list(R.NODES)
        name = metrics_server.kubelet_node(nodes, host, int(port)) if port.isdigit() else None
        if name is None:
            self.send_error(502, f"dial tcp {self.path}: connect: no route to host")
            return
        node = next(n for n in nodes if n["metadata"]["name"] == name)
        ips = tuple(sorted(a["address"] for a in node["status"].get("addresses") or [] if _is_ip(a["address"])))
        self.send_response(200, "Connection established")
        self.end_headers()
        self.close_connection = True
        try:
            tls = self._context(name, ips).wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):
            return  # the client gave up on the handshake
        handler = type("NodeKubelet", (KubeletHandler,), {"cluster": self.cluster, "node": name})
        try:
            handler(tls, self.client_address, self.server)
        except OSError:
            pass  # the apiserver closed the tunnel mid-request
        finally:
            tls.close()

    def _context(self, node: str, ips: tuple[str, ...]) -> ssl.SSLContext:
        """The node's TLS context, its serving certificate issued once per node and addresses."""
        with self._lock:
            key = (node, ips)
            if key not in self._contexts:
                self._contexts[key] = kubelet_context(self.state_dir / "pki", node, ips)
            return self._contexts[key]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def kubelet_context(pki_dir: Path, node: str, ips: tuple[str, ...]) -> ssl.SSLContext:
    """Server side of a node's kubelet: its serving pair, client certificates verified against the
    cluster CA when presented (anonymous requests get 401 from the handler)."""
    ca = pki.load((pki_dir / "ca.crt").read_bytes(), (pki_dir / "ca.key").read_bytes())
    pair = controlplane.kubelet_serving(ca, node, ips)
    out = pki_dir / "kubelets"
    out.mkdir(exist_ok=True)
    controlplane.write_file(out / f"{node}.crt", pair.cert_pem)
    controlplane.write_file(out / f"{node}.key", pair.key_pem, private=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(out / f"{node}.crt"), str(out / f"{node}.key"))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.load_verify_locations(str(pki_dir / "ca.crt"))
    return ctx


def serve_kubelets(state_dir: Path, port: int, cluster: Cluster) -> ThreadingHTTPServer:
    """Every node's kubelet in this one process: a thread per tunnel, none per node."""
    KubeletTunnels.cluster, KubeletTunnels.state_dir = cluster, state_dir
    server = ThreadingHTTPServer(("127.0.0.1", port), KubeletTunnels)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="kubelets", daemon=True).start()
    return server


RESYNC_SECONDS = 30.0  # an on-change controller reconciles at least this often, as on an informer resync
SLOW_RECONCILE_SECONDS = 10.0
CONNECTIONS = 128  # the direct client's pool: every controller thread, and workers.WORKERS for each that fans out
CONTROLLERS = diagnosis.Controllers()  # what each controller is doing, for a diagnosis


def run_controller(
    name: str, reconcile, period: float, stop: threading.Event, cached: CachedCluster, on_change: bool = False
) -> None:
    """Ticker of one controller (the stop event doubles as its clock; not a wait-for). An
    on-change controller, whose decisions depend only on the objects it reads, skips a tick when
    none of the types it read last time has changed since, as a controller fed by informer
    events does nothing until one arrives; it still reconciles every RESYNC_SECONDS."""
    last: Reads | None = None
    ran = 0.0
    while not stop.is_set():
        if on_change and last is not None and time.monotonic() - ran < RESYNC_SECONDS and cached.unchanged(last):
            stop.wait(period)
            continue
        ran = time.monotonic()
        CONTROLLERS.begin(name)
        failure = None
        try:
            with cached.recording() as last:
                reconcile()
        except Exception as exc:  # noqa: BLE001 - a controller logs and retries on the next tick
            failure = f"{type(exc).__name__}: {exc}"
            log.warning("%s reconcile failed: %s", name, failure)
            last = None
        CONTROLLERS.end(name, failure)
        took = time.monotonic() - ran
        if took > SLOW_RECONCILE_SECONDS:  # what a seeding that drags is waiting for
            log.info("%s reconcile took %.1fs", name, took)
        stop.wait(period)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="harvester-conformance-simulator")
    ap.add_argument("--state-dir", type=Path, required=True)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", stream=sys.stdout)
    state = json.loads((args.state_dir / "state.json").read_text())
    cfg = load_configuration(str(args.state_dir / "kubeconfigs" / "simulator.kubeconfig"), None)
    # A connection for each controller thread and each worker: a smaller pool discards connections
    # under load, and every new one costs a TLS handshake on both ends.
    cfg.connection_pool_maxsize = CONNECTIONS
    cluster = Cluster(cfg)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    asked = threading.Event()
    signal.signal(signal.SIGUSR1, lambda *_: asked.set())  # `manage` asks for a diagnosis
    # Controllers and kubelets read through shared informers (a kubelet answers from what it
    # knows, not from a list of every pod in the cluster per request); webhooks answer from the
    # apiserver, as an admission decision must see the object's current state.
    cached = CachedCluster(cluster, stop)
    server = serve(args.state_dir, state["ports"]["simulator"], cluster)
    kubelets = (
        serve_kubelets(args.state_dir, state["ports"]["kubelet"], cached) if "kubelet" in state["ports"] else None
    )
    controllers = [(n, factory(cached, args.state_dir), *rest) for a in AREAS for n, factory, *rest in a.CONTROLLERS]
    threads = [
        threading.Thread(target=run_controller, args=(n, f, p, stop, cached, *rest), name=n, daemon=True)
        for n, f, p, *rest in controllers
    ]
    for t in threads:
        t.start()
    diagnosis.serve(args.state_dir, CONTROLLERS, cached, asked, stop)
    log.info("simulator running: %s", ", ".join(c[0] for c in controllers))
    stop.wait()
    server.shutdown()
    if kubelets is not None:
        kubelets.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
