"""``pyk8s <command>``: the front door.  Each command is a module of ``pyk8s.cli`` with its own
``main(argv)``, imported only when asked for, so ``pyk8s up`` pays for nothing else."""

from __future__ import annotations

import importlib
import sys

__all__ = ["COMMANDS", "main"]

# name -> (module, one line of help)
COMMANDS: dict[str, tuple[str, str]] = {
    "up": ("pyk8s.cli.up", "start a local cluster (API server, scheduler, controller manager, kubelet) until Ctrl-C"),
}


def usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: pyk8s <command> [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {summary}" for name, (_module, summary) in COMMANDS.items()]
    lines += ["", "`pyk8s <command> --help` shows a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if argv else 2
    if argv[0] == "--version":
        from pyk8s import __version__

        print(f"pyk8s {__version__}")
        return 0
    command = COMMANDS.get(argv[0])
    if command is None:
        print(f"pyk8s: unknown command {argv[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    return importlib.import_module(command[0]).main(argv[1:]) or 0


if __name__ == "__main__":
    sys.exit(main())
