"""AIOS: the shared language of the system (settings, models, errors, plans, CLI, dev stack)."""
