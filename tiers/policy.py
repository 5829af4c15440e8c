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

import itertools
import re
from bisect import bisect_right
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, InvalidOperation

from django.utils.translation import gettext as _

from loyalty.exceptions import DomainError
from loyalty.money import CENT, MAX_AMOUNT_FEN
from loyalty.words import listed

from . import engine


class PolicyError(DomainError, ValueError):
    """A rule that cannot be used, with where it is (``diamond.all[1].of[0]``) and why.

    A ``DomainError``, so a view shows it to the policy owner instead of failing; messages are
    translated when raised, in the language of the request."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def rule_from_data(data: object, path: str) -> engine.Rule:
    if not isinstance(data, dict):
        raise PolicyError(path, _("a rule must be an object"))
    if "metric" in data:
        return _threshold_from_data(data, path)
    if set(data) == {"all"} or set(data) == {"any"}:
        key = next(iter(data))
        children = _children(data[key], f"{path}.{key}")
        if key == "any" and not children:
            raise PolicyError(path, _("“any one of these” needs at least one rule"))
        return engine.AllOf(children) if key == "all" else engine.AnyOf(children)
    if set(data) == {"at_least", "of"}:
        children = _children(data["of"], f"{path}.of")
        count = data["at_least"]
        if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= len(children):
            raise PolicyError(
                path,
                _(
                    "N of “at least N of these” must be a whole number from 1 to the number of "
                    "rules (%(n)d)"
                )
                % {"n": len(children)},
            )
        return engine.AtLeast(count, children)
    raise PolicyError(path, _("expected 'metric' and 'min', 'all', 'any', or 'at_least' and 'of'"))


def _children(items: object, path: str) -> tuple[engine.Rule, ...]:
    if not isinstance(items, list):
        raise PolicyError(path, _("must be a list of rules"))
    return tuple(rule_from_data(item, f"{path}[{i}]") for i, item in enumerate(items))


def _threshold_from_data(data: dict, path: str) -> engine.Threshold:
    if set(data) != {"metric", "min"}:
        raise PolicyError(path, _("a threshold has exactly 'metric' and 'min'"))
    try:
        metric = engine.Metric(data["metric"])
    except ValueError:
        raise PolicyError(
            path,
            _("unknown metric %(metric)r (one of %(names)s)")
            % {"metric": data["metric"], "names": ", ".join(m.value for m in engine.Metric)},
        ) from None
    raw = data["min"]
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        # A condition added in the editor and left blank: say so, not "'' is not an amount".
        from .templatetags.tier_display import metric_label

        raise PolicyError(path, _("%(metric)s minimum is empty") % {"metric": metric_label(metric)})
    if metric == engine.Metric.SPEND:
        try:
            minimum = Decimal(str(raw))
        except InvalidOperation:
            minimum = None
        # Digits and a point only, as the amounts of facts (loyalty.money): "1e3", "1_000" and
        # full-width digits are numbers to Decimal, and mistakes in a policy.
        if minimum is None or isinstance(raw, bool) or not _WRITTEN.fullmatch(str(raw).strip()):
            raise PolicyError(path, _("spend minimum %(min)r is not an amount") % {"min": raw})
        if not _is_cents(minimum):
            raise PolicyError(
                path, _("spend minimum %(min)r must be ≥ 0 with at most 2 decimals") % {"min": raw}
            )
        if minimum * 100 >= MAX_AMOUNT_FEN:
            raise PolicyError(
                path,
                _("spend minimum %(min)r is too large") % {"min": raw},
            )
        # copy_abs: "-0" would otherwise be kept and shown as "-0.00".
        return engine.Threshold(metric, minimum.quantize(CENT).copy_abs())
    if not isinstance(raw, int) or isinstance(raw, bool) or raw < 0:
        from .templatetags.tier_display import metric_label

        # Named as the editor labels the figure, in the page's language.
        raise PolicyError(
            path,
            _("%(metric)s minimum %(min)r must be a whole number ≥ 0")
            % {"metric": metric_label(metric), "min": raw},
        )
    return engine.Threshold(metric, raw)


_WRITTEN = re.compile(r"-?\d+(?:\.\d*)?", re.ASCII)


def _is_cents(amount: Decimal) -> bool:
    """Finite, not negative, with at most 2 decimals."""
    if not amount.is_finite() or amount < 0:
        return False
    try:
        return amount == amount.quantize(CENT)
    except InvalidOperation:
        # Too many digits for the decimal context (e.g. 1e30): not a usable amount.
        return False


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
    """The engine's policy from stored data; ``tier_ranks`` maps every tier code to its rank.

    Every error names where it is: a tier's rule path, ``rules``, ``window_kind`` or
    ``downgrade_step``."""
    if not tier_ranks:
        raise PolicyError("rules", _("a policy needs at least one tier"))
    if not isinstance(rules, dict):
        raise PolicyError("rules", _("must map each tier code to a rule"))
    missing = sorted(set(tier_ranks) - set(rules), key=tier_ranks.get)
    unknown = sorted(str(code) for code in set(rules) - set(tier_ranks))
    if missing:
        raise PolicyError("rules", _("no rule for tier %(codes)s") % {"codes": ", ".join(missing)})
    if unknown:
        raise PolicyError("rules", _("unknown tier %(codes)s") % {"codes": ", ".join(unknown)})
    try:
        window = engine.WindowKind(window_kind)
    except ValueError:
        raise PolicyError("window_kind", _("unknown window %(v)r") % {"v": window_kind}) from None
    try:
        step = engine.DowngradeStep(downgrade_step)
    except ValueError:
        raise PolicyError(
            "downgrade_step", _("unknown downgrade step %(v)r") % {"v": downgrade_step}
        ) from None
    tiers = tuple(
        engine.TierRule(code, rank, rule_from_data(rules[code], code))
        for code, rank in tier_ranks.items()
    )
    # Checked here, not only in engine.Policy, so the error names the tier.
    lowest = min(tiers, key=lambda t: t.rank)
    if lowest.rule != engine.AllOf(()):
        raise PolicyError(
            lowest.code,
            _('the lowest tier must have no conditions ({"all": []}): every member qualifies'),
        )
    return engine.Policy(
        version=version,
        tiers=tiers,
        window=window,
        referral_points=referral_points,
        activity_points=activity_points,
        warning_lead_days=warning_lead_days,
        notice_days=notice_days,
        downgrade_step=step,
    )


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


# --- Validation of a whole version, for policy owners -------------------------------------


class PolicyInvalid(DomainError):
    """Every error of a version at once (not only the first), each with where it is."""

    def __init__(self, errors: list[PolicyError]):
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = errors


def rule_errors(data: object, path: str) -> list[PolicyError]:
    """Every problem of one rule (``rule_from_data`` stops at the first): each part of a group
    is checked on its own, and the group itself with its parts taken as valid."""
    groups = [key for key in ("all", "any", "of") if isinstance(data, dict) and key in data]
    if not groups or not isinstance(data[groups[0]], list):
        try:
            rule_from_data(data, path)
        except PolicyError as error:
            return [error]
        return []
    key = groups[0]
    children = data[key]
    errors = [
        error
        for i, child in enumerate(children)
        for error in rule_errors(child, f"{path}.{key}[{i}]")
    ]
    try:
        rule_from_data({**data, key: [{"all": []}] * len(children)}, path)
    except PolicyError as error:
        errors.insert(0, error)
    return errors


def policy_errors(
    *, rules: object, tier_ranks: dict[str, int], window_kind: str, downgrade_step: str
) -> list[PolicyError]:
    """Every problem of a version's data: each tier's rule is checked on its own, and each part
    of it, so one bad threshold does not hide another; then the version as a whole
    (``build_policy``)."""
    errors: list[PolicyError] = []
    if isinstance(rules, dict):
        for code in sorted(tier_ranks, key=tier_ranks.get, reverse=True):
            if code in rules:
                errors.extend(rule_errors(rules[code], code))
    if not errors:
        try:
            build_policy(
                version=0,
                rules=rules,
                tier_ranks=tier_ranks,
                window_kind=window_kind,
                downgrade_step=downgrade_step,
            )
        except PolicyError as error:
            errors.append(error)
    return errors


def form_path(path: str) -> str:
    """A rule path (``diamond.all[1].of[0]``) as the structured editor names the node
    (``diamond.1.0``): the tier code, then the position at each level."""
    code = path.split(".", 1)[0].split("[", 1)[0]
    return ".".join([code, *re.findall(r"\[(\d+)\]", path)])


# The figures a member can have, in the order messages name them.
_METRICS = (
    engine.Metric.SPEND,
    engine.Metric.FREQUENCY,
    engine.Metric.TENURE,
    engine.Metric.CONTRIBUTION,
)


@dataclass(frozen=True)
class OrderingProblem:
    """A higher tier that is easier to reach than a lower one in some way: a member with
    ``figures`` qualifies for ``higher`` but not for ``lower``."""

    higher: str
    lower: str
    figures: engine.Metrics

    def message(self, names: dict[str, str]) -> str:
        from .templatetags.tier_display import metric_label, metric_value

        parts = [
            f"{metric_label(m)} {metric_value(self.figures.value(m), m)}"
            for m in _METRICS
            if self.figures.value(m)
        ]
        return _(
            "%(higher)s is easier to reach than %(lower)s: a member with %(figures)s qualifies "
            "for %(higher)s but not for %(lower)s."
        ) % {
            "higher": names.get(self.higher, self.higher),
            "lower": names.get(self.lower, self.lower),
            "figures": listed(parts) if parts else _("no figures at all"),
        }


def _thresholds(rule: engine.Rule, found: dict[engine.Metric, set]) -> None:
    match rule:
        case engine.Threshold(metric=metric, minimum=minimum):
            found[metric].add(minimum)
        case engine.AllOf(conditions=c) | engine.AnyOf(conditions=c) | engine.AtLeast(conditions=c):
            for child in c:
                _thresholds(child, found)


def threshold_values(*policies: engine.Policy) -> dict[engine.Metric, list]:
    """Every minimum the policies' rules use, per metric, sorted, with 0: a member's figures
    decide a rule only through which of these they reach (thresholds are minimums)."""
    found: dict[engine.Metric, set] = {m: {0} for m in _METRICS}
    for policy in policies:
        for tier in policy.tiers:
            _thresholds(tier.rule, found)
    return {metric: sorted(values) for metric, values in found.items()}


class RankFinder:
    """The rank each of ``policies`` qualifies a member for, from the raw integer figures the
    window SQL returns; the same answer as ``engine.qualify`` on the member's own figures.

    Thresholds are minimums, so a rule's answer depends only on which threshold values each
    figure reaches. Members are grouped by that (four bisects on integers) and ``engine.qualify``
    runs once per group, on the group's lowest figures, instead of once per member with Decimal
    figures: the recompute and the impact preview do this for a million members."""

    def __init__(self, *policies: engine.Policy):
        self.policies = policies
        self.cuts = threshold_values(*policies)
        self.spend_cuts = [int(value * 100) for value in self.cuts[engine.Metric.SPEND]]  # fen
        self.frequency_cuts = self.cuts[engine.Metric.FREQUENCY]
        self.tenure_cuts = self.cuts[engine.Metric.TENURE]
        self.contribution_cuts = self.cuts[engine.Metric.CONTRIBUTION]
        self.points = [(p.referral_points, p.activity_points) for p in policies]
        self._known: dict[tuple, tuple[int, ...]] = {}

    def ranks(
        self, spend_fen: int, frequency: int, tenure_years: int, referrals: int, activities: int
    ) -> tuple[int, ...]:
        contribution_cuts = self.contribution_cuts
        key = (
            bisect_right(self.spend_cuts, spend_fen),
            bisect_right(self.frequency_cuts, frequency),
            bisect_right(self.tenure_cuts, tenure_years),
            tuple(
                bisect_right(contribution_cuts, referrals * per_ref + activities * per_act)
                for per_ref, per_act in self.points
            ),
        )
        ranks = self._known.get(key)
        if ranks is None:
            ranks = self._known[key] = self._ranks_for(key)
        return ranks

    def rank(
        self, spend_fen: int, frequency: int, tenure_years: int, referrals: int, activities: int
    ) -> int:
        """The rank under the first policy (the recompute has one), with less work per call."""
        per_ref, per_act = self.points[0]
        key = (
            bisect_right(self.spend_cuts, spend_fen),
            bisect_right(self.frequency_cuts, frequency),
            bisect_right(self.tenure_cuts, tenure_years),
            (bisect_right(self.contribution_cuts, referrals * per_ref + activities * per_act),),
        )
        ranks = self._known.get(key)
        if ranks is None:
            ranks = self._known[key] = self._ranks_for(key)
        return ranks[0]

    def _ranks_for(self, key: tuple) -> tuple[int, ...]:
        spend_i, frequency_i, tenure_i, contributions = key
        cuts = self.cuts
        ranks = []
        for policy, contribution_i in zip(self.policies, contributions, strict=True):
            metrics = engine.Metrics(
                spend=cuts[engine.Metric.SPEND][spend_i - 1] if spend_i else Decimal(0),
                frequency=self.frequency_cuts[frequency_i - 1] if frequency_i else 0,
                tenure_years=self.tenure_cuts[tenure_i - 1] if tenure_i else 0,
                contribution=self.contribution_cuts[contribution_i - 1] if contribution_i else 0,
            )
            ranks.append(engine.qualify(metrics, policy).rank)
        return tuple(ranks)


def ordering_problems(policy: engine.Policy, limit: int = 3) -> list[OrderingProblem]:
    """Pairs of tiers where the higher one is easier to reach than a lower one.

    Every threshold is a minimum, so whether a rule holds changes only at threshold values:
    checking each tier's rule on the grid of all threshold values (and 0) of every metric
    covers every member there can be. A grid point that qualifies for a higher tier but not for
    a lower one (the lowest tier always qualifies) is a way in which the higher tier is easier
    to reach. For each such pair, every minimal such point is reported (one where lowering any
    figure to the grid value below would no longer make it one), up to ``limit`` per pair."""
    values = threshold_values(policy)
    grids = [values[m] for m in _METRICS]
    checked = [(t.code, engine.compile_rule(t.rule)) for t in policy.tiers[:-1]]
    witnesses: dict[tuple[int, int], list[tuple[int, ...]]] = {}
    for indexes in itertools.product(*(range(len(g)) for g in grids)):
        metrics = _grid_metrics(grids, indexes)
        held = [predicate(metrics) for _code, predicate in checked]
        for high, high_held in enumerate(held):
            if high_held:
                for low in range(high + 1, len(checked)):
                    if not held[low]:
                        witnesses.setdefault((high, low), []).append(indexes)
    problems = []
    for (high, low), points in sorted(witnesses.items()):
        minimal = [
            p
            for p in points
            if not any(q != p and all(a <= b for a, b in zip(q, p, strict=True)) for q in points)
        ]
        minimal.sort(key=lambda p: (sum(1 for i in p if i), sum(p), p))
        problems.extend(
            OrderingProblem(checked[high][0], checked[low][0], _grid_metrics(grids, p))
            for p in minimal[:limit]
        )
    return problems


def _grid_metrics(grids: list[list], indexes: tuple[int, ...]) -> engine.Metrics:
    spend, frequency, tenure, contribution = (
        grid[i] for grid, i in zip(grids, indexes, strict=True)
    )
    return engine.Metrics(
        spend=Decimal(spend), frequency=frequency, tenure_years=tenure, contribution=contribution
    )


# --- Rules in SQL ---------------------------------------------------------------------------


def _minimum_sql(metric: engine.Metric, minimum: Decimal | int) -> int:
    """The least integer column value that reaches ``minimum``: spend is compared in fen."""
    scaled = Decimal(minimum) * (100 if metric == engine.Metric.SPEND else 1)
    return int(scaled.to_integral_value(rounding=ROUND_CEILING))


def rule_sql(rule: engine.Rule, columns: dict[engine.Metric, str]) -> tuple[str, list]:
    """The rule as an SQL condition on integer ``columns`` (spend in fen), with its parameters:
    the same answer as ``engine.holds`` on the member's figures."""
    match rule:
        case engine.Threshold(metric=metric, minimum=minimum):
            return f"{columns[metric]} >= %s", [_minimum_sql(metric, minimum)]
        case engine.AllOf(conditions=()):
            return "1 = 1", []
        case engine.AllOf(conditions=conditions) | engine.AnyOf(conditions=conditions):
            parts = [rule_sql(c, columns) for c in conditions]
            joiner = " AND " if isinstance(rule, engine.AllOf) else " OR "
            return (
                "(" + joiner.join(sql for sql, _params in parts) + ")",
                [p for _sql, params in parts for p in params],
            )
        case engine.AtLeast(count=count, conditions=conditions):
            parts = [rule_sql(c, columns) for c in conditions]
            counted = " + ".join(f"(CASE WHEN {sql} THEN 1 ELSE 0 END)" for sql, _p in parts)
            return f"({counted or '0'}) >= %s", [
                *(p for _sql, params in parts for p in params),
                count,
            ]
    raise TypeError(f"not a rule: {rule!r}")


def qualifies_for_sql(
    policy: engine.Policy, rank: int, columns: dict[engine.Metric, str]
) -> tuple[str, list]:
    """An SQL condition: the figures in ``columns`` qualify for exactly the tier of ``rank``
    (``engine.qualify``: the highest tier whose rule holds; the lowest when none does)."""
    if rank not in {tier.rank for tier in policy.tiers}:
        return "1 = 0", []
    parts, params = [], []
    for tier in policy.tiers:  # highest first
        sql, tier_params = rule_sql(tier.rule, columns)
        if tier.rank == rank:
            if tier is not policy.tiers[-1]:
                parts.append(f"({sql})")
                params += tier_params
            break
        parts.append(f"NOT ({sql})")
        params += tier_params
    return "(" + (" AND ".join(parts) or "1 = 1") + ")", params


def qualified_tier_sql(
    policy: engine.Policy, tier_id_by_rank: dict[int, int], columns: dict[engine.Metric, str]
) -> tuple[str, list]:
    """An SQL expression: the id of the tier the figures in ``columns`` qualify for
    (``engine.qualify``: the highest tier whose rule holds; the lowest when none does)."""
    cases, params = [], []
    for tier in policy.tiers[:-1]:  # highest first
        sql, tier_params = rule_sql(tier.rule, columns)
        cases.append(f"WHEN {sql} THEN %s")
        params += [*tier_params, tier_id_by_rank[tier.rank]]
    lowest = tier_id_by_rank[policy.tiers[-1].rank]
    if not cases:
        return "%s", [lowest]
    return f"(CASE {' '.join(cases)} ELSE %s END)", [*params, lowest]
