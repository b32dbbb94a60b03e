"""The waiter's timeout as a report shows it."""

from __future__ import annotations

import pytest

from harvester_conformance.waits import WaitTimeout, wait_for


def test_a_timeout_in_cleanup_keeps_the_failure_it_followed() -> None:
    """A `finally` that waits for its cleanup and times out must not hide why the test failed:
    the timeout carries that failure as its context (a CI failure once showed only the timeout
    of a cleanup, while the cause was a KeyError before it)."""
    with pytest.raises(WaitTimeout) as err:
        try:
            raise KeyError("annotations")
        finally:
            wait_for("setting-applied", lambda: False, timeout=0.2)
    assert isinstance(err.value.__context__, KeyError)
    assert not err.value.__suppress_context__


def test_a_timeout_names_the_wait_and_the_last_observation() -> None:
    with pytest.raises(WaitTimeout, match=r"after 0s waiting for setting-applied; last observed: \{'a': 1\}"):
        wait_for("setting-applied", lambda: False, timeout=0.2, describe=lambda: {"a": 1})
