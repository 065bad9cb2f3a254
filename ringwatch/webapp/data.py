"""The app's database access: one cached driver per process and target, cached reads, the lost-database banner.

  get_driver        the driver (st.cache_resource; a failed connect is not cached)
  sidebar_figures   last detection run and rings per status (st.cache_data, 30 s)
  population        every ring's features and score (st.cache_data, 60 s)
  scoring_params    the parameters detection scores with now: defaults or the latest calibration (60 s)
  audit_problem     the audit trail's first broken link, or None (st.cache_data, 60 s)
  forget_reads      drop the cached reads (after a decision changes statuses)
  db_banner / retry "Database unreachable: ..." with a Retry button (a new driver, the whole app), never a traceback

Every other read goes straight to graph.investigate (parameterised, bounded, 20 s timeout).
"""

from __future__ import annotations

import hashlib
from typing import Any

import pandas as pd
import streamlit as st
from neo4j.exceptions import AuthError, ServiceUnavailable, SessionExpired

from graph.db.connection import DatabaseUnavailable, Target, open_driver, resolve_target, unavailable_message
from graph.detection.calibrate import detection_params
from graph.detection.scoring import DEFAULT_PARAMS
from graph.investigate import queue as iq
from graph.investigate import ring as ir
from graph.review import audit

DB_ERRORS = (DatabaseUnavailable, ServiceUnavailable, SessionExpired, AuthError, OSError)
SIDEBAR_TTL_S = 30
POPULATION_TTL_S = 60
AUDIT_TTL_S = 60


def _close(driver) -> None:
    driver.close()


@st.cache_resource(show_spinner=False, max_entries=4, on_release=_close)
def _driver(key: str, _target: Target):
    """One driver per app process and target. A failed connect raises and is not cached."""
    return open_driver(_target)


def driver_key(target: Target) -> str:
    """The cache key of a target: where, who, which database, and a digest of the password (never the password)."""
    secret = hashlib.sha256(target.password.encode()).hexdigest()[:16]
    return f"{target.uri}|{target.user}|{target.database}|{secret}"


def get_driver():
    target = resolve_target()
    return _driver(driver_key(target), target)


def current_key() -> str:
    return driver_key(resolve_target())


@st.cache_data(ttl=SIDEBAR_TTL_S, show_spinner=False, max_entries=8)
def _sidebar_figures(key: str) -> tuple[dict[str, Any] | None, pd.DataFrame]:
    driver = get_driver()
    return iq.last_run(driver), iq.status_counts(driver)


def sidebar_figures() -> tuple[dict[str, Any] | None, pd.DataFrame]:
    """(last detection run or None, rings and accounts per status), cached for SIDEBAR_TTL_S per target."""
    return _sidebar_figures(current_key())


@st.cache_data(ttl=POPULATION_TTL_S, show_spinner=False, max_entries=8)
def _population(key: str) -> pd.DataFrame:
    return ir.population(get_driver())


def population() -> pd.DataFrame:
    """Every ring's status, score, size and features, cached for POPULATION_TTL_S per target."""
    return _population(current_key())


@st.cache_data(ttl=POPULATION_TTL_S, show_spinner=False, max_entries=8)
def _scoring_params(key: str) -> tuple[dict, str]:
    params, line = detection_params(get_driver(), dict(DEFAULT_PARAMS))
    return params, line


def scoring_params() -> tuple[dict, str]:
    """(the scoring parameters detection uses now, the line that says which), cached per target."""
    return _scoring_params(current_key())


@st.cache_data(ttl=AUDIT_TTL_S, show_spinner=False, max_entries=8)
def _audit_problem(key: str) -> str | None:
    _, problem = audit.verify(get_driver())
    return None if problem is None else str(problem)


def audit_problem() -> str | None:
    """The first broken link of the audit trail (graph.review.audit.verify), or None; checked at most once
    per AUDIT_TTL_S per target (it walks the whole chain)."""
    return _audit_problem(current_key())


def forget_reads() -> None:
    """Drop the cached reads, so the next run shows what a decision just changed."""
    _sidebar_figures.clear()
    _population.clear()


def db_banner(error: Exception, key: str = "retry_db") -> None:
    """A lost database: one clear line and a retry button (widget `key`: the page's banner and a fragment's
    may both be drawn in one run), never a traceback. Retry reruns the whole app."""
    try:
        target = resolve_target()
        message = str(error) if isinstance(error, DatabaseUnavailable) else unavailable_message(target, error)
    except DatabaseUnavailable as e:
        message = str(e)
    if "ringwatch db start" not in message:
        message += "; for the local database, start it with `ringwatch db start`"
    st.error(f"**Database unreachable**: {message}", icon=":material/error:")
    st.caption("The app reconnects by itself once the database answers again.")
    st.button("Retry", key=key, type="primary", on_click=retry)


def retry() -> None:
    """The Retry button's callback (it runs even when the rerun no longer draws the banner): drop the driver,
    which may keep failing, so the next attempt builds a fresh one, and rerun the whole app (also from a
    fragment)."""
    _driver.clear()
    st.rerun()
