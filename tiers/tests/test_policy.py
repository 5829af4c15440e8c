"""Tier rules as data (tiers/policy.py): valid shapes round-trip, every invalid shape is refused
with a PolicyError that says where. No database needed."""

from __future__ import annotations

import copy
import importlib
import itertools
import json
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import translation

from loyalty.exceptions import DomainError
from tiers.engine import (
    AllOf,
    AnyOf,
    AtLeast,
    DowngradeStep,
    Metric,
    Metrics,
    Threshold,
    WindowKind,
    qualify,
)
from tiers.policy import (
    OrderingProblem,
    PolicyError,
    build_policy,
    qualified_tier_sql,
    qualifies_for_sql,
    rule_from_data,
    rule_to_data,
    threshold_values,
)

_defaults = importlib.import_module("tiers.migrations.0002_default_tiers_and_policy")
DEFAULT_RULES = _defaults.DEFAULT_RULES
TIER_RANKS = {code: rank for code, rank, _zh, _en in _defaults.TIERS}
METRIC_ORDER = (Metric.SPEND, Metric.FREQUENCY, Metric.TENURE, Metric.CONTRIBUTION)


@pytest.fixture(autouse=True)
def english():
    # Messages are translatable; the fragments matched below are the English ones.
    with translation.override("en"):
        yield


def rules_with(**changes) -> dict:
    rules = copy.deepcopy(DEFAULT_RULES)
    rules.update(changes)
    return rules


def diamond_with_first_extra(rule: object) -> dict:
    """The default Diamond rule with ``rule`` in place of its first "at least two of" condition,
    which lives at ``diamond.all[1].of[0]``."""
    diamond = copy.deepcopy(DEFAULT_RULES["diamond"])
    diamond["all"][1]["of"][0] = rule
    return diamond


def build(rules: object, **settings) -> object:
    return build_policy(version=1, rules=rules, tier_ranks=TIER_RANKS, **settings)


# --- Valid shapes -------------------------------------------------------------------------


@pytest.mark.parametrize("code", list(DEFAULT_RULES))
def test_default_rules_round_trip_unchanged(code):
    rule = rule_from_data(DEFAULT_RULES[code], code)
    assert rule_to_data(rule) == DEFAULT_RULES[code]
    assert rule_from_data(rule_to_data(rule), code) == rule


VALID_RULES = [
    pytest.param({"metric": "spend", "min": "0.00"}, id="spend-zero"),
    pytest.param({"metric": "frequency", "min": 0}, id="frequency-zero"),
    pytest.param({"metric": "tenure_years", "min": 10}, id="tenure"),
    pytest.param({"metric": "contribution", "min": 5000}, id="contribution"),
    pytest.param({"all": []}, id="empty-all"),
    pytest.param({"any": [{"metric": "frequency", "min": 52}]}, id="any-of-one"),
    pytest.param(
        {"at_least": 1, "of": [{"metric": "frequency", "min": 1}]}, id="at-least-one-of-one"
    ),
    pytest.param(
        {
            "at_least": 3,
            "of": [
                {"metric": "frequency", "min": 24},
                {"metric": "tenure_years", "min": 5},
                {"metric": "contribution", "min": 5000},
            ],
        },
        id="at-least-all-of-them",
    ),
    pytest.param(
        {
            "any": [
                {"all": [{"metric": "spend", "min": "500000.00"}]},
                {
                    "at_least": 2,
                    "of": [
                        {"any": [{"metric": "frequency", "min": 52}]},
                        {"all": [{"metric": "spend", "min": "0.01"}]},
                        {"metric": "contribution", "min": 1},
                    ],
                },
            ]
        },
        id="nested",
    ),
]


@pytest.mark.parametrize("data", VALID_RULES)
def test_valid_rule_shapes_round_trip(data):
    rule = rule_from_data(data, "gold")
    assert rule_to_data(rule) == data
    assert rule_from_data(rule_to_data(rule), "gold") == rule
    assert json.loads(json.dumps(rule_to_data(rule))) == data


def test_engine_rules_round_trip_through_data():
    rule = AnyOf(
        (
            AllOf((Threshold(Metric.SPEND, Decimal("50000.00")), Threshold(Metric.FREQUENCY, 18))),
            AtLeast(1, (Threshold(Metric.TENURE, 3), Threshold(Metric.CONTRIBUTION, 2000))),
        )
    )
    assert rule_from_data(rule_to_data(rule), "platinum") == rule


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("5000", "5000.00"),
        ("5000.5", "5000.50"),
        (5000, "5000.00"),
        ("4999.99", "4999.99"),
        ("5000.010", "5000.01"),  # a trailing zero is no third decimal
        ("0", "0.00"),
        ("-0", "0.00"),
    ],
)
def test_spend_minimum_is_kept_to_the_fen_and_written_with_two_decimals(written, stored):
    rule = rule_from_data({"metric": "spend", "min": written}, "silver")
    assert rule == Threshold(Metric.SPEND, Decimal(stored))
    assert rule_to_data(rule) == {"metric": "spend", "min": stored}


def test_build_policy_keeps_the_settings_and_orders_tiers_by_rank():
    policy = build(
        DEFAULT_RULES,
        window_kind="calendar_year",
        referral_points=300,
        activity_points=50,
        warning_lead_days=45,
        notice_days=20,
        downgrade_step="one_tier",
    )
    assert [t.code for t in policy.tiers] == ["diamond", "platinum", "gold", "silver", "regular"]
    assert [t.rank for t in policy.tiers] == [4, 3, 2, 1, 0]
    assert policy.window == WindowKind.CALENDAR_YEAR
    assert (policy.referral_points, policy.activity_points) == (300, 50)
    assert (policy.warning_lead_days, policy.notice_days) == (45, 20)
    assert policy.downgrade_step == DowngradeStep.ONE_TIER


def test_an_industry_can_set_its_own_numbers_and_shapes():
    # domain.md: a community supermarket's Diamond may need 5,000 with frequency ≥ 52.
    rules = rules_with(
        diamond={"all": [{"metric": "spend", "min": "5000.00"}, {"metric": "frequency", "min": 52}]}
    )
    policy = build(rules)
    assert rule_to_data(policy.tier(4).rule) == rules["diamond"]


# --- The rules in SQL (the recompute's members whose tier stays) -----------------------------

SQL_POLICIES = [
    pytest.param(DEFAULT_RULES, id="default"),
    pytest.param(
        rules_with(
            diamond={
                "any": [
                    {"metric": "spend", "min": "0.01"},
                    {"at_least": 1, "of": [{"metric": "contribution", "min": 1_000}]},
                ]
            },
            platinum={"at_least": 3, "of": [{"metric": "frequency", "min": 0}] * 3},
            gold={"all": [{"metric": "tenure_years", "min": 2}, {"all": []}]},
        ),
        id="shapes",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize("rules", SQL_POLICIES)
def test_the_tier_qualified_for_in_sql_is_the_engines_at_every_threshold_and_beside_it(rules):
    policy = build(rules)
    cuts = threshold_values(policy)
    near = {  # each threshold, one below and one above, in the columns' integers (spend in fen)
        metric: sorted(
            {0}
            | {
                max(0, int(value * (100 if metric == Metric.SPEND else 1)) + step)
                for value in cuts[metric]
                for step in (-1, 0, 1)
            }
        )
        for metric in METRIC_ORDER
    }
    grid = list(itertools.product(*(near[metric] for metric in METRIC_ORDER)))
    names = ("g.spend", "g.frequency", "g.tenure", "g.contribution")
    columns = dict(zip(METRIC_ORDER, names, strict=True))
    cases, params = [], []
    for tier in policy.tiers:
        condition, condition_params = qualifies_for_sql(policy, tier.rank, columns)
        cases.append(f"WHEN {condition} THEN {tier.rank}")
        params += condition_params
    # The tier's id as qualified_tier_sql gives it: here ten times the rank.
    tier_id, tier_params = qualified_tier_sql(
        policy, {tier.rank: tier.rank * 10 for tier in policy.tiers}, columns
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE g (n INTEGER, spend BIGINT, frequency INTEGER, "
            "tenure INTEGER, contribution INTEGER)"
        )
        cursor.executemany(
            "INSERT INTO g VALUES (%s, %s, %s, %s, %s)",
            [(n, *point) for n, point in enumerate(grid)],
        )
        cursor.execute(
            f"SELECT n, CASE {' '.join(cases)} ELSE -1 END, {tier_id} FROM g ORDER BY n",
            params + tier_params,
        )
        in_sql = cursor.fetchall()
        cursor.execute("DROP TABLE g")

    def engine_rank(spend_fen, frequency, tenure, contribution) -> int:
        metrics = Metrics(Decimal(spend_fen) / 100, frequency, tenure, contribution)
        return qualify(metrics, policy).rank

    assert len(grid) > 100
    assert [rank for _n, rank, _id in in_sql] == [engine_rank(*point) for point in grid]
    assert [tier_id for _n, _rank, tier_id in in_sql] == [
        engine_rank(*point) * 10 for point in grid
    ]


# --- Invalid shapes: a PolicyError that says where ----------------------------------------

INVALID_RULES = [
    # (rule at diamond.all[1].of[0], the path named, a fragment of the message)
    pytest.param(
        {"metric": "age", "min": 3}, "diamond.all[1].of[0]", "unknown metric", id="unknown-metric"
    ),
    pytest.param(
        {"metric": ["spend"], "min": 3}, "diamond.all[1].of[0]", "unknown metric", id="metric-list"
    ),
    pytest.param(
        {"metric": "frequency", "min": -1}, "diamond.all[1].of[0]", "≥ 0", id="negative-frequency"
    ),
    pytest.param(
        {"metric": "spend", "min": "-0.01"}, "diamond.all[1].of[0]", "≥ 0", id="negative-spend"
    ),
    pytest.param(
        {"metric": "spend", "min": "5000.001"},
        "diamond.all[1].of[0]",
        "2 decimals",
        id="spend-with-3-decimals",
    ),
    pytest.param(
        {"metric": "spend", "min": 0.001}, "diamond.all[1].of[0]", "2 decimals", id="spend-float"
    ),
    pytest.param(
        {"metric": "spend", "min": "1e30"},
        "diamond.all[1].of[0]",
        "not an amount",
        id="spend-too-long",
    ),
    pytest.param(
        {"metric": "spend", "min": "abc"}, "diamond.all[1].of[0]", "not an amount", id="spend-text"
    ),
    # Numbers to Decimal, but not as an amount is written (loyalty.money refuses them too).
    pytest.param(
        {"metric": "spend", "min": "1e3"}, "diamond.all[1].of[0]", "not an amount", id="spend-e"
    ),
    pytest.param(
        {"metric": "spend", "min": "1_000"}, "diamond.all[1].of[0]", "not an amount", id="spend-_"
    ),
    pytest.param(
        {"metric": "spend", "min": "１２"}, "diamond.all[1].of[0]", "not an amount", id="spend-ｗ"
    ),
    pytest.param(
        {"metric": "spend", "min": "99999999999999999999.00"},
        "diamond.all[1].of[0]",
        "is too large",
        id="spend-huge",
    ),
    pytest.param(
        {"metric": "spend", "min": "NaN"},
        "diamond.all[1].of[0]",
        "not an amount",
        id="spend-not-a-number",
    ),
    pytest.param(
        {"metric": "spend", "min": "Infinity"},
        "diamond.all[1].of[0]",
        "not an amount",
        id="spend-infinite",
    ),
    pytest.param(
        {"metric": "spend", "min": None},
        "diamond.all[1].of[0]",
        "spend minimum is empty",
        id="spend-null",
    ),
    pytest.param(
        {"metric": "spend", "min": " "},
        "diamond.all[1].of[0]",
        "spend minimum is empty",
        id="spend-blank",
    ),
    pytest.param(
        {"metric": "frequency", "min": ""},
        "diamond.all[1].of[0]",
        "frequency (purchases) minimum is empty",
        id="frequency-blank",
    ),
    pytest.param(
        {"metric": "spend", "min": True}, "diamond.all[1].of[0]", "not an amount", id="spend-bool"
    ),
    pytest.param(
        {"metric": "frequency", "min": 24.5},
        "diamond.all[1].of[0]",
        "whole number",
        id="non-integer-frequency",
    ),
    pytest.param(
        {"metric": "frequency", "min": 24.0},
        "diamond.all[1].of[0]",
        "whole number",
        id="float-frequency",
    ),
    pytest.param(
        {"metric": "frequency", "min": "24"},
        "diamond.all[1].of[0]",
        "whole number",
        id="text-frequency",
    ),
    pytest.param(
        {"metric": "tenure_years", "min": True},
        "diamond.all[1].of[0]",
        "whole number",
        id="bool-instead-of-int",
    ),
    pytest.param(
        {"metric": "frequency"}, "diamond.all[1].of[0]", "exactly 'metric' and 'min'", id="no-min"
    ),
    pytest.param(
        {"metric": "frequency", "min": 1, "max": 5},
        "diamond.all[1].of[0]",
        "exactly 'metric' and 'min'",
        id="extra-key",
    ),
    pytest.param(
        "frequency >= 24", "diamond.all[1].of[0]", "must be an object", id="text-instead-of-rule"
    ),
    pytest.param(None, "diamond.all[1].of[0]", "must be an object", id="null-rule"),
    pytest.param({}, "diamond.all[1].of[0]", "expected", id="empty-object"),
    pytest.param({"none": []}, "diamond.all[1].of[0]", "expected", id="unknown-combinator"),
    pytest.param({"all": [], "any": []}, "diamond.all[1].of[0]", "expected", id="two-combinators"),
    pytest.param({"any": []}, "diamond.all[1].of[0]", "at least one rule", id="empty-any"),
    pytest.param(
        {"all": {"metric": "frequency", "min": 1}},
        "diamond.all[1].of[0].all",
        "list of rules",
        id="all-not-a-list",
    ),
    pytest.param(
        {"any": [{"metric": "frequency", "min": 1}, {"metric": "age", "min": 1}]},
        "diamond.all[1].of[0].any[1]",
        "unknown metric",
        id="deeper-unknown-metric",
    ),
    pytest.param(
        {"at_least": 2, "of": [{"metric": "frequency", "min": 1}, {"metric": "frequency"}]},
        "diamond.all[1].of[0].of[1]",
        "exactly 'metric' and 'min'",
        id="deeper-threshold",
    ),
]


@pytest.mark.parametrize(("rule", "path", "message"), INVALID_RULES)
def test_invalid_rule_is_refused_with_where_it_is(rule, path, message):
    with pytest.raises(PolicyError) as caught:
        build(rules_with(diamond=diamond_with_first_extra(rule)))
    assert caught.value.path == path
    assert message in caught.value.message
    assert str(caught.value) == f"{path}: {caught.value.message}"


@pytest.mark.parametrize(
    "count",
    [
        pytest.param(0, id="zero"),
        pytest.param(4, id="more-than-the-rules"),
        pytest.param(-1, id="negative"),
        pytest.param("2", id="text"),
        pytest.param(2.0, id="float"),
        pytest.param(True, id="bool-instead-of-int"),
        pytest.param(None, id="null"),
    ],
)
def test_at_least_out_of_range_or_not_a_whole_number_is_refused(count):
    diamond = copy.deepcopy(DEFAULT_RULES["diamond"])
    diamond["all"][1]["at_least"] = count
    with pytest.raises(PolicyError) as caught:
        build(rules_with(diamond=diamond))
    assert caught.value.path == "diamond.all[1]"
    assert "1 to the number of rules (3)" in caught.value.message


@pytest.mark.parametrize("count", [1, 2, 3])
def test_at_least_from_one_to_the_number_of_rules_is_accepted(count):
    diamond = copy.deepcopy(DEFAULT_RULES["diamond"])
    diamond["all"][1]["at_least"] = count
    assert build(rules_with(diamond=diamond)).tier(4).rule.conditions[1].count == count


def test_at_least_of_nothing_is_refused():
    with pytest.raises(PolicyError) as caught:
        rule_from_data({"at_least": 1, "of": []}, "gold")
    assert caught.value.path == "gold"


def test_at_least_of_something_that_is_not_a_list_is_refused():
    with pytest.raises(PolicyError) as caught:
        rule_from_data({"at_least": 1, "of": "frequency"}, "gold")
    assert caught.value.path == "gold.of"


def test_missing_tier_is_refused():
    rules = rules_with()
    del rules["silver"]
    with pytest.raises(PolicyError) as caught:
        build(rules)
    assert caught.value.path == "rules"
    assert "no rule for tier silver" in caught.value.message


def test_unknown_tier_is_refused():
    with pytest.raises(PolicyError) as caught:
        build(rules_with(bronze={"metric": "frequency", "min": 1}))
    assert caught.value.path == "rules"
    assert "unknown tier bronze" in caught.value.message


@pytest.mark.parametrize("rules", [None, [], "diamond"], ids=["null", "list", "text"])
def test_rules_that_are_not_a_mapping_are_refused(rules):
    with pytest.raises(PolicyError) as caught:
        build(rules)
    assert caught.value.path == "rules"


@pytest.mark.parametrize(
    "entry_rule",
    [
        pytest.param({"all": [{"metric": "spend", "min": "1.00"}]}, id="all-with-a-condition"),
        pytest.param({"any": [{"metric": "frequency", "min": 0}]}, id="any"),
        pytest.param({"metric": "frequency", "min": 0}, id="threshold"),
    ],
)
def test_lowest_tier_with_conditions_is_refused_naming_the_tier(entry_rule):
    with pytest.raises(PolicyError) as caught:
        build(rules_with(regular=entry_rule))
    assert caught.value.path == "regular"
    assert "lowest tier" in caught.value.message


def test_policy_without_tiers_is_refused():
    with pytest.raises(PolicyError) as caught:
        build_policy(version=1, rules={}, tier_ranks={})
    assert caught.value.path == "rules"


@pytest.mark.parametrize(
    ("setting", "value"),
    [("window_kind", "fiscal_year"), ("downgrade_step", "two_tiers")],
)
def test_unknown_window_or_downgrade_step_is_refused_naming_the_setting(setting, value):
    with pytest.raises(PolicyError) as caught:
        build(DEFAULT_RULES, **{setting: value})
    assert caught.value.path == setting


def test_policy_error_is_a_domain_error_and_a_value_error():
    # Views turn a DomainError into a form error or a 400; older callers catch ValueError.
    with pytest.raises(DomainError):
        rule_from_data({"metric": "age", "min": 1}, "gold")
    with pytest.raises(ValueError):
        rule_from_data({"metric": "age", "min": 1}, "gold")


@pytest.mark.parametrize(
    ("language", "figures"),
    [
        ("zh-hans", "消费金额 ¥100,000.00，合作年限（年） 5，贡献值 5,000 的会员"),
        ("en", "a member with spend ¥100,000.00, tenure (years) 5, contribution (points) 5,000 "),
    ],
)
def test_an_ordering_problem_lists_the_figures_with_the_readers_punctuation(language, figures):
    problem = OrderingProblem(
        "gold", "silver", Metrics(Decimal("100000"), frequency=0, tenure_years=5, contribution=5000)
    )

    with translation.override(language):
        message = problem.message({"gold": "Gold", "silver": "Silver"})

    assert figures in message
