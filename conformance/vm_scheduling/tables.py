"""The article's Tables 1 to 4 (kb/vm-scheduling.md), transcribed, and the model's value for
every cell. Each node has 6 cores and 16,776,437,760 B allocatable; the requested values are those
kube-scheduler logged (existing pods plus the incoming VM's virt-launcher pod)."""

from __future__ import annotations

from harvester_conformance.checks import vm_scheduling as vs

CPU, MEMORY = 6000, 16776437760
OTHER = 1000354  # ImageLocality 54 + NodePreferAvoidPods 1,000,000 + PodTopologySpread 200 + TaintToleration 100
# One more 1 CPU / 1 GiB VM on a node (Table 4): 62m CPU (1000m at 1600%) and 894,783,488 B (682Mi
# at 150% plus KubeVirt 0.49's overhead), the VM1 -> VM2 delta of Table 2.
VM_DELTA = (62, 894783488)

# table, case, node: (cpu requested, memory requested, BalancedAllocation, LeastAllocated, Total)
SCORED: dict[tuple[str, str, str], tuple[int, int, int, int, int]] = {
    ("Table 1", "VM", "harvester-node-0"): (9960, 15166603264, 0, 4, 1000358),
    ("Table 1", "VM", "harvester-node-1"): (5560, 6352273408, 45, 34, 1000433),
    ("Table 1", "VM", "harvester-node-2"): (5350, 5941231616, 46, 37, 1000437),
    ("Table 2", "VM 1", "harvester-node-0"): (9022, 14807289856, 0, 5, 1000359),
    ("Table 2", "VM 1", "harvester-node-1"): (4622, 5992960000, 58, 43, 1000455),
    ("Table 2", "VM 1", "harvester-node-2"): (4412, 5581918208, 59, 46, 1000459),
    ("Table 2", "VM 2", "harvester-node-0"): (9022, 14807289856, 0, 5, 1000359),
    ("Table 2", "VM 2", "harvester-node-1"): (4622, 5992960000, 58, 43, 1000455),
    ("Table 2", "VM 2", "harvester-node-2"): (4474, 6476701696, 64, 43, 1000461),
    ("Table 3", "VM 1", "harvester-node-0"): (9960, 15166603264, 0, 4, 1000358),
    ("Table 3", "VM 1", "harvester-node-1"): (5560, 6352273408, 45, 34, 1000433),
    ("Table 3", "VM 1", "harvester-node-2"): (5350, 5941231616, 46, 37, 1000437),
    ("Table 3", "VM 2", "harvester-node-0"): (9960, 15166603264, 0, 4, 1000358),
    ("Table 3", "VM 2", "harvester-node-1"): (5560, 6352273408, 45, 34, 1000433),
    ("Table 3", "VM 2", "harvester-node-2"): (6350, 7195328512, 0, 28, 1000382),
}
# Table 3 prints 1000358 for VM 1 on harvester-node-1: a slip of the article (its own log and
# Table 1, the same inputs, give 45 + 34 + 1000354 = 1000433); kept here as printed and named.
ARTICLE_SLIPS = {("Table 3", "VM 1", "harvester-node-1", "Total"): 1000358}

# Table 4: the total for the n-th VM; node-0 and node-1 keep their Table 2 requests, node-2
# gets every VM (base = Table 2 VM 1's node-2 requests).
TABLE4 = {
    "harvester-node-0": [1000359] * 12,
    "harvester-node-1": [1000455] * 12,
    "harvester-node-2": [1000459, 1000461, 1000462, 1000462, 1000463, 1000465,
                         1000466, 1000467, 1000469, 1000469, 1000465, 1000457],
}  # fmt: skip
TABLE4_BASE = {
    "harvester-node-0": (9022, 14807289856, False),
    "harvester-node-1": (4622, 5992960000, False),
    "harvester-node-2": (4412, 5581918208, True),
}


def _load(cpu: int, mem: int) -> vs.NodeLoad:
    return vs.NodeLoad(CPU, MEMORY, cpu, mem)


def scored_cells() -> list[tuple[str, int, int]]:
    """(cell, article value, model value) for every number of Tables 1 to 4."""
    cells = []
    for (table, case, node), (cpu, mem, ba, la, total) in SCORED.items():
        n = _load(cpu, mem)
        model = {
            "BalancedAllocation": vs.balanced_allocation(n, (1, 21)),
            "LeastAllocated": vs.least_allocated(n),
            "Total": vs.total_score_121(n),
        }
        for name, want in (("BalancedAllocation", ba), ("LeastAllocated", la), ("Total", total)):
            cells.append((f"{table} {case} {node} {name}", want, model[name]))
        assert vs.total_score_121(n) - model["BalancedAllocation"] - model["LeastAllocated"] == OTHER
    for node, totals in TABLE4.items():
        cpu, mem, grows = TABLE4_BASE[node]
        for i, want in enumerate(totals):
            k = i if grows else 0
            n = _load(cpu + k * VM_DELTA[0], mem + k * VM_DELTA[1])
            cells.append((f"Table 4 VM {i + 1} {node} Total", want, vs.total_score_121(n)))
    return cells
