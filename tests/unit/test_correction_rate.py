"""How often a published global id is corrected later: the hub's counters and the replay summary."""

from __future__ import annotations

from tracker.hub.consumer import HubStats
from tracker.offline.replay import ReplaySummary


def test_correction_rate_is_corrections_over_published_ids() -> None:
    stats = HubStats(identities_created=6, assignments=14, corrections=3,
                     corrections_by_cause={"young": 2, "split": 1})
    assert stats.published == 20
    assert stats.correction_rate == 3 / 20
    assert HubStats().correction_rate == 0.0


def test_replay_summary_reports_the_rate_by_cause() -> None:
    summary = ReplaySummary(published_ids=20, corrections={"young": 2, "merge": 2})
    assert summary.correction_rate() == 4 / 20
    assert ReplaySummary().correction_rate() == 0.0
