"""The controllers of batch workloads, end to end with kubectl on simulated
nodes: the sample set's Job controller runs Jobs whose simulated containers
exit with a chosen code after a chosen time (the hollow nodes'
`wharf.dev/hollow-exit-code` and `wharf.dev/hollow-exit-after`)."""

import re

import pytest

from conftest import Cluster
from test_plugins import eventually, get_json, wait_loaded


def job_manifest(name, code=0, after="1s", **spec):
    """A Job whose pods' containers exit with `code` `after` they start."""
    lines = [f"apiVersion: batch/v1\nkind: Job\nmetadata: {{name: {name}}}\nspec:"]
    lines += [f"  {key}: {value}" for key, value in spec.items()]
    lines.append(
        "  template:\n"
        f"    metadata: {{annotations: {{wharf.dev/hollow-exit-code: '{code}', wharf.dev/hollow-exit-after: '{after}'}}}}\n"
        "    spec: {restartPolicy: Never, containers: [{name: main, image: busybox, command: [sh, -c, work]}]}")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def cluster():
    cluster = Cluster("embedded", ["--sim-nodes", "2"])
    wait_loaded(cluster, "job-controller")
    yield cluster
    cluster.cleanup()


def conditions(cluster, name):
    job = get_json(cluster, "job", name)
    return {c["type"]: c for c in job.get("status", {}).get("conditions", []) if c["status"] == "True"}


def test_a_job_runs_its_completions_and_kubectl_wait_sees_it_complete(cluster):
    cluster.kubectl("apply", "-f", "-", input=job_manifest("batch", completions=3, parallelism=2))
    cluster.kubectl("wait", "--for=condition=complete", "job/batch", "--timeout=90s", timeout=100)
    job = get_json(cluster, "job", "batch")
    status = job["status"]
    assert (status["succeeded"], status.get("failed"), status["active"]) == (3, 0, 0), status
    assert conditions(cluster, "batch")["Complete"]["reason"] == "CompletionsReached"
    assert status["startTime"] <= status["completionTime"], status
    row = cluster.kubectl("get", "job", "batch").stdout.splitlines()
    assert row[0].split()[:3] == ["NAME", "STATUS", "COMPLETIONS"] and row[1].split()[1:3] == ["Complete", "3/3"], row
    pods = get_json(cluster, "pods", "-l", "batch.kubernetes.io/job-name=batch")["items"]
    assert len(pods) == 3 and all(p["status"]["phase"] == "Succeeded" for p in pods), pods
    # Each pod was counted, then let go of the tracking finalizer.
    assert all("batch.kubernetes.io/job-tracking" not in p["metadata"].get("finalizers", []) for p in pods)
    described = cluster.kubectl("describe", "job", "batch").stdout
    assert "Created pod: batch-" in described and "Job completed" in described, described
    # A simulated node keeps no logs, and says so.
    logs = cluster.kubectl("logs", pods[0]["metadata"]["name"], check=False)
    assert logs.returncode != 0 and "is simulated (wharf.dev/hollow)" in logs.stderr, logs.stderr


def test_an_indexed_job_gives_each_pod_its_index(cluster):
    cluster.kubectl("apply", "-f", "-", input=job_manifest(
        "indexed", completions=3, parallelism=3, completionMode="Indexed"))
    cluster.kubectl("wait", "--for=condition=complete", "job/indexed", "--timeout=90s", timeout=100)
    assert get_json(cluster, "job", "indexed")["status"]["completedIndexes"] == "0-2"
    pods = get_json(cluster, "pods", "-l", "batch.kubernetes.io/job-name=indexed")["items"]
    by_index = {p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"]: p for p in pods}
    assert sorted(by_index) == ["0", "1", "2"], by_index.keys()
    one = by_index["1"]
    assert one["metadata"]["name"].startswith("indexed-1-") and one["spec"]["hostname"] == "indexed-1"
    assert one["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"] == "1"
    env = one["spec"]["containers"][0]["env"]
    assert env == [{"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
        "apiVersion": "v1", "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}}], env


def test_a_failing_job_backs_off_then_fails_at_its_backoff_limit(cluster):
    cluster.kubectl("apply", "-f", "-", input=job_manifest("failing", code=1, after="0s", backoffLimit=1))
    cluster.kubectl("wait", "--for=condition=failed", "job/failing", "--timeout=90s", timeout=100)
    failed = conditions(cluster, "failing")["Failed"]
    assert failed["reason"] == "BackoffLimitExceeded", failed
    assert failed["message"] == "Job has reached the specified backoff limit", failed
    status = get_json(cluster, "job", "failing")["status"]
    assert status["failed"] == 2 and status.get("succeeded", 0) == 0, status
    pods = get_json(cluster, "pods", "-l", "batch.kubernetes.io/job-name=failing")["items"]
    # The second pod waited out the 10 s backoff after the first failed.
    finished = sorted(p["status"]["containerStatuses"][0]["state"]["terminated"]["finishedAt"] for p in pods)
    created = sorted(p["metadata"]["creationTimestamp"] for p in pods)
    assert len(pods) == 2 and created[1] >= finished[0], (created, finished)
    events = cluster.kubectl("get", "events", "--field-selector", "involvedObject.name=failing").stdout
    assert "BackoffLimitExceeded" in events, events


def test_a_job_past_its_deadline_fails_and_a_finished_job_goes_after_its_ttl(cluster):
    cluster.kubectl("apply", "-f", "-", input=job_manifest("slow", after="10m", activeDeadlineSeconds=2))
    cluster.kubectl("wait", "--for=condition=failed", "job/slow", "--timeout=60s", timeout=70)
    assert conditions(cluster, "slow")["Failed"]["reason"] == "DeadlineExceeded"

    def no_pods_left():
        assert get_json(cluster, "pods", "-l", "batch.kubernetes.io/job-name=slow")["items"] == []

    eventually(no_pods_left)
    cluster.kubectl("apply", "-f", "-", input=job_manifest("brief", ttlSecondsAfterFinished=2))

    def deleted():
        assert cluster.kubectl("get", "job", "brief", check=False).returncode != 0

    eventually(deleted, timeout=60)


def test_a_suspended_job_runs_nothing_until_resumed(cluster):
    cluster.kubectl("apply", "-f", "-", input=job_manifest("later", after="1s", suspend="true"))

    def suspended():
        assert conditions(cluster, "later")["Suspended"]["reason"] == "JobSuspended"

    eventually(suspended)
    assert get_json(cluster, "pods", "-l", "batch.kubernetes.io/job-name=later")["items"] == []
    cluster.kubectl("patch", "job", "later", "-p", '{"spec":{"suspend":false}}')
    cluster.kubectl("wait", "--for=condition=complete", "job/later", "--timeout=60s", timeout=70)


def test_a_cron_job_starts_jobs_on_its_schedule(cluster):
    cluster.kubectl("apply", "-f", "-", input=(
        "apiVersion: batch/v1\nkind: CronJob\nmetadata: {name: minutely}\n"
        "spec:\n  schedule: '* * * * *'\n  timeZone: Europe/Paris\n  successfulJobsHistoryLimit: 1\n"
        "  jobTemplate:\n    spec:\n      template:\n"
        "        metadata: {annotations: {wharf.dev/hollow-exit-code: '0', wharf.dev/hollow-exit-after: '1s'}}\n"
        "        spec: {restartPolicy: Never, containers: [{name: main, image: busybox}]}\n"))

    def ran():
        status = get_json(cluster, "cronjob", "minutely").get("status", {})
        assert "lastScheduleTime" in status and "lastSuccessfulTime" in status, status
        return status

    status = eventually(ran, timeout=100, interval=1)
    jobs = get_json(cluster, "jobs")["items"]
    started = [j for j in jobs if any(o["name"] == "minutely" for o in j["metadata"].get("ownerReferences", []))]
    assert started and started[0]["metadata"]["annotations"][
        "batch.kubernetes.io/cronjob-scheduled-timestamp"] == status["lastScheduleTime"], started
    assert started[0]["metadata"]["name"].startswith("minutely-"), started
    row = cluster.kubectl("get", "cronjob", "minutely").stdout.splitlines()[1].split()
    assert row[:4] == ["minutely", "*", "*", "*"] and "Europe/Paris" in row, row
    cluster.kubectl("create", "job", "by-hand", "--from=cronjob/minutely")
    cluster.kubectl("wait", "--for=condition=complete", "job/by-hand", "--timeout=60s", timeout=70)

    # kubectl made by-hand the CronJob's (an owner reference): with two
    # successful Jobs and successfulJobsHistoryLimit 1, the older one goes.
    def one_successful_kept():
        owned = [j for j in get_json(cluster, "jobs")["items"]
                 if any(o["name"] == "minutely" for o in j["metadata"].get("ownerReferences", []))]
        complete = [j["metadata"]["name"] for j in owned if any(
            c["type"] == "Complete" and c["status"] == "True" for c in j.get("status", {}).get("conditions", []))]
        assert complete == ["by-hand"] or (len(complete) == 1 and complete[0] != started[0]["metadata"]["name"]), complete
    eventually(one_successful_kept, timeout=60, interval=1)
    cluster.kubectl("patch", "cronjob", "minutely", "-p", '{"spec":{"suspend":true}}')


def test_a_pod_failure_policy_fails_the_job_on_its_exit_code_or_ignores_it(cluster):
    rule = "{rules: [{action: FailJob, onExitCodes: {containerName: main, operator: In, values: [42]}}]}"
    cluster.kubectl("apply", "-f", "-", input=job_manifest("pfp", code=42, after="1s", podFailurePolicy=rule))
    cluster.kubectl("wait", "--for=condition=failed", "job/pfp", "--timeout=60s", timeout=70)
    failed = conditions(cluster, "pfp")["Failed"]
    assert failed["reason"] == "PodFailurePolicy", failed
    assert re.fullmatch(r"Container main for pod default/pfp-[a-z0-9]{5} failed with exit code 42 matching FailJob rule at index 0",
                        failed["message"]), failed
    assert get_json(cluster, "job", "pfp")["status"]["failed"] == 1

    ignore = "{rules: [{action: Ignore, onExitCodes: {operator: In, values: [3]}}]}"
    cluster.kubectl("apply", "-f", "-", input=job_manifest("ign", code=3, after="1s", backoffLimit=0, podFailurePolicy=ignore))

    def replaced_without_counting():
        pods = get_json(cluster, "pods", "-l", "batch.kubernetes.io/job-name=ign")["items"]
        assert len(pods) >= 3, len(pods)
        status = get_json(cluster, "job", "ign")["status"]
        assert status.get("failed", 0) == 0 and "Failed" not in conditions(cluster, "ign"), status

    eventually(replaced_without_counting, timeout=60)
    cluster.kubectl("delete", "job", "ign")


def test_indexes_fail_on_their_own_limit_and_a_success_policy_completes_early(cluster):
    cluster.kubectl("apply", "-f", "-", input=job_manifest(
        "perindex", code=1, after="0s", completions=3, parallelism=3, completionMode="Indexed",
        backoffLimitPerIndex=0, maxFailedIndexes=1))
    cluster.kubectl("wait", "--for=condition=failed", "job/perindex", "--timeout=60s", timeout=70)
    assert conditions(cluster, "perindex")["Failed"]["reason"] == "MaxFailedIndexesExceeded"
    assert get_json(cluster, "job", "perindex")["status"]["failedIndexes"] != ""

    cluster.kubectl("apply", "-f", "-", input=job_manifest(
        "early", code=0, after="1s", completions=3, parallelism=3, completionMode="Indexed",
        successPolicy="{rules: [{succeededIndexes: '0'}]}"))
    cluster.kubectl("wait", "--for=condition=complete", "job/early", "--timeout=60s", timeout=70)
    complete = conditions(cluster, "early")["Complete"]
    assert complete["reason"] == "SuccessPolicy" and complete["message"] == "Matched rules at index 0", complete
