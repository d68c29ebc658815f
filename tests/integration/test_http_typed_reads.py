"""What the official Python client's typed models need to read back (both backends): a
deleted Service comes back as a V1Service, a ReplicaSet's status has its replicas, and a
Job created without labels carries its template's generated labels."""

from __future__ import annotations

import kubernetes.client
import pytest

NAMESPACES = ("typed",)


@pytest.fixture
def api_client(apiserver):
    configuration = kubernetes.client.Configuration(host=apiserver.url)
    with kubernetes.client.ApiClient(configuration) as client:
        yield client


def test_delete_service_returns_the_service(api_client):
    core = kubernetes.client.CoreV1Api(api_client)
    service = kubernetes.client.V1Service(
        metadata=kubernetes.client.V1ObjectMeta(name="typed-svc"),
        spec=kubernetes.client.V1ServiceSpec(selector={"app": "x"}, ports=[kubernetes.client.V1ServicePort(port=80)]),
    )
    created = core.create_namespaced_service("typed", service)
    deleted = core.delete_namespaced_service("typed-svc", "typed")
    assert isinstance(deleted, kubernetes.client.V1Service)
    assert deleted.metadata.uid == created.metadata.uid and deleted.spec.cluster_ip == created.spec.cluster_ip


def _template(labels=None):
    return kubernetes.client.V1PodTemplateSpec(
        metadata=kubernetes.client.V1ObjectMeta(labels=labels),
        spec=kubernetes.client.V1PodSpec(
            restart_policy="Never" if labels is None else None,
            containers=[kubernetes.client.V1Container(name="c", image="busybox")],
        ),
    )


def test_replica_set_reads_back_with_status_replicas(api_client):
    apps = kubernetes.client.AppsV1Api(api_client)
    rs = kubernetes.client.V1ReplicaSet(
        metadata=kubernetes.client.V1ObjectMeta(name="typed-rs"),
        spec=kubernetes.client.V1ReplicaSetSpec(
            selector=kubernetes.client.V1LabelSelector(match_labels={"app": "rs"}), template=_template({"app": "rs"})
        ),
    )
    created = apps.create_namespaced_replica_set("typed", rs)
    assert created.status.replicas == 0
    assert apps.read_namespaced_replica_set("typed-rs", "typed").status.replicas == 0
    assert apps.list_namespaced_replica_set("typed").items[0].status.replicas == 0


def test_job_created_without_labels_has_its_template_labels(api_client):
    batch = kubernetes.client.BatchV1Api(api_client)
    job = kubernetes.client.V1Job(metadata=kubernetes.client.V1ObjectMeta(name="typed-job"),
                                  spec=kubernetes.client.V1JobSpec(template=_template()))
    created = batch.create_namespaced_job("typed", job)
    uid = created.metadata.uid
    assert created.metadata.labels == {
        "batch.kubernetes.io/controller-uid": uid, "batch.kubernetes.io/job-name": "typed-job",
        "controller-uid": uid, "job-name": "typed-job",
    }
    assert batch.read_namespaced_job("typed-job", "typed").metadata.labels == created.metadata.labels
