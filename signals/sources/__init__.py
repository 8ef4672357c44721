"""The sources OMEN reads: one parser module per source, the HTTP fetch, and the registry.

* ``polymarket``, ``openmeteo``, ``news`` (NewsAPI, NewsData), ``yahoo``: pure parsers, decoded
  reply -> RawEvent per record, or a ParseFailure naming the bad field;
* ``field_readers``: the field checks every parser shares;
* ``http``: ``fetch_json`` with timeouts, retries, size and time caps;
* ``registry``: ``SOURCES``, the one list of sources, their parsers and poll requests.

Nothing here touches the database or the ledger: the poll and ingest services do.
"""
