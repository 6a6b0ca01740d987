"""Lifecycle use cases that read orders and act through the lower apps' services."""
