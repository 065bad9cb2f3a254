"""The GDS-session backend's parts that need no Aura: query text, parameters, configuration.

The Cypher itself runs against the real database in tests/test_remote_projection.py; here the
fakes only record what would be sent (as graphdatascience's own unit tests do).
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import timedelta

import pandas as pd
import pytest

from graph.db import gds_session
from graph.db.connection import Target
from graph.db.gds_session import GdsSessionError, SessionConfig, session_config
from graph.detection import communities
from graph.detection.communities import (
    LINK_PARAMS,
    LINKS,
    PROJECTION,
    REMOTE_PROJECTION,
    leiden_config,
    link_params,
)
from graph.detection.evidence import Evidence
from graph.detection.scoring import DEFAULT_PARAMS

CREDENTIALS = {"RINGWATCH_AURA_CLIENT_ID": "id-1", "RINGWATCH_AURA_CLIENT_SECRET": "secret-1"}


def tail(query: str) -> str:
    assert query.startswith(LINKS)
    return query[len(LINKS) :]


def test_local_and_remote_projections_share_the_link_body_and_differ_only_in_their_tails():
    local, remote = tail(PROJECTION), tail(REMOTE_PROJECTION)
    assert "UNION ALL" not in local + remote and "MATCH" not in local + remote  # every link lives in LINKS
    assert LINKS.count("UNION ALL") == 2
    assert "gds.graph.project($graph, a, e, {relationshipProperties: {w: w}}" in local
    assert "gds.graph.project.remote" not in local


def test_the_remote_query_projects_accounts_to_entities_with_their_labels_and_weight():
    remote = tail(REMOTE_PROJECTION)
    call = re.search(r"RETURN gds\.graph\.project\.remote\(a, e, \{(.*)\}\)", remote, re.S)
    assert call, remote
    entries = {k.strip(): v.strip() for k, v in (e.split(":", 1) for e in call[1].split(",\n"))}
    assert entries == {
        "sourceNodeLabels": "labels(a)",
        "targetNodeLabels": "labels(e)",
        "relationshipProperties": "{w: w}",
    }
    assert "$" not in remote  # the graph name is the client's argument, not part of the query


def test_the_link_body_reads_exactly_the_link_parameters():
    assert set(re.findall(r"\$(\w+)", LINKS)) == set(LINK_PARAMS)
    assert set(link_params(10, DEFAULT_PARAMS)) == set(LINK_PARAMS)
    assert link_params(1, DEFAULT_PARAMS)["n"] == 2  # log(n / deg) stays defined


def test_the_local_projection_gets_its_values_as_parameters(monkeypatch):
    sent: list[tuple[str, dict]] = []

    class FakeGds:
        class graph:
            @staticmethod
            def drop(name, failIfMissing):
                sent.append(("drop", {"name": name}))

        def run_cypher(self, query, params):
            sent.append((query, params))
            if "estimate" in query:
                return pd.DataFrame([{"bytesMax": 1, "heapPercentageMax": 1.0}])
            if query == communities.COMMUNITIES:
                return pd.DataFrame([{"accounts": ["a1", "a2"], "communities": [0, 0]}])
            return pd.DataFrame([{}])

    monkeypatch.setattr(communities, "gds_client", lambda driver: FakeGds())
    found = communities.communities_gds(None, 500, DEFAULT_PARAMS)
    assert found.to_dict() == {"a1": 0, "a2": 0}
    query, params = sent[0]
    assert query == PROJECTION  # the text as written: no value formatted in
    assert params == {"graph": params["graph"], **link_params(500, DEFAULT_PARAMS)}
    assert sent[1][1]["config"] == sent[2][1]["config"] == leiden_config(DEFAULT_PARAMS)
    assert sent[-1] == ("drop", {"name": params["graph"]})


def test_the_session_backend_sends_the_remote_query_and_the_same_leiden_configuration(monkeypatch):
    calls: dict = {}

    class FakeLeidenStream:
        def __call__(self, graph, **config):
            calls["stream"] = (graph, config)
            return pd.DataFrame({"nodeId": [11, 12, 99], "communityId": [3, 3, 3]})

        def estimate(self, graph, **config):
            calls["estimate"] = (graph, config)
            return pd.Series({"bytesMax": 1, "heapPercentageMax": 1.0})

    class FakeSession:
        class leiden:
            stream = FakeLeidenStream()

        class graph:
            @staticmethod
            def project(name, query, **kw):
                calls["project"] = (name, query, kw)
                return "G", pd.Series({"nodeCount": 3})

            @staticmethod
            def drop(name, failIfMissing):
                calls["drop"] = name

    @contextmanager
    def fake_open_session(target, config, node_count, relationship_count):
        calls["open"] = (target, config, node_count, relationship_count)
        yield FakeSession()

    def fake_from_stream(driver, nodes, comms):
        calls["from_stream"] = (list(nodes), list(comms))
        return pd.Series({"a1": 3, "a2": 3}, name="community")

    target = Target("neo4j+s://x.databases.neo4j.io", "neo4j", "pw")
    monkeypatch.setattr(communities, "open_session", fake_open_session)
    monkeypatch.setattr(communities, "target_of", lambda driver: target)
    monkeypatch.setattr(communities, "communities_from_stream", fake_from_stream)
    ev = Evidence(
        accounts=pd.DataFrame({"account": ["a1", "a2", "a3"]}),
        payments=pd.DataFrame({"account": ["a1", "a2"], "entity": ["p1", "p1"]}),
        ips=pd.DataFrame(columns=["account", "entity"]),
        templates=pd.DataFrame(columns=["account", "entity"]),
    )
    params = {**DEFAULT_PARAMS}
    config = SessionConfig("id", "secret")
    found = communities.communities_gds_session(None, ev, params, config)

    assert found.to_dict() == {"a1": 3, "a2": 3}
    name, query, kw = calls["project"]
    assert query == REMOTE_PROJECTION  # the text as written: values go as query parameters
    assert kw == {
        "query_parameters": link_params(ev.n_accounts, params),
        "undirected_relationship_types": ["*"],  # as the local projection's ['*']
    }
    assert calls["estimate"] == ("G", leiden_config(params)) == calls["stream"]
    assert calls["drop"] == name
    assert calls["from_stream"] == ([11, 12, 99], [3, 3, 3])
    assert calls["open"][0] is target and calls["open"][1] is config


def test_session_config_from_the_environment():
    config = session_config(
        {
            **CREDENTIALS,
            "RINGWATCH_AURA_PROJECT_ID": "proj-7",
            "RINGWATCH_GDS_SESSION_NAME": "rings-prod",
            "RINGWATCH_GDS_SESSION_MEMORY": "16gb",
            "RINGWATCH_GDS_SESSION_LOCATION": "gcp/europe-west1",
            "RINGWATCH_GDS_SESSION_TTL": "30",
            "RINGWATCH_GDS_SESSION_KEEP": "1",
        }
    )
    assert config == SessionConfig(
        client_id="id-1",
        client_secret="secret-1",
        project_id="proj-7",
        name="rings-prod",
        memory="16GB",
        location=("gcp", "europe-west1"),
        ttl=timedelta(minutes=30),
        keep=True,
    )
    assert "secret-1" not in repr(config)


def test_session_config_defaults():
    assert session_config(CREDENTIALS) == SessionConfig("id-1", "secret-1")
    assert SessionConfig("a", "b").ttl == timedelta(hours=1) and not SessionConfig("a", "b").keep
    assert session_config({**CREDENTIALS, "RINGWATCH_GDS_SESSION_MEMORY": "8"}).memory == "8GB"


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "set RINGWATCH_AURA_CLIENT_ID and RINGWATCH_AURA_CLIENT_SECRET"),
        ({"RINGWATCH_AURA_CLIENT_ID": "id-1", "RINGWATCH_AURA_CLIENT_SECRET": " "}, "set RINGWATCH_AURA_CLIENT_SECRET"),
        ({**CREDENTIALS, "RINGWATCH_GDS_SESSION_MEMORY": "3GB"}, "RINGWATCH_GDS_SESSION_MEMORY='3GB'"),
        ({**CREDENTIALS, "RINGWATCH_GDS_SESSION_LOCATION": "gcp"}, "RINGWATCH_GDS_SESSION_LOCATION='gcp'"),
        ({**CREDENTIALS, "RINGWATCH_GDS_SESSION_TTL": "soon"}, "RINGWATCH_GDS_SESSION_TTL='soon'"),
        ({**CREDENTIALS, "RINGWATCH_GDS_SESSION_TTL": "20000"}, "RINGWATCH_GDS_SESSION_TTL='20000'"),
    ],
)
def test_a_missing_or_wrong_variable_is_named_in_one_line(env, named):
    with pytest.raises(GdsSessionError) as raised:
        session_config(env)
    message = str(raised.value)
    assert named in message
    assert "\n" not in message


def test_a_session_that_cannot_be_opened_is_one_line():
    """The real client up to its first network step: GdsSessions() asks the Aura API for the
    project of the credentials, which is unreachable here (or refuses made-up credentials)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    target = Target(f"bolt://127.0.0.1:{port}", "neo4j", "pw")
    config = SessionConfig("id-1", "secret-1", memory="8GB", location=("gcp", "europe-west1"))
    with pytest.raises(GdsSessionError) as raised:
        with gds_session.open_session(target, config, 10, 20):
            pytest.fail("a session was opened")
    assert str(raised.value).startswith("GDS session 'ringwatch' could not be opened: ")
    assert "\n" not in str(raised.value)


def test_the_gds_session_backend_without_credentials_fails_before_any_work(monkeypatch):
    for name in gds_session.VARIABLES:
        monkeypatch.delenv(name, raising=False)
    ev = Evidence(*(pd.DataFrame(columns=["account", "entity"]) for _ in range(4)))
    with pytest.raises(GdsSessionError, match="RINGWATCH_AURA_CLIENT_ID"):
        communities.detect_communities(None, ev, "gds-session", DEFAULT_PARAMS)  # no database touched


def test_a_failed_remote_projection_is_one_line(monkeypatch):
    class Refusing:
        class graph:
            @staticmethod
            def project(name, query, **kw):
                raise RuntimeError("There is no procedure with the name `gds.arrow.project.v3`\nat ...")

    @contextmanager
    def fake_open_session(target, config, node_count, relationship_count):
        yield Refusing()

    monkeypatch.setattr(communities, "open_session", fake_open_session)
    monkeypatch.setattr(communities, "target_of", lambda driver: None)
    ev = Evidence(
        accounts=pd.DataFrame({"account": ["a1", "a2"]}),
        payments=pd.DataFrame({"account": ["a1", "a2"], "entity": ["p1", "p1"]}),
        ips=pd.DataFrame(columns=["account", "entity"]),
        templates=pd.DataFrame(columns=["account", "entity"]),
    )
    with pytest.raises(GdsSessionError) as raised:
        communities.communities_gds_session(None, ev, DEFAULT_PARAMS, SessionConfig("id", "secret"))
    message = str(raised.value)
    assert "gds.arrow.project.v3" in message and "self-managed Neo4j >= 5.24" in message
    assert "\n" not in message
