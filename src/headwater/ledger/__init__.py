"""The ledger: what each sink was handed and what it published, written as the run goes.

Layout under the run's output folder:

    ledger/
      manifest.json                        scenario, seed, span, sinks → entities (key, fields),
                                           faults; `complete` once the run ended normally;
                                           totals handed and, after a failure, unpublished
      committed                            JSON: `part`, the last flush whose files are all
                                           written; `published`, rows per sink and entity made
                                           visible; `proofs` of publications under way; `lost`,
                                           what brokers lost after acknowledging it
                                           (ledger/lost.py)
      <sink>/<entity>/part-000001.parquet  every delivery: seq, txn, op, key, event_time,
                                           ingest_time, fault, copy, version, row (the image)
      <sink>/_intervals/part-000001.parquet  per ingest-time interval, entity and op: events,
                                           duplicates, faulted, checksum
      <sink>/_acks/part-000001.parquet     message sinks: what the broker acknowledged, per
                                           message: event_id, route (topic…), partition, offset

The runner writes a window of steps ahead to the ledger before any sink gets it; what a
sink published is a prefix of what it was handed, per entity: the rows a file renamed into
place or a committed transaction holds, as the sink reports them (`Sink.published`). Right
before publishing, a sink announces a proof (ledger/proof.py), written with the ledger, so a
run killed between publishing and reporting is settled by what exists: readers see exactly
what was published, whatever the point of a `kill -9` or a sink error.

Parts are written whole under a temporary name and renamed; a flush counts once
`committed` names it. After a crash readers see every flush up to the last committed one,
whole, and nothing of a flush cut short.

A message sink (`acked` in the manifest) published what its broker acknowledged: after
a failed run, or when the broker lost acknowledged messages in a crash, readers count the
rows whose event id ('<entity>-<seq>') is among the acknowledgements and not in a `lost`
record, not the prefix the sink was handed. Format 3 (`headwater-ledger/3`) added `lost`
and `acked`; a format 2 ledger is read as one where nothing was lost.
"""

from headwater.ledger.reader import LedgerReader, SinkInfo
from headwater.ledger.writer import LedgerWriter, checksum

__all__ = ["LedgerReader", "LedgerWriter", "SinkInfo", "checksum"]
