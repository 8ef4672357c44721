import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = (
        "Create the development admin user if it is missing and print how to log in. "
        "The password is kept in var/admin-password.txt so every run prints the same one."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--url", default="http://127.0.0.1:8000/admin/")

    def handle(self, *args, username, url, **options):
        if settings.IS_PRODUCTION:
            raise CommandError("ensure_admin is for development; in production use manage.py createsuperuser.")
        User = get_user_model()
        try:
            # The model's own rules (blank, length, characters): create_user checks only the blank
            # one, with a traceback, and SQLite stores a name longer than the column.
            User._meta.get_field(User.USERNAME_FIELD).clean(username, None)
        except ValidationError as exc:
            raise CommandError(f"--username: {' '.join(exc.messages)}") from None
        password_file = settings.VAR_DIR / "admin-password.txt"
        password_file.parent.mkdir(parents=True, exist_ok=True)
        if password_file.exists():
            password = password_file.read_text().strip()
        else:
            password = secrets.token_urlsafe(12)
            # Created readable by its owner only, never with the umask's permissions.
            fd = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(password + "\n")
        user = User.objects.filter(username=username).first()
        if user is None:
            User.objects.create_superuser(username=username, email="", password=password)
        elif not user.check_password(password):
            # The file is the source of truth for the development login.
            user.set_password(password)
            user.is_staff = user.is_superuser = True
            user.save()
        self.stdout.write(f"Admin:    {url}\nUsername: {username}\nPassword: {password}")
