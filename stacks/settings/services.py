"""Settings of the `tradingServices` key: the catalogue of stacks/catalogue.yaml merged with the
profile's sizes and the stack's overrides, by service name.

Merge order per service (later wins, maps merge key by key, lists are replaced):
`defaults` of the profile -> the catalogue entry -> `services.<name>` of the profile and stack.
A name the catalogue lacks adds a service (it must at least declare `port`); `enabled: false`
removes one. Cross-entry rules (unique ports, known stages, known override targets) fail with
the exact key of the offending entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, Field, model_validator

from components.endpoints import BusEndpoint, CacheEndpoint, DatabaseEndpoint
from components.graph import DependencyGraph, Node
from components.merge import deep_merge
from components.naming import is_dns_label
from components.services import TradingService, TradingServicesArgs, service_nodes
from components.workload import Platform
from stacks.errors import ConfigError
from stacks.settings.images import ImagesOverride, ImagesSettings, Repository
from stacks.settings.types import AutoscalingSettings, DnsLabel, Model, Port, ResourceSettings
from stacks.settings.ui import Replicas
from stacks.versions import EAFIX_TAG, IMAGES

KEY = "tradingServices"
CATALOGUE = Path(__file__).resolve().parents[1] / "catalogue.yaml"

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


def _env_name(value: str) -> str:
    if (
        not value
        or not (value[0].isalpha() or value[0] == "_")
        or not all(c.isalnum() or c == "_" for c in value)
    ):
        raise ValueError("must be an environment variable name: letters, digits and '_'")
    return value


EnvName = Annotated[str, AfterValidator(_env_name)]


@cache
def catalogue() -> dict[str, dict[str, Any]]:
    """The default catalogue: service name -> entry, as written in stacks/catalogue.yaml."""
    document = yaml.safe_load(CATALOGUE.read_text()) or {}
    services: dict[str, dict[str, Any]] = document.get("services") or {}
    return services


class ServiceDefaults(Model):
    """What an entry gets when neither the catalogue nor an override sets it."""

    replicas: Replicas
    resources: ResourceSettings


class ServiceEntry(Model):
    """One trading service after merging (see stacks/catalogue.yaml for the fields)."""

    enabled: bool = True
    port: Port
    service_type: Annotated[str, Field(min_length=1, max_length=63)] | None = None  # None: name
    stage: DnsLabel | None = None
    calls: list[str] = []
    # Image repository; None: the service's name, as in seed 001's
    # ghcr.io/dicky1987/eafix-modular/<service>:<tag>.
    image: Repository | None = None
    replicas: Replicas
    resources: ResourceSettings
    # Its own autoscaler; None: the one its stage maps to (if any).
    autoscaling: AutoscalingSettings | None = None
    log_level: LogLevel | None = None  # None: tradingServices.logLevel
    external_egress: bool = False
    public: bool = False
    spread: Literal["soft", "hard"] = "soft"
    env: dict[EnvName, str] = {}


class TradingServicesSettings(Model):
    log_level: LogLevel
    images: ImagesOverride = ImagesOverride()
    defaults: ServiceDefaults
    # Pipeline stage -> autoscaler (None: the stage has none). Seed 003's HPA table.
    stages: dict[DnsLabel, AutoscalingSettings | None]
    services: dict[str, ServiceEntry]
    # The `wait-for-deps` init container (busybox).
    init_resources: ResourceSettings

    @model_validator(mode="before")
    @classmethod
    def _merge_catalogue(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        overrides = data.get("services") or {}
        if not isinstance(overrides, Mapping):
            return data  # pydantic names the wrong type
        defaults = data.get("defaults")
        base = (
            {k: v for k, v in defaults.items() if k in ("replicas", "resources")}
            if isinstance(defaults, Mapping)
            else {}
        )
        known = catalogue()
        merged: dict[str, Any] = {}
        for name in [*known, *(n for n in overrides if n not in known)]:
            override = overrides.get(name)
            override = {} if override is None else override
            if not isinstance(override, Mapping):
                merged[name] = override  # pydantic names the wrong type
                continue
            if name not in known:
                _check_new_service(str(name), override, known)
            _check_keys(str(name), override)
            merged[name] = deep_merge(base, deep_merge(known.get(name, {}), override))
        return {**data, "services": merged}

    @model_validator(mode="after")
    def _cross_entry_rules(self) -> TradingServicesSettings:
        owners: dict[int, str] = {}
        for name, entry in self.services.items():
            if entry.stage is not None and entry.stage not in self.stages:
                raise ConfigError(
                    f"{KEY}.services.{name}.stage",
                    entry.stage,
                    f"must be one of the stages of {KEY}.stages ({', '.join(self.stages)}) or null",
                )
            if entry.enabled:
                owners.setdefault(entry.port, name)
        used = {entry.stage for entry in self.services.values() if entry.stage}
        for stage in self.stages:
            if stage not in used:
                raise ConfigError(
                    f"{KEY}.stages.{stage}",
                    stage,
                    "is a stage no service has; the catalogue's stages: " + ", ".join(sorted(used)),
                )
        for name, entry in self.services.items():
            if entry.enabled and owners[entry.port] != name:
                in_use = ", ".join(f"{p} ({n})" for p, n in sorted(owners.items()))
                raise ConfigError(
                    f"{KEY}.services.{name}.port",
                    entry.port,
                    f"is taken by {owners[entry.port]}; each enabled service needs its own "
                    f"port between 1 and 65535 (in use: {in_use})",
                )
        return self

    def resolved(self, images: ImagesSettings) -> tuple[TradingService, ...]:
        """The enabled services, resolved for the component (and the graph). `images`: the
        stack's application images (`tradingServices.images` overrides apply on top)."""
        own = self.images.on(images)
        services = []
        for name, entry in self.services.items():
            if not entry.enabled:
                continue
            autoscaling = entry.autoscaling or (
                self.stages.get(entry.stage) if entry.stage else None
            )
            services.append(
                TradingService(
                    name=name,
                    port=entry.port,
                    service_type=entry.service_type or name,
                    image=own.ref(f"{entry.image or name}:{EAFIX_TAG}"),
                    resources=entry.resources.build(),
                    replicas=entry.replicas,
                    calls=tuple(entry.calls),
                    calls_key=f"{KEY}.services.{name}.calls",
                    stage=entry.stage,
                    autoscaling=autoscaling.build() if autoscaling else None,
                    log_level=entry.log_level or self.log_level,
                    external_egress=entry.external_egress,
                    public=entry.public,
                    spread=entry.spread,
                    env=dict(entry.env),
                )
            )
        return tuple(services)

    def nodes(self, platform: Platform, images: ImagesSettings) -> list[Node]:
        """One dependency-graph node per enabled service."""
        return service_nodes(platform, self.resolved(images))

    def build(
        self,
        platform: Platform,
        graph: DependencyGraph,
        bus: BusEndpoint,
        images: ImagesSettings,
        database: DatabaseEndpoint | None,
        cache: CacheEndpoint | None,
    ) -> TradingServicesArgs:
        """The tier's args: the enabled services resolved, the endpoints of the bus and of the
        tier's database and cache."""
        return TradingServicesArgs(
            platform=platform,
            graph=graph,
            services=self.resolved(images),
            bus=bus,
            init_image=IMAGES["busybox"],
            init_resources=self.init_resources.build(),
            database=database,
            cache=cache,
        )


def _check_new_service(name: str, entry: Mapping[str, Any], known: Mapping[str, Any]) -> None:
    """A name outside the catalogue adds a service: it must be a DNS label and declare a port."""
    key = f"{KEY}.services.{name}"
    if not is_dns_label(name):
        raise ConfigError(
            key,
            name,
            "a service name must be a DNS-1123 label: lower-case letters, digits and '-', "
            "starting and ending with a letter or digit, at most 63 characters",
        )
    if "port" not in entry:
        raise ConfigError(
            key,
            dict(entry),
            f"overrides no catalogue service; override one of {', '.join(known)}, "
            "or add a new service, which needs at least `port`",
        )


def _check_keys(name: str, entry: Mapping[str, Any]) -> None:
    """Unknown keys of an entry, named with the entry's own key (not the map's)."""
    allowed = sorted(f.alias or n for n, f in ServiceEntry.model_fields.items())
    for key, value in entry.items():
        if key not in allowed:
            raise ConfigError(
                f"{KEY}.services.{name}.{key}",
                value,
                f"unknown key; allowed keys here: {', '.join(allowed)}",
            )
