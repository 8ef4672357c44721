"""What other apps may use of the retention app, besides its models.

Everything else in ``retention`` is private to it; the import contracts in ``pyproject.toml``
hold that line.
"""

from django.db.models import Subquery

from retention.models import RetentionRun
from retention.policies import DEFAULTS
from retention.services.status import PolicyStatus, policy_status


def last_run_of_each_policy() -> list[RetentionRun]:
    """Each policy's newest run, dry runs aside, in the retention table's order; a policy never run has none.

    One query, one probe of retentionrun_policy_idx per policy: the admin's dashboard shows it on
    every visit, and ``policy_status`` also counts what has expired, which reads whole tables.
    """
    newest = [
        Subquery(
            RetentionRun.objects.filter(policy=name, dry_run=False).order_by("-started_at", "-id").values("id")[:1]
        )
        for name in DEFAULTS
    ]
    runs = {run.policy: run for run in RetentionRun.objects.filter(pk__in=newest)}
    return [runs[name] for name in DEFAULTS if name in runs]


__all__ = ["PolicyStatus", "last_run_of_each_policy", "policy_status"]
