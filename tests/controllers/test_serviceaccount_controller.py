"""ServiceAccount controller against a live API server: the ``default`` ServiceAccount comes
back when deleted, and is not made in a Terminating namespace."""

from __future__ import annotations

import asyncio

from controllerhelpers import fresh_namespace, running_controllers, wait_for
from pyk8s.client import NAMESPACES, PODS, SERVICE_ACCOUNTS, NotFound


async def account_exists(client, namespace: str, name: str = "default") -> bool:
    try:
        await client.get(SERVICE_ACCOUNTS, name, namespace=namespace)
    except NotFound:
        return False
    return True


def test_default_service_account_is_restored(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, ["serviceaccount-controller"]) as (client, manager):
            namespace = await fresh_namespace(client)
            assert await account_exists(client, namespace)  # the API server made it
            first_uid = (await client.get(SERVICE_ACCOUNTS, "default", namespace=namespace))["metadata"]["uid"]
            await client.delete(SERVICE_ACCOUNTS, "default", namespace=namespace)
            await wait_for(lambda: account_exists(client, namespace), timeout=10, message="default recreated")
            again = await client.get(SERVICE_ACCOUNTS, "default", namespace=namespace)
            assert again["metadata"]["uid"] != first_uid
            # Other accounts are the user's business.
            other = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "builder"}}
            await client.create(SERVICE_ACCOUNTS, other, namespace=namespace)
            await client.delete(SERVICE_ACCOUNTS, "builder", namespace=namespace)
            await asyncio.sleep(0.5)
            assert not await account_exists(client, namespace, "builder")

    asyncio.run(scenario())


def test_terminating_namespace_is_left_alone(apiserver):
    async def scenario():
        async with running_controllers(apiserver.url, ["serviceaccount-controller"]) as (client, manager):
            namespace = await fresh_namespace(client)
            # A pod keeps nothing here (no namespace controller runs): the namespace stays
            # Terminating with its `kubernetes` finalizer.
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                   "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
            await client.create(PODS, pod, namespace=namespace)
            await client.delete(NAMESPACES, namespace)
            await wait_for(lambda: phase(client, namespace, "Terminating"))
            await client.delete(SERVICE_ACCOUNTS, "default", namespace=namespace)
            await asyncio.sleep(1.0)
            assert not await account_exists(client, namespace)
            assert manager.metrics.syncs_total("serviceaccount-controller", "error") == 0

    asyncio.run(scenario())


async def phase(client, name: str, wanted: str) -> bool:
    namespace = await client.get(NAMESPACES, name)
    return (namespace.get("status") or {}).get("phase") == wanted
