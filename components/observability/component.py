"""The Observability component: the charts (when installed), monitors, alert rules, dashboards
and the OTLP egress policy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.graph import ServicePort
from components.kube import kube
from components.network import namespace_traffic_spec
from components.observability.args import (
    DASHBOARD_FOLDER,
    DASHBOARD_FOLDER_ANNOTATION,
    DASHBOARD_LABEL,
    MONITORING_API,
    OTLP_GRPC,
    OTLP_HTTP,
    TIER,
    TOKEN,
    ObservabilityArgs,
    monitor_labels,
)
from components.observability.pipeline_values import agent_values, collector_values, loki_values
from components.observability.rules import alert_groups, load_dashboards
from components.observability.stack_values import (
    kube_prometheus_stack_values,
    metrics_adapter_values,
)
from components.observability.targets import monitor_spec
from components.scrape import ScrapeTarget
from components.secrets import CredentialArgs, Credentials
from components.workload import Manifest


def otlp_egress_spec(monitoring_namespace: str) -> Manifest:
    """Every platform pod may send OTLP to the collector in the monitoring namespace."""
    otlp = (ServicePort("otlp", OTLP_GRPC), ServicePort("otlp-http", OTLP_HTTP))
    return namespace_traffic_spec("Egress", monitoring_namespace, otlp)


def namespace_labels(args: ObservabilityArgs) -> dict[str, str]:
    """The monitoring namespace: the log agent and node exporter mount host paths, which only
    the `privileged` Pod Security level admits; audit and warn keep reporting against baseline."""
    host_access = args.logs.backend != "none" or args.stack.node_exporter
    return {
        **args.platform.labels("monitoring", TIER),
        "pod-security.kubernetes.io/enforce": "privileged" if host_access else "baseline",
        "pod-security.kubernetes.io/audit": "baseline",
        "pod-security.kubernetes.io/warn": "baseline",
    }


class Observability(pulumi.ComponentResource):
    """Monitoring charts (when installed), monitors, alert rules, dashboards, OTLP egress."""

    def __init__(
        self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TOKEN, name, None, opts)
        platform, names = args.platform, args.names
        labels = monitor_labels(args)
        protect = platform.protect_data
        guarded = pulumi.ResourceOptions(parent=self, protect=protect, retain_on_delete=protect)
        dashboards = load_dashboards(args.dashboards_dir)
        rules_text = args.alerts_file.read_text()

        monitoring: pulumi.Input[str] = args.namespace
        crd_source: list[pulumi.Resource] = []
        namespace_deps: list[pulumi.Resource] = []
        self.releases: dict[str, k8s.helm.v3.Release] = {}
        self.grafana_service: str | None = None
        self.grafana_admin_secret: str | None = None
        self.prometheus_service: str | None = None
        self.alertmanager_service: str | None = None
        targets = list(args.scrape_targets)
        if args.install:
            ns = kube(
                k8s.core.v1.Namespace,
                f"{name}-namespace",
                metadata={"name": args.namespace, "labels": namespace_labels(args)},
                opts=guarded,
            )
            monitoring = ns.metadata.name
            namespace_deps = [ns]
            # Generated (or read from the external store) like every other credential.
            admin = Credentials(
                f"{name}-grafana-admin",
                CredentialArgs(
                    platform=replace(platform, namespace=monitoring),
                    component="grafana",
                    secret_name=names.grafana_admin_secret,
                    generated=("admin-password",),
                    fixed={"admin-user": "admin"},
                ),
                pulumi.ResourceOptions(parent=self, depends_on=[ns]),
            )

            def release(
                logical: str,
                chart: str,
                release_name: str,
                values: Mapping[str, Any],
                after: Sequence[pulumi.Resource] = (),
            ) -> k8s.helm.v3.Release:
                pin = args.charts[chart]
                created = k8s.helm.v3.Release(
                    f"{name}-{logical}",
                    name=release_name,
                    chart=chart,
                    version=pin.version,
                    repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=pin.repo),
                    namespace=monitoring,
                    create_namespace=False,
                    values=dict(values),
                    timeout=900,
                    max_history=10,
                    opts=pulumi.ResourceOptions(parent=self, depends_on=[ns, *after]),
                )
                self.releases[logical] = created
                return created

            stack = release(
                "kube-prometheus-stack",
                "kube-prometheus-stack",
                names.stack,
                kube_prometheus_stack_values(args),
                [admin],
            )
            crd_source = [stack]
            collector = "opentelemetry-collector"
            release("otel-collector", collector, names.collector, collector_values(args))
            store: list[pulumi.Resource] = []
            if args.logs.backend == "loki":
                store = [release("loki", "loki", names.loki, loki_values(args))]
            if args.logs.backend != "none":
                release("otel-agent", collector, names.agent, agent_values(args), store)
            if args.metrics_adapter is not None:
                release(
                    "metrics-adapter",
                    "prometheus-adapter",
                    names.metrics_adapter,
                    metrics_adapter_values(args),
                    [stack],
                )
            collector_selector = {
                "app.kubernetes.io/name": "opentelemetry-collector",
                "app.kubernetes.io/instance": names.collector,
            }
            targets += [
                ScrapeTarget(
                    component="otel-collector",
                    selector=collector_selector,
                    port="prom-exporter",
                    kind="service",
                    namespace=monitoring,
                    name=f"{names.collector}-exported",
                    honor_labels=True,
                ),
                ScrapeTarget(
                    component="otel-collector",
                    selector=collector_selector,
                    port="metrics",
                    kind="service",
                    namespace=monitoring,
                    name=names.collector,
                ),
            ]
            self.grafana_service = names.grafana
            self.grafana_admin_secret = names.grafana_admin_secret
            self.prometheus_service = names.prometheus_service
            self.alertmanager_service = names.alertmanager_service

        # Custom resources wait for the release that installs their CRDs.
        cr_opts = pulumi.ResourceOptions(parent=self, depends_on=crd_source)
        interval = args.prometheus.scrape_interval
        self.monitors: list[str] = []
        for target in targets:
            object_name = target.name or platform.name(target.component)
            metadata = platform.metadata(target.component, name=object_name, tier=TIER)
            metadata["labels"] = {**metadata["labels"], **labels}
            metadata["namespace"] = (
                target.namespace if target.namespace is not None else platform.namespace
            )
            kube(
                k8s.apiextensions.CustomResource,
                f"{name}-{target.monitor_kind.lower()}-{object_name}",
                api_version=MONITORING_API,
                kind=target.monitor_kind,
                metadata=metadata,
                spec=monitor_spec(target, interval),
                opts=cr_opts,
            )
            self.monitors.append(f"{target.monitor_kind}/{object_name}")

        rules_meta = platform.metadata("alerts", tier=TIER)
        rules_meta["labels"] = {**rules_meta["labels"], **labels}
        kube(
            k8s.apiextensions.CustomResource,
            f"{name}-alerts",
            api_version=MONITORING_API,
            kind="PrometheusRule",
            metadata=rules_meta,
            spec=pulumi.Output.from_input(platform.namespace).apply(
                lambda ns: {
                    "groups": alert_groups(
                        rules_text,
                        args.alerts,
                        namespace=ns,
                        release=platform.release,
                        kv_bucket=args.kv_bucket,
                    )
                }
            ),
            opts=cr_opts,
        )

        dashboard_opts = pulumi.ResourceOptions(parent=self, depends_on=namespace_deps)
        self.dashboards: list[str] = []
        for dashboard in dashboards:
            object_name = platform.name(f"dashboard-{dashboard.stem}")
            kube(
                k8s.core.v1.ConfigMap,
                f"{name}-dashboard-{dashboard.stem}",
                metadata={
                    "name": object_name,
                    "namespace": monitoring,
                    "labels": {
                        **platform.labels(f"dashboard-{dashboard.stem}", TIER),
                        DASHBOARD_LABEL[0]: DASHBOARD_LABEL[1],
                    },
                    "annotations": {DASHBOARD_FOLDER_ANNOTATION: DASHBOARD_FOLDER},
                },
                data={f"{dashboard.stem}.json": dashboard.text},
                opts=dashboard_opts,
            )
            self.dashboards.append(object_name)

        if platform.otlp_endpoint is not None:
            kube(
                k8s.networking.v1.NetworkPolicy,
                f"{name}-otlp-egress",
                metadata=platform.metadata("otlp-egress", tier=TIER),
                spec=otlp_egress_spec(args.namespace),
                opts=pulumi.ResourceOptions(parent=self),
            )

        self.register_outputs(
            {
                "namespace": monitoring,
                "otlpEndpoint": platform.otlp_endpoint,
                "monitors": self.monitors,
                "dashboards": self.dashboards,
                "grafanaService": self.grafana_service,
                "grafanaAdminSecret": self.grafana_admin_secret,
                "prometheusService": self.prometheus_service,
                "alertmanagerService": self.alertmanager_service,
            }
        )
