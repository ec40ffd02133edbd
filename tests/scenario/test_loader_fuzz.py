"""A bounded, seeded fuzz of the loader: random documents and mutated examples either load or
raise a HeadwaterError (a user error with a message), never another exception."""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.scenario.fuzz import documents, load_both


@settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(documents(), st.text(max_size=10))
def test_only_headwater_errors_escape_the_loader(text, var):
    load_both(text, {"V": var})
