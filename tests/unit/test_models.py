"""The typed Python API: wire JSON <-> dataclasses, losslessly."""

from __future__ import annotations

import copy

import orjson
import pytest

from pyk8s import models
from pyk8s.models import (
    Condition,
    Container,
    ContainerPort,
    EnvVar,
    Node,
    NodeAddress,
    NodeSpec,
    NodeStatus,
    NodeSystemInfo,
    ObjectMeta,
    Pod,
    PodSpec,
    PodStatus,
    ResourceRequirements,
    Taint,
)

# A pod as kube-apiserver returns it once scheduled and running, plus fields pyk8s does
# not model (managedFields, volumes' inner shape, a made-up future field) that must survive.
REAL_POD = {
    "kind": "Pod",
    "apiVersion": "v1",
    "metadata": {
        "name": "web-7d4b9c8f5-x2x9q",
        "generateName": "web-7d4b9c8f5-",
        "namespace": "default",
        "uid": "0b1c4a3e-5f1e-4a8e-9c57-3e2a1f0d9b11",
        "resourceVersion": "123456",
        "creationTimestamp": "2026-11-27T07:00:00Z",
        "labels": {"app": "web", "pod-template-hash": "7d4b9c8f5"},
        "annotations": {"kubectl.kubernetes.io/restartedAt": "2026-11-27T06:59:00Z"},
        "ownerReferences": [
            {
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "name": "web-7d4b9c8f5",
                "uid": "9d0e1f2a-3b4c-5d6e-7f80-91a2b3c4d5e6",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
        "managedFields": [
            {
                "manager": "kube-controller-manager",
                "operation": "Update",
                "apiVersion": "v1",
                "time": "2026-11-27T07:00:00Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}},
            }
        ],
    },
    "spec": {
        "volumes": [
            {
                "name": "kube-api-access-abcde",
                "projected": {"sources": [{"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}]},
            }
        ],
        "containers": [
            {
                "name": "nginx",
                "image": "nginx:1.27",
                "command": ["nginx"],
                "args": ["-g", "daemon off;"],
                "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
                "env": [
                    {"name": "MODE", "value": "prod"},
                    {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}},
                ],
                "resources": {"limits": {"memory": "128Mi"}, "requests": {"cpu": "100m", "memory": "64Mi"}},
                "volumeMounts": [
                    {
                        "name": "kube-api-access-abcde",
                        "readOnly": True,
                        "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                    }
                ],
                "readinessProbe": {"httpGet": {"path": "/", "port": 80, "scheme": "HTTP"}, "periodSeconds": 10},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "imagePullPolicy": "IfNotPresent",
            },
            {"name": "sidecar", "image": "busybox:1.36", "resources": {}},
        ],
        "restartPolicy": "Always",
        "terminationGracePeriodSeconds": 30,
        "dnsPolicy": "ClusterFirst",
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "serviceAccountName": "default",
        "serviceAccount": "default",
        "nodeName": "node-1",
        "securityContext": {},
        "schedulerName": "default-scheduler",
        "tolerations": [
            {
                "key": "node.kubernetes.io/not-ready",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 300,
            }
        ],
        "priority": 0,
        "enableServiceLinks": True,
        "preemptionPolicy": "PreemptLowerPriority",
        "someFutureField": {"nested": [1, 2, 3]},
    },
    "status": {
        "phase": "Running",
        "conditions": [
            {"type": "Ready", "status": "True", "lastProbeTime": None, "lastTransitionTime": "2026-11-27T07:00:05Z"},
            {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": "2026-11-27T07:00:00Z"},
        ],
        "hostIP": "10.0.0.11",
        "hostIPs": [{"ip": "10.0.0.11"}],
        "podIP": "10.244.1.7",
        "podIPs": [{"ip": "10.244.1.7"}],
        "startTime": "2026-11-27T07:00:00Z",
        "containerStatuses": [
            {
                "name": "nginx",
                "state": {"running": {"startedAt": "2026-11-27T07:00:03Z"}},
                "ready": True,
                "restartCount": 0,
                "image": "docker.io/library/nginx:1.27",
                "imageID": "docker.io/library/nginx@sha256:0123",
                "containerID": "containerd://abcdef",
                "started": True,
            }
        ],
        "qosClass": "Burstable",
    },
}

REAL_NODE = {
    "kind": "Node",
    "apiVersion": "v1",
    "metadata": {
        "name": "node-1",
        "uid": "5a6b7c8d-0000-4000-8000-000000000001",
        "resourceVersion": "42",
        "creationTimestamp": "2026-11-27T06:00:00Z",
        "labels": {
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/hostname": "node-1",
            "kubernetes.io/os": "linux",
            "node-role.kubernetes.io/control-plane": "",
        },
        "annotations": {"node.alpha.kubernetes.io/ttl": "0"},
    },
    "spec": {
        "podCIDR": "10.244.1.0/24",
        "podCIDRs": ["10.244.1.0/24"],
        "providerID": "kind://docker/kind/node-1",
        "taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
    },
    "status": {
        "capacity": {"cpu": "4", "ephemeral-storage": "102626232Ki", "memory": "16374828Ki", "pods": "110"},
        "allocatable": {"cpu": "4", "ephemeral-storage": "102626232Ki", "memory": "16374828Ki", "pods": "110"},
        "conditions": [
            {
                "type": "MemoryPressure",
                "status": "False",
                "lastHeartbeatTime": "2026-11-27T07:00:00Z",
                "lastTransitionTime": "2026-11-27T06:00:00Z",
                "reason": "KubeletHasSufficientMemory",
                "message": "kubelet has sufficient memory available",
            },
            {
                "type": "Ready",
                "status": "True",
                "lastHeartbeatTime": "2026-11-27T07:00:00Z",
                "lastTransitionTime": "2026-11-27T06:00:10Z",
                "reason": "KubeletReady",
                "message": "kubelet is posting ready status",
            },
        ],
        "addresses": [{"type": "InternalIP", "address": "172.18.0.2"}, {"type": "Hostname", "address": "node-1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": "e4f1",
            "systemUUID": "a1b2",
            "bootID": "c3d4",
            "kernelVersion": "6.1.0-18-amd64",
            "osImage": "Debian GNU/Linux 12 (bookworm)",
            "containerRuntimeVersion": "containerd://1.7.13",
            "kubeletVersion": "v1.31.0",
            "kubeProxyVersion": "v1.31.0",
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
        "images": [{"names": ["docker.io/library/nginx:1.27"], "sizeBytes": 70000000}],
        "volumesInUse": ["kubernetes.io/csi/example"],
    },
}


def test_seed_pod_to_dict():
    pod = Pod(
        metadata=ObjectMeta(name="nginx", labels={"app": "web"}),
        spec=PodSpec(containers=[Container(name="nginx", image="nginx:1.27", ports=[ContainerPort(container_port=80)])]),
    )
    assert pod.to_dict() == {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {"name": "nginx", "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}]},
    }
    assert orjson.loads(pod.to_json()) == pod.to_dict()
    assert Pod.from_json(pod.to_json()) == pod


def test_node_defaults_kind():
    node = Node(metadata=ObjectMeta(name="n1"), status=NodeStatus(capacity={"cpu": "2", "pods": "110"}))
    assert node.to_dict() == {
        "kind": "Node",
        "apiVersion": "v1",
        "metadata": {"name": "n1"},
        "status": {"capacity": {"cpu": "2", "pods": "110"}},
    }


@pytest.mark.parametrize(("model", "wire"), [(Pod, REAL_POD), (Node, REAL_NODE)], ids=["pod", "node"])
def test_real_object_round_trips_exactly(model, wire):
    original = copy.deepcopy(wire)
    obj = model.from_dict(wire)
    assert obj.to_dict() == original
    assert orjson.loads(model.from_json(orjson.dumps(wire)).to_json()) == original
    assert wire == original  # from_dict did not touch its input


def test_real_pod_fields_are_typed():
    pod = Pod.from_dict(REAL_POD)
    assert pod.metadata.name == "web-7d4b9c8f5-x2x9q"
    assert pod.metadata.resource_version == "123456"
    assert pod.metadata.labels["app"] == "web"
    assert "managedFields" in pod.metadata.extra
    nginx = pod.spec.containers[0]
    assert isinstance(nginx, Container)
    assert nginx.ports == [ContainerPort(name="http", container_port=80, protocol="TCP")]
    assert nginx.env[1] == EnvVar(
        name="POD_IP", value_from={"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}
    )
    assert nginx.resources == ResourceRequirements(
        limits={"memory": "128Mi"}, requests={"cpu": "100m", "memory": "64Mi"}
    )
    assert nginx.extra == {"terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File"}
    assert pod.spec.containers[1].resources == ResourceRequirements()  # "{}" is kept, not dropped
    assert pod.spec.node_name == "node-1"
    assert pod.spec.tolerations[0].toleration_seconds == 300
    assert pod.spec.extra["someFutureField"] == {"nested": [1, 2, 3]}
    assert isinstance(pod.status, PodStatus)
    assert pod.status.host_ip == "10.0.0.11" and pod.status.pod_ips == [{"ip": "10.244.1.7"}]
    assert pod.status.conditions[0] == Condition(
        type="Ready", status="True", last_transition_time="2026-11-27T07:00:05Z", extra={"lastProbeTime": None}
    )


def test_real_node_fields_are_typed():
    node = Node.from_dict(REAL_NODE)
    assert node.spec == NodeSpec(
        pod_cidr="10.244.1.0/24",
        pod_cidrs=["10.244.1.0/24"],
        provider_id="kind://docker/kind/node-1",
        taints=[Taint(key="node-role.kubernetes.io/control-plane", effect="NoSchedule")],
    )
    assert node.status.allocatable["pods"] == "110"
    assert node.status.addresses[0] == NodeAddress(type="InternalIP", address="172.18.0.2")
    assert isinstance(node.status.node_info, NodeSystemInfo)
    assert node.status.node_info.machine_id == "e4f1"
    assert node.status.node_info.kubelet_version == "v1.31.0"
    assert node.status.conditions[1].last_heartbeat_time == "2026-11-27T07:00:00Z"
    assert node.status.extra == {"volumesInUse": ["kubernetes.io/csi/example"]}


def test_from_dict_keeps_absent_kind_absent():
    # List items may omit kind/apiVersion; a round trip must not add them.
    item = {"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    assert Pod.from_dict(item).to_dict() == item
    assert Pod().kind == "Pod" and Pod().api_version == "v1"


def test_empty_values_set_explicitly_are_emitted():
    pod = Pod(metadata=ObjectMeta(name="p", labels={}), status=PodStatus())
    assert pod.to_dict() == {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "p", "labels": {}}, "status": {}}


def test_to_dict_does_not_alias_model_state():
    meta = ObjectMeta(name="p", labels={"a": "1"})
    out = Pod(metadata=meta).to_dict()
    out["metadata"]["labels"]["b"] = "2"
    assert meta.labels == {"a": "1"}


def test_extra_cannot_shadow_known_fields():
    meta = ObjectMeta(name="real", extra={"name": "shadow", "x": 1})
    assert meta.to_dict() == {"name": "real", "x": 1}


def test_from_dict_rejects_non_objects():
    with pytest.raises(TypeError):
        Pod.from_dict([])  # type: ignore[arg-type]


def test_public_names():
    assert set(models.__all__) == {
        "Condition",
        "Container",
        "ContainerPort",
        "EnvVar",
        "Node",
        "NodeAddress",
        "NodeSpec",
        "NodeStatus",
        "NodeSystemInfo",
        "ObjectMeta",
        "Pod",
        "PodSpec",
        "PodStatus",
        "ResourceRequirements",
        "Taint",
        "Toleration",
    }
    for name in models.__all__:
        assert getattr(models, name).__module__ == "pyk8s.models"


def test_repr_omits_unset_fields():
    assert repr(ContainerPort(container_port=80)) == "ContainerPort(container_port=80)"
