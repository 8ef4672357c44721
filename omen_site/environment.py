"""Reading settings from the environment strictly: a value its variable cannot take stops start-up.

django-environ reads ``DEBUG=ture`` as false, ``HEALTH_CHECK_TIMEOUT_SECONDS=3s`` as 3.0 and
``1,5`` as 1.5, and answers ``TRUSTED_PROXIES=x`` with a ValueError that names no variable. Here
a boolean is one of a few words, a number is written as one (no unit, no thousands separator,
no exponent), a range is checked where one is given, and every refusal is an ImproperlyConfigured
naming the variable, the value and what it takes: ``omen_site/startup.py`` turns it into one line.
An empty value is refused like any other, not taken for "unset".

Imported by settings.py: nothing here may import a model or Django's settings.
"""

import re

import environ
from django.core.exceptions import ImproperlyConfigured

# django-environ's own words for true (true on ok y yes 1), so a value that worked still does.
TRUE_WORDS = frozenset(environ.Env.BOOLEAN_TRUE_STRINGS)
FALSE_WORDS = frozenset({"false", "off", "n", "no", "0"})
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")
_NUMBER = re.compile(r"[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)")


def shown(number) -> str:
    """10485760, 3, 0.5: as an operator would write it (a float without its ".0")."""
    return f"{number:g}" if isinstance(number, float) and number.is_integer() and abs(number) < 1e15 else str(number)


def span(minimum=None, maximum=None) -> str:
    """ " from 1 to 60", " 1 or more", " at most 60", or nothing: what follows "a number"."""
    if minimum is not None and maximum is not None:
        return f" from {shown(minimum)} to {shown(maximum)}"
    if minimum is not None:
        return f" {shown(minimum)} or more"
    if maximum is not None:
        return f" at most {shown(maximum)}"
    return ""


class StrictEnv(environ.Env):
    """``environ.Env`` whose bool, int and float refuse what they cannot read, and whose lists
    drop blank entries (``ALLOWED_HOSTS=" "`` is empty, not one host called " ").

    Every call names its default: a variable left unset takes it; a variable that is set is
    read, whatever it holds.
    """

    def bool(self, var, default):
        raw = self.ENVIRON.get(var)
        if raw is None:
            return default
        word = raw.strip().lower()
        if word in TRUE_WORDS or word in FALSE_WORDS:
            return word in TRUE_WORDS
        raise ImproperlyConfigured(
            f"{var}={raw!r} is neither true nor false: set it to true or false "
            f"(or 1/0, yes/no, on/off), or unset it (default {str(default).lower()})."
        )

    def int(self, var, default, *, minimum=None, maximum=None):
        return self._number(var, default, minimum, maximum, whole=True)

    def float(self, var, default, *, minimum=None, maximum=None):
        return self._number(var, default, minimum, maximum, whole=False)

    def list(self, var, default=environ.Env.NOTSET):
        """Comma-separated strings, each stripped, empty ones dropped (no ``cast``: entries are
        stripped as text, and no setting here lists anything else)."""
        return [entry for entry in (e.strip() for e in super().list(var, default=default)) if entry]

    def _number(self, var, default, minimum, maximum, *, whole):
        raw = self.ENVIRON.get(var)
        kind = "a whole number" if whole else "a number"
        if raw is None:
            value = default
        elif (_WHOLE_NUMBER if whole else _NUMBER).fullmatch(raw.strip()):
            value = int(raw) if whole else float(raw)
        else:
            raise ImproperlyConfigured(
                f"{var}={raw!r} is not {kind}: set it to {kind}{span(minimum, maximum)} in digits alone "
                f"(no unit, no comma), or unset it (default {shown(default)})."
            )
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise ImproperlyConfigured(
                f"{var}={shown(value)} is out of range: set it to {kind}{span(minimum, maximum)} "
                f"(default {shown(default)})."
            )
        return value
