"""The terminal's account of a run: the outcome model, one line of why per invariant that did not
pass (issue 16), nothing of pytest's."""

from harvester_conformance.reporting import terminal

VIOLATION = (
    "system pods Failed or crash-looping (kube-system): 2 offending object(s)\n"
    "  - Pod kube-system/a: Failed (container x exited 1 (Error))\n"
    "  - Pod kube-system/b: CrashLoopBackOff\n"
)


def test_the_reason_is_the_first_offending_object_and_how_many_more() -> None:
    assert terminal.reason(VIOLATION) == "Pod kube-system/a: Failed (container x exited 1 (Error)) (and 1 more)"


def test_a_message_naming_no_object_gives_its_first_line() -> None:
    assert terminal.reason("could not list nodes: 403 Forbidden\nmore") == "could not list nodes: 403 Forbidden"
    assert terminal.reason("") == ""


def test_a_long_reason_is_cut_to_the_width() -> None:
    cut = terminal.reason("- " + "x" * 500, width=40)
    assert len(cut) == 40 and cut.endswith("...")


def _doc(**extra) -> dict:
    records = [
        {"id": "RST-01", "status": "failed", "message": VIOLATION},
        {"id": "KVC-01", "status": "passed", "message": ""},
        {"id": "KVC-02", "status": "broken", "message": "could not read: 403"},
    ]
    return {"invariants": records, "state": "complete", "cleanup": [], "exit_code": 3, **extra}


def test_each_invariant_has_a_line_and_only_those_that_did_not_pass_a_reason() -> None:
    out = list(terminal.lines(_doc(), ["reports: /r"]))
    texts = [t for t, _ in out]
    assert texts[0].startswith("RST-01   failed") and texts[1].strip().startswith("Pod kube-system/a")
    assert texts[2].startswith("KVC-01   passed") and texts[3].startswith("KVC-02   broken")
    assert texts[4].strip() == "could not read: 403"
    assert set(texts[-3].split(", ")) == {"1 passed", "1 failed", "1 broken"}
    assert texts[-2:] == ["reports: /r", "exit code 3"]
    assert dict(out)[texts[0]] == "red" and dict(out)[texts[2]] == "green"


def test_a_stopped_run_names_what_has_no_result_and_each_cleanup_failure() -> None:
    doc = _doc(
        state="interrupted",
        stopped_by="SIGINT",
        unfinished=["MIG-01"],
        cleanup=[{"test": "t", "step": "restore Setting x", "error": "409"}],
    )
    red = [t for t, c in terminal.lines(doc, []) if c == "red" and not t[:3].isupper()]
    assert red == [
        "run stopped early (SIGINT); no result for 1 selected invariant(s): MIG-01",
        "cleanup failed after t: restore Setting x: 409",
    ]
