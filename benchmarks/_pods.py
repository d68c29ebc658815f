"""Realistic pod objects shared by the benchmarks.

A pod here looks like what a ReplicaSet-made, scheduled, running pod looks like in
kube-apiserver (~1 KB of JSON).  Labels are chosen so selectors pick known fractions:

  app=app-<i % 10>            10 % of pods
  tier in {frontend, backend, cache}   (i % 3)
  shard=shard-<i % 100>       1 % of pods
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent

# An installed pyk8s (with its native module) wins over the source tree; a checkout without
# `pip install` runs from the source tree, and so must the servers the benchmarks start.
try:
    import pyk8s  # noqa: F401

    FROM_SOURCE_TREE = False
except ImportError:  # pragma: no cover
    sys.path.insert(0, str(REPO_ROOT))
    FROM_SOURCE_TREE = True

TIERS = ("frontend", "backend", "cache")

# Selectors and the fraction of pods each picks (used by the store and API benchmarks).
SELECTORS = {
    "1%": "shard=shard-7",
    "10%": "app=app-3",
    "set-based 3.3%": "app in (app-1,app-2),tier=backend,shard notin (shard-0)",
}


def pod_name(i: int) -> str:
    return f"web-{i:06d}-x{(i * 2654435761) % 99991:05d}"


def pod_labels(i: int) -> dict[str, str]:
    return {
        "app": f"app-{i % 10}",
        "tier": TIERS[i % 3],
        "shard": f"shard-{i % 100}",
        "pod-template-hash": "7d4b9c8f5",
    }


def pod_fields(i: int) -> dict[str, str]:
    return {"spec.nodeName": f"node-{i % 50}", "status.phase": "Running"}


def pod_for_create(i: int, namespace: str = "default", name: str | None = None) -> dict[str, Any]:
    """What a controller POSTs: metadata + a full spec, no status."""
    name = name or pod_name(i)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": pod_labels(i),
        },
        "spec": {
            "containers": [
                {
                    "name": "nginx",
                    "image": "nginx:1.27",
                    "ports": [{"name": "http", "containerPort": 80, "protocol": "TCP"}],
                    "env": [{"name": "SHARD", "value": str(i % 100)}],
                    "resources": {
                        "limits": {"cpu": "500m", "memory": "256Mi"},
                        "requests": {"cpu": "100m", "memory": "64Mi"},
                    },
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                    "imagePullPolicy": "IfNotPresent",
                }
            ],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default",
            "nodeName": f"node-{i % 50}",
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
        },
    }


def stored_pod(i: int, namespace: str = "default") -> dict[str, Any]:
    """A pod as the API server stores it: stamped metadata and a running status (~1.5 KB)."""
    pod = pod_for_create(i, namespace)
    meta = pod["metadata"]
    meta["uid"] = f"0b1c4a3e-5f1e-4a8e-9c57-{i:012d}"
    meta["generation"] = 1
    meta["creationTimestamp"] = "2026-11-27T07:00:00Z"
    meta["ownerReferences"] = [
        {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "name": "web-7d4b9c8f5",
            "uid": "9d0e1f2a-3b4c-5d6e-7f80-91a2b3c4d5e6",
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    pod["status"] = {
        "phase": "Running",
        "conditions": [
            {"type": "Ready", "status": "True", "lastProbeTime": None, "lastTransitionTime": "2026-11-27T07:00:05Z"},
            {"type": "PodScheduled", "status": "True", "lastProbeTime": None,
             "lastTransitionTime": "2026-11-27T07:00:00Z"},
        ],
        "hostIP": f"10.0.{i % 50 // 250}.{i % 50 + 1}",
        "podIP": f"10.244.{i // 250 % 250}.{i % 250 + 1}",
        "startTime": "2026-11-27T07:00:00Z",
        "qosClass": "Burstable",
    }
    return pod
