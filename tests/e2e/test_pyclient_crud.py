"""The official ``kubernetes`` Python client (37.x, strict pydantic models): typed CRUD on
CoreV1Api, AppsV1Api (+scale), BatchV1Api, CoordinationV1Api, SchedulingV1Api; list with
label/field selectors and limit/_continue paging; strategic-merge patch by default."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

NS = "default"


def meta(name: str, **fields) -> client.V1ObjectMeta:
    return client.V1ObjectMeta(name=name, **fields)


def pod_body(name: str, labels: dict | None = None, node: str | None = None, **spec) -> client.V1Pod:
    return client.V1Pod(
        api_version="v1", kind="Pod", metadata=meta(name, labels=labels),
        spec=client.V1PodSpec(containers=[client.V1Container(name="app", image="nginx:1.25")], node_name=node, **spec),
    )


def status_of(call) -> tuple[int, dict]:
    with pytest.raises(ApiException) as info:
        call()
    return info.value.status, json.loads(info.value.body or "{}")


@pytest.fixture
def core(api_client):
    return client.CoreV1Api(api_client)


@pytest.fixture
def apps(api_client):
    return client.AppsV1Api(api_client)


# --------------------------------------------------------------------------- core/v1


def test_namespaces_crud(core, unique):
    names = {ns.metadata.name for ns in core.list_namespace().items}
    assert {"default", "kube-system", "kube-public", "kube-node-lease"} <= names
    name = unique("pyns")
    created = core.create_namespace(client.V1Namespace(metadata=meta(name, labels={"team": "e2e"})))
    assert created.metadata.name == name and created.status.phase == "Active"
    assert created.metadata.labels["kubernetes.io/metadata.name"] == name  # set by the API server
    assert created.spec.finalizers == ["kubernetes"]
    assert core.read_namespace(name).metadata.uid == created.metadata.uid
    listed = core.list_namespace(label_selector="team=e2e").items
    assert [ns.metadata.name for ns in listed] == [name]
    core.delete_namespace(name)
    code, body = status_of(lambda: core.create_namespaced_config_map(name, client.V1ConfigMap(metadata=meta("x"))))
    assert code in (403, 404), body  # terminating (Forbidden) or already gone (NotFound)


def test_pods_crud_defaults_and_subresources(core, unique):
    name = unique("pypod")
    created = core.create_namespaced_pod(NS, pod_body(name, {"app": name}))
    assert created.metadata.namespace == NS and created.metadata.uid and created.metadata.creation_timestamp
    assert isinstance(created.metadata.resource_version, str)
    assert created.status.phase == "Pending" and created.status.qos_class == "BestEffort"
    spec = created.spec
    assert (spec.restart_policy, spec.dns_policy, spec.scheduler_name, spec.termination_grace_period_seconds) == (
        "Always", "ClusterFirst", "default-scheduler", 30)
    container = spec.containers[0]
    assert (container.image_pull_policy, container.termination_message_path, container.termination_message_policy) == (
        "IfNotPresent", "/dev/termination-log", "File")

    patched = core.patch_namespaced_pod(name, NS, {"metadata": {"labels": {"patched": "yes"}}})
    assert patched.metadata.labels == {"app": name, "patched": "yes"}
    # strategic merge by default: a container list patch merges by name
    patched = core.patch_namespaced_pod(name, NS, {"spec": {"containers": [{"name": "app", "image": "nginx:1.26"}]}})
    assert [(c.name, c.image) for c in patched.spec.containers] == [("app", "nginx:1.26")]

    # The main resource ignores status; /status ignores everything but status.
    current = core.read_namespaced_pod(name, NS)
    current.status.phase = "Running"
    replaced = core.replace_namespaced_pod(name, NS, current)
    assert replaced.status.phase == "Pending"
    updated = core.patch_namespaced_pod_status(name, NS, {"status": {"phase": "Running"}, "spec": {"activeDeadlineSeconds": 5}})
    assert updated.status.phase == "Running" and updated.spec.active_deadline_seconds is None

    binding = client.V1Binding(metadata=meta(name), target=client.V1ObjectReference(kind="Node", name="py-node-1"))
    response = core.create_namespaced_pod_binding(name, NS, binding, _preload_content=False)
    assert response.status == 201
    assert core.read_namespaced_pod(name, NS).spec.node_name == "py-node-1"
    code, body = status_of(lambda: core.create_namespaced_pod_binding(name, NS, binding, _preload_content=False))
    assert code == 409 and body["reason"] == "Conflict", body

    unbound = unique("pypod-unbound")
    core.create_namespaced_pod(NS, pod_body(unbound))
    core.delete_namespaced_pod(unbound, NS)
    code, body = status_of(lambda: core.read_namespaced_pod(unbound, NS))
    assert code == 404 and body["reason"] == "NotFound" and body["details"] == {"name": unbound, "kind": "pods"}, body


def test_legacy_bindings_collection(core, unique):
    """create_namespaced_binding POSTs to /api/v1/namespaces/{ns}/bindings (the Binding's
    metadata.name names the pod).  Its answer is a Status, as upstream's, which the client's
    V1Binding model cannot hold: read it raw."""
    name = unique("pybind")
    core.create_namespaced_pod(NS, pod_body(name))
    binding = client.V1Binding(metadata=meta(name), target=client.V1ObjectReference(kind="Node", name="py-node-3"))
    response = core.create_namespaced_binding(NS, binding, _preload_content=False)
    assert response.status == 201 and json.loads(response.data)["status"] == "Success"
    pod = core.read_namespaced_pod(name, NS)
    assert pod.spec.node_name == "py-node-3"
    assert [(c.type, c.status) for c in pod.status.conditions] == [("PodScheduled", "True")]
    code, body = status_of(lambda: core.create_namespaced_binding(NS, binding, _preload_content=False))
    assert code == 409 and body["reason"] == "Conflict", body
    resources = {r.name: r for r in core.get_api_resources().resources}
    assert resources["bindings"].verbs == ["create"] and resources["bindings"].kind == "Binding"


def test_bound_pod_deletion_is_graceful(core, unique):
    name = unique("pygrace")
    core.create_namespaced_pod(NS, pod_body(name, node="py-node-2"))
    deleted = core.delete_namespaced_pod(name, NS)
    # Bound to a node: marked for deletion (the kubelet finishes it), not removed at once.
    assert deleted.metadata.deletion_timestamp is not None
    assert deleted.metadata.deletion_grace_period_seconds == 30
    assert core.read_namespaced_pod(name, NS).metadata.deletion_timestamp is not None
    core.delete_namespaced_pod(name, NS, grace_period_seconds=0)
    assert status_of(lambda: core.read_namespaced_pod(name, NS))[0] == 404


def test_configmaps_crud_and_conflict(core, unique):
    name = unique("pycm")
    created = core.create_namespaced_config_map(NS, client.V1ConfigMap(metadata=meta(name), data={"a": "1"}))
    assert created.data == {"a": "1"} and created.kind in (None, "ConfigMap")
    stale_version = created.metadata.resource_version
    created.data["a"] = "2"
    replaced = core.replace_namespaced_config_map(name, NS, created)
    assert replaced.data == {"a": "2"} and int(replaced.metadata.resource_version) > int(stale_version)
    created.metadata.resource_version = stale_version
    code, body = status_of(lambda: core.replace_namespaced_config_map(name, NS, created))
    assert code == 409 and body["reason"] == "Conflict", body
    code, body = status_of(lambda: core.create_namespaced_config_map(NS, client.V1ConfigMap(metadata=meta(name))))
    assert code == 409 and body["reason"] == "AlreadyExists", body
    generated = core.create_namespaced_config_map(NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(generate_name=f"{name}-")))
    assert generated.metadata.name.startswith(f"{name}-") and len(generated.metadata.name) == len(name) + 6
    core.delete_namespaced_config_map(name, NS)
    assert status_of(lambda: core.read_namespaced_config_map(name, NS))[0] == 404


def test_secrets_string_data_merged_into_data(core, unique):
    name = unique("pysecret")
    secret = core.create_namespaced_secret(NS, client.V1Secret(
        metadata=meta(name), data={"kept": base64.b64encode(b"old").decode()}, string_data={"user": "admin"},
    ))
    assert secret.type == "Opaque"
    assert secret.data == {"kept": base64.b64encode(b"old").decode(), "user": base64.b64encode(b"admin").decode()}
    assert secret.string_data is None  # never stored
    found = core.list_namespaced_secret(NS, field_selector=f"type=Opaque,metadata.name={name}").items
    assert [s.metadata.name for s in found] == [name]
    core.delete_namespaced_secret(name, NS)


def test_services_allocate_and_release(core, unique):
    name = unique("pysvc")
    port = client.V1ServicePort(port=80, target_port=8080)
    svc = core.create_namespaced_service(NS, client.V1Service(
        metadata=meta(name), spec=client.V1ServiceSpec(selector={"app": name}, ports=[port]),
    ))
    cluster_ip = svc.spec.cluster_ip
    ipaddress.ip_address(cluster_ip)
    assert svc.spec.type == "ClusterIP" and svc.spec.cluster_ips == [cluster_ip]
    assert svc.spec.ports[0].protocol == "TCP" and svc.spec.ports[0].target_port == 8080

    nodeport = core.create_namespaced_service(NS, client.V1Service(
        metadata=meta(f"{name}-np"), spec=client.V1ServiceSpec(type="NodePort", ports=[client.V1ServicePort(port=80)]),
    ))
    node_port = nodeport.spec.ports[0].node_port
    assert 30000 <= node_port <= 32767 and nodeport.spec.ports[0].target_port == 80

    # Taking an allocated IP / port again is refused while held, and works once released.
    clash = client.V1Service(metadata=meta(f"{name}-clash"), spec=client.V1ServiceSpec(cluster_ip=cluster_ip, ports=[port]))
    code, body = status_of(lambda: core.create_namespaced_service(NS, clash))
    assert code == 422 and body["reason"] == "Invalid", body
    core.delete_namespaced_service(name, NS)
    reused = core.create_namespaced_service(NS, clash)
    assert reused.spec.cluster_ip == cluster_ip
    core.delete_namespaced_service(f"{name}-np", NS)
    again = core.create_namespaced_service(NS, client.V1Service(
        metadata=meta(f"{name}-np2"),
        spec=client.V1ServiceSpec(type="NodePort", ports=[client.V1ServicePort(port=80, node_port=node_port)]),
    ))
    assert again.spec.ports[0].node_port == node_port


def test_nodes_crud_status_and_field_selector(core, unique):
    name = unique("pynode")
    node = core.create_node(client.V1Node(metadata=meta(name, labels={"e2e": name})))
    assert node.metadata.namespace is None
    core.patch_node(name, {"spec": {"unschedulable": True}})
    status = core.patch_node_status(name, {"status": {"conditions": [
        {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "ok",
         "lastHeartbeatTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"},
    ]}})
    assert [(c.type, c.status) for c in status.status.conditions] == [("Ready", "True")]
    assert [n.metadata.name for n in core.list_node(field_selector="spec.unschedulable=true", label_selector=f"e2e={name}").items] == [name]
    assert core.list_node(field_selector="spec.unschedulable=false", label_selector=f"e2e={name}").items == []
    core.delete_node(name)
    assert status_of(lambda: core.read_node(name))[0] == 404


def test_events_create_and_field_selectors(core, unique):
    name = unique("pyev")
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    event = core.create_namespaced_event(NS, client.CoreV1Event(
        metadata=meta(f"{name}.1"),
        involved_object=client.V1ObjectReference(kind="Pod", namespace=NS, name=name),
        reason="PyTesting", message="hello", type="Warning", count=1, first_timestamp=now, last_timestamp=now,
    ))
    assert event.last_timestamp == now
    for selector in (f"involvedObject.name={name}", f"involvedObject.name={name},reason=PyTesting,type=Warning",
                     f"involvedObject.kind=Pod,involvedObject.name={name}"):
        assert [e.metadata.name for e in core.list_namespaced_event(NS, field_selector=selector).items] == [f"{name}.1"], selector
    assert core.list_namespaced_event(NS, field_selector=f"involvedObject.name={name},type=Normal").items == []
    core.delete_namespaced_event(f"{name}.1", NS)


def test_list_label_and_field_selectors(core, unique):
    app = unique("pysel")
    for suffix, labels, node in (("a", {"tier": "front"}, "sel-node"), ("b", {"tier": "back"}, None), ("c", {}, None)):
        core.create_namespaced_pod(NS, pod_body(f"{app}-{suffix}", {"app": app, **labels}, node=node))

    def names(**kwargs):
        return sorted(p.metadata.name for p in core.list_namespaced_pod(NS, **kwargs).items)

    assert names(label_selector=f"app={app}") == [f"{app}-a", f"{app}-b", f"{app}-c"]
    assert names(label_selector=f"app={app},tier in (front,back)") == [f"{app}-a", f"{app}-b"]
    assert names(label_selector=f"app={app},!tier") == [f"{app}-c"]
    assert names(label_selector=f"app={app},tier notin (front)") == [f"{app}-b", f"{app}-c"]
    assert names(label_selector=f"app={app}", field_selector="spec.nodeName=sel-node") == [f"{app}-a"]
    assert names(label_selector=f"app={app}", field_selector="spec.nodeName=") == [f"{app}-b", f"{app}-c"]
    assert names(label_selector=f"app={app}", field_selector=f"metadata.name!={app}-a,status.phase=Pending") == [f"{app}-b", f"{app}-c"]
    every_namespace = core.list_pod_for_all_namespaces(label_selector=f"app={app}", field_selector="metadata.namespace=default")
    assert len(every_namespace.items) == 3
    code, body = status_of(lambda: core.list_namespaced_pod(NS, field_selector="spec.bogus=1"))
    assert code == 400 and body["reason"] == "BadRequest", body


def test_list_paging_with_limit_and_continue(core, unique):
    app = unique("pypage")
    expected = sorted(f"{app}-{i}" for i in range(5))
    for name in expected:
        core.create_namespaced_config_map(NS, client.V1ConfigMap(metadata=meta(name, labels={"app": app})))
    first = core.list_namespaced_config_map(NS, label_selector=f"app={app}", limit=2)
    assert len(first.items) == 2 and first.metadata._continue
    version = first.metadata.resource_version
    core.create_namespaced_config_map(NS, client.V1ConfigMap(metadata=meta(f"{app}-9", labels={"app": app})))
    seen = [cm.metadata.name for cm in first.items]
    token = first.metadata._continue
    while token:
        page = core.list_namespaced_config_map(NS, label_selector=f"app={app}", limit=2, _continue=token)
        assert page.metadata.resource_version == version  # one consistent snapshot
        seen += [cm.metadata.name for cm in page.items]
        token = page.metadata._continue
    assert seen == expected  # key order, and the object created mid-paging is not in this snapshot
    empty = core.list_namespaced_config_map(NS, label_selector=f"app={app}-none")
    assert empty.items == [] and empty.metadata._continue is None


def test_priority_class_resolved_on_pod_create(api_client, core, unique):
    scheduling = client.SchedulingV1Api(api_client)
    name = unique("pyprio")
    scheduling.create_priority_class(client.V1PriorityClass(metadata=meta(name), value=1000, description="e2e"))
    pod = core.create_namespaced_pod(NS, pod_body(name, priority_class_name=name))
    assert pod.spec.priority == 1000
    code, body = status_of(lambda: core.create_namespaced_pod(NS, pod_body(f"{name}-x", priority_class_name="no-such-class")))
    assert code == 403 and body["reason"] == "Forbidden", body
    scheduling.delete_priority_class(name)


# --------------------------------------------------------------------------- apps/v1


def deployment_body(name: str, replicas: int = 1) -> client.V1Deployment:
    labels = {"app": name}
    return client.V1Deployment(
        metadata=meta(name, labels=labels),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=meta(None, labels=labels),
                spec=client.V1PodSpec(containers=[client.V1Container(name="web", image="nginx:1.25")]),
            ),
        ),
    )


def test_deployments_crud_and_scale(apps, unique):
    name = unique("pydeploy")
    created = apps.create_namespaced_deployment(NS, deployment_body(name))
    assert created.metadata.generation == 1
    assert created.spec.strategy.type == "RollingUpdate" and created.spec.strategy.rolling_update.max_surge == "25%"
    assert created.spec.revision_history_limit == 10 and created.spec.progress_deadline_seconds == 600
    assert created.spec.template.spec.restart_policy == "Always"

    scale = apps.read_namespaced_deployment_scale(name, NS)
    assert scale.spec.replicas == 1 and scale.metadata.name == name
    assert scale.status.selector == f"app={name}"
    scale.spec.replicas = 4
    assert apps.replace_namespaced_deployment_scale(name, NS, scale).spec.replicas == 4
    assert apps.patch_namespaced_deployment_scale(name, NS, {"spec": {"replicas": 2}}).spec.replicas == 2
    live = apps.read_namespaced_deployment(name, NS)
    assert live.spec.replicas == 2 and live.metadata.generation == 3

    status = apps.patch_namespaced_deployment_status(name, NS, {"status": {"observedGeneration": 3, "replicas": 2}})
    assert status.status.observed_generation == 3 and status.metadata.generation == 3

    listed = apps.list_namespaced_deployment(NS, label_selector=f"app={name}")
    assert [d.metadata.name for d in listed.items] == [name] and listed.kind == "DeploymentList"
    apps.delete_namespaced_deployment(name, NS, propagation_policy="Foreground")
    # Foreground: the API server marks it with the foregroundDeletion finalizer for the GC.
    try:
        remaining = apps.read_namespaced_deployment(name, NS)
    except ApiException as exc:
        assert exc.status == 404
    else:
        assert remaining.metadata.deletion_timestamp is not None
        assert "foregroundDeletion" in remaining.metadata.finalizers


def test_replicasets_crud_and_scale(apps, unique):
    name = unique("pyrs")
    body = deployment_body(name, replicas=3)
    rs = apps.create_namespaced_replica_set(NS, client.V1ReplicaSet(
        metadata=body.metadata, spec=client.V1ReplicaSetSpec(replicas=3, selector=body.spec.selector, template=body.spec.template),
    ))
    assert rs.spec.replicas == 3
    assert apps.patch_namespaced_replica_set_scale(name, NS, {"spec": {"replicas": 1}}).spec.replicas == 1
    assert apps.read_namespaced_replica_set(name, NS).spec.replicas == 1
    bad = apps.read_namespaced_replica_set(name, NS)
    bad.spec.selector = client.V1LabelSelector(match_labels={"app": "other"})
    code, body = status_of(lambda: apps.replace_namespaced_replica_set(name, NS, bad))
    assert code == 422 and body["reason"] == "Invalid", body  # selector immutable / must match template
    apps.delete_namespaced_replica_set(name, NS)


# --------------------------------------------------------------------------- batch/v1, coordination.k8s.io/v1


def test_jobs_crud_with_defaults(api_client, unique):
    batch = client.BatchV1Api(api_client)
    name = unique("pyjob")
    job = batch.create_namespaced_job(NS, client.V1Job(
        metadata=meta(name),
        spec=client.V1JobSpec(template=client.V1PodTemplateSpec(spec=client.V1PodSpec(
            restart_policy="Never", containers=[client.V1Container(name="run", image="busybox:1.36", command=["true"])],
        ))),
    ))
    spec = job.spec
    assert (spec.completions, spec.parallelism, spec.backoff_limit, spec.completion_mode, spec.suspend) == (
        1, 1, 6, "NonIndexed", False)
    uid = job.metadata.uid
    assert spec.selector.match_labels == {"batch.kubernetes.io/controller-uid": uid}
    assert spec.template.metadata.labels["batch.kubernetes.io/job-name"] == name
    assert spec.template.metadata.labels["batch.kubernetes.io/controller-uid"] == uid
    # SetDefaults_Job copies the template's labels to an unlabelled Job (upstream does it when
    # the stored object is decoded, so the create response already has them).
    assert job.metadata.labels["batch.kubernetes.io/job-name"] == name

    status = batch.patch_namespaced_job_status(name, NS, {"status": {"active": 1}})
    assert status.status.active == 1
    assert [j.metadata.name for j in batch.list_namespaced_job(NS, field_selector=f"metadata.name={name}").items] == [name]
    batch.delete_namespaced_job(name, NS, propagation_policy="Background")
    assert status_of(lambda: batch.read_namespaced_job(name, NS))[0] == 404


def test_leases_crud(api_client, unique):
    coordination = client.CoordinationV1Api(api_client)
    name = unique("pylease")
    renew = datetime.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.timezone.utc)
    lease = coordination.create_namespaced_lease("kube-node-lease", client.V1Lease(
        metadata=meta(name), spec=client.V1LeaseSpec(holder_identity="e2e", lease_duration_seconds=40, renew_time=renew),
    ))
    assert lease.spec.renew_time == renew  # MicroTime keeps microseconds
    lease.spec.holder_identity = "other"
    lease.spec.renew_time = renew + datetime.timedelta(seconds=10)
    updated = coordination.replace_namespaced_lease(name, "kube-node-lease", lease)
    assert updated.spec.holder_identity == "other" and updated.spec.renew_time == lease.spec.renew_time
    names = [l.metadata.name for l in coordination.list_namespaced_lease("kube-node-lease").items]
    assert name in names
    coordination.delete_namespaced_lease(name, "kube-node-lease")
    assert status_of(lambda: coordination.read_namespaced_lease(name, "kube-node-lease"))[0] == 404
