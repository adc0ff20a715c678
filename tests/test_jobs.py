"""Every Job and CronJob of every stack comes out of the one builder (components/jobs.py): its
own ServiceAccount without an API token, a NetworkPolicy selecting its pods, restricted pods
that never restart in place, and (Jobs) a failed run re-run on the next update."""

from __future__ import annotations

from tests.helpers import manifest
from tools.offline import Recording


def test_every_job_and_cron_job_has_its_identity_policy_and_batch_pod(stack: Recording) -> None:
    batch = [*stack.of_kind("Job"), *stack.of_kind("CronJob")]
    assert {r.kind for r in batch} == {"Job", "CronJob"}
    for resource in batch:
        body = resource.manifest()
        name = body["metadata"]["name"]
        spec = body["spec"]["jobTemplate"]["spec"] if resource.kind == "CronJob" else body["spec"]
        template = spec["template"]
        pod = template["spec"]
        assert pod["serviceAccountName"] == name
        account = manifest(stack, "ServiceAccount", name)
        assert account["automountServiceAccountToken"] is False
        assert pod["automountServiceAccountToken"] is False
        assert pod["restartPolicy"] == "Never"
        assert pod["securityContext"]["runAsNonRoot"] is True
        policy = manifest(stack, "NetworkPolicy", name)["spec"]
        assert policy["policyTypes"] == ["Ingress", "Egress"]
        selector = policy["podSelector"]["matchLabels"]
        assert selector.items() <= template["metadata"]["labels"].items(), name
        assert spec["backoffLimit"] >= 1 and spec["activeDeadlineSeconds"] > 0
        if resource.kind == "Job":
            assert body["metadata"]["annotations"]["pulumi.com/replaceUnready"] == "true"
        else:
            assert body["spec"]["concurrencyPolicy"] == "Forbid"
            assert body["spec"]["timeZone"] == "Etc/UTC"
