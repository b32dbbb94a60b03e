"""The emulated cluster's behaviour by area. Each area module contributes, through the same
six names, what the seed, the simulator and the fault injector pick up:

- `seed(cl, spec, state_dir, progress)`: the profile's objects of that area (after the core seed)
- `ready(cl, spec) -> bool`: whether the area's seeded objects have settled (polled by `up`)
- `CONTROLLERS`: list of (name, factory(cluster, state_dir) -> reconcile(), resync period in s)
- `WEBHOOKS`: list of webhook registrations (see `emulator.seed.register_webhooks`)
- `FAULTS`: list of `emulator.faults.Fault`
- `API_GROUPS`: list of (path prefix, serve_get(cluster, path, query, peer_cn, headers) -> (status,
  body)) for aggregated APIs the simulator serves behind an APIService

Adding an area is adding a module here and naming it in AREAS.
"""

from __future__ import annotations

from harvester_conformance.emulator.areas import (
    harvester_hosts,
    harvester_settings,
    kubevirt_workloads,
    longhorn,
    metrics_server,
    trident,
    upgrade_hazards,
)

AREAS = (harvester_settings, kubevirt_workloads, longhorn, harvester_hosts, metrics_server, trident, upgrade_hazards)
