"""The ledger: what each sink accepted, written as the run goes, read back by verify.

Layout under the run's output folder:

    ledger/
      manifest.json                        scenario, seed, span, sinks → entities (key, fields),
                                           faults; `complete` once the run ended normally
      committed                            number of the last flush whose files are all written
      <sink>/<entity>/part-000001.parquet  every delivery: seq, txn, op, key, event_time,
                                           ingest_time, fault, copy, version, row (the image)
      <sink>/_intervals/part-000001.parquet  per ingest-time interval, entity and op: events,
                                           duplicates, faulted, checksum
      <sink>/_acks/part-000001.parquet     message sinks: what the broker acknowledged, per
                                           message: event_id, route (topic…), partition, offset

Parts are written whole under a temporary name and renamed; a flush counts once
`committed` names it. After a crash (even `kill -9`) readers see every flush up to the last
committed one, whole, and nothing of a flush cut short.
"""

from __future__ import annotations

from headwater.ledger.reader import LedgerReader, SinkInfo
from headwater.ledger.writer import LedgerWriter, checksum

__all__ = ["LedgerReader", "LedgerWriter", "SinkInfo", "checksum"]
