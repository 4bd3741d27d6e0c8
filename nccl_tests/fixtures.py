"""Fixtures and options for nccl-tests runs."""
