"""The ledger: what each sink accepted, written as the run goes, read back by verify.

Layout under the run's output folder:

    ledger/
      manifest.json                        scenario, seed, span, sinks → entities (key, fields),
                                           faults; `complete` once the run ended normally
      <sink>/<entity>/part-000001.parquet  every delivery: seq, txn, op, key, event_time,
                                           ingest_time, fault, copy, version, row (the image)
      <sink>/_intervals/part-000001.parquet  per ingest-time interval, entity and op: events,
                                           duplicates, faulted, checksum

Parts are written whole under a temporary name and renamed, so after a crash (even
`kill -9`) every part present is complete and the ledger is valid up to its last flush.
"""

from __future__ import annotations

from headwater.ledger.reader import LedgerReader, SinkInfo
from headwater.ledger.writer import LedgerWriter, checksum

__all__ = ["LedgerReader", "LedgerWriter", "SinkInfo", "checksum"]
