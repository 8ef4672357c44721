"""The real Redis the integration tests use as Celery's broker (emptied around each test).

Database 15 unless OMEN_TEST_REDIS_DB says another: ``make test`` runs its two passes at once,
each with a database of its own, so that one pass's workers never take the other's tasks.
"""

import os

REDIS_URL = f"redis://127.0.0.1:6379/{int(os.environ.get('OMEN_TEST_REDIS_DB', '15'))}"
