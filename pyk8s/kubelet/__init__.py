"""pyk8s.kubelet: the node agent (``pyk8s-kubelet``).

* ``kubelet``: ``Kubelet``, one node with the process runtime, and ``worker`` its pod workers;
* ``node``: the Node object, its Lease heartbeat and status (builders shared by both runtimes);
* ``status``: pod status as the kubelet reports it (builders shared by both runtimes);
* ``process`` and ``shim``: the process runtime; ``containers``, ``environment``, ``volumes``,
  ``probes``, ``admission``: what the pod workers need; ``logs`` and ``server``: container
  logs and the kubelet's HTTP server (``/containerLogs``, ``/healthz``, ``/pods``);
* ``simulated``: hollow nodes for scale tests.

What the process runtime does with a pod, where a container runtime would do otherwise:

* A container is its ``command`` + ``args`` run as a local process, in its own session and
  process group, as the kubelet's user; its ``image`` is ignored (``image`` and ``imageID``
  are reported as given / empty).  A container without ``command`` cannot be run: it waits
  with reason ``CommandRequired``.  Resource limits and securityContext are not enforced.
* Processes share the host's network: every pod's IP is the node's InternalIP (127.0.0.1
  with the default ``--address``).  Each ``containerPort`` is given a free host port,
  exported as ``PORT`` / ``PYK8S_PORT_<number|name>`` (a ``hostPort`` is used as is), and
  probes naming a container port reach that host port (environment.py).
* Volumes are directories under ``<root-dir>/pods/<uid>/volumes/``, exported to the containers
  mounting them as ``PYK8S_VOLUME_<NAME>`` (volumes.py); the working directory defaults to
  ``<root-dir>/pods/<uid>/work/`` (a relative ``workingDir`` is taken from there).
* Logs are ``<root-dir>/pods/<uid>/containers/<name>/<restartCount>.log`` in the CRI format,
  written by each container's shim; ``kubectl logs`` reads them through the API server.
* Stopping the kubelet stops its containers; a killed kubelet's containers keep running and
  the next kubelet on the same ``--root-dir`` adopts them (kubelet.py).

The package imports nothing at load time, so the simulated runtime pays for none of the
process runtime.
"""
