"""manage.py api_key create NAME --scopes read:signals ... | revoke PREFIX | list"""

from django.core.management.base import BaseCommand, CommandError

from omen_site.api.keys import SCOPES, ApiKey


class Command(BaseCommand):
    help = "Create, revoke and list API keys. A key is printed once, at creation; only its hash is kept."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="create a key and print it (the only time it is shown)")
        create.add_argument("name", help="who or what uses the key")
        create.add_argument("--scopes", nargs="+", required=True, choices=SCOPES, help="what the key may do")
        revoke = actions.add_parser("revoke", help="revoke a key: every process refuses it within a second")
        revoke.add_argument("prefix", help="the key's visible prefix (omen_<prefix>_...)")
        actions.add_parser("list", help="every key: prefix, name, scopes, last use, revoked")

    def handle(self, *args, action, **options):
        if action == "create":
            key, raw = ApiKey.issue(options["name"], options["scopes"])
            self.stdout.write(raw)
            self.stderr.write(f"key {key.prefix} for {key.name!r}, scopes {' '.join(key.scopes)}: store it now")
        elif action == "revoke":
            key = ApiKey.objects.filter(prefix=options["prefix"].removeprefix("omen_").split("_")[0]).first()
            if key is None:
                raise CommandError(f"no key with the prefix {options['prefix']!r}")
            key.revoke()
            self.stdout.write(f"revoked {key}")
        else:
            for key in ApiKey.objects.order_by("created_at"):
                state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked else "live"
                used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
                self.stdout.write(f"{key.prefix}  {key.name}  {' '.join(key.scopes)}  last used {used}  {state}")
