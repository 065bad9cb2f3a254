"""Sharing indicators through a TAXII 2.1 server (the way labs pool attack signals).

`push` writes the same STIX 2.1 bundle `ringwatch export --format stix` writes (rings of
the given statuses, payment and template values as keyed hashes) and adds its objects to
a TAXII collection; `pull` reads a collection's objects page by page (optionally only those
added after a time) and imports them as a partner's bundle, with every rule of
`ringwatch indicators import` (graph.sharing.indicators). Both are audit events.

The TAXII client is `taxii2-client` (the OASIS TC's own client library); the collection
is addressed by its URL, `https://host/api-root/collections/<id>/`. Credentials are HTTP
basic (user and password), the password never on a command line.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from pathlib import Path
from typing import Any

import neo4j
from taxii2client.v21 import Collection, as_pages

from graph.review import audit
from graph.review.actors import Actor, require
from graph.sharing.indicators import export_bundle, import_bundle

__all__ = ["TaxiiError", "pull", "push"]

PAGE = 500
MAX_OBJECTS = 200_000


class TaxiiError(RuntimeError):
    """The TAXII server refused or could not be reached; the message says what to do."""


def _collection(url: str, user: str | None, password: str | None) -> Collection:
    if not url.startswith(("http://", "https://")) or "/collections/" not in url:
        raise TaxiiError(f"a TAXII collection URL looks like https://host/api-root/collections/ID/, not {url!r}")
    return Collection(url if url.endswith("/") else url + "/", user=user, password=password)


def _fail(what: str, url: str, error: Exception) -> TaxiiError:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return TaxiiError(f"TAXII {what} at {url} failed: {text}")


def push(
    driver: neo4j.Driver,
    actor: Actor,
    url: str,
    statuses: list[str],
    key: str | bytes | None,
    user: str | None = None,
    password: str | None = None,
    producer: str = "ringwatch",
) -> dict[str, Any]:
    """Add the rings' indicators to the collection; returns object counts and the server's status."""
    require(actor, "read")
    collection = _collection(url, user, password)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bundle.json"
        counts = export_bundle(driver, path, statuses, None, key, producer, actor=actor)
        bundle = json.loads(path.read_text(encoding="utf-8"))
    objects = bundle.get("objects", [])
    if not objects:
        return {"objects": 0, "status": "nothing to push", **counts}
    try:
        status = collection.add_objects({"objects": objects}, wait_for_completion=True, timeout=120)
    except Exception as e:  # noqa: BLE001 - taxii2client raises requests' and its own errors
        raise _fail("push", url, e) from e
    result = {
        "objects": len(objects),
        "status": status.status,
        "succeeded": status.success_count,
        "failed": status.failure_count,
    }
    audit.record(
        driver,
        "taxii.push",
        actor.name,
        actor.channel,
        role=actor.role,
        url=url,
        statuses=statuses,
        objects=len(objects),
        succeeded=status.success_count,
        failed=status.failure_count,
    )
    return result


def pull(
    driver: neo4j.Driver,
    actor: Actor,
    url: str,
    source: str,
    key: str | bytes | None,
    user: str | None = None,
    password: str | None = None,
    added_after: str | None = None,
) -> dict[str, Any]:
    """Import the collection's objects as `source`'s indicators; returns the import summary."""
    require(actor, "decide")
    collection = _collection(url, user, password)
    filters = {"added_after": added_after} if added_after else {}
    objects: list[dict[str, Any]] = []
    try:
        for envelope in as_pages(collection.get_objects, per_request=PAGE, **filters):
            objects.extend(envelope.get("objects", []))
            if len(objects) > MAX_OBJECTS:
                raise TaxiiError(f"the collection holds more than {MAX_OBJECTS:,} objects: pull with --added-after")
    except TaxiiError:
        raise
    except Exception as e:  # noqa: BLE001 - taxii2client raises requests' and its own errors
        raise _fail("pull", url, e) from e
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bundle.json"
        bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}
        path.write_text(json.dumps(bundle), encoding="utf-8")
        summary = import_bundle(driver, path, source, key, actor=actor)
    audit.record(
        driver,
        "taxii.pull",
        actor.name,
        actor.channel,
        role=actor.role,
        url=url,
        source=source,
        objects=len(objects),
        added_after=added_after,
    )
    return {"objects": len(objects), **summary}
