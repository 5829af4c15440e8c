"""The pure tier engine: the default policy's rules at their boundaries, explanations, the
calendar, and the tier lifecycle of domain.md ("Tier lifecycle"), step by step.

Almost everything here runs without a database: the default policy is built from the same rules
JSON the data migration stores. The few tests marked ``django_db`` check that the policy the app
loads from the database is that same policy.
"""

from __future__ import annotations

import importlib
import itertools
import json
import random
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest

from tiers.engine import (
    AllOf,
    AnyOf,
    AtLeast,
    DowngradeStep,
    Event,
    Floor,
    Metric,
    Metrics,
    Policy,
    RuleResult,
    Step,
    Threshold,
    TierRule,
    TierState,
    Window,
    WindowKind,
    add_years,
    advance,
    completed_years,
    evaluate,
    explain,
    holds,
    qualify,
    window_for,
)
from tiers.policy import build_policy
from tiers.selectors import engine_policy, policy_in_force

_defaults = importlib.import_module("tiers.migrations.0002_default_tiers_and_policy")
DEFAULT_RULES = _defaults.DEFAULT_RULES
TIER_RANKS = {code: rank for code, rank, _zh, _en in _defaults.TIERS}

DEFAULT_POLICY = build_policy(version=1, rules=DEFAULT_RULES, tier_ranks=TIER_RANKS)

REGULAR, SILVER, GOLD, PLATINUM, DIAMOND = 0, 1, 2, 3, 4
RANK_NAMES = {
    REGULAR: "regular",
    SILVER: "silver",
    GOLD: "gold",
    PLATINUM: "platinum",
    DIAMOND: "diamond",
}

# Policies that differ from the default in one lifecycle setting.
ONE_TIER = replace(DEFAULT_POLICY, downgrade_step=DowngradeStep.ONE_TIER)
LONG_LEAD = replace(DEFAULT_POLICY, warning_lead_days=60)  # warned before the notice can run


def m(spend: str = "0.00", frequency: int = 0, tenure: int = 0, contribution: int = 0) -> Metrics:
    return Metrics(Decimal(spend), frequency, tenure, contribution)


def d(text: str) -> date:
    return date.fromisoformat(text)


# --- The default policy, as the app builds it ---------------------------------------------


@pytest.fixture(params=["built_from_rules_json", "loaded_from_database"])
def default_policy(request) -> Policy:
    if request.param == "built_from_rules_json":
        return DEFAULT_POLICY
    request.getfixturevalue("db")
    return engine_policy(policy_in_force(d("2026-06-30")))


def test_ranks_used_here_are_the_ranks_of_the_default_tiers():
    assert {RANK_NAMES[rank]: rank for rank in RANK_NAMES} == TIER_RANKS


def test_default_policy_runs_from_diamond_down_to_regular_with_default_settings():
    policy = DEFAULT_POLICY
    assert [t.code for t in policy.tiers] == ["diamond", "platinum", "gold", "silver", "regular"]
    assert policy.window == WindowKind.ROLLING_YEAR
    assert (policy.referral_points, policy.activity_points) == (200, 100)
    assert (policy.warning_lead_days, policy.notice_days) == (30, 30)
    assert policy.downgrade_step == DowngradeStep.TO_QUALIFIED


@pytest.mark.django_db
@pytest.mark.parametrize("on", ["2000-01-01", "2026-06-30"])
def test_policy_loaded_from_the_database_is_the_default_policy(on):
    assert engine_policy(policy_in_force(d(on))) == DEFAULT_POLICY


# (what the member has, the tier the domain table gives)
DEFAULT_TIER_TABLE = [
    # Diamond: spend ≥ 100,000 AND at least two of frequency ≥ 24, tenure ≥ 5, contribution ≥ 5,000
    pytest.param(m("100000.00", 24, 5, 0), "diamond", id="diamond-frequency-and-tenure"),
    pytest.param(m("100000.00", 24, 0, 5000), "diamond", id="diamond-frequency-and-contribution"),
    pytest.param(m("100000.00", 0, 5, 5000), "diamond", id="diamond-tenure-and-contribution"),
    pytest.param(m("100000.00", 24, 5, 5000), "diamond", id="diamond-all-three"),
    pytest.param(m("100000.01", 25, 6, 0), "diamond", id="diamond-just-above"),
    pytest.param(m("99999.99", 24, 5, 5000), "platinum", id="diamond-spend-just-below"),
    pytest.param(m("100000.00", 24, 0, 0), "platinum", id="diamond-only-frequency"),
    pytest.param(m("100000.00", 0, 5, 0), "platinum", id="diamond-only-tenure"),
    pytest.param(m("100000.00", 0, 0, 5000), "gold", id="diamond-only-contribution"),
    pytest.param(m("100000.00", 0, 0, 0), "gold", id="diamond-none-of-three"),
    pytest.param(m("100000.00", 23, 5, 0), "platinum", id="diamond-frequency-just-below"),
    pytest.param(m("100000.00", 24, 4, 0), "platinum", id="diamond-tenure-just-below"),
    pytest.param(m("100000.00", 0, 5, 4999), "platinum", id="diamond-contribution-just-below"),
    pytest.param(m("100000.00", 23, 4, 4999), "platinum", id="diamond-all-three-just-below"),
    # Platinum: (spend ≥ 50,000 AND frequency ≥ 18) OR (tenure ≥ 3 AND spend ≥ 30,000)
    pytest.param(m("50000.00", 18), "platinum", id="platinum-spend-branch-at"),
    pytest.param(m("50000.01", 19), "platinum", id="platinum-spend-branch-just-above"),
    pytest.param(m("49999.99", 18), "gold", id="platinum-spend-branch-spend-just-below"),
    pytest.param(m("50000.00", 17), "gold", id="platinum-spend-branch-frequency-just-below"),
    pytest.param(m("30000.00", 0, 3), "platinum", id="platinum-tenure-branch-at"),
    pytest.param(m("30000.01", 0, 4), "platinum", id="platinum-tenure-branch-just-above"),
    pytest.param(m("29999.99", 0, 3), "gold", id="platinum-tenure-branch-spend-just-below"),
    pytest.param(m("30000.00", 0, 2), "gold", id="platinum-tenure-branch-tenure-just-below"),
    # Gold: spend ≥ 20,000 OR frequency ≥ 12 OR contribution ≥ 2,000
    pytest.param(m("20000.00"), "gold", id="gold-spend-at"),
    pytest.param(m("20000.01"), "gold", id="gold-spend-just-above"),
    pytest.param(m("19999.99"), "silver", id="gold-spend-just-below"),
    pytest.param(m(frequency=12), "gold", id="gold-frequency-at"),
    pytest.param(m(frequency=13), "gold", id="gold-frequency-just-above"),
    pytest.param(m(frequency=11), "silver", id="gold-frequency-just-below"),
    pytest.param(m(contribution=2000), "gold", id="gold-contribution-at"),
    pytest.param(m(contribution=2001), "gold", id="gold-contribution-just-above"),
    # Contribution is no Silver condition: just below Gold's is nothing at all.
    pytest.param(m(contribution=1999), "regular", id="gold-contribution-just-below"),
    # Silver: spend ≥ 5,000 OR frequency ≥ 6 OR tenure ≥ 1
    pytest.param(m("5000.00"), "silver", id="silver-spend-at"),
    pytest.param(m("5000.01"), "silver", id="silver-spend-just-above"),
    pytest.param(m("4999.99"), "regular", id="silver-spend-just-below"),
    pytest.param(m(frequency=6), "silver", id="silver-frequency-at"),
    pytest.param(m(frequency=7), "silver", id="silver-frequency-just-above"),
    pytest.param(m(frequency=5), "regular", id="silver-frequency-just-below"),
    pytest.param(m(tenure=1), "silver", id="silver-tenure-at"),
    pytest.param(m(tenure=2), "silver", id="silver-tenure-just-above"),
    pytest.param(m(tenure=0), "regular", id="silver-tenure-just-below"),
    # Regular: registered, no threshold
    pytest.param(m(), "regular", id="regular-nothing-at-all"),
]


@pytest.mark.parametrize(("metrics", "tier"), DEFAULT_TIER_TABLE)
def test_default_policy_gives_the_tier_of_the_domain_table(metrics, tier, default_policy):
    assert qualify(metrics, default_policy).code == tier
    assert evaluate(metrics, default_policy).tier.code == tier


# Boundary values of every threshold of the default policy: at, just below and just above.
SPENDS = [
    Decimal(v)
    for v in (
        "0.00",
        "4999.99",
        "5000.00",
        "5000.01",
        "19999.99",
        "20000.00",
        "20000.01",
        "29999.99",
        "30000.00",
        "30000.01",
        "49999.99",
        "50000.00",
        "50000.01",
        "99999.99",
        "100000.00",
        "100000.01",
    )
]
FREQUENCIES = [0, 5, 6, 7, 11, 12, 13, 17, 18, 19, 23, 24, 25]
TENURES = [0, 1, 2, 3, 4, 5, 6]
CONTRIBUTIONS = [0, 1999, 2000, 2001, 4999, 5000, 5001]
GRID = [
    Metrics(*values) for values in itertools.product(SPENDS, FREQUENCIES, TENURES, CONTRIBUTIONS)
]

# The domain table written out in plain Python, independent of the rules JSON.
DOMAIN_TABLE = {
    "diamond": lambda x: (
        x.spend >= 100000
        and (x.frequency >= 24) + (x.tenure_years >= 5) + (x.contribution >= 5000) >= 2
    ),
    "platinum": lambda x: (
        (x.spend >= 50000 and x.frequency >= 18) or (x.tenure_years >= 3 and x.spend >= 30000)
    ),
    "gold": lambda x: x.spend >= 20000 or x.frequency >= 12 or x.contribution >= 2000,
    "silver": lambda x: x.spend >= 5000 or x.frequency >= 6 or x.tenure_years >= 1,
    "regular": lambda x: True,
}


@pytest.mark.parametrize("code", list(DOMAIN_TABLE))
def test_each_default_rule_holds_exactly_where_the_domain_table_says(code):
    rule = next(t.rule for t in DEFAULT_POLICY.tiers if t.code == code)
    wrong = [x for x in GRID if holds(rule, x) != DOMAIN_TABLE[code](x)]
    assert wrong == [], f"{len(wrong)} grid points disagree, e.g. {wrong[:3]}"


def test_every_grid_point_gets_the_highest_tier_whose_domain_rule_holds():
    def expected(x: Metrics) -> str:
        return next(code for code, rule in DOMAIN_TABLE.items() if rule(x))

    wrong = [x for x in GRID if qualify(x, DEFAULT_POLICY).code != expected(x)]
    assert wrong == [], f"{len(wrong)} grid points disagree, e.g. {wrong[:3]}"


@pytest.mark.parametrize(
    "held",
    [
        pytest.param((), id="none-of-three"),
        pytest.param(("frequency",), id="only-frequency"),
        pytest.param(("tenure",), id="only-tenure"),
        pytest.param(("contribution",), id="only-contribution"),
        pytest.param(("frequency", "tenure"), id="frequency-and-tenure"),
        pytest.param(("frequency", "contribution"), id="frequency-and-contribution"),
        pytest.param(("tenure", "contribution"), id="tenure-and-contribution"),
        pytest.param(("frequency", "tenure", "contribution"), id="all-three"),
    ],
)
def test_diamond_needs_two_of_the_three_extra_conditions(held):
    # Each of the three either at its threshold or just below it.
    metrics = m(
        "100000.00",
        frequency=24 if "frequency" in held else 23,
        tenure=5 if "tenure" in held else 4,
        contribution=5000 if "contribution" in held else 4999,
    )
    assert holds(DEFAULT_POLICY.tier(DIAMOND).rule, metrics) == (len(held) >= 2)
    assert (qualify(metrics, DEFAULT_POLICY).code == "diamond") == (len(held) >= 2)


# --- qualify and evaluate agree; the explanation ------------------------------------------


def test_qualify_and_evaluate_agree_on_the_grid():
    # Every third point: a stride coprime with each axis still mixes every value of every axis.
    for x in GRID[::3]:
        evaluation = evaluate(x, DEFAULT_POLICY)
        assert evaluation.tier == qualify(x, DEFAULT_POLICY), x
        assert evaluation.metrics == x
        assert [c.result.held for c in evaluation.checks] == [
            holds(t.rule, x) for t in DEFAULT_POLICY.tiers
        ]


@pytest.mark.parametrize("policy", [DEFAULT_POLICY, ONE_TIER], ids=["default", "one-tier"])
def test_qualify_and_evaluate_agree_on_random_members(policy):
    rng = random.Random(20260630)
    for _ in range(1500):
        x = m(
            f"{rng.randint(0, 15_000_000) / 100:.2f}",
            rng.randint(0, 40),
            rng.randint(0, 12),
            rng.randrange(0, 8000, 100),
        )
        evaluation = evaluate(x, policy)
        assert evaluation.tier == qualify(x, policy), x
        # The qualified tier is the first (highest) check that held.
        assert evaluation.tier == next(c.tier for c in evaluation.checks if c.result.held)


def test_evaluation_checks_every_tier_from_the_highest_down():
    evaluation = evaluate(m("25000.00"), DEFAULT_POLICY)
    assert [c.tier.code for c in evaluation.checks] == [
        "diamond",
        "platinum",
        "gold",
        "silver",
        "regular",
    ]
    assert [c.result.held for c in evaluation.checks] == [False, False, True, True, True]
    assert evaluation.tier.code == "gold"


def thresholds_of(rule) -> list[Threshold]:
    if isinstance(rule, Threshold):
        return [rule]
    return [t for child in rule.conditions for t in thresholds_of(child)]


def threshold_results(result: RuleResult) -> list[RuleResult]:
    if result.kind == "threshold":
        return [result]
    return [t for child in result.children for t in threshold_results(child)]


@pytest.mark.parametrize("metrics", [m(), m("80000.00", 24, 2, 1000), m("100000.00", 30, 9, 9000)])
def test_explanation_has_every_condition_with_threshold_value_held_and_shortfall(metrics):
    for check in evaluate(metrics, DEFAULT_POLICY).checks:
        conditions = thresholds_of(check.tier.rule)
        results = threshold_results(check.result)
        assert [(r.metric, r.minimum) for r in results] == [
            (c.metric, c.minimum) for c in conditions
        ]
        for r in results:
            assert r.value == metrics.value(r.metric)
            assert r.held == (r.value >= r.minimum)
            assert r.shortfall == (None if r.held else r.minimum - r.value)


def test_explanation_of_a_missed_diamond_says_what_is_missing():
    result = explain(DEFAULT_POLICY.tier(DIAMOND).rule, m("80000.00", 24, 2, 1000))

    assert (result.kind, result.held) == ("all", False)
    spend, extra = result.children
    assert (spend.metric, spend.minimum, spend.value) == (
        Metric.SPEND,
        Decimal("100000.00"),
        Decimal("80000.00"),
    )
    assert (spend.held, spend.shortfall) == (False, Decimal("20000.00"))
    assert (extra.kind, extra.count, extra.held) == ("at_least", 2, False)
    assert [(c.metric, c.minimum, c.value, c.held, c.shortfall) for c in extra.children] == [
        (Metric.FREQUENCY, 24, 24, True, None),
        (Metric.TENURE, 5, 2, False, 3),
        (Metric.CONTRIBUTION, 5000, 1000, False, 4000),
    ]


@pytest.mark.parametrize(
    ("spend", "held", "shortfall"),
    [("4999.99", False, Decimal("0.01")), ("5000.00", True, None), ("5000.01", True, None)],
)
def test_shortfall_is_exact_to_the_fen(spend, held, shortfall):
    result = explain(Threshold(Metric.SPEND, Decimal("5000.00")), m(spend))
    assert (result.held, result.shortfall) == (held, shortfall)


def test_rule_result_as_data_is_plain_json_with_amounts_as_strings():
    data = explain(DEFAULT_POLICY.tier(DIAMOND).rule, m("80000.00", 24, 2, 1000)).as_data()

    assert json.loads(json.dumps(data)) == data
    assert data == {
        "kind": "all",
        "held": False,
        "children": [
            {
                "kind": "threshold",
                "held": False,
                "metric": "spend",
                "minimum": "100000.00",
                "value": "80000.00",
                "shortfall": "20000.00",
            },
            {
                "kind": "at_least",
                "held": False,
                "count": 2,
                "children": [
                    {
                        "kind": "threshold",
                        "held": True,
                        "metric": "frequency",
                        "minimum": "24",
                        "value": "24",
                    },
                    {
                        "kind": "threshold",
                        "held": False,
                        "metric": "tenure_years",
                        "minimum": "5",
                        "value": "2",
                        "shortfall": "3",
                    },
                    {
                        "kind": "threshold",
                        "held": False,
                        "metric": "contribution",
                        "minimum": "5000",
                        "value": "1000",
                        "shortfall": "4000",
                    },
                ],
            },
        ],
    }


def test_every_explanation_of_the_grid_serializes_to_json():
    for x in GRID[::7]:
        for check in evaluate(x, DEFAULT_POLICY).checks:
            data = check.result.as_data()
            assert json.loads(json.dumps(data)) == data


def test_entry_tier_explanation_is_an_empty_all_that_holds():
    result = explain(DEFAULT_POLICY.tier(REGULAR).rule, m())
    assert result.as_data() == {"kind": "all", "held": True, "children": []}


# --- Rules and policies in the engine -----------------------------------------------------


def test_combinators_hold_as_named():
    low, high = Threshold(Metric.FREQUENCY, 1), Threshold(Metric.FREQUENCY, 100)
    x = m(frequency=5)
    assert holds(AllOf(()), x)
    assert not holds(AllOf((low, high)), x)
    assert holds(AnyOf((low, high)), x)
    assert not holds(AnyOf((high,)), x)
    assert holds(AtLeast(1, (low, high)), x)
    assert not holds(AtLeast(2, (low, high)), x)


def test_policy_orders_tiers_from_the_highest_rank_whatever_the_input_order():
    base = TierRule("base", 0, AllOf(()))
    top = TierRule("top", 9, Threshold(Metric.FREQUENCY, 1))
    middle = TierRule("middle", 5, Threshold(Metric.TENURE, 1))
    policy = Policy(version=7, tiers=(base, top, middle))
    assert [t.code for t in policy.tiers] == ["top", "middle", "base"]
    assert policy.tier(5) == middle
    assert policy.rank_below(9) == 5
    assert policy.rank_below(5) == 0
    assert policy.rank_below(0) == 0
    with pytest.raises(KeyError):
        policy.tier(3)


def test_policy_needs_an_entry_tier_without_conditions():
    with pytest.raises(ValueError, match="at least one tier"):
        Policy(version=1, tiers=())
    with pytest.raises(ValueError, match="lowest tier"):
        Policy(version=1, tiers=(TierRule("base", 0, Threshold(Metric.FREQUENCY, 0)),))


# --- Calendar -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "years", "expected"),
    [
        ("2024-02-29", 1, "2025-02-28"),
        ("2024-02-29", 4, "2028-02-29"),
        ("2024-02-29", -1, "2023-02-28"),
        ("2024-02-28", 1, "2025-02-28"),
        ("2023-03-01", 1, "2024-03-01"),
        ("2025-06-30", 1, "2026-06-30"),
        ("2026-06-30", -1, "2025-06-30"),
        ("2025-12-31", 1, "2026-12-31"),
        ("2025-01-01", 0, "2025-01-01"),
    ],
)
def test_add_years_keeps_the_day_and_turns_29_february_into_28_february(day, years, expected):
    assert add_years(d(day), years) == d(expected)


@pytest.mark.parametrize(
    ("start", "end", "years"),
    [
        ("2020-06-30", "2025-06-29", 4),  # the day before the anniversary
        ("2020-06-30", "2025-06-30", 5),  # on it
        ("2020-06-30", "2025-07-01", 5),
        ("2020-06-30", "2020-06-30", 0),
        ("2020-06-30", "2021-06-29", 0),
        ("2020-06-30", "2019-01-01", 0),  # the end before the start
        ("2020-02-29", "2021-02-27", 0),  # leap birthday: 28 February is the anniversary
        ("2020-02-29", "2021-02-28", 1),
        ("2020-02-29", "2021-03-01", 1),
        ("2020-02-29", "2024-02-28", 3),
        ("2020-02-29", "2024-02-29", 4),
        ("2019-03-01", "2020-02-29", 0),
        ("2019-03-01", "2020-03-01", 1),
    ],
)
def test_completed_years_counts_whole_years_to_the_date(start, end, years):
    assert completed_years(d(start), d(end)) == years


@pytest.mark.parametrize(
    ("as_of", "after"),
    [
        ("2026-06-30", "2025-06-30"),  # domain.md: 2025-07-01 … 2026-06-30
        ("2024-02-29", "2023-02-28"),
        ("2025-02-28", "2024-02-28"),
        ("2026-01-01", "2025-01-01"),
    ],
)
def test_rolling_window_is_after_one_year_before_up_to_the_date(as_of, after):
    window = window_for(d(as_of), WindowKind.ROLLING_YEAR)
    assert window == Window(after=d(after), until=d(as_of))
    assert d(after) not in window
    assert d(after) + timedelta(days=1) in window
    assert d(as_of) in window
    assert d(as_of) + timedelta(days=1) not in window


def test_rolling_window_for_30_june_2026_runs_from_1_july_2025():
    window = window_for(d("2026-06-30"), WindowKind.ROLLING_YEAR)
    days = [d("2025-06-30") + timedelta(days=n) for n in range(368)]
    inside = [day for day in days if day in window]
    assert (inside[0], inside[-1], len(inside)) == (d("2025-07-01"), d("2026-06-30"), 365)


def test_rolling_window_on_29_february_starts_on_1_march():
    window = window_for(d("2024-02-29"), WindowKind.ROLLING_YEAR)
    assert d("2023-02-28") not in window
    assert d("2023-03-01") in window


@pytest.mark.parametrize(
    ("as_of", "first_day"),
    [("2026-06-30", "2026-01-01"), ("2026-01-01", "2026-01-01"), ("2024-12-31", "2024-01-01")],
)
def test_calendar_window_runs_from_1_january_up_to_the_date(as_of, first_day):
    window = window_for(d(as_of), WindowKind.CALENDAR_YEAR)
    assert window.until == d(as_of)
    assert d(first_day) in window
    assert d(first_day) - timedelta(days=1) not in window
    assert d(as_of) + timedelta(days=1) not in window


# --- Lifecycle: single steps --------------------------------------------------------------

YEAR_START = d("2025-07-01")
YEAR_END = d("2026-07-01")


def holding(rank: int, start: date = YEAR_START, warned: date | None = None) -> TierState:
    return TierState(rank, start, warned)


def days_from_end(n: int) -> date:
    return YEAR_END + timedelta(days=n)


def test_tier_state_knows_its_year_end_and_steps_know_when_the_tier_changes():
    assert TierState().year_end is None
    assert holding(GOLD, d("2024-02-29")).year_end == d("2025-02-28")
    assert Step(TierState(), Event.UPGRADE).changes_tier
    assert Step(TierState(), Event.DOWNGRADE).changes_tier
    assert Step(TierState(), Event.QUALIFIED).changes_tier
    assert not Step(TierState(), Event.WARNING).changes_tier
    assert not Step(TierState(), Event.RETAINED).changes_tier
    assert not Step(TierState(), Event.NONE).changes_tier


@pytest.mark.parametrize("rank", [REGULAR, SILVER, DIAMOND])
def test_first_evaluation_qualifies_and_starts_the_tier_year(rank):
    step = advance(TierState(), rank, d("2026-06-30"), DEFAULT_POLICY)
    assert step == Step(TierState(rank, d("2026-06-30"), None), Event.QUALIFIED)


@pytest.mark.parametrize("new_rank", [PLATINUM, DIAMOND])
def test_upgrade_applies_at_once_starts_a_new_tier_year_and_clears_the_warning(new_rank):
    state = holding(GOLD, warned=days_from_end(-20))
    step = advance(state, new_rank, days_from_end(-10), DEFAULT_POLICY)
    assert step == Step(TierState(new_rank, days_from_end(-10), None), Event.UPGRADE)


def test_upgrade_the_day_the_tier_year_starts_is_applied_too():
    step = advance(holding(SILVER), GOLD, YEAR_START, DEFAULT_POLICY)
    assert step == Step(TierState(GOLD, YEAR_START, None), Event.UPGRADE)


def test_holding_the_qualified_tier_inside_the_tier_year_changes_nothing():
    state = holding(GOLD)
    for day in (YEAR_START, days_from_end(-30), days_from_end(-1)):
        assert advance(state, GOLD, day, DEFAULT_POLICY) == Step(state, Event.NONE)


@pytest.mark.parametrize(
    ("offset", "event"),
    [
        (-200, Event.NONE),
        (-31, Event.NONE),  # no warning before end − 30 days
        (-30, Event.WARNING),  # exactly end − 30
        (-29, Event.WARNING),
        (0, Event.WARNING),
        (45, Event.WARNING),  # after the end, when no evaluation warned earlier
    ],
)
def test_a_member_below_their_tier_is_warned_from_thirty_days_before_the_year_end(offset, event):
    state = holding(GOLD)
    step = advance(state, SILVER, days_from_end(offset), DEFAULT_POLICY)
    assert step.event == event
    expected = replace(state, warned_on=days_from_end(offset)) if event == Event.WARNING else state
    assert step.state == expected


def test_the_warning_lead_is_policy_data():
    assert advance(holding(GOLD), SILVER, days_from_end(-60), LONG_LEAD).event == Event.WARNING
    assert advance(holding(GOLD), SILVER, days_from_end(-61), LONG_LEAD).event == Event.NONE


def test_at_most_one_warning_per_tier_year():
    state = holding(GOLD, warned=days_from_end(-30))
    for offset in (-29, -10, -1):
        assert advance(state, SILVER, days_from_end(offset), DEFAULT_POLICY) == Step(
            state, Event.NONE
        )


@pytest.mark.parametrize(
    ("policy", "warned", "offset", "event"),
    [
        # Warned exactly at end − 30: the year end and the 30 days coincide.
        (DEFAULT_POLICY, -30, -1, Event.NONE),
        (DEFAULT_POLICY, -30, 0, Event.DOWNGRADE),
        # Warned 60 days early (a policy with a longer lead): the year end decides.
        (LONG_LEAD, -60, -1, Event.NONE),
        (LONG_LEAD, -60, 0, Event.DOWNGRADE),
        (LONG_LEAD, -45, 0, Event.DOWNGRADE),
        # Warned 10 days before the end: 30 days after the warning decide.
        (DEFAULT_POLICY, -10, 0, Event.NONE),
        (DEFAULT_POLICY, -10, 19, Event.NONE),
        (DEFAULT_POLICY, -10, 20, Event.DOWNGRADE),
        # Warned 40 days after the end: 30 days after that warning.
        (DEFAULT_POLICY, 40, 69, Event.NONE),
        (DEFAULT_POLICY, 40, 70, Event.DOWNGRADE),
    ],
)
def test_downgrade_comes_at_the_later_of_the_year_end_and_thirty_days_after_the_warning(
    policy, warned, offset, event
):
    state = holding(GOLD, warned=days_from_end(warned))
    step = advance(state, SILVER, days_from_end(offset), policy)
    assert step.event == event
    if event == Event.DOWNGRADE:
        assert step.state == TierState(SILVER, days_from_end(offset), None)
    else:
        assert step.state == state


def test_downgrade_comes_at_the_year_end_after_an_early_warning():
    warned = advance(holding(PLATINUM), GOLD, days_from_end(-60), LONG_LEAD)
    assert warned.event == Event.WARNING
    assert advance(warned.state, GOLD, days_from_end(-1), LONG_LEAD).event == Event.NONE
    step = advance(warned.state, GOLD, YEAR_END, LONG_LEAD)
    assert step == Step(TierState(GOLD, YEAR_END, None), Event.DOWNGRADE)


def test_downgrade_waits_thirty_days_after_a_late_warning():
    late = days_from_end(40)
    warned = advance(holding(PLATINUM), GOLD, late, DEFAULT_POLICY)
    assert warned == Step(holding(PLATINUM, warned=late), Event.WARNING)
    assert (
        advance(warned.state, GOLD, late + timedelta(days=29), DEFAULT_POLICY).event == Event.NONE
    )
    step = advance(warned.state, GOLD, late + timedelta(days=30), DEFAULT_POLICY)
    assert step == Step(TierState(GOLD, late + timedelta(days=30), None), Event.DOWNGRADE)


def test_no_downgrade_without_a_warning_even_long_after_the_year_end():
    # The evaluation that finds the member below warns; it never downgrades at once.
    step = advance(holding(DIAMOND), REGULAR, days_from_end(400), DEFAULT_POLICY)
    assert step.event == Event.WARNING
    assert step.state.rank == DIAMOND


@pytest.mark.parametrize("qualified", [REGULAR, SILVER, GOLD])
def test_still_below_at_the_downgrade_date_drops_straight_to_the_qualified_tier(qualified):
    state = holding(PLATINUM, warned=days_from_end(-30))
    step = advance(state, qualified, YEAR_END, DEFAULT_POLICY)
    assert step == Step(TierState(qualified, YEAR_END, None), Event.DOWNGRADE)


def test_downgrade_goes_to_the_tier_qualified_at_that_evaluation_not_at_the_warning():
    warned = advance(holding(DIAMOND), SILVER, days_from_end(-30), DEFAULT_POLICY)
    step = advance(warned.state, PLATINUM, YEAR_END, DEFAULT_POLICY)
    assert step.state.rank == PLATINUM


@pytest.mark.parametrize(
    ("held", "qualified", "new_rank"),
    [
        (DIAMOND, REGULAR, PLATINUM),
        (DIAMOND, GOLD, PLATINUM),
        (DIAMOND, PLATINUM, PLATINUM),
        (SILVER, REGULAR, REGULAR),
    ],
)
def test_one_tier_policy_drops_one_rank_only(held, qualified, new_rank):
    state = holding(held, warned=days_from_end(-30))
    step = advance(state, qualified, YEAR_END, ONE_TIER)
    assert step == Step(TierState(new_rank, YEAR_END, None), Event.DOWNGRADE)


def test_one_tier_policy_drops_to_the_next_rank_when_ranks_have_gaps():
    tiers = (
        TierRule("base", 0, AllOf(())),
        TierRule("mid", 5, Threshold(Metric.FREQUENCY, 5)),
        TierRule("top", 10, Threshold(Metric.FREQUENCY, 10)),
    )
    policy = Policy(version=1, tiers=tiers, downgrade_step=DowngradeStep.ONE_TIER)
    step = advance(holding(10, warned=days_from_end(-30)), 0, YEAR_END, policy)
    assert step.state.rank == 5


@pytest.mark.parametrize("offset", [0, 1, 200])
def test_qualifying_again_at_the_year_end_retains_the_tier_and_clears_the_warning(offset):
    state = holding(GOLD, warned=days_from_end(-20))
    step = advance(state, GOLD, days_from_end(offset), DEFAULT_POLICY)
    assert step == Step(TierState(GOLD, YEAR_END, None), Event.RETAINED)


@pytest.mark.parametrize(
    ("start", "as_of", "new_start"),
    [
        ("2020-03-15", "2026-01-10", "2025-03-15"),  # five years skipped
        ("2020-03-15", "2026-03-14", "2025-03-15"),
        ("2020-03-15", "2026-03-15", "2026-03-15"),  # on an anniversary: a new year starts
        ("2024-02-29", "2025-02-28", "2025-02-28"),
        ("2016-02-29", "2026-01-10", "2025-02-28"),
    ],
)
def test_retained_tier_year_moves_on_by_whole_years_until_the_date_is_inside(
    start, as_of, new_start
):
    step = advance(holding(GOLD, d(start)), GOLD, d(as_of), DEFAULT_POLICY)
    assert step == Step(TierState(GOLD, d(new_start), None), Event.RETAINED)
    assert step.state.year_start <= d(as_of) < step.state.year_end


def test_skipping_years_retains_the_same_tier_year_as_evaluating_every_anniversary():
    start = d("2016-02-29")
    skipped = advance(holding(GOLD, start), GOLD, d("2026-01-10"), DEFAULT_POLICY).state

    state = holding(GOLD, start)
    while state.year_end <= d("2026-01-10"):
        step = advance(state, GOLD, state.year_end, DEFAULT_POLICY)
        assert step.event == Event.RETAINED
        state = step.state
    assert state == skipped


def test_member_recovering_before_the_end_after_a_warning_keeps_the_tier():
    warned = holding(GOLD, warned=days_from_end(-20))
    recovered = advance(warned, GOLD, days_from_end(-5), DEFAULT_POLICY)
    # Still the same tier year: the warning stays on record until the year moves on.
    assert recovered == Step(warned, Event.NONE)
    assert advance(warned, PLATINUM, days_from_end(-5), DEFAULT_POLICY).event == Event.UPGRADE


def test_a_zero_day_notice_still_warns_before_downgrading():
    # Deliberate: the warning is its own evaluation step, so even a policy without notice days
    # sends the warning (with what is missing) before the next evaluation downgrades.
    policy = replace(DEFAULT_POLICY, notice_days=0)
    warned = advance(holding(GOLD), SILVER, YEAR_END, policy)
    assert warned.event == Event.WARNING
    assert advance(warned.state, SILVER, YEAR_END, policy).event == Event.DOWNGRADE


def _one_of_each_event() -> list:
    return [
        pytest.param(TierState(), GOLD, YEAR_START, Event.QUALIFIED, id="qualified"),
        pytest.param(holding(SILVER), GOLD, days_from_end(-100), Event.UPGRADE, id="upgrade"),
        pytest.param(holding(GOLD), SILVER, days_from_end(-30), Event.WARNING, id="warning"),
        pytest.param(
            holding(GOLD, warned=days_from_end(-30)),
            SILVER,
            YEAR_END,
            Event.DOWNGRADE,
            id="downgrade",
        ),
        pytest.param(holding(GOLD, d("2020-03-15")), GOLD, YEAR_END, Event.RETAINED, id="retained"),
        pytest.param(holding(GOLD), SILVER, days_from_end(-100), Event.NONE, id="none"),
    ]


@pytest.mark.parametrize("policy", [DEFAULT_POLICY, ONE_TIER], ids=["default", "one-tier"])
@pytest.mark.parametrize(("state", "qualified", "day", "event"), _one_of_each_event())
def test_evaluating_the_same_date_twice_is_idempotent(state, qualified, day, event, policy):
    first = advance(state, qualified, day, policy)
    assert first.event == event
    second = advance(first.state, qualified, day, policy)
    assert second == Step(first.state, Event.NONE)


# --- Lifecycle: scenarios over many dates -------------------------------------------------


def play(rows: list[tuple[str, int, int, Event]], policy: Policy = DEFAULT_POLICY) -> TierState:
    """Evaluate each (date, qualified rank) in turn; after each, the held rank and the event
    must be as expected."""
    state = TierState()
    for n, (day, qualified, rank, event) in enumerate(rows):
        step = advance(state, qualified, d(day), policy)
        actual = (RANK_NAMES[step.state.rank], step.event)
        assert actual == (RANK_NAMES[rank], event), f"row {n}: {day}, qualified {qualified}"
        state = step.state
    return state


def test_scenario_upgrades_over_a_year_then_a_warning_and_a_downgrade_at_the_year_end():
    final = play(
        [
            ("2025-01-10", REGULAR, REGULAR, Event.QUALIFIED),
            ("2025-03-01", SILVER, SILVER, Event.UPGRADE),
            ("2025-06-01", GOLD, GOLD, Event.UPGRADE),  # tier year to 2026-06-01
            ("2025-12-01", SILVER, GOLD, Event.NONE),
            ("2026-05-01", SILVER, GOLD, Event.NONE),  # end − 31
            ("2026-05-02", SILVER, GOLD, Event.WARNING),  # end − 30
            ("2026-05-20", REGULAR, GOLD, Event.NONE),
            ("2026-05-31", SILVER, GOLD, Event.NONE),
            ("2026-06-01", SILVER, SILVER, Event.DOWNGRADE),
            ("2026-06-02", SILVER, SILVER, Event.NONE),
        ]
    )
    assert final == TierState(SILVER, d("2026-06-01"), None)


def test_scenario_warned_member_recovers_is_retained_and_is_warned_again_next_year():
    final = play(
        [
            ("2024-09-01", GOLD, GOLD, Event.QUALIFIED),  # tier year to 2025-09-01
            ("2025-08-10", SILVER, GOLD, Event.WARNING),
            ("2025-08-20", GOLD, GOLD, Event.NONE),
            ("2025-08-25", SILVER, GOLD, Event.NONE),  # no second warning this tier year
            ("2025-09-01", GOLD, GOLD, Event.RETAINED),  # tier year to 2026-09-01
            ("2026-08-01", SILVER, GOLD, Event.NONE),
            ("2026-08-02", SILVER, GOLD, Event.WARNING),  # a new tier year, a new warning
            ("2026-08-31", SILVER, GOLD, Event.NONE),
            ("2026-09-01", SILVER, SILVER, Event.DOWNGRADE),
        ]
    )
    assert final == TierState(SILVER, d("2026-09-01"), None)


def test_scenario_member_who_falls_back_after_recovering_is_downgraded_on_the_first_notice():
    play(
        [
            ("2025-01-01", PLATINUM, PLATINUM, Event.QUALIFIED),  # tier year to 2026-01-01
            ("2025-12-10", GOLD, PLATINUM, Event.WARNING),  # notice runs to 2026-01-09
            ("2025-12-15", PLATINUM, PLATINUM, Event.NONE),
            ("2025-12-20", GOLD, PLATINUM, Event.NONE),
            ("2026-01-01", GOLD, PLATINUM, Event.NONE),  # year over, notice not yet
            ("2026-01-08", GOLD, PLATINUM, Event.NONE),
            ("2026-01-09", GOLD, GOLD, Event.DOWNGRADE),
        ]
    )


def test_scenario_member_qualifying_again_after_the_year_end_during_the_notice_is_retained():
    final = play(
        [
            ("2025-01-01", PLATINUM, PLATINUM, Event.QUALIFIED),
            ("2025-12-25", GOLD, PLATINUM, Event.WARNING),  # notice runs to 2026-01-24
            ("2026-01-10", PLATINUM, PLATINUM, Event.RETAINED),
            ("2026-01-24", GOLD, PLATINUM, Event.NONE),  # a new tier year: no downgrade
        ]
    )
    assert final == TierState(PLATINUM, d("2026-01-01"), None)


def test_scenario_rarely_evaluated_member_skips_years_then_gets_the_full_notice():
    final = play(
        [
            ("2020-01-01", GOLD, GOLD, Event.QUALIFIED),
            ("2023-07-01", GOLD, GOLD, Event.RETAINED),  # tier year 2023-01-01 … 2024-01-01
            ("2023-12-01", SILVER, GOLD, Event.NONE),  # end − 31
            ("2023-12-05", SILVER, GOLD, Event.WARNING),
            ("2024-01-01", SILVER, GOLD, Event.NONE),
            ("2024-01-03", SILVER, GOLD, Event.NONE),
            ("2024-01-04", SILVER, SILVER, Event.DOWNGRADE),
        ]
    )
    assert final == TierState(SILVER, d("2024-01-04"), None)


def test_scenario_late_warning_after_a_gap_in_evaluations_delays_the_downgrade():
    play(
        [
            ("2025-01-01", GOLD, GOLD, Event.QUALIFIED),  # tier year to 2026-01-01
            ("2025-11-01", GOLD, GOLD, Event.NONE),
            ("2026-03-01", REGULAR, GOLD, Event.WARNING),  # first evaluation below: after the end
            ("2026-03-30", REGULAR, GOLD, Event.NONE),
            ("2026-03-31", REGULAR, REGULAR, Event.DOWNGRADE),
        ]
    )


def test_scenario_upgrade_during_the_notice_clears_the_warning_and_restarts_the_year():
    final = play(
        [
            ("2025-01-01", GOLD, GOLD, Event.QUALIFIED),
            ("2025-12-10", SILVER, GOLD, Event.WARNING),
            ("2025-12-20", PLATINUM, PLATINUM, Event.UPGRADE),  # tier year to 2026-12-20
            ("2026-01-09", SILVER, PLATINUM, Event.NONE),  # the old notice means nothing now
            ("2026-11-19", SILVER, PLATINUM, Event.NONE),
            ("2026-11-20", SILVER, PLATINUM, Event.WARNING),
            ("2026-12-20", SILVER, SILVER, Event.DOWNGRADE),
        ]
    )
    assert final == TierState(SILVER, d("2026-12-20"), None)


def test_scenario_tier_year_starting_on_29_february_ends_on_28_february():
    play(
        [
            ("2024-02-29", GOLD, GOLD, Event.QUALIFIED),  # tier year to 2025-02-28
            ("2025-01-28", SILVER, GOLD, Event.NONE),
            ("2025-01-29", SILVER, GOLD, Event.WARNING),  # 2025-02-28 − 30 days
            ("2025-02-27", SILVER, GOLD, Event.NONE),
            ("2025-02-28", SILVER, SILVER, Event.DOWNGRADE),
        ]
    )


def test_scenario_one_tier_policy_steps_a_diamond_down_one_tier_a_year():
    final = play(
        [
            ("2022-03-01", DIAMOND, DIAMOND, Event.QUALIFIED),
            ("2023-01-30", REGULAR, DIAMOND, Event.WARNING),  # 2023-03-01 − 30 days
            ("2023-03-01", REGULAR, PLATINUM, Event.DOWNGRADE),
            ("2023-06-01", REGULAR, PLATINUM, Event.NONE),
            ("2024-01-31", REGULAR, PLATINUM, Event.WARNING),  # 2024-03-01 − 30 days (leap)
            ("2024-03-01", REGULAR, GOLD, Event.DOWNGRADE),
            ("2025-01-30", SILVER, GOLD, Event.WARNING),
            ("2025-03-01", SILVER, SILVER, Event.DOWNGRADE),
            ("2026-03-01", SILVER, SILVER, Event.RETAINED),
        ],
        policy=ONE_TIER,
    )
    assert final == TierState(SILVER, d("2026-03-01"), None)


def test_scenario_daily_evaluations_downgrade_exactly_thirty_days_after_the_first_warning():
    state = TierState()
    events = {}
    day = d("2025-01-01")
    while day <= d("2026-03-01"):
        qualified = PLATINUM if day == d("2025-01-01") else GOLD
        step = advance(state, qualified, day, DEFAULT_POLICY)
        if step.event != Event.NONE:
            events[day] = step.event
        state = step.state
        day += timedelta(days=1)
    assert events == {
        d("2025-01-01"): Event.QUALIFIED,
        d("2025-12-02"): Event.WARNING,  # 2026-01-01 − 30 days
        d("2026-01-01"): Event.DOWNGRADE,
    }
    assert state == TierState(GOLD, d("2026-01-01"), None)


# --- Lifecycle: the pseudo-code of domain.md as an oracle ---------------------------------


def pseudo_code(state: TierState, q: int, day: date, policy: Policy) -> TierState:
    """domain.md's "Tier lifecycle" pseudo-code, line by line."""
    if state.rank is None or q > state.rank:
        return TierState(q, day, None)
    end = add_years(state.year_start, 1)
    if q < state.rank:
        warned_on = state.warned_on
        if warned_on is None and day >= end - timedelta(days=policy.warning_lead_days):
            warned_on = day
        if (
            warned_on is not None
            and day >= end
            and day >= warned_on + timedelta(days=policy.notice_days)
        ):
            if policy.downgrade_step == DowngradeStep.ONE_TIER:
                q = max(q, state.rank - 1)
            return TierState(q, day, None)
        return TierState(state.rank, state.year_start, warned_on)
    if day >= end:
        start = state.year_start
        while not day < add_years(start, 1):
            start = add_years(start, 1)
        return TierState(state.rank, start, None)
    return state


@pytest.mark.parametrize(
    "policy",
    [
        DEFAULT_POLICY,
        ONE_TIER,
        LONG_LEAD,
        replace(DEFAULT_POLICY, warning_lead_days=0),
        replace(DEFAULT_POLICY, warning_lead_days=45, notice_days=10),
    ],
    ids=["default", "one-tier", "long-lead", "no-lead", "short-notice"],
)
def test_advance_follows_the_domain_pseudo_code_over_random_histories(policy):
    rng = random.Random(7)
    for _ in range(300):
        state = TierState()
        day = d("2019-12-01") + timedelta(days=rng.randrange(400))
        for _ in range(40):
            day += timedelta(days=rng.choice([0, 1, 3, 10, 29, 30, 31, 60, 200, 400]))
            q = rng.randrange(5)
            previous = state
            step = advance(state, q, day, policy)
            assert step.state == pseudo_code(previous, q, day, policy), (previous, q, day)
            state = step.state
            # Invariants that hold whatever the history.
            assert state.rank >= q
            if step.event == Event.DOWNGRADE:
                assert previous.warned_on is not None
                assert day >= previous.year_end
                assert day >= previous.warned_on + timedelta(days=policy.notice_days)
            if step.event == Event.RETAINED:
                assert state.year_start <= day < state.year_end


# --- Floors: overrides and exceptional upgrades --------------------------------------------

FLOOR_START = date(2026, 3, 1)


def test_a_floor_counts_as_a_qualified_tier_while_it_holds():
    policy = default_policy_for_floor_tests()
    state = TierState(2, FLOOR_START, None, date(2026, 9, 1))

    step = advance(state, 1, date(2026, 5, 1), policy, Floor(2, date(2026, 9, 1)))

    assert step == Step(state, Event.NONE)


def test_a_floor_above_the_held_tier_lifts_the_member_to_it():
    policy = default_policy_for_floor_tests()
    state = TierState(1, FLOOR_START, None)

    step = advance(state, 1, date(2026, 5, 1), policy, Floor(3, None))

    assert (step.state.rank, step.event) == (3, Event.UPGRADE)


def test_an_open_ended_floor_at_the_held_tier_means_no_warning_at_the_year_end():
    policy = default_policy_for_floor_tests()
    state = TierState(2, FLOOR_START, None)

    warned = advance(state, 0, date(2027, 2, 20), policy, Floor(2, None))
    kept = advance(state, 0, date(2027, 3, 1), policy, Floor(2, None))

    assert warned.event == Event.NONE
    assert (kept.event, kept.state.year_start) == (Event.RETAINED, date(2027, 3, 1))


def test_the_floors_end_is_the_tier_year_end_for_the_warning_and_the_notice():
    policy = default_policy_for_floor_tests()
    end = date(2026, 9, 1)
    state = TierState(2, FLOOR_START, None, end)
    floor = Floor(2, end)

    warned = advance(state, 0, date(2026, 8, 2), policy, floor)
    held = advance(warned.state, 0, date(2026, 8, 31), policy, floor)
    dropped = advance(warned.state, 0, date(2026, 9, 1), policy, floor)

    assert (warned.event, warned.state.warned_on) == (Event.WARNING, date(2026, 8, 2))
    assert held.event == Event.NONE
    assert (dropped.event, dropped.state.rank) == (Event.DOWNGRADE, 0)


def test_a_tier_year_only_a_floor_gives_ends_with_the_floor():
    policy = default_policy_for_floor_tests()
    floor = Floor(2, date(2026, 9, 1))
    below = TierState(1, FLOOR_START, None)
    above = TierState(3, date(2025, 5, 1), date(2026, 4, 1), None)

    lifted = advance(below, 1, date(2026, 5, 1), policy, floor)
    dropped = advance(above, 1, date(2026, 5, 1), policy, floor)
    qualified = advance(below, 2, date(2026, 5, 1), policy, floor)  # their own: a whole year
    long_floor = advance(below, 1, date(2026, 5, 1), policy, Floor(2, date(2028, 1, 1)))

    assert (lifted.event, lifted.state.year_end) == (Event.UPGRADE, date(2026, 9, 1))
    assert (dropped.event, dropped.state.rank, dropped.state.year_end) == (
        Event.DOWNGRADE, 2, date(2026, 9, 1),
    )  # fmt: skip
    assert (qualified.event, qualified.state.year_end) == (Event.UPGRADE, date(2027, 5, 1))
    assert long_floor.state.year_end == date(2027, 5, 1)


def test_the_end_of_an_overrides_year_goes_back_to_the_year_earned_below_it():
    """A member at 1 on their own until 2026-06-01, lifted to 2 by a floor until 2025-08-01:
    warned for 2 before that end, then back at 1 until the year they earned ends."""
    policy = default_policy_for_floor_tests()
    earned = Floor(1, date(2026, 6, 1))
    floor = Floor(2, date(2025, 8, 1))
    lifted = TierState(2, date(2025, 7, 1), None, date(2025, 8, 1), earned=earned)

    warned = advance(lifted, 0, date(2025, 7, 2), policy, floor)
    back = advance(warned.state, 0, date(2025, 8, 1), policy, floor)
    not_yet = advance(back.state, 0, date(2026, 5, 1), policy)
    warned_again = advance(back.state, 0, date(2026, 5, 2), policy)

    assert warned.event == Event.WARNING and warned.state.earned == earned
    assert (back.event, back.state) == (
        Event.DOWNGRADE, TierState(1, date(2025, 8, 1), None, date(2026, 6, 1)),
    )  # fmt: skip
    assert not_yet.event == Event.NONE
    assert warned_again.event == Event.WARNING
    # A year earned that ended first gives nothing back: down to the qualified tier.
    gone = replace(warned.state, earned=Floor(1, date(2025, 7, 20)))
    assert advance(gone, 0, date(2025, 8, 1), policy, floor).state.rank == 0


def test_no_downgrade_before_the_day_the_warning_gave_whatever_the_notice_now():
    policy = replace(default_policy_for_floor_tests(), notice_days=5)
    warned = TierState(2, date(2025, 3, 1), date(2026, 3, 10), None, date(2026, 4, 9))

    assert advance(warned, 1, date(2026, 4, 8), policy).event == Event.NONE
    assert advance(warned, 1, date(2026, 4, 9), policy).event == Event.DOWNGRADE


def default_policy_for_floor_tests() -> Policy:
    return Policy(
        version=1,
        tiers=(
            TierRule("top", 3, Threshold(Metric.SPEND, Decimal(100))),
            TierRule("mid", 2, Threshold(Metric.SPEND, Decimal(50))),
            TierRule("low", 1, Threshold(Metric.SPEND, Decimal(10))),
            TierRule("entry", 0, AllOf()),
        ),
    )
