"""Deterministic identity of a signal: input hash, trace id, signal id."""

from __future__ import annotations

from hashlib import sha256

from .events import RawEvent

# The rules' release. Bump it whenever a rule or a formula changes. A signal records the
# effective version, this plus a short hash of the vocabulary that decided it
# (``text.Vocabulary.ruleset_version``), so a vocabulary change gives new trace ids too.
RULESET_VERSION = "2026.12.0"


def input_event_hash(event: RawEvent) -> str:
    """Full SHA-256 hex of the event's content fields; ``observed_at`` excluded.

    A closed market's state, outcome and closing time are content too (an open market's hash
    is as it always was): the final observation of a market whose price did not move still
    differs from its last open one, so it gets a signal of its own.
    """
    movement = "" if event.movement is None else f"{event.movement:.10f}"
    content = "|".join(
        (
            event.event_id,
            event.title,
            event.description,
            f"{event.probability:.10f}",
            movement,
            ",".join(sorted(event.keywords)),
            event.source,
            event.market_id,
            f"{event.volume:.2f}",
            f"{event.liquidity:.2f}",
        )
    )
    if event.closed_state:
        closed_at = "" if event.closed_at is None else event.closed_at.isoformat()
        content += f"|{event.closed_state}|{event.outcome or ''}|{closed_at}"
    return sha256(content.encode("utf-8")).hexdigest()


def trace_id(input_hash: str, ruleset_version: str) -> str:
    """First 16 hex of SHA-256 over hash, ruleset version and outcome."""
    return sha256(f"{input_hash}|{ruleset_version}|validated".encode()).hexdigest()[:16]


def signal_id(trace: str) -> str:
    return "OMEN-" + trace[:12].upper()


def news_fingerprint(title: str, domain: str) -> str:
    """SHA-256 of the normalised title (lower-case words) and the bare domain."""
    from .text import words  # local: text.py compiles the vocabularies

    normalised = " ".join(words(title))
    return sha256(f"{normalised}|{normalise_domain(domain)}".encode()).hexdigest()


def normalise_domain(domain: str) -> str:
    domain = domain.strip().lower().rstrip(".")
    return domain[4:] if domain.startswith("www.") else domain
