"""The root settings model: one field per top-level config key `trading-platform:<key>`."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, model_validator

from components import quantities
from components.observability import load_adapter_rules
from stacks.errors import ConfigError
from stacks.settings.api import ApiSettings
from stacks.settings.datastores import DataStoresSettings, ExternalPostgresPassword
from stacks.settings.engine import EngineSettings
from stacks.settings.images import ImagesSettings, names_registry
from stacks.settings.mesh import MeshSettings
from stacks.settings.messaging import MessageBusSettings
from stacks.settings.observability import ObservabilitySettings
from stacks.settings.secrets import SecretsSettings
from stacks.settings.services import TradingServicesSettings
from stacks.settings.types import (
    AutoscalingSettings,
    ByteQuantity,
    CpuQuantity,
    DnsLabel,
    Model,
    NamespaceName,
    ResourceSettings,
    positive,
)
from stacks.settings.ui import UiSettings


def _release(value: str) -> str:
    # Leaves room for `-{component}` suffixes inside the 63-character limit.
    if len(value) > 30:
        raise ValueError("must be at most 30 characters so every `{release}-{component}` fits 63")
    return value


_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")


def _label_value(value: str) -> str:
    # It becomes the app.kubernetes.io/version label on every object.
    if not _LABEL_VALUE.match(value):
        raise ValueError(
            "must be a Kubernetes label value: 1-63 letters, digits, '-', '_' or '.', "
            "starting and ending with a letter or digit (e.g. 0.1.0)"
        )
    return value


class BudgetSettings(Model):
    """What the declared objects may request in total on a `local` node."""

    cpu: CpuQuantity
    memory: ByteQuantity

    def cpu_cores(self) -> float:
        return float(quantities.parse_cpu(self.cpu))

    def memory_bytes(self) -> int:
        return quantities.parse_bytes(self.memory)


class QuotaSettings(Model):
    """The namespace ResourceQuota."""

    requests_cpu: CpuQuantity
    requests_memory: ByteQuantity
    limits_cpu: CpuQuantity
    limits_memory: ByteQuantity
    pods: Annotated[int, positive()]
    persistent_volume_claims: Annotated[int, positive()]
    requests_storage: ByteQuantity

    def hard(self) -> dict[str, str]:
        return {
            "requests.cpu": self.requests_cpu,
            "requests.memory": self.requests_memory,
            "limits.cpu": self.limits_cpu,
            "limits.memory": self.limits_memory,
            "pods": str(self.pods),
            "persistentvolumeclaims": str(self.persistent_volume_claims),
            "requests.storage": self.requests_storage,
        }


class ClusterSettings(Model):
    """How the platform treats the cluster: pulls, placement, protection, quota."""

    image_pull_policy: Literal["Always", "IfNotPresent", "Never"]
    spread_across_nodes: bool
    protect_data: bool
    node_budget: BudgetSettings | None
    quota: QuotaSettings
    container_defaults: ResourceSettings
    # Every autoscaler's maxReplicas (the Istio charts' too) becomes min(its own, this cap); null
    # leaves them as they are. Staging: production sizing, capped maxima (seed 004). No
    # minReplicas may exceed it.
    max_replicas_cap: Annotated[int, positive()] | None = None


class PlatformSettings(Model):
    profile: Literal["local", "production"]
    release: Annotated[DnsLabel, AfterValidator(_release)]
    namespace: NamespaceName
    kube_context: Annotated[str, Field(min_length=1)]
    # Stable provider identity: renaming a kube context must not replace every object.
    cluster_identifier: Annotated[str, Field(min_length=1)] | None = None
    render_dir: Annotated[str, Field(min_length=1)] | None = None
    # Adopt objects that already exist in the cluster (seed 000's Helm release) in place:
    # the provider upserts them with server-side apply and forces field-manager conflicts.
    # Only for the adoption run (docs/adoption.md); switch it off afterwards.
    adopt_existing: bool = False
    app_version: Annotated[str, AfterValidator(_label_value)] = "0.1.0"
    monitoring_namespace: NamespaceName | None = None
    # Registry and tag of every application image; a tier may override them (docs/configuration.md).
    images: ImagesSettings = ImagesSettings()
    cluster: ClusterSettings
    message_bus: MessageBusSettings
    data_stores: DataStoresSettings
    # Secret key; the settings keep only whether it is set (see stacks/settings/datastores.py).
    external_postgres_password: ExternalPostgresPassword
    engine: EngineSettings
    api: ApiSettings
    mesh: MeshSettings
    secrets: SecretsSettings
    ui: UiSettings
    trading_services: TradingServicesSettings
    observability: ObservabilitySettings

    @property
    def provider_identity(self) -> str:
        return self.cluster_identifier or self.kube_context

    @property
    def scrape_namespace(self) -> str | None:
        """Where Prometheus runs (NetworkPolicies admit scrapes from it): `monitoringNamespace`,
        else the observability tier's namespace when it is enabled."""
        if self.monitoring_namespace is not None:
            return self.monitoring_namespace
        return self.observability.namespace if self.observability.enabled else None

    def application_images(self) -> list[tuple[str, object, str]]:
        """Every application image as (the key that decides its registry, that key's value,
        the image reference). Third-party images (stacks/versions.py) are not among them."""
        found: list[tuple[str, object, str]] = []
        for key, override, refs in (
            ("ui", self.ui.images, self.ui.image_refs(self.images)),
            (
                "tradingServices",
                self.trading_services.images,
                [s.image for s in self.trading_services.resolved(self.images)],
            ),
        ):
            if override.registry is not None:
                found += [(f"{key}.images.registry", override.registry, r) for r in refs]
            else:
                found += [("images.registry", self.images.registry, r) for r in refs]
        for key, own, ref in (
            ("engine.image", self.engine.image, self.engine.image_ref(self.images)),
            ("api.backend.image", self.api.backend.image, self.api.backend.image_ref(self.images)),
        ):
            found.append((key, own, ref) if own else ("images.registry", self.images.registry, ref))
        return found

    @model_validator(mode="after")
    def _production_pulls_from_a_registry(self) -> PlatformSettings:
        """Production never pulls an application image from Docker Hub by bare name: with pull
        policy Always, whoever owns that name there would run in the cluster."""
        if self.profile != "production":
            return self
        for key, value, ref in self.application_images():
            if names_registry(ref):
                continue
            if key.endswith(".image"):
                allowed = (
                    "production pulls application images from a registry: the reference must "
                    "start with the registry host, e.g. ghcr.io/dicky1987/eafix-modular/"
                    f"{ref.rsplit('/', 1)[-1]}, or be unset to use images.registry"
                )
            else:
                allowed = (
                    f"production pulls application images from a registry, not from Docker Hub "
                    f"by bare name ({ref} would be): set a registry host with an optional "
                    "path, e.g. ghcr.io/dicky1987/eafix-modular (seed 001)"
                )
            # Raised as is (not a ValueError), so the message names the key it is about.
            raise ConfigError(key, value, allowed)
        return self

    @model_validator(mode="after")
    def _one_monitoring_namespace(self) -> PlatformSettings:
        obs = self.observability
        if obs.enabled and obs.install and self.monitoring_namespace not in (None, obs.namespace):
            # Raised as is (not a ValueError), so the message names the key it is about.
            raise ConfigError(
                "monitoringNamespace",
                self.monitoring_namespace,
                f"must equal observability.namespace {obs.namespace!r}, where the installed "
                "Prometheus runs, or be left unset",
            )
        return self

    @model_validator(mode="after")
    def _public_entry_fits_the_mesh(self) -> PlatformSettings:
        """With the mesh on, its gateway is the only public entry: the Ingress cannot apply,
        and the operator frontend is public exactly when a gateway route reaches it."""
        if not self.mesh.enabled:
            return self
        if self.api.ingress.enabled:
            raise ConfigError(
                "api.ingress.enabled",
                True,
                "must be false while mesh.enabled: the Istio gateway publishes the hosts "
                "(mesh.gateway.routes, with its TLS, rate limit and security headers); set "
                "mesh.enabled: false to publish through the Ingress instead",
            )
        frontend = self.ui.frontend
        if not frontend.enabled:
            return self
        routes = self.mesh.gateway.routes
        routed = [i for i, r in enumerate(routes) if r.service == frontend.component]
        if frontend.public and not routed:
            raise ConfigError(
                "ui.frontend.public",
                True,
                f"needs a mesh.gateway.routes entry with service {frontend.component!r} while "
                "mesh.enabled (the gateway is the only way in); add the route with the "
                "frontend's host, or set ui.frontend.public: false",
            )
        if not frontend.public and routed:
            raise ConfigError(
                f"mesh.gateway.routes.{routed[0]}.service",
                frontend.component,
                "routes to the operator frontend, which is not public (ui.frontend.public: "
                "false); remove the route or set ui.frontend.public: true",
            )
        return self

    def autoscaler_metrics(self) -> dict[str, list[tuple[str, str]]]:
        """Every custom (Pods) and external metric an autoscaler of the stack uses, with the key
        that asks for it: {"custom": [(key, metric), ...], "external": [...]}."""
        found: dict[str, list[tuple[str, str]]] = {"custom": [], "external": []}
        for path, autoscaler in self.autoscalers():
            found["custom"] += [(f"{path}.podsMetrics", m) for m in autoscaler.pods_metrics]
            found["external"] += [
                (f"{path}.externalMetrics", m) for m in autoscaler.external_metrics
            ]
        return found

    def autoscalers(self) -> list[tuple[str, AutoscalingSettings]]:
        """Every autoscaler of the stack with the key that configures it."""
        found: list[tuple[str, AutoscalingSettings]] = []

        def walk(node: object, path: str) -> None:
            if isinstance(node, AutoscalingSettings):
                found.append((path, node))
            elif isinstance(node, BaseModel):
                for name, info in type(node).model_fields.items():
                    key = info.alias or name
                    walk(getattr(node, name), f"{path}.{key}" if path else key)
            elif isinstance(node, dict):
                for key, value in node.items():
                    walk(value, f"{path}.{key}")

        walk(self, "")
        return found

    @model_validator(mode="after")
    def _autoscalers_within_cap(self) -> PlatformSettings:
        cap = self.cluster.max_replicas_cap
        if cap is None:
            return self
        for key, autoscaler in self.autoscalers():
            if autoscaler.min_replicas > cap:
                raise ConfigError(
                    "cluster.maxReplicasCap",
                    cap,
                    f"is below {key}.minReplicas {autoscaler.min_replicas}; the cap must be "
                    "at least every autoscaler's minReplicas (raise the cap or lower "
                    f"{key}.minReplicas)",
                )
        return self

    def with_capped_autoscalers(self) -> PlatformSettings:
        """These settings with every autoscaler's maxReplicas at most `cluster.maxReplicasCap`."""
        cap = self.cluster.max_replicas_cap
        if cap is None:
            return self

        def capped(node: object) -> object:
            if isinstance(node, AutoscalingSettings):
                if node.max_replicas <= cap:
                    return node
                return node.model_copy(update={"max_replicas": cap})
            if isinstance(node, BaseModel):
                changes = {}
                for name in type(node).model_fields:
                    value = getattr(node, name)
                    new = capped(value)
                    if new is not value:
                        changes[name] = new
                return node.model_copy(update=changes) if changes else node
            if isinstance(node, dict):
                new_items = {key: capped(value) for key, value in node.items()}
                if any(new_items[key] is not node[key] for key in node):
                    return new_items
            return node

        result = capped(self)
        assert isinstance(result, PlatformSettings)
        return result

    @model_validator(mode="after")
    def _autoscaler_metrics_served(self) -> PlatformSettings:
        """An HPA on a metric nothing serves never scales down: each custom/external metric
        must have a rule of the adapter this stack installs (unless another adapter serves)."""
        obs = self.observability
        if not (obs.enabled and obs.install and obs.metrics_adapter.enabled):
            return self
        rules = load_adapter_rules()
        served = {"custom": rules.custom, "external": rules.external}
        for api, uses in self.autoscaler_metrics().items():
            for key, metric in uses:
                if metric not in served[api]:
                    names = ", ".join(sorted(served[api])) or "none"
                    raise ConfigError(
                        key,
                        metric,
                        f"no {api} metric of that name is served: the metrics adapter's rules "
                        "(components/observability/metrics-adapter.yaml) "
                        f"serve {names}; add a rule there, "
                        "or set observability.metricsAdapter.enabled: false where another "
                        "adapter serves it",
                    )
        return self

    @model_validator(mode="after")
    def _renderable(self) -> PlatformSettings:
        # The provider's render mode can't render Helm releases (pulumi-kubernetes#1716).
        charts = [
            key
            for key, installs in (
                ("mesh.install", self.mesh.enabled and self.mesh.install),
                (
                    "observability.install",
                    self.observability.enabled and self.observability.install,
                ),
            )
            if installs
        ]
        if self.render_dir and charts:
            raise ConfigError(
                "renderDir",
                self.render_dir,
                "render mode writes plain manifests and cannot render Helm charts; set "
                f"{' and '.join(charts)} to false (Argo CD can install those charts itself)",
            )
        return self
