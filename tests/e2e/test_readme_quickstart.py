"""The README's kubectl quick start, run verbatim against ``pyk8s up`` (only the kubeconfig
path rewritten), so the first thing a new user types keeps working."""

from __future__ import annotations

import os
import pathlib
import subprocess

from e2ehelpers import KUBECTL, poll
from test_pyk8s_up import Kubectl, PyK8sUp

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"
DEFAULT_KUBECONFIG = "~/.local/share/pyk8s/kubeconfig"


def quickstart_block() -> str:
    """The second code block of the README: the kubectl session after ``pyk8s up``."""
    blocks = README.read_text().split("```")
    block = blocks[3]
    assert block.lstrip().startswith("export KUBECONFIG="), block
    return block.strip()


def test_readme_quickstart_runs_verbatim(tmp_path):
    up = PyK8sUp(tmp_path)
    try:
        script = quickstart_block().replace(DEFAULT_KUBECONFIG, str(up.kubeconfig))
        # The container's first output line can come a moment after Ready: the logs line is
        # retried until it shows (as a person would run it again).
        script = script.replace("kubectl logs deployment/web",
                                "for i in $(seq 50); do kubectl logs deployment/web | grep 'Serving HTTP on' && break; sleep 0.2; done")
        env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")} | {
            "HOME": str(tmp_path), "PATH": f"{pathlib.Path(KUBECTL).parent}:{os.environ['PATH']}"}
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, env=env,
                              timeout=240, cwd=tmp_path)
        assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{up._logs()}"
        out = done.stdout
        assert 'deployment "web" successfully rolled out' in out, out
        assert "Serving HTTP on" in out, out
        assert "deployment.apps/web scaled" in out and 'deployment.apps "web" deleted' in out, out
        kubectl = Kubectl(up.kubeconfig, tmp_path)
        # The Deployment's containers were local processes: once deleted, all of them are gone.
        poll(lambda: not kubectl.json("get", "pods")["items"], timeout=90, interval=0.5, what="every pod deleted")
        up.remember_processes()
        assert up.stop() == 0
    finally:
        if up.process.poll() is None:
            up.kill()
