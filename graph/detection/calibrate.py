"""`ringwatch calibrate`: learn how much each behaviour weighs from analysts' decisions.

The default score (graph.detection.scoring) weighs six behaviours by hand (0.24 eliciting,
0.16 uniformity, 0.16 masked exits, 0.12 anonymous payment, 0.12 sign-up burst, 0.20 no own
prompts). A lab's
real farms need not look like that: a farm dressed as a company has no masked exits and
no anonymous payment. Decisions say which rings were farms: rings confirmed or blocked
are positives, rings dismissed are negatives (their current `Ring.status`, which an undo
restores; graph.review.decisions).

The model keeps the score's form, score = behaviour x binding (+ partner flags), where
binding = 0.5 + 0.5 x private_share, and replaces the weighted mean by a logistic model:

    behaviour = sigmoid(intercept + sum(coefficient_f x feature_f))

fitted by maximum likelihood of P(farm) = behaviour x binding, by L-BFGS (scipy), with an
L2 penalty that pulls the coefficients (not the intercept) towards the default weights read
as a logistic model (`prior_coef`: 10 x the default weights): a behaviour the decisions say
nothing about keeps its default weight instead of dropping to zero. A coefficient is how
much one unit of a feature (each is in [0, 1]) moves the log-odds of behaviour. The penalty
is chosen by stratified k-fold cross-validation (out-of-fold log-loss), and the same folds
score the default weights, so the output says whether the fit does better than the
defaults on rings it did not see. The out-of-fold predictions also give a precision-recall
curve and the lowest threshold that reaches a target precision; the model carries that
threshold (`Calibration.model`), and detection puts the model's scores on the default
score's scale with it (that threshold shows as 0.5) and scores each ring with the larger
of the two (graph.detection.scoring.ring_score). So a calibration adds rings to the queue
and reorders it, and takes off none that the default weights flag, on this world or the
next: decisions teach the model the farm styles they hold. 50 decisions of mostly masked,
anonymously paying farms gave a fit that scored another world's company-dressed farms,
which the defaults flag, below its threshold (README, Calibration); taking them off was
the fit's whole loss there. Before anything is written the output lists the undecided
rings the calibrated score would flag that the score now does not, and the other way round
(rings a previous calibration added).

Below `MIN_PER_CLASS` (10) rings of either class nothing is fitted: calibrate says so and
detection keeps the weights it uses now. Ten, because farms are few: a 20,000-account world
holds about 14 farm rings, and with the defaults as the prior ten decisions of a class can
only move the weights as far as they show.

Where the result lives: a `(:DetectionParams)` node in the database (id, at, decisions,
positives, negatives, model, penalty, cv, pr_curve, suggested_threshold), the latest of
which `detect` reads. In the database, not a file in the state directory, because the
decisions it is fitted on are there, because ringwatch can run against a Neo4j that is not
the local server (the state directory then holds nothing of it), and so that every
detection run, backup and copy of the graph carries the weights it was scored with (the
`DetectionRun` node records them too). Earlier calibrations stay as history; `--reset`
adds one that says "use the defaults".

Cost: one read of the decided rings, a few hundred small optimisations (milliseconds each).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import neo4j
import numpy as np
import pandas as pd
from scipy.optimize import minimize

from graph.db.connection import read, session
from graph.detection.scoring import DEFAULT_PARAMS, DEFAULT_THRESHOLD, model_threshold, ring_score
from graph.review import audit
from graph.review.actors import Actor, require
from graph.vocabulary import DECIDED_STATUSES

__all__ = [
    "BEHAVIOURS",
    "MIN_PER_CLASS",
    "Calibration",
    "calibrate",
    "cross_validate",
    "current_params",
    "decided_rings",
    "fit_logistic",
    "fit_report",
    "predict",
    "reset",
    "scores_under",
    "threshold_changes",
]

BEHAVIOURS = tuple(DEFAULT_PARAMS["weights"])  # the features the model weighs (binding stays as it is)
POSITIVE = ("confirmed", "blocked")
MIN_PER_CLASS = 10
PENALTIES = (0.1, 0.3, 1.0, 3.0, 10.0)
# The default weighted mean read as a logistic model: sigmoid(STEEPNESS x (mean - 0.5)) crosses
# 0.5 where the mean does. Fitted coefficients are pulled towards these, not towards zero.
STEEPNESS = 10.0
TARGET_PRECISION = 0.95
_EPS = 1e-9

DECIDED = """
MATCH (r:Ring) WHERE r.status IN $decided
RETURN r.id AS ring, r.status AS status, r.private_share AS private_share,
       r.eliciting_share AS eliciting_share, r.uniformity AS uniformity, r.masked_share AS masked_share,
       r.anonymous_payment AS anonymous_payment, r.signup_burst AS signup_burst,
       r.no_own_prompts AS no_own_prompts
"""
UNDECIDED = """
MATCH (r:Ring) WHERE r.status IN ['suspected', 'watch']
RETURN r.id AS ring, r.size AS size, r.score AS score, coalesce(r.partner_flagged, 0.0) AS partner_flagged,
       r.private_share AS private_share, r.eliciting_share AS eliciting_share, r.uniformity AS uniformity,
       r.masked_share AS masked_share, r.anonymous_payment AS anonymous_payment, r.signup_burst AS signup_burst,
       r.no_own_prompts AS no_own_prompts
"""
LATEST = """
MATCH (p:DetectionParams)
RETURN p.id AS id, toString(p.at) AS at, p.kind AS kind, p.model AS model, p.decisions AS decisions,
       p.positives AS positives, p.negatives AS negatives, p.suggested_threshold AS suggested_threshold
ORDER BY p.at DESC LIMIT 1
"""
STORE = """
CREATE (p:DetectionParams {id: $p.id, at: datetime($p.at), kind: $p.kind, model: $p.model,
        features: $p.features, decisions: $p.decisions, positives: $p.positives, negatives: $p.negatives,
        penalty: $p.penalty, cv: $p.cv, pr_curve: $p.pr_curve, suggested_threshold: $p.suggested_threshold,
        target_precision: $p.target_precision, by: $p.by})
"""


@dataclass
class Calibration:
    """The outcome of a calibration: fitted or not (`fitted`), why (`message`), and what was fitted."""

    fitted: bool
    message: str
    decisions: int
    positives: int
    negatives: int
    at: str = ""
    intercept: float = 0.0
    coef: dict[str, float] = field(default_factory=dict)
    penalty: float = 0.0
    cv: dict = field(default_factory=dict)
    pr_curve: list[dict] = field(default_factory=list)
    suggested_threshold: float | None = None
    target_precision: float = TARGET_PRECISION
    changes: list[dict] = field(default_factory=list)  # undecided rings the fit flags differently (threshold_changes)
    written: str | None = None  # id of the DetectionParams node, when stored

    @property
    def model(self) -> dict:
        """The `behaviour_model` detection uses (graph.detection.scoring.ring_score): the
        fitted terms and the threshold they flag at (the suggested one; 0.5 when no threshold
        reaches the target precision)."""
        threshold = DEFAULT_THRESHOLD if self.suggested_threshold is None else self.suggested_threshold
        return {"intercept": self.intercept, "coef": dict(self.coef), "threshold": threshold}


# --- the model -------------------------------------------------------------------------


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -35, 35)))


def predict(x: np.ndarray, binding: np.ndarray, intercept: float, coef: np.ndarray) -> np.ndarray:
    """P(farm) = sigmoid(intercept + x . coef) x binding, per row of `x`."""
    return _sigmoid(intercept + x @ coef) * binding


def prior_coef() -> np.ndarray:
    """The coefficients of the default weights read as a logistic model (BEHAVIOURS order)."""
    weights = np.array([DEFAULT_PARAMS["weights"][f] for f in BEHAVIOURS])
    return STEEPNESS * weights / weights.sum()


def _loss(theta: np.ndarray, x: np.ndarray, binding: np.ndarray, y: np.ndarray, penalty: float):
    """Negative log-likelihood plus penalty/2 |coef - prior|^2, and its gradient."""
    s = _sigmoid(theta[0] + x @ theta[1:])
    p = np.clip(binding * s, _EPS, 1 - _EPS)
    nll = -np.sum(y * np.log(p) + (1 - y) * np.log(1 - p))
    # d nll / d z: y = 1 -> -(1 - s); y = 0 -> binding s (1 - s) / (1 - p)
    dz = np.where(y == 1, -(1 - s), binding * s * (1 - s) / (1 - p))
    away = theta[1:] - prior_coef()
    grad = np.concatenate([[dz.sum()], x.T @ dz + penalty * away])
    return nll + 0.5 * penalty * float(away @ away), grad


def fit_logistic(x: np.ndarray, binding: np.ndarray, y: np.ndarray, penalty: float = 1.0) -> tuple[float, np.ndarray]:
    """(intercept, coefficients) maximising the likelihood of `y` (0/1) under P(farm) =
    sigmoid(intercept + x . coef) x binding, penalised by penalty/2 x |coef - prior|^2
    (the prior: the default weights, `prior_coef`)."""
    x, binding, y = np.asarray(x, float), np.asarray(binding, float), np.asarray(y, float)
    theta0 = np.concatenate([[-STEEPNESS / 2], prior_coef()])
    result = minimize(_loss, theta0, args=(x, binding, y, penalty), jac=True, method="L-BFGS-B")
    return float(result.x[0]), result.x[1:].copy()


def default_behaviour(x: np.ndarray) -> np.ndarray:
    """The default weighted mean of the behaviours (columns in BEHAVIOURS order)."""
    weights = np.array([DEFAULT_PARAMS["weights"][f] for f in BEHAVIOURS])
    return x @ weights / weights.sum()


# --- cross-validation ------------------------------------------------------------------


def _folds(y: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Fold number per row, stratified by class, deterministic."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), int)
    for label in (0, 1):
        rows = np.flatnonzero(y == label)
        fold[rows[rng.permutation(len(rows))]] = np.arange(len(rows)) % k
    return fold


def _metrics(y: np.ndarray, p: np.ndarray, threshold: float = 0.5) -> dict:
    """Log-loss, precision, recall and F1 at `threshold` of predictions `p` of `y`."""
    pc = np.clip(p, _EPS, 1 - _EPS)
    flagged = p >= threshold
    tp = int(np.sum(flagged & (y == 1)))
    precision = tp / flagged.sum() if flagged.sum() else 1.0
    recall = tp / (y == 1).sum() if (y == 1).sum() else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "log_loss": round(float(-np.mean(y * np.log(pc) + (1 - y) * np.log(1 - pc))), 4),
        "precision": round(float(precision), 4),
        "recall": round(float(recall), 4),
        "f1": round(float(f1), 4),
    }


def cross_validate(x: np.ndarray, binding: np.ndarray, y: np.ndarray, penalty: float, k: int) -> np.ndarray:
    """Out-of-fold P(farm) of every row: each fold predicted by a model fitted on the others."""
    fold = _folds(y, k)
    out = np.empty(len(y))
    for f in range(k):
        test = fold == f
        b, w = fit_logistic(x[~test], binding[~test], y[~test], penalty)
        out[test] = predict(x[test], binding[test], b, w)
    return out


def _floor_threshold(value: float) -> float:
    """`value` rounded down to 4 decimals: flagging at it flags whatever scores `value`."""
    return float(np.floor(value * 1e4) / 1e4)


def pr_curve(y: np.ndarray, p: np.ndarray) -> list[dict]:
    """(threshold, precision, recall) at every distinct predicted value, highest first
    (the threshold rounded down to 4 decimals, so flagging at it flags the same rings)."""
    points = []
    positives = max(1, int(np.sum(y == 1)))
    for t in np.unique(p)[::-1]:
        flagged = p >= t
        tp = int(np.sum(flagged & (y == 1)))
        precision, recall = round(tp / int(flagged.sum()), 4), round(tp / positives, 4)
        points.append({"threshold": _floor_threshold(t), "precision": precision, "recall": recall})
    return points


def threshold_for(points: list[dict], target: float) -> float | None:
    """The lowest threshold whose precision (and every higher threshold's) is at least `target`."""
    best = None
    for point in points:  # highest threshold first
        if point["precision"] < target:
            break
        best = point["threshold"]
    return best


def fit_report(
    frame: pd.DataFrame, min_per_class: int = MIN_PER_CLASS, target: float = TARGET_PRECISION
) -> Calibration:
    """Fit on decided rings (`frame`: status, private_share and the BEHAVIOURS) and
    cross-validate; refuses (fitted False) below `min_per_class` rings of either class."""
    frame = frame.dropna(subset=list(BEHAVIOURS))
    y = frame["status"].isin(POSITIVE).to_numpy().astype(float)
    positives, negatives = int(y.sum()), int(len(y) - y.sum())
    if min(positives, negatives) < min_per_class:
        message = (
            f"not enough decisions to calibrate: {positives} rings confirmed or blocked and {negatives} "
            f"dismissed; at least {min_per_class} of each are needed. Detection keeps its current weights."
        )
        return Calibration(False, message, len(y), positives, negatives)
    x = frame[list(BEHAVIOURS)].to_numpy(float)
    binding = 0.5 + 0.5 * frame["private_share"].fillna(0.0).to_numpy(float)
    k = int(min(5, positives, negatives))
    losses = {lam: _metrics(y, cross_validate(x, binding, y, lam, k))["log_loss"] for lam in PENALTIES}
    penalty = min(PENALTIES, key=lambda lam: (losses[lam], -lam))
    oof = cross_validate(x, binding, y, penalty, k)
    intercept, coef = fit_logistic(x, binding, y, penalty)
    curve = pr_curve(y, oof)
    cv = {
        "folds": k,
        "penalty_log_loss": {str(lam): loss for lam, loss in losses.items()},
        "calibrated": _metrics(y, oof),
        "default": _metrics(y, default_behaviour(x) * binding),
    }
    return Calibration(
        fitted=True,
        message=f"fitted on {len(y)} decided rings ({positives} farms, {negatives} dismissed)",
        decisions=len(y),
        positives=positives,
        negatives=negatives,
        at=datetime.now(UTC).isoformat(),
        intercept=round(intercept, 4),
        coef={f: round(float(c), 4) for f, c in zip(BEHAVIOURS, coef, strict=True)},
        penalty=penalty,
        cv=cv,
        pr_curve=curve,
        suggested_threshold=threshold_for(curve, target),
        target_precision=target,
    )


# --- the database ----------------------------------------------------------------------


def decided_rings(driver: neo4j.Driver) -> pd.DataFrame:
    """Rings analysts decided (confirmed, blocked, dismissed) with their features."""
    rows = read(driver, DECIDED, decided=list(DECIDED_STATUSES))
    return pd.DataFrame(rows, columns=["ring", "status", "private_share", *BEHAVIOURS])


def _store(driver: neo4j.Driver, kind: str, result: Calibration | None, actor: Actor) -> str:
    """Write the parameters and their audit event in one transaction (a weight change is a state change)."""
    node_id = f"params-{uuid.uuid4().hex[:10]}"
    fitted = result is not None and result.fitted
    p = {
        "id": node_id,
        "at": result.at if fitted else datetime.now(UTC).isoformat(),
        "kind": kind,
        "model": json.dumps(result.model) if fitted else None,
        "features": list(BEHAVIOURS),
        "decisions": result.decisions if fitted else 0,
        "positives": result.positives if fitted else 0,
        "negatives": result.negatives if fitted else 0,
        "penalty": result.penalty if fitted else None,
        "cv": json.dumps(result.cv) if fitted else None,
        "pr_curve": json.dumps(result.pr_curve) if fitted else None,
        "suggested_threshold": result.suggested_threshold if fitted else None,
        "target_precision": result.target_precision if fitted else None,
        "by": actor.name,
    }

    def tx_work(tx: neo4j.ManagedTransaction) -> None:
        tx.run(STORE, p=p)
        audit.append(
            tx,
            "calibrate" if kind == "calibrated" else "calibration_reset",
            actor.name,
            actor.channel,
            params=node_id,
            decisions=p["decisions"],
            model=p["model"],
            suggested_threshold=p["suggested_threshold"],
        )

    with session(driver, write=True) as s:
        s.execute_write(tx_work)
    return node_id


def scores_under(rings: pd.DataFrame, result: Calibration) -> np.ndarray:
    """The score each ring (`rings`: partner_flagged, private_share and the BEHAVIOURS, none
    missing) gets when detection scores with the fitted model (scoring.ring_score)."""
    return ring_score(rings, {**DEFAULT_PARAMS, "behaviour_model": result.model}).to_numpy(float)


def threshold_changes(rings: pd.DataFrame, result: Calibration, threshold: float) -> list[dict]:
    """Undecided rings (`rings`: ring, size, score, partner_flagged, private_share and the
    BEHAVIOURS) that their score now flags at `threshold` and the score under the fit does
    not, or the other way round; largest first, each with `flagged`: whether the fit flags it."""
    rings = rings.dropna(subset=list(BEHAVIOURS))
    if rings.empty:
        return []
    new = scores_under(rings, result)
    flagged = new >= threshold
    moved = (rings["score"].to_numpy(float) >= threshold) != flagged
    out = rings.assign(new_score=new.round(3), flagged=flagged)[moved].sort_values("size", ascending=False)
    return [
        {
            "ring": r.ring,
            "size": int(r.size),
            "score": round(float(r.score), 3),
            "new_score": float(r.new_score),
            "flagged": bool(r.flagged),
        }
        for r in out.itertuples()
    ]


def calibrate(
    driver: neo4j.Driver,
    min_per_class: int = MIN_PER_CLASS,
    target: float = TARGET_PRECISION,
    store: bool = True,
    actor: Actor | None = None,
    threshold: float = 0.5,
) -> Calibration:
    """Fit the behaviour model on the decided rings and (if fitted and `store`) write it as
    the detection parameters, an audit event naming `actor` (a lead); below the minimum nothing
    is written. `changes` lists the undecided rings the score under the fit flags differently
    at `threshold` from their score now."""
    if store:
        require(actor, "calibrate")
    result = fit_report(decided_rings(driver), min_per_class, target)
    if result.fitted:
        undecided = pd.DataFrame(
            read(driver, UNDECIDED), columns=["ring", "size", "score", "partner_flagged", "private_share", *BEHAVIOURS]
        )
        result.changes = threshold_changes(undecided, result, threshold)
    if result.fitted and store:
        result.written = _store(driver, "calibrated", result, actor)
    return result


def reset(driver: neo4j.Driver, actor: Actor) -> str:
    """Record that detection goes back to the default weights (a lead's audited change); returns the node id."""
    return _store(driver, "defaults", None, require(actor, "calibrate"))


def current_params(driver: neo4j.Driver) -> dict | None:
    """The latest calibration detection should use: {behaviour_model, at, decisions, ...},
    or None (no calibration, or the latest says `defaults`)."""
    rows = read(driver, LATEST)
    if not rows or rows[0]["kind"] != "calibrated" or not rows[0]["model"]:
        return None
    row = rows[0]
    return {**row, "behaviour_model": json.loads(row["model"])}


def as_dict(result: Calibration) -> dict:
    """A JSON-ready view of a calibration."""
    return asdict(result)


def detection_params(driver: neo4j.Driver, params: dict) -> tuple[dict, str]:
    """`params` with the latest calibrated behaviour model unless they name one themselves;
    and the line detection logs about it."""
    if params.get("behaviour_model"):
        return params, "scoring with the behaviour model passed in the parameters"
    current = current_params(driver)
    if current is None:
        return params, "scoring with the default weights (no calibration)"
    model = current["behaviour_model"]
    coef = ", ".join(f"{f} {c:+.2f}" for f, c in model["coef"].items())
    line = (
        f"scoring with weights calibrated on {current['decisions']} decisions ({current['at'][:10]}, "
        f"{current['id']}): intercept {model['intercept']:+.2f}, {coef}; its threshold "
        f"{model_threshold(model):.4f} shows as {DEFAULT_THRESHOLD} on the score, and a ring "
        "the default weights flag stays flagged"
    )
    return {**params, "behaviour_model": current["behaviour_model"]}, line
