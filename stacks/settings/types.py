"""Validated building blocks of the settings models: quantities, names, images, sizes."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, model_validator
from pydantic.alias_generators import to_camel

from components import quantities
from components.naming import is_dns_label
from components.workload import Autoscaling, Resources


class Model(BaseModel):
    """Frozen, camelCase in YAML, and unknown keys rejected so a typo never passes silently."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


def _as_text(value: Any) -> Any:
    # YAML turns `cpu: 1` into an int; quantities are strings to Kubernetes.
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


def _cpu(value: str) -> str:
    if quantities.parse_cpu(value) <= 0:
        raise ValueError(f"must be more than zero ({quantities.CPU_FORMAT})")
    return value


def _bytes(value: str) -> str:
    count = quantities.parse_bytes(value)
    if value.strip().isdigit():
        # A bare number is bytes to Kubernetes: `size: 10` would be a 10-byte volume.
        raise ValueError(f"needs a unit: {quantities.BYTES_FORMAT}")
    if count <= 0:
        raise ValueError(f"must be more than zero: {quantities.BYTES_FORMAT}")
    return value


def _metric_value(value: str) -> str:
    quantities.parse_bytes(value)  # the same grammar, unit optional: `50`, `100`, `1k`
    return value


DNS_LABEL_RULE = (
    "a DNS-1123 label: lower-case letters, digits and '-', "
    "starting and ending with a letter or digit, at most 63 characters"
)


def _dns_label(value: str) -> str:
    if not is_dns_label(value):
        raise ValueError(f"must be {DNS_LABEL_RULE}")
    return value


_IMAGE = re.compile(
    r"^(?P<repo>[a-z0-9]+([._/-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*)"
    r"(:(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?(@sha256:[a-f0-9]{64})?$"
)


def _image(value: str) -> str:
    match = _IMAGE.match(value)
    if not match or (match["tag"] is None and "@sha256:" not in value):
        raise ValueError(
            "must be an image reference pinned by tag or digest, e.g. nats:2.11.6-alpine"
        )
    if match["tag"] == "latest":
        raise ValueError("must not use the moving tag 'latest'; pin a version")
    return value


CpuQuantity = Annotated[str, BeforeValidator(_as_text), AfterValidator(_cpu)]
ByteQuantity = Annotated[str, BeforeValidator(_as_text), AfterValidator(_bytes)]
# An HPA target value: a plain quantity, e.g. 50 requests per second.
MetricValue = Annotated[str, BeforeValidator(_as_text), AfterValidator(_metric_value)]
DnsLabel = Annotated[str, AfterValidator(_dns_label)]


def _namespace_name(value: str) -> str:
    if not is_dns_label(value):
        raise ValueError(f"must be a namespace name, {DNS_LABEL_RULE}")
    return value


# Every setting that names a Kubernetes namespace (the platform's, the monitoring one, Istio's):
# one type, one message. tests/test_config.py finds every `*namespace` field and checks it is this.
NamespaceName = Annotated[str, AfterValidator(_namespace_name)]
ImageRef = Annotated[str, AfterValidator(_image)]


class ResourceSettings(Model):
    """Container requests and limits; a request above its limit is rejected."""

    cpu_request: CpuQuantity
    memory_request: ByteQuantity
    cpu_limit: CpuQuantity
    memory_limit: ByteQuantity

    @model_validator(mode="after")
    def _requests_within_limits(self) -> ResourceSettings:
        if quantities.parse_cpu(self.cpu_request) > quantities.parse_cpu(self.cpu_limit):
            raise ValueError(
                f"cpuRequest {self.cpu_request} exceeds cpuLimit {self.cpu_limit}; "
                "a request must not exceed its limit"
            )
        if quantities.parse_bytes(self.memory_request) > quantities.parse_bytes(self.memory_limit):
            raise ValueError(
                f"memoryRequest {self.memory_request} exceeds memoryLimit {self.memory_limit}; "
                "a request must not exceed its limit"
            )
        return self

    def build(self) -> Resources:
        return Resources(self.cpu_request, self.memory_request, self.cpu_limit, self.memory_limit)


Percent = Annotated[int, AfterValidator(lambda v: _in_range(v, 1, 100, "a percentage"))]


def _in_range(value: int, low: int, high: int, what: str) -> int:
    if not low <= value <= high:
        raise ValueError(f"must be {what} between {low} and {high}")
    return value


Window = Annotated[int, AfterValidator(lambda v: _in_range(v, 0, 3600, "a window in seconds"))]
Port = Annotated[int, AfterValidator(lambda v: _in_range(v, 1, 65535, "a port number"))]


class AutoscalingSettings(Model):
    """A HorizontalPodAutoscaler; min must not exceed max, targets are 1-100%."""

    min_replicas: Annotated[int, AfterValidator(lambda v: _in_range(v, 1, 1000, "a count"))]
    max_replicas: Annotated[int, AfterValidator(lambda v: _in_range(v, 1, 1000, "a count"))]
    cpu_percent: Percent | None = None
    memory_percent: Percent | None = None
    pods_metrics: dict[str, MetricValue] = {}
    external_metrics: dict[str, MetricValue] = {}
    # The API server accepts stabilization windows of 0 to 3600 seconds.
    scale_up_window_seconds: Window | None = None
    scale_down_window_seconds: Window | None = None

    @model_validator(mode="after")
    def _range(self) -> AutoscalingSettings:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"minReplicas {self.min_replicas} is above maxReplicas {self.max_replicas}; "
                "minReplicas must be at most maxReplicas"
            )
        if not (
            self.cpu_percent or self.memory_percent or self.pods_metrics or self.external_metrics
        ):
            raise ValueError(
                "needs at least one metric (cpuPercent, memoryPercent, pods or external)"
            )
        return self

    def build(self) -> Autoscaling:
        return Autoscaling(
            min_replicas=self.min_replicas,
            max_replicas=self.max_replicas,
            cpu_percent=self.cpu_percent,
            memory_percent=self.memory_percent,
            pods_metrics=dict(self.pods_metrics),
            external_metrics=dict(self.external_metrics),
            scale_up_window=self.scale_up_window_seconds,
            scale_down_window=self.scale_down_window_seconds,
        )


def positive(what: str = "a count") -> AfterValidator:
    return AfterValidator(lambda v: _in_range(v, 1, 10_000, what))
