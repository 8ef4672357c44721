"""What other apps may use of the retention app, besides its models.

Everything else in ``retention`` is private to it; the import contracts in ``pyproject.toml``
hold that line.
"""

from retention.services.status import PolicyStatus, policy_status

__all__ = ["PolicyStatus", "policy_status"]
