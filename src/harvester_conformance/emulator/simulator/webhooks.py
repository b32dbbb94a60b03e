"""Harvester's admission webhooks, as served by the simulator (facts.md §2.3, §15.2).

Each handler takes the AdmissionReview request and returns (allowed, message, patch). CRD
conversion webhooks register in CONVERSIONS: a converter takes one object and the desired
apiVersion and returns the converted object, or raises ConversionError.
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
Converter = Callable[[dict, str, Cluster], dict]
CONVERSIONS: dict[str, Converter] = {}


class ConversionError(Exception):
    """The converter refuses the object: the whole ConversionReview fails with this message."""


def route(path: str):
    def deco(fn: Callable[[dict, Cluster], Result]) -> Callable[[dict, Cluster], Result]:
        ROUTES[path] = fn
        return fn

    return deco


def conversion(path: str):
    def deco(fn: Converter) -> Converter:
        CONVERSIONS[path] = fn
        return fn

    return deco


def respond_conversion(review: dict, converter: Converter, cluster: Cluster) -> dict[str, Any]:
    """A ConversionReview answered in the review's own apiVersion (apiextensions.k8s.io/v1 or
    v1beta1, whichever the CRD's conversionReviewVersions made the apiserver send): every object
    converted, or a Failure for the whole request, as the apiserver expects."""
    request = review.get("request") or {}
    response: dict[str, Any] = {"uid": request.get("uid", "")}
    try:
        desired = request["desiredAPIVersion"]
        response["convertedObjects"] = [converter(obj, desired, cluster) for obj in request.get("objects") or []]
        response["result"] = {"status": "Success"}
    except Exception as exc:  # noqa: BLE001 - a converter error fails the review with the reason
        message = str(exc) if isinstance(exc, ConversionError) else f"internal error: {type(exc).__name__}: {exc}"
        response = {"uid": response["uid"], "result": {"status": "Failure", "message": message}}
    api_version = review.get("apiVersion") or "apiextensions.k8s.io/v1"
    return {"apiVersion": api_version, "kind": "ConversionReview", "response": response}


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
