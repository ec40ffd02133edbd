"""verify: compare what a pipeline landed (the target) with what headwater delivered (the ledger).

    report = verify("out/shop/ledger", "landing.duckdb", sink="changes")
    report.ok            # False when a row is missing, unexpected, duplicated or wrong
    report.as_dict()     # the JSON report

Per entity it reports rows expected vs found, missing and unexpected keys, duplicates,
rows whose final state differs (field by field, and whether an older version landed),
values of the wrong type, late data past a watermark, and freshness percentiles when the
target has a processing-time column. See compare.py for the rules and targets/ for the
kinds of target.
"""

from headwater.verify._verify import verify
from headwater.verify.report import VerifyReport

__all__ = ["VerifyReport", "verify"]
