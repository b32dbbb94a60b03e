"""The emulated Harvester cluster: real control plane, simulated Harvester/KubeVirt/Longhorn."""
