"""Fitting the behaviour model on decisions (graph.detection.calibrate), on made-up rings: no database."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from graph.detection import calibrate as cal
from graph.detection.scoring import (
    DEFAULT_PARAMS,
    DEFAULT_THRESHOLD,
    behaviour_score,
    model_threshold,
    on_default_scale,
    ring_score,
    score_parts,
    score_terms,
)


def rings(n: int, intercept: float, coef: list[float], seed: int = 1) -> pd.DataFrame:
    """`n` decided rings whose label follows P(farm) = sigmoid(intercept + x . coef) x binding."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, len(cal.BEHAVIOURS)))
    private = rng.uniform(0.6, 1.0, n)
    p = cal.predict(x, 0.5 + 0.5 * private, intercept, np.array(coef))
    farm = rng.random(n) < p
    frame = pd.DataFrame(x, columns=list(cal.BEHAVIOURS))
    frame["private_share"] = private
    frame["status"] = np.where(farm, "blocked", "dismissed")
    return frame


def test_the_gradient_is_the_loss_derivative():
    rng = np.random.default_rng(3)
    k = len(cal.BEHAVIOURS)
    x, binding = rng.random((40, k)), rng.uniform(0.5, 1.0, 40)
    y = (rng.random(40) < 0.5).astype(float)
    theta = rng.normal(0, 1, k + 1)
    _, grad = cal._loss(theta, x, binding, y, 0.7)
    step = 1e-6
    numeric = [
        (cal._loss(theta + step * e, x, binding, y, 0.7)[0] - cal._loss(theta - step * e, x, binding, y, 0.7)[0])
        / (2 * step)
        for e in np.eye(k + 1)
    ]
    assert np.allclose(grad, numeric, rtol=1e-4, atol=1e-5)


def test_the_fit_recovers_the_model_that_made_the_labels():
    truth = [4.0, 0.0, -1.0, 2.0, 3.0, 1.0]
    frame = rings(4000, -3.0, truth)
    x = frame[list(cal.BEHAVIOURS)].to_numpy()
    intercept, coef = cal.fit_logistic(
        x, 0.5 + 0.5 * frame["private_share"].to_numpy(), frame["status"].eq("blocked").to_numpy(float), penalty=0.01
    )
    assert intercept == pytest.approx(-3.0, abs=0.6)
    assert np.allclose(coef, truth, atol=0.8), coef
    assert coef[0] > coef[3] > coef[1] > coef[2]  # the order of importance, and the negative one


def test_below_the_minimum_it_refuses_and_says_how_many():
    frame = rings(200, -3.0, [4.0, 0.0, -1.0, 2.0, 3.0, 1.0])
    frame = pd.concat([frame[frame["status"] == "dismissed"], frame[frame["status"] == "blocked"].head(7)])
    result = cal.fit_report(frame, min_per_class=20)
    assert not result.fitted
    assert "7 rings confirmed or blocked" in result.message and "at least 20 of each" in result.message
    assert "keeps its current weights" in result.message
    assert result.coef == {}


def test_farms_the_default_weights_miss_are_learnt_from_decisions():
    # farms dressed as a company: eliciting and uniform, no masked exits, no anonymous payment;
    # dismissed rings: teams (ordinary traffic, heavy-tailed) and researchers (eliciting, not uniform);
    # no_own_prompts says nothing here (the same spread in every group): what the fit must learn is elsewhere
    rng = np.random.default_rng(5)

    def block(n, eliciting, uniformity, masked, anonymous, burst, status):
        return pd.DataFrame(
            {
                "eliciting_share": rng.uniform(*eliciting, n),
                "uniformity": rng.uniform(*uniformity, n),
                "masked_share": rng.uniform(*masked, n),
                "anonymous_payment": rng.uniform(*anonymous, n),
                "signup_burst": rng.uniform(*burst, n),
                "no_own_prompts": rng.uniform(0.2, 0.6, n),
                "private_share": rng.uniform(0.9, 1.0, n),
                "status": status,
            }
        )

    frame = pd.concat(
        [
            block(30, (0.8, 0.95), (0.5, 0.8), (0, 0.02), (0, 0.02), (0.6, 0.9), "blocked"),
            block(30, (0.85, 1.0), (0.7, 0.9), (0.8, 1.0), (0.9, 1.0), (0.1, 1.0), "confirmed"),
            block(40, (0.1, 0.5), (0.0, 0.3), (0, 0.05), (0, 0.05), (0.5, 1.0), "dismissed"),
            block(20, (0.8, 1.0), (0.0, 0.3), (0, 0.1), (0, 0.1), (0.0, 0.3), "dismissed"),
        ],
        ignore_index=True,
    )
    result = cal.fit_report(frame, min_per_class=20)
    assert result.fitted, result.message
    assert (result.positives, result.negatives, result.decisions) == (60, 60, 120)
    assert result.cv["default"]["recall"] <= 0.75  # half the company look-alikes fall under 0.5
    assert result.cv["calibrated"]["f1"] >= 0.95 > result.cv["default"]["f1"]
    assert result.penalty in cal.PENALTIES
    assert result.coef["uniformity"] > 0 and result.coef["eliciting_share"] > 0
    # the curve runs from the highest threshold down, and the suggested threshold reaches the target
    thresholds = [p["threshold"] for p in result.pr_curve]
    assert thresholds == sorted(thresholds, reverse=True)
    chosen = next(p for p in result.pr_curve if p["threshold"] == result.suggested_threshold)
    assert chosen["precision"] >= result.target_precision


def test_a_threshold_is_the_lowest_whose_precision_holds_from_the_top():
    points = [
        {"threshold": 0.9, "precision": 1.0, "recall": 0.2},
        {"threshold": 0.7, "precision": 0.97, "recall": 0.6},
        {"threshold": 0.5, "precision": 0.90, "recall": 0.8},
        {"threshold": 0.3, "precision": 0.96, "recall": 0.9},
    ]
    assert cal.threshold_for(points, 0.95) == 0.7
    assert cal.threshold_for(points, 0.999) == 0.9
    assert cal.threshold_for(points[2:], 0.95) is None


def test_folds_are_stratified_and_deterministic():
    y = np.array([1] * 10 + [0] * 25)
    folds = cal._folds(y, 5)
    assert (folds == cal._folds(y, 5)).all()
    for f in range(5):
        assert (y[folds == f] == 1).sum() == 2 and (y[folds == f] == 0).sum() == 5


def test_scoring_uses_the_model_when_there_is_one():
    r = pd.DataFrame({f: [0.2, 0.9] for f in cal.BEHAVIOURS})
    default = behaviour_score(r, DEFAULT_PARAMS)
    assert default.tolist() == pytest.approx([0.2, 0.9])
    model = {"intercept": -2.0, "coef": {"eliciting_share": 4.0}}
    fitted = behaviour_score(r, {**DEFAULT_PARAMS, "behaviour_model": model})
    assert fitted.tolist() == pytest.approx([1 / (1 + np.exp(1.2)), 1 / (1 + np.exp(-1.6))])


def test_the_curve_has_a_point_per_distinct_prediction_and_never_divides_by_zero():
    y = np.array([1, 0, 1, 0])
    p = np.array([0.12346, 0.12346, 0.9, 0.1])
    curve = cal.pr_curve(y, p)
    assert [c["threshold"] for c in curve] == [0.9, 0.1234, 0.1]
    assert [(c["precision"], c["recall"]) for c in curve] == [(1.0, 0.5), (0.6667, 1.0), (0.5, 1.0)]


def test_a_behaviour_the_decisions_say_nothing_about_keeps_its_default_weight():
    # masked_share is always 0 in these decisions: nothing to learn about it
    frame = rings(300, -3.0, [4.0, 2.0, 0.0, 2.0, 1.0, 1.0], seed=9)
    frame["masked_share"] = 0.0
    x = frame[list(cal.BEHAVIOURS)].to_numpy()
    _, coef = cal.fit_logistic(
        x, 0.5 + 0.5 * frame["private_share"].to_numpy(), frame["status"].eq("blocked").to_numpy(float), penalty=1.0
    )
    masked = cal.BEHAVIOURS.index("masked_share")
    assert coef[masked] == pytest.approx(cal.prior_coef()[masked], abs=1e-3)
    assert cal.prior_coef()[masked] == pytest.approx(10 * DEFAULT_PARAMS["weights"]["masked_share"])


def test_rings_the_fit_moves_across_the_threshold_are_listed_largest_first():
    result = cal.Calibration(True, "", 40, 20, 20, intercept=-5.0, coef=dict.fromkeys(cal.BEHAVIOURS, 0.0))
    result.coef["eliciting_share"] = 10.0  # flags eliciting rings, whatever else they do
    undecided = pd.DataFrame(
        {
            "ring": ["R-1", "R-2", "R-3"],
            "size": [40, 900, 12],
            "score": [0.45, 0.63, 0.9],
            "partner_flagged": [0.0, 0.0, 0.0],
            "private_share": [1.0, 1.0, 1.0],
            **{f: [0.0, 0.0, 0.0] for f in cal.BEHAVIOURS},
        }
    )
    undecided["eliciting_share"] = [0.95, 0.2, 0.99]
    changes = cal.threshold_changes(undecided, result, 0.5)
    assert [c["ring"] for c in changes] == ["R-2", "R-1"]  # R-3 stays flagged
    assert changes[0]["new_score"] < 0.5 <= changes[0]["score"] and not changes[0]["flagged"]
    assert changes[1]["new_score"] >= 0.5 > changes[1]["score"] and changes[1]["flagged"]


def test_changes_compare_the_score_now_with_the_fit_at_the_threshold_it_suggests():
    result = _eliciting_fit()  # its threshold 0.4 shows as 0.5
    # R-0: flagged now (by an earlier calibration, say), the defaults give 0.24 x 0.3 and the
    # fit sigmoid(-2) = 0.12, 0.15 on the scale: no longer flagged. R-1: the fit gives
    # sigmoid(1) = 0.73, 0.78 on the scale: flagged. R-2: nothing either way.
    rings = _undecided([0.63, 0.3, 0.3], [0.3, 0.6, 0.0])
    changes = cal.threshold_changes(rings, result, 0.5)
    assert [(c["ring"], c["flagged"]) for c in changes] == [("R-0", False), ("R-1", True)]
    assert [c["new_score"] for c in changes] == pytest.approx([0.149, 0.776], abs=1e-3)


def test_score_terms_sum_to_the_score_under_the_default_weights():
    ring = {
        "private_share": 0.9,
        "eliciting_share": 0.8,
        "uniformity": 0.6,
        "masked_share": 1.0,
        "anonymous_payment": 0.5,
        "signup_burst": 0.2,
        "no_own_prompts": 0.7,
        "partner_flagged": 0.4,
    }
    frame = pd.DataFrame([ring])
    behaviour = behaviour_score(frame, DEFAULT_PARAMS).iloc[0]
    score = behaviour * (0.5 + 0.5 * 0.9) + DEFAULT_PARAMS["partner_bonus"] * 0.4
    terms, unit = score_terms(ring, DEFAULT_PARAMS)
    assert unit == "score points"
    assert terms["contribution"].sum() == pytest.approx(score)
    assert terms.set_index("feature").loc["masked_share", "contribution"] == pytest.approx(0.95 * 0.16 * 1.0)


def test_score_terms_of_a_calibrated_model_are_log_odds_with_the_intercept():
    model = {"intercept": -3.0, "coef": {"eliciting_share": 4.0, "uniformity": 2.0}}
    terms, unit = score_terms({"eliciting_share": 0.5, "uniformity": 1.0}, {**DEFAULT_PARAMS, "behaviour_model": model})
    assert unit == "log-odds"
    assert list(terms["feature"]) == ["intercept", "eliciting_share", "uniformity"]
    assert list(terms["contribution"]) == pytest.approx([-3.0, 2.0, 2.0])


def _eliciting_fit() -> cal.Calibration:
    """A fit that scores by eliciting share alone, suggesting 0.4."""
    result = cal.Calibration(True, "", 40, 20, 20, intercept=-5.0, coef=dict.fromkeys(cal.BEHAVIOURS, 0.0))
    result.coef["eliciting_share"] = 10.0
    result.suggested_threshold = 0.4
    return result


def _undecided(scores: list[float], eliciting: list[float]) -> pd.DataFrame:
    n = len(scores)
    frame = pd.DataFrame(
        {
            "ring": [f"R-{i}" for i in range(n)],
            "size": [10] * n,
            "score": scores,
            "partner_flagged": [0.0] * n,
            "private_share": [1.0] * n,
            **{f: [0.0] * n for f in cal.BEHAVIOURS},
        }
    )
    frame["eliciting_share"] = eliciting
    return frame


def test_the_threshold_a_model_carries_shows_as_the_default_one():
    fitted = pd.Series([0.0, 0.1, 0.2, 0.4, 0.7, 1.0])
    scaled = on_default_scale(fitted, 0.2)
    assert scaled.tolist() == pytest.approx([0.0, 0.25, 0.5, 0.625, 0.8125, 1.0])
    assert scaled.is_monotonic_increasing
    assert on_default_scale(fitted, DEFAULT_THRESHOLD).tolist() == pytest.approx(fitted.tolist())


def test_a_calibrated_model_adds_rings_and_takes_none_off_that_the_default_weights_flag():
    result = _eliciting_fit()  # flags on eliciting share alone, at 0.4
    # R-0 is a farm the defaults flag (masked, anonymous, no own prompts; eliciting 0.2): the
    # fit scores it sigmoid(-3) = 0.05. R-1 is what the fit learnt (eliciting 0.6), which the
    # defaults score 0.14. R-2 is neither.
    rings = _undecided([0.0, 0.0, 0.0], [0.2, 0.6, 0.0])
    rings.loc[0, ["masked_share", "anonymous_payment", "no_own_prompts", "uniformity"]] = 1.0
    p = {**DEFAULT_PARAMS, "behaviour_model": result.model}
    parts = score_parts(rings, p)
    assert parts["default"].tolist() == pytest.approx([0.688, 0.144, 0.0])
    assert parts["calibrated"].round(3).tolist() == pytest.approx([0.059, 0.776, 0.008], abs=1e-3)
    score = ring_score(rings, p)
    assert (score >= 0.5).tolist() == [True, True, False]
    assert score.tolist() == pytest.approx(parts.max(axis=1).tolist())
    assert ring_score(rings, DEFAULT_PARAMS).tolist() == pytest.approx(parts["default"].tolist())
    assert (cal.scores_under(rings, result) == score.to_numpy()).all()


def test_a_model_without_a_threshold_reaching_the_target_flags_at_its_own_half():
    result = _eliciting_fit()
    result.suggested_threshold = None
    assert result.model["threshold"] == DEFAULT_THRESHOLD
    # a model written before models carried a threshold flags at 0.5; a threshold of 0 is a threshold
    assert model_threshold({"intercept": 0.0, "coef": {}}) == DEFAULT_THRESHOLD
    assert model_threshold({"intercept": 0.0, "coef": {}, "threshold": 0.0}) == 0.0
