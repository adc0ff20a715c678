"""Message bus: seed 000's NATS cluster, KV registry Job and nats-box on both recorded stacks."""

from __future__ import annotations

import posixpath
import re
from dataclasses import replace
from typing import Any

import pytest

from components.graph import DependencyGraph
from components.messaging import ADMIN_CLIENTS, MessageBus, gomemlimit, server_config
from components.workload import Platform
from stacks.config import load_settings
from tests.helpers import assert_rejected, container, env_of, manifest, pod_spec, secret_file
from tests.test_network import graph_of
from tools.offline import Recording, is_secret, run_program

NATS = "aegis-trader-nats"


def test_statefulset_keeps_seed_000_names_ports_and_image(stack: Recording) -> None:
    sts = manifest(stack, "StatefulSet", NATS)
    assert sts["spec"]["serviceName"] == f"{NATS}-headless"
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    assert sts["spec"]["selector"]["matchLabels"] == {
        "app.kubernetes.io/name": "nats",
        "app.kubernetes.io/instance": "aegis-trader",
    }
    nats = container(stack, "StatefulSet", NATS, "nats")
    assert nats["image"] == "nats:2.11.6-alpine"
    ports = {p["name"]: p["containerPort"] for p in nats["ports"]}
    assert ports == {"client": 4222, "cluster": 6222, "monitor": 8222}
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert {"name": "data", "mountPath": "/data"} in nats["volumeMounts"]
    assert claim["metadata"]["name"] == "data"


def test_services_keep_seed_000_names_and_ports(stack: Recording) -> None:
    client = manifest(stack, "Service", NATS)["spec"]
    assert [(p["name"], p["port"]) for p in client["ports"]] == [("client", 4222)]
    headless = manifest(stack, "Service", f"{NATS}-headless")["spec"]
    assert headless["clusterIP"] == "None"
    assert headless["publishNotReadyAddresses"] is True
    assert {p["port"] for p in headless["ports"]} == {4222, 6222, 8222}


def test_production_keeps_seed_000_tested_sizes(prod: Recording) -> None:
    sts = manifest(prod, "StatefulSet", NATS)
    assert sts["spec"]["replicas"] == 3
    nats = container(prod, "StatefulSet", NATS, "nats")
    assert nats["resources"] == {
        "requests": {"cpu": "1", "memory": "4Gi"},
        "limits": {"cpu": "2", "memory": "8Gi"},
    }
    assert env_of(nats)["GOMEMLIMIT"] == "7GiB"
    storage = sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"]
    assert storage == "10Gi"
    spread = pod_spec(prod, "StatefulSet", NATS)["topologySpreadConstraints"][0]
    assert spread["whenUnsatisfiable"] == "DoNotSchedule"


def test_production_protects_the_cluster_and_its_volumes(prod: Recording) -> None:
    sts = prod.get("StatefulSet", NATS)
    assert sts.protect and sts.retain_on_delete
    policy = sts.manifest()["spec"]["persistentVolumeClaimRetentionPolicy"]
    assert policy == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    password = next(
        r for r in prod.resources if r.type == "random:index/randomPassword:RandomPassword"
    )
    assert password.protect


def test_local_fits_the_node_and_keeps_open_access(dev: Recording) -> None:
    nats = container(dev, "StatefulSet", NATS, "nats")
    assert nats["resources"]["limits"]["memory"] == "512Mi"
    assert env_of(nats)["GOMEMLIMIT"] == "448MiB"
    assert "NATS_PASSWORD" not in env_of(nats)
    assert "aegis-trader-nats-auth" not in {s.object_name for s in dev.of_kind("Secret")}
    assert not dev.get("StatefulSet", NATS).protect


def test_server_config_routes_every_replica_through_the_headless_service(stack: Recording) -> None:
    conf = manifest(stack, "ConfigMap", NATS)["data"]["nats.conf"]
    for i in range(3):
        assert f"nats://{NATS}-{i}.{NATS}-headless:6222" in conf
    assert "http_port: 8222" in conf
    assert "lame_duck_duration: 30s" in conf
    assert "store_dir: /data" in conf  # files in /data/jetstream, as seed 000's chart
    template = manifest(stack, "StatefulSet", NATS)["spec"]["template"]
    assert template["metadata"]["annotations"]["checksum/config"]


def test_probes_separate_server_readiness_from_jetstream_health(stack: Recording) -> None:
    nats = container(stack, "StatefulSet", NATS, "nats")
    assert nats["readinessProbe"]["httpGet"]["path"] == "/healthz?js-server-only=true"
    assert nats["livenessProbe"]["httpGet"]["path"] == "/healthz?js-enabled-only=true"
    assert nats["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert nats["lifecycle"]["preStop"]["exec"]["command"][0] == "nats-server"
    grace = pod_spec(stack, "StatefulSet", NATS)["terminationGracePeriodSeconds"]
    assert grace > 30  # longer than the lame-duck duration


def test_pdb_allows_one_pod_down(stack: Recording) -> None:
    assert manifest(stack, "PodDisruptionBudget", NATS)["spec"]["maxUnavailable"] == 1


def test_exporter_serves_jetstream_metrics_on_7777(stack: Recording) -> None:
    exporter = container(stack, "StatefulSet", NATS, "exporter")
    assert exporter["ports"] == [{"name": "metrics", "containerPort": 7777, "protocol": "TCP"}]
    assert "-jsz=all" in exporter["args"]


def test_kv_job_creates_the_registry_bucket_idempotently(stack: Recording) -> None:
    job = stack.get("Job", "aegis-trader-create-kv-bucket")
    body = job.manifest()
    assert body["metadata"]["annotations"]["pulumi.com/replaceUnready"] == "true"
    script = body["spec"]["template"]["spec"]["containers"][0]["command"][-1]
    assert "nats kv info service_registry" in script
    assert "nats kv add service_registry --replicas=3" in script
    # The Job waits for the StatefulSet (Pulumi expands a component dependency to its children).
    assert stack.get("StatefulSet", NATS).urn in job.dependencies
    assert stack.outputs["natsKvBucket"] == "service_registry"
    assert stack.outputs["natsUrl"] == "nats://aegis-trader-nats:4222"


def test_nats_box_is_deployed_with_a_context(stack: Recording) -> None:
    box = container(stack, "Deployment", "aegis-trader-nats-box", "nats-box")
    assert "nats context save default" in box["command"][-1]
    assert env_of(box)["NATS_URL"] == "nats://aegis-trader-nats:4222"


def test_production_clients_authenticate_with_a_generated_secret(prod: Recording) -> None:
    secret = prod.get("Secret", "aegis-trader-nats-auth")
    assert is_secret(secret.inputs["stringData"])  # the generated password never leaves secrecy
    assert prod.outputs["natsCredentialsSecret"] == "aegis-trader-nats-auth"
    assert "natsCredentialsSecret" not in prod.secret_outputs  # a name, not a value
    # nats-server parses a `$VAR`'s value as configuration, so a generated password such as
    # `4E1...` stopped the server (issue 14): the config includes the Secret's `auth.conf`,
    # where the password is a quoted string; no credential in the ConfigMap or the env.
    conf = manifest(prod, "ConfigMap", NATS)["data"]["nats.conf"]
    assert "NATS_PASSWORD" not in conf and "authorization" not in conf
    server = container(prod, "StatefulSet", NATS, "nats")
    pod = pod_spec(prod, "StatefulSet", NATS)
    (include,) = [line for line in conf.splitlines() if line.startswith("include ")]
    path = include.split('"')[1]
    # nats-server resolves every include against the config's directory, an absolute path too
    # (found by the real server): the path must be relative to /etc/nats-config.
    assert not path.startswith("/"), path
    included = posixpath.normpath(posixpath.join("/etc/nats-config", path))
    assert secret_file(pod, server, included) == ("aegis-trader-nats-auth", "auth.conf")
    assert server["command"] == ["nats-server", "--config", "/etc/nats-config/nats.conf"]
    assert not [e for e in server["env"] if "NATS_" in e["name"]]
    block = secret.manifest()["stringData"]["auth.conf"]
    assert block.startswith("authorization {") and 'user: "trading"' in block
    box = container(prod, "Deployment", "aegis-trader-nats-box", "nats-box")
    box_pod = pod_spec(prod, "Deployment", "aegis-trader-nats-box")
    assert "NATS_PASSWORD" not in env_of(box)  # its script reads the mounted Secret
    assert 'NATS_PASSWORD="$(cat /run/secrets/nats/password)"' in box["command"][-1]
    assert secret_file(box_pod, box, "/run/secrets/nats/password") == (
        "aegis-trader-nats-auth",
        "password",
    )


def test_network_policy_admits_cluster_routes_and_admin_clients(stack: Recording) -> None:
    spec = manifest(stack, "NetworkPolicy", NATS)["spec"]
    sources = [
        rule["from"][0]["podSelector"]["matchLabels"].get("app.kubernetes.io/name")
        for rule in spec["ingress"]
    ]
    assert {"nats", "nats-box", "create-kv-bucket"} <= set(sources)


@pytest.mark.parametrize(
    ("limit", "expected"), [("8Gi", "7GiB"), ("512Mi", "448MiB"), ("4Gi", "3584MiB")]
)
def test_gomemlimit_is_seven_eighths_of_the_limit(limit: str, expected: str) -> None:
    assert gomemlimit(limit) == expected


def test_bus_settings_build_the_storage_jetstream_and_nats_box_groups() -> None:
    """`messageBus.storage`, `.jetstream` and `.natsBox` reach the objects through the args'
    groups: the claim's class and size, the file store, and a disabled nats-box whose image
    still runs the KV Job."""
    bus = {
        "storage": {"size": "2Gi", "storageClass": "fast-ssd"},
        "jetstream": {"maxFileStore": "1Gi"},
        "natsBox": {"enabled": False, "image": "natsio/nats-box:0.18.0"},
    }
    settings = load_settings(
        {
            "profile": "local",
            "release": "rel",
            "namespace": "ns",
            "kubeContext": "kind",
            "messageBus": bus,
        }
    )
    platform = Platform(release="rel", namespace="ns", version="1")
    args = settings.message_bus.build(
        platform, DependencyGraph(settings.message_bus.nodes(platform))
    )
    recording = run_program(lambda: MessageBus("bus", args))
    sts = recording.get("StatefulSet", "rel-nats").manifest()["spec"]
    (claim,) = sts["volumeClaimTemplates"]
    assert claim["spec"]["storageClassName"] == "fast-ssd"
    assert claim["spec"]["resources"]["requests"]["storage"] == "2Gi"
    conf = recording.get("ConfigMap", "rel-nats").manifest()["data"]["nats.conf"]
    assert f"max_file_store: {2**30}" in conf
    assert [d.object_name for d in recording.of_kind("Deployment")] == []
    job = recording.get("Job", "rel-create-kv-bucket").manifest()["spec"]["template"]["spec"]
    assert job["containers"][0]["image"] == "natsio/nats-box:0.18.0"


def test_server_config_adds_the_include_and_cluster_sections_only_when_needed() -> None:
    """nats.conf is config/nats/server.conf.tmpl, plus the credentials' include with `auth` and
    the cluster block with more than one server: a single open server has neither."""
    settings = load_settings(
        {
            "profile": "local",
            "release": "rel",
            "namespace": "ns",
            "kubeContext": "kind",
            "messageBus": {"replicas": 1},
        }
    )
    platform = Platform(release="rel", namespace="ns", version="1")
    single = settings.message_bus.build(
        platform, DependencyGraph(settings.message_bus.nodes(platform))
    )
    conf = server_config(single)
    assert conf.startswith("server_name: $SERVER_NAME\n") and conf.endswith("}\n")
    assert "cluster {" not in conf and "include" not in conf
    clustered = server_config(replace(single, replicas=3, auth=True))
    assert clustered.startswith(conf)
    include, cluster = clustered[len(conf) :].split("\n", 1)
    assert include == 'include "../../run/secrets/nats/auth.conf"'
    assert cluster.startswith("cluster {\n  name: rel-nats\n  listen: 0.0.0.0:6222\n")
    assert cluster.count("nats://rel-nats-") == 3


BAD: list[tuple[dict[str, Any], str, str, str]] = [
    ({"replicas": 2}, "messageBus.replicas", "2", "1, 3 or 5"),
    ({"replicas": 4}, "messageBus.replicas", "4", "1, 3 or 5"),
    ({"replicas": 0}, "messageBus.replicas", "0", "1, 3 or 5"),
    ({"replicas": -1}, "messageBus.replicas", "-1", "1, 3 or 5"),
    ({"bucket": "service.registry"}, "messageBus.bucket", "service.registry", "KV bucket name"),
    (
        {"jetstream": {"maxMemoryStore": "400Mi"}},
        "messageBus",
        "400Mi",
        "at least twice its size",
    ),
    ({"jetstream": {"maxFileStore": "20Gi"}}, "messageBus", "20Gi", "must fit the volume"),
    ({"image": "nats"}, "messageBus.image", "nats", "pinned by tag or digest"),
    ({"image": "nats:latest"}, "messageBus.image", "nats:latest", "must not use the moving tag"),
    ({"image": "NATS 2.11"}, "messageBus.image", "NATS 2.11", "image reference"),
]


@pytest.mark.parametrize(("bus", "key", "value", "allowed"), BAD, ids=[str(b[0]) for b in BAD])
def test_bad_bus_config_fails_before_any_resource(
    bus: dict[str, Any], key: str, value: str, allowed: str
) -> None:
    assert_rejected({"messageBus": bus}, key, value, allowed)


# --- services that register in the KV bucket wait for it (seed 000, issue 15) -----------------

BUCKET_WAIT = "wait-for-kv-bucket"
NAME = "app.kubernetes.io/name"


def bucket_told(recording: Recording, pod: dict[str, Any]) -> str | None:
    """The NATS_KV_BUCKET a pod's main container is given (its env or its ConfigMap), if any."""
    main = pod["containers"][0]
    if "NATS_KV_BUCKET" in env_of(main):
        return str(env_of(main)["NATS_KV_BUCKET"])
    for source in main.get("envFrom", []):
        data = manifest(recording, "ConfigMap", source["configMapRef"]["name"])["data"]
        if "NATS_KV_BUCKET" in data:
            return str(data["NATS_KV_BUCKET"])
    return None


def test_every_service_that_registers_waits_for_the_kv_bucket(stack: Recording) -> None:
    """Seed 000: "KV store must be initialized before services can register". Whoever is told the
    bucket (NATS_KV_BUCKET) loops on `nats kv info` of the bucket the Job creates, on the Job's
    server and credentials, after its TCP waits; whoever isn't told it has no such wait."""
    job = container(stack, "Job", "aegis-trader-create-kv-bucket", "create-kv-bucket")
    created = re.search(r"nats kv add (\S+)", job["command"][-1])
    assert created is not None
    job_env = env_of(job)
    registering = set()
    for kind in ("Deployment", "StatefulSet"):
        for registration in stack.of_kind(kind):
            name = registration.object_name
            pod = registration.manifest()["spec"]["template"]["spec"]
            inits = pod.get("initContainers", [])
            waits = [c for c in inits if c["name"] == BUCKET_WAIT]
            bucket = bucket_told(stack, pod)
            if bucket is None:
                assert waits == [], name
                continue
            assert bucket == created[1] == stack.outputs["natsKvBucket"], name
            assert inits[-1]["name"] == BUCKET_WAIT, f"{name}: the bucket wait runs last"
            (wait,) = waits
            env = env_of(wait)
            assert env["NATS_KV_BUCKET"] == bucket, name
            assert env["NATS_URL"] == job_env["NATS_URL"] == stack.outputs["natsUrl"], name
            for key in ("NATS_USER", "NATS_PASSWORD"):  # the Secret's, as the Job's
                assert env.get(key) == job_env.get(key), (name, key)
            assert wait["image"] == job["image"], name  # nats-box, as the Job
            assert wait["resources"] == job["resources"], name
            assert wait["command"][:2] == ["sh", "-c"], name
            assert 'nats kv info "$NATS_KV_BUCKET"' in wait["command"][-1], name
            registering.add(registration.manifest()["spec"]["selector"]["matchLabels"][NAME])
    # The same set from the graph: every service that calls the bus, but the bus's own clients.
    graph = graph_of(stack.stack)
    callers = {n.selector[NAME] for n in graph.callers("nats") if n.name not in ADMIN_CLIENTS}
    assert registering == callers
    assert {"monitor-api", "backend", "execution-engine"} <= registering


def test_production_bucket_wait_authenticates_from_the_secret_files(prod: Recording) -> None:
    for deployment in ("aegis-trader-backend", "aegis-trader-monitor-api"):
        pod = pod_spec(prod, "Deployment", deployment)
        wait = container(prod, "Deployment", deployment, BUCKET_WAIT)
        for variable, key in (("NATS_USER_FILE", "user"), ("NATS_PASSWORD_FILE", "password")):
            path = env_of(wait)[variable]
            assert secret_file(pod, wait, path) == ("aegis-trader-nats-auth", key), deployment
        assert "NATS_PASSWORD" not in env_of(wait), deployment


def sprig_replace_pipeline(template: str, value: str) -> str:
    """The External Secrets template's `{{ .password | replace "a" "b" | ... }}` applied to
    `value` (Go string literals decode like JSON's for these escapes)."""
    import json
    import re

    def one(match: re.Match[str]) -> str:
        out = value
        for old, new in re.findall(r'replace ("(?:[^"\\]|\\.)*") ("(?:[^"\\]|\\.)*")', match[1]):
            out = out.replace(json.loads(old), json.loads(new))
        return out

    return re.sub(r"\{\{ \.password((?: \| replace \S+ \S+)*) \}\}", one, template)


@pytest.mark.parametrize("password", ["plain", 'quo"te', "back\\slash", "$HOME {x};y 4E1", '\\"'])
def test_server_credentials_block_is_the_same_generated_and_from_the_store(password: str) -> None:
    from components.messaging import auth_block

    block = auth_block("trading")
    assert sprig_replace_pipeline(block.template, password) == block.render(password)
