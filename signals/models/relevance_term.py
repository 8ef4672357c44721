from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from signals.pipeline import vocab
from signals.pipeline.text import BLOCK, WATCH, words
from utilities.text import unprintable


class RelevanceTerm(models.Model):
    """A term an operator adds to the relevance vocabulary, without a deploy.

    Watch terms count as risk terms of their category; blocked terms veto a question that names
    them (as the built-in sports and entertainment blocklist does). Enabled terms are merged over
    the built-in vocabulary at the next ingest, and the ruleset version every new signal records
    changes with them (``signals.services.vocabulary``); signals already stored keep theirs.
    """

    class Kind(models.TextChoices):
        WATCH = WATCH, "watch (a risk term)"
        BLOCK = BLOCK, "block (off-topic)"

    Category = models.TextChoices("Category", [(name, name) for name in vocab.RISK_CATEGORIES])

    term = models.CharField(
        max_length=200,
        unique=True,
        help_text="A word or phrase, matched whole-word and case-insensitively; a trailing (s) adds the plural.",
    )
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.WATCH)
    category = models.CharField(
        max_length=16,
        choices=Category.choices,
        blank=True,
        help_text="The risk category a watch term counts for; blocked terms have none.",
    )
    weight = models.FloatField(
        default=1.0,
        validators=[MinValueValidator(0.1), MaxValueValidator(5.0)],
        help_text="How much a watch term counts beside a built-in term (1).",
    )
    enabled = models.BooleanField(default=True)
    note = models.TextField(blank=True, help_text="Why this term was added.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )

    class Meta:
        ordering = ("term",)

    def __str__(self):
        return f"{self.term} ({self.kind})"

    def clean(self):
        # A zero-width space or soft hyphen pasted with a word kept it from matching any title,
        # and the term looked like the word everywhere it was listed.
        invisible = unprintable(self.term)
        if invisible:
            found = ", ".join(f"U+{ord(c):04X}" for c in invisible)
            raise ValidationError(
                {"term": f"A term cannot hold invisible or control characters (it has {found}): type it again."}
            )
        normalised = " ".join(words(self.term.replace("(s)", "").replace("(es)", "")))
        if not normalised:
            raise ValidationError({"term": "A term needs at least one letter or digit."})
        suffix = "(es)" if self.term.strip().endswith("(es)") else "(s)" if self.term.strip().endswith("(s)") else ""
        self.term = normalised + suffix
        if self.kind == self.Kind.WATCH and not self.category:
            raise ValidationError({"category": "A watch term needs the risk category it counts for."})
        if self.kind == self.Kind.BLOCK:
            self.category = ""
