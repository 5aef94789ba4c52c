"""Feature gates, milestones, scores and churn signals."""

from tests.factories import Account, book, fired, held


def test_feature_gate_recommends_the_lowest_tier_with_the_feature() -> None:
    result = Account(book()).send("feature_gate", feature="advanced_analytics")
    assert fired(result) == ["gate"]
    offer = result.offers[0]
    assert offer.recommended.id == "pro"
    assert offer.reason.text == "tried advanced analytics, which the Basic plan does not include"


def test_feature_gate_for_a_feature_the_plan_has_offers_nothing() -> None:
    result = Account(book(), plan="pro").send("feature_gate", feature="advanced_analytics")
    assert held(result) == [("gate", "nothing_to_offer")]


def test_feature_gate_of_another_feature_fires_nothing() -> None:
    result = Account(book()).send("feature_gate", feature="sso")
    assert result.offers == () and result.suppressed == ()


def test_milestone_cross_sells_the_add_on() -> None:
    result = Account(book()).send("milestone", name="project_completed")
    assert fired(result) == ["done"]
    assert result.offers[0].kind == "cross_sell"
    assert result.offers[0].recommended.type == "addon"
    assert result.offers[0].recommended.id == "reports"


def test_add_on_already_owned_is_not_offered() -> None:
    account = Account(book(), plan=None)
    account.send("subscription", day=-1, plan="basic", addons=["reports"])
    assert held(account.send("milestone", name="project_completed")) == [
        ("done", "nothing_to_offer")
    ]


def test_add_on_not_sold_with_the_plan_is_not_offered() -> None:
    result = Account(book(), plan="enterprise").send("milestone", name="project_completed")
    assert held(result) == [("done", "nothing_to_offer")]


def test_score_at_the_threshold_fires_and_just_below_does_not() -> None:
    assert fired(Account(book()).send("nps", score=9)) == ["promoter"]
    assert fired(Account(book()).send("nps", score=8.9)) == []
    assert Account(book()).send("nps", score=10).offers[0].reason.text == "NPS score of 10"


def test_score_of_another_scale_does_not_fire_an_nps_trigger() -> None:
    assert fired(Account(book()).send("csat", score=10)) == []


def test_churn_signal_offers_the_previous_tier() -> None:
    result = Account(book(), plan="pro").send("churn_signal", name="cancellation_started")
    assert fired(result) == ["leaving"]
    assert result.offers[0].kind == "down_sell"
    assert result.offers[0].recommended.id == "basic"


def test_churn_signal_on_the_lowest_tier_offers_nothing() -> None:
    result = Account(book()).send("churn_signal", name="cancellation_started")
    assert held(result) == [("leaving", "nothing_to_offer")]
