"""The Deployment controller with the ReplicaSet controller, in-process against a live API
server; a hollow kubelet (``deploymenthelpers``) marks new pods Running and Ready.  Rollouts
are watched and their bounds (maxSurge, maxUnavailable) checked on every observed state."""

from __future__ import annotations

import asyncio

from controllerhelpers import fresh_namespace, running_controllers, wait_for
from deploymenthelpers import (
    HollowKubelet, RolloutObserver, condition, deployment, get_deployment, image_of, owned_replica_sets, pod_image,
    rolled_out,
)

from pyk8s.client import DEPLOYMENTS, EVENTS, PODS, REPLICA_SETS, ApiClient, PatchType
from pyk8s.controllers._deployment_util import compute_hash

CONTROLLERS = ["deployment-controller", "replicaset-controller"]
REVISION = "deployment.kubernetes.io/revision"
SAFE = set("bcdfghjklmnpqrstvwxz2456789")


async def scaling_events(client: ApiClient, namespace: str) -> list[str]:
    items = (await client.list(EVENTS, namespace=namespace))["items"]
    return [e["message"] for e in sorted(items, key=lambda e: int(e["metadata"]["resourceVersion"]))
            if e["reason"] == "ScalingReplicaSet" and e["involvedObject"]["kind"] == "Deployment"]


async def set_image(client: ApiClient, namespace: str, image: str, name: str = "web") -> None:
    await client.patch(DEPLOYMENTS, name, {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}},
                       namespace=namespace, patch_type=PatchType.STRATEGIC)


def by_image(replica_sets: list[dict]) -> dict[str, dict]:
    return {image_of(rs): rs for rs in replica_sets}


def test_create_brings_all_replicas_up_with_status_and_conditions(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, CONTROLLERS) as (client, manager):
            namespace = await fresh_namespace(client)
            async with HollowKubelet(client, namespace):
                created = await client.create(DEPLOYMENTS, deployment(namespace, 3))
                d = await wait_for(lambda: rolled_out(client, namespace), timeout=20, message="rollout")
            (rs,) = await owned_replica_sets(client, namespace, created["metadata"]["uid"])
            pod_hash = rs["metadata"]["labels"]["pod-template-hash"]
            assert pod_hash == compute_hash(created["spec"]["template"], None) and set(pod_hash) <= SAFE
            assert rs["metadata"]["name"] == f"web-{pod_hash}"
            assert rs["spec"]["selector"] == {"matchLabels": {"app": "web", "pod-template-hash": pod_hash}}
            assert rs["spec"]["template"]["metadata"]["labels"] == {"app": "web", "pod-template-hash": pod_hash}
            assert rs["metadata"]["ownerReferences"] == [{
                "apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": created["metadata"]["uid"],
                "controller": True, "blockOwnerDeletion": True}]
            # 25% of 3 rounds up to a surge of 1
            assert rs["metadata"]["annotations"] == {
                REVISION: "1", "deployment.kubernetes.io/desired-replicas": "3",
                "deployment.kubernetes.io/max-replicas": "4"}
            pods = (await client.list(PODS, namespace=namespace))["items"]
            assert len(pods) == 3 and all(p["metadata"]["labels"]["pod-template-hash"] == pod_hash for p in pods)

            assert d["metadata"]["annotations"][REVISION] == "1"
            status = dict(d["status"])
            conditions = {c["type"]: c for c in status.pop("conditions")}
            assert status == {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3,
                              "availableReplicas": 3, "terminatingReplicas": 0}
            available, progressing = conditions["Available"], conditions["Progressing"]
            assert (available["status"], available["reason"], available["message"]) == (
                "True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
            assert (progressing["status"], progressing["reason"], progressing["message"]) == (
                "True", "NewReplicaSetAvailable", f'ReplicaSet "web-{pod_hash}" has successfully progressed.')
            await manager.recorder.flush()
            assert await scaling_events(client, namespace) == [f"Scaled up replica set web-{pod_hash} from 0 to 3"]

    asyncio.run(scenario())


def test_scaling_resizes_the_replica_set_and_its_annotations(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, CONTROLLERS) as (client, manager):
            namespace = await fresh_namespace(client)
            async with HollowKubelet(client, namespace):
                created = await client.create(DEPLOYMENTS, deployment(namespace, 2))
                await wait_for(lambda: rolled_out(client, namespace), timeout=20)
                for size in (5, 1):
                    await client.patch(DEPLOYMENTS, "web", {"spec": {"replicas": size}}, namespace=namespace,
                                       subresource="scale")
                    await wait_for(lambda: rolled_out(client, namespace), timeout=20, message=f"scale to {size}")
            (rs,) = await owned_replica_sets(client, namespace, created["metadata"]["uid"])
            name = rs["metadata"]["name"]
            # 25% of 1: surge rounds up to 1
            assert rs["spec"]["replicas"] == 1 and rs["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] == "2"
            assert rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] == "1"
            assert len((await client.list(PODS, namespace=namespace))["items"]) == 1
            await manager.recorder.flush()
            assert await scaling_events(client, namespace) == [
                f"Scaled up replica set {name} from 0 to 2", f"Scaled up replica set {name} from 2 to 5",
                f"Scaled down replica set {name} from 5 to 1"]

    asyncio.run(scenario())


def test_min_ready_seconds_gates_availability_and_follows_the_deployment(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, CONTROLLERS) as (client, _manager):
            namespace = await fresh_namespace(client)
            async with HollowKubelet(client, namespace):
                created = await client.create(DEPLOYMENTS, deployment(namespace, 2, minReadySeconds=2))

                async def ready():
                    d = await get_deployment(client, namespace)
                    return d if (d.get("status") or {}).get("readyReplicas") == 2 else None

                # Ready is not yet available: below the minimum of 2 - floor(25% of 2) = 2
                d = await wait_for(ready, timeout=20)
                assert d["status"].get("availableReplicas", 0) < 2
                available = condition(d, "Available")
                assert (available["status"], available["reason"]) == ("False", "MinimumReplicasUnavailable")
                d = await wait_for(lambda: rolled_out(client, namespace), timeout=20)
                assert condition(d, "Available")["status"] == "True"
                (rs,) = await owned_replica_sets(client, namespace, created["metadata"]["uid"])
                assert rs["spec"]["minReadySeconds"] == 2
                # a new minReadySeconds reaches the ReplicaSet in place (no rollout)
                await client.patch(DEPLOYMENTS, "web", {"spec": {"minReadySeconds": 0}}, namespace=namespace)

                async def updated():
                    (rs,) = await owned_replica_sets(client, namespace, created["metadata"]["uid"])
                    return rs if rs["spec"]["minReadySeconds"] == 0 else None

                await wait_for(updated, timeout=20, message="minReadySeconds on the ReplicaSet")

    asyncio.run(scenario())


async def _rolling_update(apiserver, replicas, strategy, surge, unavailable):
    async with running_controllers(apiserver.url, CONTROLLERS) as (client, manager):
        namespace = await fresh_namespace(client)
        async with HollowKubelet(client, namespace):
            body = deployment(namespace, replicas, strategy={"type": "RollingUpdate", "rollingUpdate": strategy})
            created = await client.create(DEPLOYMENTS, body)
            async with RolloutObserver(client, namespace, replicas, surge, unavailable) as observer:
                await wait_for(lambda: rolled_out(client, namespace), timeout=20)
                observer.arm()
                for image in ("busybox:2", "busybox:3"):
                    await set_image(client, namespace, image)
                    await wait_for(lambda: rolled_out(client, namespace), timeout=30, message=f"rollout of {image}")
                await asyncio.sleep(0.2)  # let the last events in
        assert observer.violations == []
        # the surge is used as soon as the new ReplicaSet is created (how far availability dips
        # depends on how fast the kubelet marks new pods Ready, so only its floor is checked)
        assert observer.max_sizes == replicas + surge and observer.min_ready is not None
        rss = by_image(await owned_replica_sets(client, namespace, created["metadata"]["uid"]))
        assert {image: rs["spec"]["replicas"] for image, rs in rss.items()} == {
            "busybox:1": 0, "busybox:2": 0, "busybox:3": replicas}
        assert rss["busybox:3"]["metadata"]["annotations"][REVISION] == "3"
        pods = (await client.list(PODS, namespace=namespace))["items"]
        assert len(pods) == replicas and {pod_image(p) for p in pods} == {"busybox:3"}
        await manager.recorder.flush()
        return observer, await scaling_events(client, namespace)


def test_rolling_update_25_percent_never_exceeds_surge_or_unavailable(apiserver):
    # 8 replicas: surge ceil(2) = 2, unavailable floor(2) = 2: at most 10 pods, at least 6 ready
    observer, events = asyncio.run(_rolling_update(apiserver, 8, {"maxSurge": "25%", "maxUnavailable": "25%"}, 2, 2))
    assert len(observer.rs_states) > 4 and events[0].endswith("from 0 to 8")


def test_rolling_update_with_odd_percentages_rounds_surge_up_and_unavailable_down(apiserver):
    # 5 replicas, 30%: surge ceil(1.5) = 2, unavailable floor(1.5) = 1
    asyncio.run(_rolling_update(apiserver, 5, {"maxSurge": "30%", "maxUnavailable": "30%"}, 2, 1))


def test_rolling_update_without_surge_replaces_pods_one_by_one(apiserver):
    # maxSurge 0: never more than 4 in all; new pods only as old ones go
    observer, events = asyncio.run(_rolling_update(apiserver, 4, {"maxSurge": 0, "maxUnavailable": 1}, 0, 1))
    ups = [e for e in events if e.startswith("Scaled up") and "from 0 to 4" not in e]
    assert ups and all(int(e.rsplit(" ", 1)[1]) - int(e.split(" from ")[1].split(" ")[0]) == 1 for e in ups)


def test_recreate_removes_every_old_pod_before_creating_new_ones(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, CONTROLLERS) as (client, manager):
            namespace = await fresh_namespace(client)
            async with HollowKubelet(client, namespace):
                created = await client.create(DEPLOYMENTS, deployment(namespace, 3, strategy={"type": "Recreate"}))
                await wait_for(lambda: rolled_out(client, namespace), timeout=20)
                old_hash = (await owned_replica_sets(client, namespace, created["metadata"]["uid"]))[0]["metadata"]["labels"]["pod-template-hash"]
                listed = await client.list(PODS, namespace=namespace)
                live = {p["metadata"]["name"]: p for p in listed["items"]}
                overlap: list[str] = []
                async with client.watch(PODS, namespace=namespace,
                                        resource_version=listed["metadata"]["resourceVersion"]) as stream:
                    await set_image(client, namespace, "busybox:2")

                    async def follow():
                        async for event_type, pod in stream:
                            name = pod["metadata"]["name"]
                            if event_type == "DELETED":
                                live.pop(name, None)
                                continue
                            live[name] = pod
                            hashes = {p["metadata"]["labels"]["pod-template-hash"] for p in live.values()}
                            if old_hash in hashes and len(hashes) > 1:
                                overlap.append(f"old and new pods at once: {sorted(live)}")
                            if len(live) == 3 and hashes != {old_hash} and all(
                                    any(c["type"] == "Ready" and c["status"] == "True"
                                        for c in (p.get("status") or {}).get("conditions") or ()) for p in live.values()):
                                return

                    await asyncio.wait_for(follow(), timeout=30)
                d = await wait_for(lambda: rolled_out(client, namespace), timeout=20)
            assert overlap == []
            rss = by_image(await owned_replica_sets(client, namespace, created["metadata"]["uid"]))
            assert rss["busybox:1"]["spec"]["replicas"] == 0 and rss["busybox:2"]["spec"]["replicas"] == 3
            # Recreate's max-replicas annotation has no surge
            assert rss["busybox:2"]["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] == "3"
            assert d["metadata"]["annotations"][REVISION] == "2"
            await manager.recorder.flush()
            events = await scaling_events(client, namespace)
            old_name, new_name = rss["busybox:1"]["metadata"]["name"], rss["busybox:2"]["metadata"]["name"]
            assert events == [f"Scaled up replica set {old_name} from 0 to 3", f"Scaled down replica set {old_name} from 3 to 0",
                              f"Scaled up replica set {new_name} from 0 to 3"]

    asyncio.run(scenario())


def test_revisions_rollback_to_an_old_template_and_history_limit(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, CONTROLLERS) as (client, _manager):
            namespace = await fresh_namespace(client)
            async with HollowKubelet(client, namespace):
                body = deployment(namespace, 2, revisionHistoryLimit=1)
                body["metadata"]["annotations"] = {"kubernetes.io/change-cause": "first", "team": "blue",
                                                   "kubectl.kubernetes.io/last-applied-configuration": "{}"}
                created = await client.create(DEPLOYMENTS, body)
                uid = created["metadata"]["uid"]
                await wait_for(lambda: rolled_out(client, namespace), timeout=20)
                for image, cause in (("busybox:2", "second"), ("busybox:3", "third")):
                    await client.patch(DEPLOYMENTS, "web", {"metadata": {"annotations": {"kubernetes.io/change-cause": cause}}},
                                       namespace=namespace)
                    await set_image(client, namespace, image)
                    await wait_for(lambda: rolled_out(client, namespace), timeout=20)

                async def history_trimmed():
                    rss = await owned_replica_sets(client, namespace, uid)
                    return rss if len(rss) == 2 else None

                rss = by_image(await wait_for(history_trimmed, timeout=20, message="revisionHistoryLimit cleanup"))
                # revision 1 went (the oldest), revision 2 stays as the one old ReplicaSet allowed
                assert set(rss) == {"busybox:2", "busybox:3"}
                assert rss["busybox:2"]["metadata"]["annotations"][REVISION] == "2"
                new_annotations = rss["busybox:3"]["metadata"]["annotations"]
                assert new_annotations[REVISION] == "3" and new_annotations["kubernetes.io/change-cause"] == "third"
                assert new_annotations["team"] == "blue"
                assert "kubectl.kubernetes.io/last-applied-configuration" not in new_annotations
                old_name = rss["busybox:2"]["metadata"]["name"]

                # Back to busybox:2's template: its ReplicaSet is reused as revision 4.
                await set_image(client, namespace, "busybox:2")
                d = await wait_for(lambda: rolled_out(client, namespace), timeout=20)
                rss = by_image(await owned_replica_sets(client, namespace, uid))
            reused = rss["busybox:2"]
            assert reused["metadata"]["name"] == old_name and reused["spec"]["replicas"] == 2
            assert reused["metadata"]["annotations"][REVISION] == "4"
            assert reused["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "2"
            assert d["metadata"]["annotations"][REVISION] == "4"
            assert rss["busybox:3"]["spec"]["replicas"] == 0

    asyncio.run(scenario())


def test_paused_deployment_scales_proportionally_and_rolls_out_on_resume(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, CONTROLLERS) as (client, _manager):
            namespace = await fresh_namespace(client)
            # New pods stay pending, so a rollout stops half way with old and new ReplicaSets.
            hold = {"busybox:2"}
            async with HollowKubelet(client, namespace, hold=lambda pod: pod_image(pod) in hold):
                strategy = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 2, "maxUnavailable": 0}}
                created = await client.create(DEPLOYMENTS, deployment(namespace, 4, strategy=strategy))
                uid = created["metadata"]["uid"]
                await wait_for(lambda: rolled_out(client, namespace), timeout=20)
                await set_image(client, namespace, "busybox:2")

                async def split():
                    rss = by_image(await owned_replica_sets(client, namespace, uid))
                    return rss if len(rss) == 2 and rss["busybox:2"]["spec"]["replicas"] == 2 else None

                await wait_for(split, timeout=20, message="surge of the new ReplicaSet")
                await client.patch(DEPLOYMENTS, "web", {"spec": {"paused": True}}, namespace=namespace)

                async def paused_condition():
                    d = await get_deployment(client, namespace)
                    c = condition(d, "Progressing")
                    return d if c and c["reason"] == "DeploymentPaused" else None

                d = await wait_for(paused_condition, timeout=20)
                assert condition(d, "Progressing")["status"] == "Unknown"
                assert condition(d, "Progressing")["message"] == "Deployment is paused"

                # Scaling 4 -> 8 while paused: max size 6 -> 10, each ReplicaSet in proportion.
                await client.patch(DEPLOYMENTS, "web", {"spec": {"replicas": 8}}, namespace=namespace)

                async def scaled():
                    rss = by_image(await owned_replica_sets(client, namespace, uid))
                    sizes = {image: rs["spec"]["replicas"] for image, rs in rss.items()}
                    return sizes if sum(sizes.values()) == 10 else None

                # round(4*10/6) = 7 and round(2*10/6) = 3
                assert await wait_for(scaled, timeout=20) == {"busybox:1": 7, "busybox:2": 3}
                # A template change while paused starts nothing.
                await set_image(client, namespace, "busybox:3")
                await asyncio.sleep(0.5)
                assert len(await owned_replica_sets(client, namespace, uid)) == 2

                hold.clear()
                await client.patch(DEPLOYMENTS, "web", {"spec": {"paused": False}}, namespace=namespace)
                d = await wait_for(lambda: rolled_out(client, namespace), timeout=30, message="rollout after resume")
            assert image_of(d) == "busybox:3"
            assert condition(d, "Progressing")["reason"] == "NewReplicaSetAvailable"
            sizes = {image: rs["spec"]["replicas"] for image, rs in by_image(await owned_replica_sets(client, namespace, uid)).items()}
            assert sizes == {"busybox:1": 0, "busybox:2": 0, "busybox:3": 8}

    asyncio.run(scenario())


def test_progress_deadline_exceeded_is_reported(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, CONTROLLERS) as (client, _manager):
            namespace = await fresh_namespace(client)
            async with HollowKubelet(client, namespace, hold=lambda pod: pod_image(pod) == "busybox:broken"):
                await client.create(DEPLOYMENTS, deployment(namespace, 2, progressDeadlineSeconds=2))
                await wait_for(lambda: rolled_out(client, namespace), timeout=20)
                await set_image(client, namespace, "busybox:broken")

                async def timed_out():
                    d = await get_deployment(client, namespace)
                    c = condition(d, "Progressing")
                    return d if c and c["reason"] == "ProgressDeadlineExceeded" else None

                d = await wait_for(timed_out, timeout=20, message="ProgressDeadlineExceeded")
            progressing = condition(d, "Progressing")
            new_name = [rs["metadata"]["name"] for rs in await owned_replica_sets(client, namespace, d["metadata"]["uid"])
                        if image_of(rs) == "busybox:broken"][0]
            assert progressing["status"] == "False"
            assert progressing["message"] == f'ReplicaSet "{new_name}" has timed out progressing.'
            # availability held: the old pods stay (maxUnavailable 25% of 2 rounds down to 0)
            assert condition(d, "Available")["status"] == "True" and d["status"]["availableReplicas"] == 2

    asyncio.run(scenario())


def test_orphan_is_adopted_released_when_relabelled_and_name_collision_bumps_collision_count(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, CONTROLLERS) as (client, _manager):
            namespace = await fresh_namespace(client)
            body = deployment(namespace, 1)
            # the template as the server defaults it is what the controller hashes
            template = (await client.create(DEPLOYMENTS, body, dry_run=True))["spec"]["template"]
            pod_hash = compute_hash(template, None)
            labels = {"app": "web", "pod-template-hash": pod_hash}
            orphan = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                      "metadata": {"name": f"web-{pod_hash}", "namespace": namespace, "labels": dict(labels)},
                      "spec": {"replicas": 1, "selector": {"matchLabels": dict(labels)},
                               "template": {"metadata": {"labels": dict(labels)}, "spec": template["spec"]}}}
            await client.create(REPLICA_SETS, orphan)
            async with HollowKubelet(client, namespace):
                created = await client.create(DEPLOYMENTS, body)
                uid = created["metadata"]["uid"]
                await wait_for(lambda: rolled_out(client, namespace), timeout=20)
                (rs,) = await owned_replica_sets(client, namespace, uid)
                assert rs["metadata"]["name"] == f"web-{pod_hash}" and rs["metadata"]["annotations"][REVISION] == "1"

                # Relabelled out of the selector: released.  The Deployment then needs a new
                # ReplicaSet, whose name is taken by the released one: a hash collision.
                await client.patch(REPLICA_SETS, f"web-{pod_hash}", {"metadata": {"labels": {"app": "other"}}},
                                   namespace=namespace)

                async def released():
                    found = await client.get(REPLICA_SETS, f"web-{pod_hash}", namespace=namespace)
                    return not found["metadata"].get("ownerReferences")

                await wait_for(released, timeout=20, message="release")

                async def rolled_out_again():
                    d = await rolled_out(client, namespace)
                    return d if d and d["status"].get("collisionCount") and await owned_replica_sets(client, namespace, uid) else None

                d = await wait_for(rolled_out_again, timeout=20, message="rollout under a new name")
            assert d["status"]["collisionCount"] == 1
            (new,) = await owned_replica_sets(client, namespace, uid)
            assert new["metadata"]["name"] == f"web-{compute_hash(template, 1)}" != f"web-{pod_hash}"

    asyncio.run(scenario())


# -- with kubectl 1.37 -----------------------------------------------------------------------

KUBECTL = "/work/venv/bin/kubectl"

MANIFEST = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: x
spec:
  replicas: 3
  selector:
    matchLabels: {app: x}
  template:
    metadata:
      labels: {app: x}
    spec:
      containers:
      - name: c
        image: busybox:1
"""


def test_kubectl_rollout_workflow(apiserver, tmp_path):
    manifest = tmp_path / "deployment.yaml"
    manifest.write_text(MANIFEST)

    async def kubectl(namespace: str, *args: str, ok: bool = True) -> str:
        """stdout; with ``ok=False`` the command must fail, and its stderr is returned."""
        process = await asyncio.create_subprocess_exec(
            KUBECTL, "--server", apiserver.url, "--cache-dir", str(tmp_path / "cache"), "-n", namespace, *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
        if not ok:
            assert process.returncode != 0, f"kubectl {' '.join(args)} succeeded"
            return err.decode()
        assert process.returncode == 0, f"kubectl {' '.join(args)}: {err.decode()}"
        return out.decode()

    async def replica_sets(client: ApiClient, namespace: str) -> dict[str, dict]:
        d = await get_deployment(client, namespace, "x")
        return {rs["metadata"]["name"]: rs for rs in await owned_replica_sets(client, namespace, d["metadata"]["uid"])}

    async def scenario():
        async with running_controllers(apiserver.url, CONTROLLERS) as (client, _manager):
            namespace = await fresh_namespace(client)
            async with HollowKubelet(client, namespace):
                assert "deployment.apps/x created" in await kubectl(namespace, "apply", "-f", str(manifest))
                out = await kubectl(namespace, "rollout", "status", "deployment/x", "--timeout=30s")
                assert out.rstrip().endswith('deployment "x" successfully rolled out')

                await kubectl(namespace, "set", "image", "deployment/x", "c=busybox:2")
                await kubectl(namespace, "annotate", "deployment/x", "kubernetes.io/change-cause=to busybox 2")
                await kubectl(namespace, "rollout", "status", "deployment/x", "--timeout=30s")
                history = await kubectl(namespace, "rollout", "history", "deployment/x")
                rows = [line.split(None, 1) for line in history.splitlines()[2:] if line.strip()]
                assert rows == [["1", "<none>"], ["2", "to busybox 2"]]
                assert "busybox:1" in await kubectl(namespace, "rollout", "history", "deployment/x", "--revision=1")
                first = {image_of(rs): name for name, rs in (await replica_sets(client, namespace)).items()}

                # undo: kubectl patches revision 1's template back; its ReplicaSet becomes revision 3
                assert "rolled back" in await kubectl(namespace, "rollout", "undo", "deployment/x")
                await kubectl(namespace, "rollout", "status", "deployment/x", "--timeout=30s")
                d = await get_deployment(client, namespace, "x")
                assert image_of(d) == "busybox:1" and d["metadata"]["annotations"][REVISION] == "3"
                rss = await replica_sets(client, namespace)
                reused = rss[first["busybox:1"]]
                assert reused["spec"]["replicas"] == 3 and reused["metadata"]["annotations"][REVISION] == "3"
                assert reused["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
                assert len(rss) == 2

                # paused: a template change waits; scaling still happens
                await kubectl(namespace, "rollout", "pause", "deployment/x")
                await kubectl(namespace, "set", "image", "deployment/x", "c=busybox:4")
                await kubectl(namespace, "scale", "deployment/x", "--replicas=4")

                async def scaled_while_paused():
                    d = await get_deployment(client, namespace, "x")
                    c = condition(d, "Progressing")
                    return d if c and c["reason"] == "DeploymentPaused" and d["status"].get("availableReplicas") == 4 else None

                await wait_for(scaled_while_paused, timeout=20, message="scale while paused")
                rss = await replica_sets(client, namespace)
                assert len(rss) == 2 and rss[first["busybox:1"]]["spec"]["replicas"] == 4
                assert "you cannot rollback a paused deployment" in await kubectl(
                    namespace, "rollout", "undo", "deployment/x", ok=False)
                await kubectl(namespace, "rollout", "resume", "deployment/x")
                await kubectl(namespace, "rollout", "status", "deployment/x", "--timeout=30s")
                rss = await replica_sets(client, namespace)
                assert {image_of(rs): rs["spec"]["replicas"] for rs in rss.values()} == {
                    "busybox:1": 0, "busybox:2": 0, "busybox:4": 4}

                # restart: a new template annotation, so a new ReplicaSet with the same image
                await kubectl(namespace, "rollout", "restart", "deployment/x")
                await kubectl(namespace, "rollout", "status", "deployment/x", "--timeout=30s")
                d = await get_deployment(client, namespace, "x")
                assert "kubectl.kubernetes.io/restartedAt" in d["spec"]["template"]["metadata"]["annotations"]
                rss = await replica_sets(client, namespace)
                current = [rs for rs in rss.values() if rs["spec"]["replicas"] == 4]
                assert len(rss) == 4 and len(current) == 1 and image_of(current[0]) == "busybox:4"
                assert current[0]["metadata"]["annotations"][REVISION] == d["metadata"]["annotations"][REVISION] == "5"

                await kubectl(namespace, "scale", "deployment/x", "--replicas=2")
                await kubectl(namespace, "rollout", "status", "deployment/x", "--timeout=30s")
                assert len((await client.list(PODS, namespace=namespace))["items"]) == 2
                history = await kubectl(namespace, "rollout", "history", "deployment/x")
                assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["2", "3", "4", "5"]

    asyncio.run(scenario())
