"""Settings of the `secrets` key: where credentials come from."""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from stacks.settings.types import DnsLabel, Model


class SecretsSettings(Model):
    """`generated`: pulumi_random passwords kept as Pulumi secrets. `external`: ExternalSecret
    objects read them from the ClusterSecretStore `store` (External Secrets Operator)."""

    mode: Literal["generated", "external"]
    store: DnsLabel | None = None

    @model_validator(mode="after")
    def _store_for_external(self) -> SecretsSettings:
        if self.mode == "external" and not self.store:
            raise ValueError(
                "mode external needs `store`: the name of the ClusterSecretStore to read from"
            )
        return self

    @property
    def external_store(self) -> str | None:
        return self.store if self.mode == "external" else None
