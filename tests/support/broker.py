"""The real Redis the integration tests use as Celery's broker (database 15, emptied around each test)."""

REDIS_URL = "redis://127.0.0.1:6379/15"
