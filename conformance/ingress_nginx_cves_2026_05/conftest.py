"""The shared ingress-nginx fixtures (conformance/ingress_nginx_fixtures.py)."""

from conformance.ingress_nginx_fixtures import hcc, release

__all__ = ["hcc", "release"]
