import logging
import sys

from django.apps import AppConfig

logger = logging.getLogger("omen.startup")


class OmenSiteConfig(AppConfig):
    name = "omen_site"
    verbose_name = "OMEN site"

    def ready(self):
        from omen_site import checks  # noqa: F401  (registers the system checks)
        from omen_site.storage import describe_storage

        storage = describe_storage()
        logger.info(
            "OMEN %s mode (%s): database=%s broker=%s cache=%s ledger_dir=%s",
            storage.mode,
            " ".join(sys.argv[:2]) or "python",
            storage.database,
            storage.broker,
            storage.cache,
            storage.ledger_dir,
        )
