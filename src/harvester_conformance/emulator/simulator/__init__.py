"""Stand-ins for the Harvester, KubeVirt and Longhorn controllers and webhooks.

They follow the articles and upstream facts (facts.md), never the suite's code: the
simulator deliberately shares no logic with `checks/`, so the suite can find its faults.
"""
