"""Helpers that know no app: bulk SQL, read-only admin pages, system-check pieces, thread timing.

Any app may import them; they import no app (the import contracts in pyproject.toml hold it).
"""
