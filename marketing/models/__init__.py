"""The marketing app's models, one module per area; everything is importable from here."""
