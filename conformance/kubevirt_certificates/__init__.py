"""Article: KubeVirt Certificates Rotation (kb/kubevirt_certificates_rotation.md)."""
