"""What the engine waits for before creating each object.

Found by the real engine's timeline (scripts/e2e.sh --bench): the provider holds every Service
with a selector for a 10 s settle after its endpoints change, so a Job that depended on a whole
Workload, or Services held back behind a Secret, added that wait to the critical path.
"""

from __future__ import annotations

from tools.offline import Recording, Registration


def one(recording: Recording, kind: str, logical: str) -> Registration:
    found = [r for r in recording.resources if r.kind == kind and r.name == logical]
    assert len(found) == 1, (kind, logical, len(found))
    return found[0]


def test_setup_jobs_wait_for_the_servers_pods_not_their_service(stack: Recording) -> None:
    kv_job = one(stack, "Job", "message-bus-create-kv-bucket")
    nats = one(stack, "StatefulSet", "message-bus")
    assert nats.urn in kv_job.dependencies
    assert one(stack, "Service", "message-bus-svc").urn not in kv_job.dependencies


def test_redis_cluster_bootstrap_waits_for_the_redis_pods_not_their_service(
    prod: Recording,
) -> None:
    job = one(prod, "Job", "data-stores-redis-cluster-init")
    assert one(prod, "StatefulSet", "data-stores-redis").urn in job.dependencies
    assert one(prod, "Service", "data-stores-redis-svc").urn not in job.dependencies


def test_only_the_database_pods_wait_for_their_credentials(stack: Recording) -> None:
    secret = one(stack, "Secret", "data-stores-postgres-credentials")
    assert secret.urn in one(stack, "StatefulSet", "data-stores-postgres").dependencies
    # The Workload component itself waits for nothing, so its Service, account and policies are
    # created while the passwords are generated.
    component = one(stack, "Workload", "data-stores-postgres")
    assert component.dependencies == []
