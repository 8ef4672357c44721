"""manage.py api_key create NAME --scopes read:signals ... | revoke PREFIX | list"""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from omen_site.api.keys import SCOPES, ApiKey, printable


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
            try:
                key, raw = ApiKey.issue(options["name"], options["scopes"])
            except ValidationError as exc:
                raise CommandError(
                    "no key created: "
                    + "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items())
                ) from None
            except ValueError as exc:
                raise CommandError(f"no key created: {exc}") from None
            self.stdout.write(raw)
            self.stderr.write(f"key {key.prefix} for {key.name!r}, scopes {' '.join(key.scopes)}: store it now")
        elif action == "revoke":
            key = ApiKey.objects.filter(prefix=options["prefix"].removeprefix("omen_").split("_")[0]).first()
            if key is None:
                raise CommandError(f"no key with the prefix {options['prefix']!r}")
            if key.revoke():
                self.stdout.write(f"revoked {key}")
            else:
                when = f"{key.revoked_at:%Y-%m-%d %H:%M:%S %Z}"
                self.stdout.write(f"{key} was already revoked, at {when}: nothing changed")
        else:
            for key in ApiKey.objects.order_by("created_at"):
                state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked else "live"
                used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
                name = printable(key.name)  # one stored before names were checked may hold a newline
                self.stdout.write(f"{key.prefix}  {name}  {' '.join(key.scopes)}  last used {used}  {state}")
