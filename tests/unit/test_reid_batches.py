"""Static batch chunks of the OpenVINO Re-ID runners."""

from __future__ import annotations

import pytest

from tracker.models.reid.ov_batches import STATIC_BATCH_SIZES, batch_chunks


@pytest.mark.parametrize(("count", "chunks"), [(0, []), (1, [1]), (2, [2]), (3, [2, 1]), (4, [4]), (7, [4, 2, 1]),
                                               (9, [4, 4, 1])])
def test_chunks_use_the_largest_sizes_that_fit(count: int, chunks: list[int]) -> None:
    assert batch_chunks(count, STATIC_BATCH_SIZES) == chunks


def test_any_count_is_covered_exactly() -> None:
    for count in range(40):
        parts = batch_chunks(count, (1, 3, 8))
        assert sum(parts) == count and parts == sorted(parts, reverse=True)
