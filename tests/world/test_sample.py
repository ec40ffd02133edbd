"""Standalone sampling: same rows however the work is split, and through pandas/polars."""

from headwater.world.sample import CHUNK, sample, sample_chunks

from tests.helpers import scenario


def test_workers_do_not_change_what_is_generated():
    sc = scenario()
    n = CHUNK + 1000
    one = sample(sc, "orders", n)
    two = sample(sc, "orders", n, workers=2)
    assert one.equals(two)


def test_any_slice_equals_the_same_rows_of_the_whole():
    sc = scenario()
    whole = sample(sc, "customers", 2000)
    part = next(sample_chunks(sc, "customers", 500, start=700))
    assert part.equals(whole.slice(700, 500))


def test_children_reference_parents_and_frames_convert():
    sc = scenario()
    items = sample(sc, "order_items", 1000)
    assert items["order_id"].null_count == 0
    import polars

    assert polars.from_arrow(items).shape == (1000, 5)
    assert items.to_pandas().shape == (1000, 5)
