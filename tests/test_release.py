"""The release record: destroy meets it before anything else, and production protects it.

Found by the real engine (scripts/e2e.sh): `pulumi destroy` of production deleted every
unprotected object (Services, Deployments, policies) and failed only at the protected data.
"""

from __future__ import annotations

from tests.helpers import production
from tools.offline import Recording, Registration


def release_record(recording: Recording) -> Registration:
    records = [
        r
        for r in recording.resources
        if r.kind == "ConfigMap" and r.parent.endswith("trading:platform:ReleaseRecord::release")
    ]
    assert len(records) == 1
    return records[0]


def test_every_object_comes_before_the_release_record(stack: Recording) -> None:
    # The engine deletes dependents first: a destroy must start with the record.
    record = release_record(stack)
    others = {
        r.urn
        for r in stack.resources
        if r.custom and not r.type.startswith("pulumi:providers:") and r.urn != record.urn
    }
    assert len(others) > 100
    assert others <= set(record.dependencies), sorted(others - set(record.dependencies))[:5]


def test_production_protects_the_release_record_and_dev_does_not(
    dev: Recording, prod: Recording
) -> None:
    assert release_record(prod).protect
    assert not release_record(dev).protect


def test_the_record_names_the_release(stack: Recording) -> None:
    body = release_record(stack).manifest()
    assert body["metadata"]["name"] == "aegis-trader-release"  # seed 000's release name
    assert body["data"]["release"] == "aegis-trader"
    assert body["data"]["protected"] == ("true" if production(stack) else "false")
