"""The members admin, one module per area (Django imports this package)."""

from . import levels, member, tags  # noqa: F401
