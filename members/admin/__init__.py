"""The members admin, one module per area (Django imports this package)."""

from . import member  # noqa: F401
