"""``POST /api/v1/signals/ingest/``: a partner pushes a source's reply through the same pipeline and ledger.

The reply is parsed by the source's own parser and ingested as a poll's would be: every record
becomes a signal (framed in the ledger when its transaction commits) or a rejection naming the
rule, and the answer lists each record's outcome in the order sent. Replaying the same request
is harmless (signal ids are deterministic); an ``Idempotency-Key`` header also returns the first
answer again (``omen_site.api.idempotency``).
"""

from datetime import UTC, datetime, timedelta

from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from signals.pipeline.events import ParseFailure, RawEvent
from signals.services.ingest import signals_ingest
from signals.sources.polymarket import MAX_YEAR, MIN_YEAR
from signals.sources.registry import SOURCES
from utilities.query_parameters import QueryParametersChecked

WRITE_SIGNALS = "write:signals"
# Records one request takes. API_MAX_BODY_BYTES bounds bytes, not records: 10 MiB of "1," is five
# million records (a parse, a rejection and an outcome each), a worker's minutes and an answer of
# a gigabyte. 10 MiB of real Gamma markets is about 2,000; 10,000 rejected ones take about a second.
MAX_RECORDS = 10_000
# How far ahead of this server's clock a partner's may run: a fetch time later than this is refused.
FETCHED_AT_SKEW = timedelta(minutes=5)
# The sources a reply can come from: the polled ones (not "original", which only import writes).
INGEST_SOURCES = tuple(sorted(SOURCES))


class IngestRequestSerializer(serializers.Serializer):
    source = serializers.ChoiceField(choices=INGEST_SOURCES, help_text="Whose shape the reply has.")
    reply = serializers.JSONField(help_text="The source's reply, as its API sent it.")
    fetched_at = serializers.DateTimeField(
        required=False, help_text=f"When the reply was fetched ({MIN_YEAR} to now); default: now."
    )

    def validate(self, attrs):
        # Counted before the source's parser reads any: parsing is much of the cost bounded here.
        count = SOURCES[attrs["source"]].records_in(attrs["reply"])
        if count > MAX_RECORDS:
            message = f"The reply holds {count:,} records; a request takes at most {MAX_RECORDS:,}: send it in parts."
            raise serializers.ValidationError({"reply": [message]})
        return attrs

    def validate_fetched_at(self, value):
        # The years the parsers take of a record's own times: a record without one is observed at
        # its fetch time, and year 1 was an OverflowError where ingest looks back over a market's
        # history (a 500), year 9999 every market past its end date (ingest_file's --fetched-at too).
        if not MIN_YEAR <= value.astimezone(UTC).year <= MAX_YEAR:
            raise serializers.ValidationError(f"A fetch time between the years {MIN_YEAR} and {MAX_YEAR}.")
        # Nor one in the future: a market's row moves only forward in time, so an observation
        # dated ahead left every later one, polls' included, older, and the market as it left it.
        if value > timezone.now() + FETCHED_AT_SKEW:
            raise serializers.ValidationError(
                f"A fetch time in the future (this server's clock reads {timezone.now():%Y-%m-%dT%H:%M:%SZ})."
            )
        return value


class RecordOutcomeSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=["created", "existing", "rejected"])
    source = serializers.CharField()
    external_id = serializers.CharField(allow_blank=True)
    signal_id = serializers.CharField(allow_null=True)
    status = serializers.CharField(allow_null=True, help_text="The rejection's status, e.g. REJECTED_RELEVANCE.")
    rule = serializers.CharField(allow_null=True)
    field = serializers.CharField(allow_null=True)
    reason = serializers.CharField(allow_null=True)


class IngestReplySerializer(serializers.Serializer):
    fetched = serializers.IntegerField()
    created = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    rejected = serializers.IntegerField()
    records = RecordOutcomeSerializer(many=True)


class SignalIngest(QueryParametersChecked, APIView):
    read_scope = WRITE_SIGNALS  # nothing to read here; a GET is refused like a POST without the scope
    write_scope = WRITE_SIGNALS

    @extend_schema(request=IngestRequestSerializer, responses=IngestReplySerializer)
    def post(self, request):
        given = IngestRequestSerializer(data=request.data)
        given.is_valid(raise_exception=True)
        source = given.validated_data["source"]
        fetched_at = given.validated_data.get("fetched_at") or timezone.now()
        try:
            records = SOURCES[source].parser(given.validated_data["reply"], fetched_at=fetched_at)
        except ValueError as exc:  # the reply as a whole is not one of this source's
            raise serializers.ValidationError({"reply": [str(exc)]}) from exc
        if not SOURCES[source].forecasts:
            latest = timezone.now() + FETCHED_AT_SKEW
            records = [_not_ahead(record, latest, SOURCES[source].observed_at_field) for record in records]
        summary = signals_ingest(records=records, keep_outcomes=True, pushed=True)
        return Response(
            IngestReplySerializer(
                {
                    "fetched": summary.fetched,
                    "created": summary.created,
                    "unchanged": summary.unchanged,
                    "rejected": summary.rejected,
                    "records": [
                        _described(record, outcome) for record, outcome in zip(records, summary.outcomes, strict=True)
                    ],
                }
            ).data
        )


def _not_ahead(record: RawEvent | ParseFailure, latest: datetime, field: str) -> RawEvent | ParseFailure:
    """The record, or its rejection when it says it was observed after it arrived here.

    A market's row (SourceEvent) moves only forward in time: a record observed ahead of this
    server's clock left every later observation of it, polls' included, older, and the market's
    probability, title and latest signal as the push left them.
    """
    if isinstance(record, ParseFailure) or record.observed_at <= latest:
        return record
    reason = (
        f"{record.source} {record.external_id}: {field} {record.observed_at:%Y-%m-%dT%H:%M:%SZ} is after "
        f"this server received the record ({timezone.now():%Y-%m-%dT%H:%M:%SZ})"
    )
    return ParseFailure(record.source, record.external_id, field, reason, record.title[:200])


def _described(record, outcome) -> dict:
    rejection = outcome.rejection
    if rejection is not None:
        return {
            "outcome": "rejected",
            "source": rejection.source,
            "external_id": rejection.external_id,
            "signal_id": None,
            "status": rejection.status,
            "rule": rejection.rule,
            "field": rejection.field or None,
            "reason": rejection.reason,
        }
    return {
        "outcome": "created" if outcome.created else "existing",
        "source": record.source,
        "external_id": record.external_id,
        "signal_id": outcome.signal_id,
        "status": None,
        "rule": None,
        "field": None,
        "reason": None,
    }
