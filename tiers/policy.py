"""Tier rules as data: the JSON shape policy owners edit, its validation, and its conversion to
the engine's rules.

A rule is one of (thresholds are inclusive; spend in yuan with at most 2 decimals):

    {"metric": "spend", "min": "5000.00"}        metric: spend, frequency, tenure_years,
                                                  contribution
    {"all": [rule, ...]}                          every rule holds; [] always holds
    {"any": [rule, ...]}                          one rule holds
    {"at_least": 2, "of": [rule, ...]}            at least N rules hold

A policy's ``rules`` maps every tier code to a rule; the lowest tier's rule is {"all": []}.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from . import engine


class PolicyError(ValueError):
    """A rule that cannot be used, with where it is (``diamond.all[1].of[0]``) and why."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def rule_from_data(data: object, path: str) -> engine.Rule:
    if not isinstance(data, dict):
        raise PolicyError(path, "a rule must be an object")
    if "metric" in data:
        return _threshold_from_data(data, path)
    if set(data) == {"all"} or set(data) == {"any"}:
        key = next(iter(data))
        children = _children(data[key], f"{path}.{key}")
        if key == "any" and not children:
            raise PolicyError(path, "'any' needs at least one rule")
        return engine.AllOf(children) if key == "all" else engine.AnyOf(children)
    if set(data) == {"at_least", "of"}:
        children = _children(data["of"], f"{path}.of")
        count = data["at_least"]
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= len(children):
            raise PolicyError(path, f"'at_least' must be a whole number from 1 to {len(children)}")
        return engine.AtLeast(count, children)
    raise PolicyError(path, "expected 'metric' and 'min', 'all', 'any', or 'at_least' and 'of'")


def _children(items: object, path: str) -> tuple[engine.Rule, ...]:
    if not isinstance(items, list):
        raise PolicyError(path, "must be a list of rules")
    return tuple(rule_from_data(item, f"{path}[{i}]") for i, item in enumerate(items))


def _threshold_from_data(data: dict, path: str) -> engine.Threshold:
    if set(data) != {"metric", "min"}:
        raise PolicyError(path, "a threshold has exactly 'metric' and 'min'")
    try:
        metric = engine.Metric(data["metric"])
    except ValueError:
        names = ", ".join(m.value for m in engine.Metric)
        raise PolicyError(path, f"unknown metric {data['metric']!r} (one of {names})") from None
    raw = data["min"]
    if metric == engine.Metric.SPEND:
        try:
            minimum = Decimal(str(raw))
        except InvalidOperation:
            raise PolicyError(path, f"spend minimum {raw!r} is not an amount") from None
        if not minimum.is_finite() or minimum < 0 or minimum != minimum.quantize(Decimal("0.01")):
            raise PolicyError(path, f"spend minimum {raw!r} must be ≥ 0 with at most 2 decimals")
        return engine.Threshold(metric, minimum.quantize(Decimal("0.01")))
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < 0:
        raise PolicyError(path, f"{metric.value} minimum {raw!r} must be a whole number ≥ 0")
    return engine.Threshold(metric, raw)


def rule_to_data(rule: engine.Rule) -> dict:
    match rule:
        case engine.Threshold(metric=metric, minimum=minimum):
            value = str(minimum) if metric == engine.Metric.SPEND else minimum
            return {"metric": metric.value, "min": value}
        case engine.AllOf(conditions=conditions):
            return {"all": [rule_to_data(c) for c in conditions]}
        case engine.AnyOf(conditions=conditions):
            return {"any": [rule_to_data(c) for c in conditions]}
        case engine.AtLeast(count=count, conditions=conditions):
            return {"at_least": count, "of": [rule_to_data(c) for c in conditions]}
    raise TypeError(f"not a rule: {rule!r}")


def build_policy(
    *,
    version: int,
    rules: object,
    tier_ranks: dict[str, int],
    window_kind: str = engine.WindowKind.ROLLING_YEAR,
    referral_points: int = 200,
    activity_points: int = 100,
    warning_lead_days: int = 30,
    notice_days: int = 30,
    downgrade_step: str = engine.DowngradeStep.TO_QUALIFIED,
) -> engine.Policy:
    """The engine's policy from stored data; ``tier_ranks`` maps every tier code to its rank."""
    if not isinstance(rules, dict):
        raise PolicyError("rules", "must map each tier code to a rule")
    missing = sorted(set(tier_ranks) - set(rules), key=tier_ranks.get)
    unknown = sorted(set(rules) - set(tier_ranks))
    if missing:
        raise PolicyError("rules", f"no rule for tier {', '.join(missing)}")
    if unknown:
        raise PolicyError("rules", f"unknown tier {', '.join(unknown)}")
    tiers = tuple(
        engine.TierRule(code, rank, rule_from_data(rules[code], code))
        for code, rank in tier_ranks.items()
    )
    try:
        return engine.Policy(
            version=version,
            tiers=tiers,
            window=engine.WindowKind(window_kind),
            referral_points=referral_points,
            activity_points=activity_points,
            warning_lead_days=warning_lead_days,
            notice_days=notice_days,
            downgrade_step=engine.DowngradeStep(downgrade_step),
        )
    except ValueError as exc:
        raise PolicyError("rules", str(exc)) from None


def policy_from_model(policy, tier_ranks: dict[str, int]) -> engine.Policy:
    """``policy`` is a ``TierPolicy`` row."""
    return build_policy(
        version=policy.version,
        rules=policy.rules,
        tier_ranks=tier_ranks,
        window_kind=policy.window_kind,
        referral_points=policy.referral_points,
        activity_points=policy.activity_points,
        warning_lead_days=policy.warning_lead_days,
        notice_days=policy.notice_days,
        downgrade_step=policy.downgrade_step,
    )
