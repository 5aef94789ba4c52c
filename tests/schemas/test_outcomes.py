"""The outcome record on the outcomes topic: a contract (schema_version 1) kept by a
golden record, and its id, which readers use to drop duplicates."""

from __future__ import annotations

from pathlib import Path

from schemas.outcomes import Outcome
from triggers.lifecycle import outcome_id

GOLDEN = Path(__file__).parent / "golden" / "outcome-v1.json"


def test_the_golden_v1_record_reads_back_and_is_written_the_same() -> None:
    written = GOLDEN.read_bytes().strip()
    outcome = Outcome.model_validate_json(written)
    assert (outcome.status, outcome.trigger_id, outcome.expansion_mrr) == ("converted", "seats-100", 78.0)
    assert outcome.model_dump_json().encode() == written


def test_outcome_ids_are_golden() -> None:
    """(offer, status), and an unknown offer's response adds its event id: a change of
    hash would make every reader take old outcomes for new ones."""
    golden = Outcome.model_validate_json(GOLDEN.read_bytes())
    assert outcome_id(golden.offer_id, "converted") == golden.outcome_id
    assert outcome_id(golden.offer_id, "unknown_offer", "resp1-x") == "926def3738021467a782993a1e40b09f"
