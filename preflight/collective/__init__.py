"""Collective communication preflight: torch.distributed across the nodes, and launchers."""
