"""Fixtures and options for the collective probes (torch.distributed, launchers)."""
