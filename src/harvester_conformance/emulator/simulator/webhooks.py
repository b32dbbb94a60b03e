"""Harvester's admission webhooks, as served by the simulator (facts.md §2.3, §15.2).

Each handler takes the AdmissionReview request and returns (allowed, message, patch).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from harvester_conformance.cluster.client import Cluster
from harvester_conformance.emulator.simulator import setting_validator

Result = tuple[bool, str, list[dict] | None]
ROUTES: dict[str, Callable[[dict, Cluster], Result]] = {}


def route(path: str):
    def deco(fn: Callable[[dict, Cluster], Result]) -> Callable[[dict, Cluster], Result]:
        ROUTES[path] = fn
        return fn

    return deco


def respond(review: dict, handler: Callable[[dict, Cluster], Result], cluster: Cluster) -> dict[str, Any]:
    request = review.get("request") or {}
    try:
        allowed, message, patch = handler(request, cluster)
    except Exception as exc:  # noqa: BLE001 - a webhook error is a denial with the reason
        allowed, message, patch = False, f"internal error: {type(exc).__name__}: {exc}", None
    response: dict[str, Any] = {"uid": request.get("uid", ""), "allowed": allowed}
    if not allowed:
        response["status"] = {"code": 400, "message": message, "reason": "BadRequest"}
    if patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}


SETTING_PATH = "/v1/harvester/harvesterhci.io.settings/validate"


@route(SETTING_PATH)
def validate_setting(request: dict, cluster: Cluster) -> Result:
    if request.get("operation") not in ("CREATE", "UPDATE"):
        return True, "", None
    allowed, message = setting_validator.validate(request.get("object") or {}, cluster)
    return allowed, message, None
