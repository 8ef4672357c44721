"""manage.py ensure_admin: one development admin whose password every run prints the same."""

import stat
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def var_dir(tmp_path, settings):
    settings.VAR_DIR = tmp_path / "var"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # which password, not how hashed
    return settings.VAR_DIR


def ensure_admin(*args: str) -> dict[str, str]:
    """Run the command; return what it printed as {"Admin": ..., "Username": ..., "Password": ...}."""
    out = StringIO()
    call_command("ensure_admin", *args, stdout=out)
    return {key: value.strip() for key, value in (line.split(":", 1) for line in out.getvalue().splitlines())}


def test_the_first_run_creates_a_superuser_with_a_password_kept_for_its_owner_only(var_dir):
    printed = ensure_admin("--url", "http://127.0.0.1:8123/admin/")

    password_file = var_dir / "admin-password.txt"
    assert printed == {"Admin": "http://127.0.0.1:8123/admin/", "Username": "admin", "Password": printed["Password"]}
    assert password_file.read_text() == printed["Password"] + "\n"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    user = User.objects.get(username="admin")
    assert user.is_superuser and user.is_staff
    assert user.check_password(printed["Password"])


def test_every_later_run_prints_the_same_password_and_creates_no_second_user(var_dir):
    first = ensure_admin()

    second = ensure_admin()

    assert second == first
    assert User.objects.count() == 1


def test_the_password_file_wins_over_a_password_changed_in_the_database(var_dir):
    printed = ensure_admin()
    user = User.objects.get(username="admin")
    user.set_password("changed-in-the-admin")
    user.is_superuser = False
    user.save()

    assert ensure_admin() == printed

    user.refresh_from_db()
    assert user.check_password(printed["Password"])
    assert user.is_superuser and user.is_staff


def test_another_username_is_created_beside_the_first_with_the_same_password(var_dir):
    first = ensure_admin()

    printed = ensure_admin("--username", "analyst")

    assert (printed["Username"], printed["Password"]) == ("analyst", first["Password"])
    assert User.objects.get(username="analyst").check_password(first["Password"])


def test_production_refuses_and_creates_nothing(var_dir, settings):
    settings.IS_PRODUCTION = True

    with pytest.raises(CommandError, match="in production use manage.py createsuperuser"):
        ensure_admin()

    assert not User.objects.exists()
    assert not (var_dir / "admin-password.txt").exists()


@pytest.mark.parametrize(
    ("username", "words"),
    [
        ("", "This field cannot be blank"),
        ("x" * 151, "at most 150 characters"),
        ("bad name!", "Enter a valid username"),
    ],
)
def test_a_username_the_user_model_refuses_is_one_line_naming_the_option(var_dir, username, words):
    """The fault probe's `--username ""` ended in create_user's traceback; 500 characters made the user on SQLite."""
    with pytest.raises(CommandError, match=f"^--username: .*{words}"):
        ensure_admin("--username", username)
    assert not User.objects.exists()
