"""The one layer through which the suite and the emulator talk to a cluster."""
