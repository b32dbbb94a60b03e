"""Which failed calls the client asks again, and after how long (pure: no cluster)."""

from __future__ import annotations

import pytest
import urllib3
from kubernetes.client.rest import ApiException

from harvester_conformance.cluster import client as C


def _status(code: int, retry_after: str | None = None) -> ApiException:
    exc = ApiException(status=code, reason="x")
    exc.headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return exc


def _wrapped(reason: Exception) -> urllib3.exceptions.MaxRetryError:
    """What urllib3 raises with its own retries off: the failure as the reason of MaxRetryError."""
    return urllib3.exceptions.MaxRetryError(None, "/api", reason)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("exc", "verb", "again"),
    [
        (_status(429), "GET", True),
        (_status(503), "POST", True),  # the server refused before acting: safe for a write too
        (_status(409), "GET", False),
        (_status(403), "GET", False),
        (_wrapped(urllib3.exceptions.ReadTimeoutError(None, "/api", "timed out")), "GET", True),
        (_wrapped(urllib3.exceptions.ProtocolError("reset")), "GET", True),
        # A write whose answer was lost may have landed: not sent twice.
        (_wrapped(urllib3.exceptions.ReadTimeoutError(None, "/api", "timed out")), "POST", False),
        (_wrapped(urllib3.exceptions.ProtocolError("reset")), "PATCH", False),
        (_wrapped(urllib3.exceptions.NewConnectionError(None, "refused")), "GET", False),  # type: ignore[arg-type]
    ],
)
def test_what_is_asked_again(exc: BaseException, verb: str, again: bool) -> None:
    assert C._transient(exc, verb) is again


def test_retry_after_is_honoured_and_capped() -> None:
    assert C.retry_after(_status(429, "2")) == 2.0
    assert C.retry_after(_status(503, "3600")) == C.RETRY_AFTER_MAX
    assert C.retry_after(_status(429)) is None
    assert C.retry_after(_status(429, "Wed, 21 Oct 2015 07:28:00 GMT")) is None  # not the apiserver's form
    assert C.retry_after(_status(404, "2")) is None
    assert C.retry_after(None) is None


def test_call_timeout_follows_the_scale_unless_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HC_REQUEST_TIMEOUT", raising=False)
    monkeypatch.setenv("HC_TIMEOUT_SCALE", "2")
    assert C.request_timeout() == 2 * C.REQUEST_TIMEOUT
    monkeypatch.setenv("HC_REQUEST_TIMEOUT", "3")
    assert C.request_timeout() == 3.0
