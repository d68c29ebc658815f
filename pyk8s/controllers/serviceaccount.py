"""The service account controller, as upstream pkg/controller/serviceaccount
(ServiceAccountsController): every Active namespace has a ``default`` ServiceAccount.

The API server already makes it with the namespace; this controller puts it back when it is
deleted, and makes it in namespaces that predate it.  A namespace that is not Active
(Terminating) is left alone, and a create refused because the namespace is terminating is
not an error.  Keys are namespace names: a namespace added or updated, or a ServiceAccount
deleted from it, queues the namespace.

Options: none; upstream runs it with one worker.
"""

from __future__ import annotations

from pyk8s.client import NAMESPACES, SERVICE_ACCOUNTS, AlreadyExists, Forbidden

from ._base import Controller, ControllerContext
from ._pods import is_namespace_terminating_error

__all__ = ["ServiceAccountController", "SERVICE_ACCOUNTS_TO_ENSURE"]

SERVICE_ACCOUNTS_TO_ENSURE = ("default",)


class ServiceAccountController(Controller):
    name = "serviceaccount-controller"
    default_workers = 1

    def __init__(self, context: ControllerContext) -> None:
        super().__init__(context)
        self.namespaces = self.informers.informer(NAMESPACES)
        self.service_accounts = self.informers.informer(SERVICE_ACCOUNTS)
        self.namespaces.add_event_handler(on_add=self.enqueue_object, on_update=self.enqueue_object)
        self.service_accounts.add_event_handler(
            on_delete=lambda account: self.enqueue(account["metadata"]["namespace"]),
        )

    async def sync(self, key: str) -> None:
        namespace = self.namespaces.indexer.get(key)
        if namespace is None or (namespace.get("status") or {}).get("phase") != "Active":
            return
        for name in SERVICE_ACCOUNTS_TO_ENSURE:
            if self.service_accounts.indexer.get_object(key, name) is not None:
                continue
            account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": key}}
            try:
                await self.client.create(SERVICE_ACCOUNTS, account, namespace=key)
            except AlreadyExists:
                pass
            except Forbidden as error:
                if not is_namespace_terminating_error(error):
                    raise
