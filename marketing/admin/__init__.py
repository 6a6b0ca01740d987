"""The marketing admin, one module per area (Django imports this package)."""
