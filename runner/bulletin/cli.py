"""`bulletin`: the command-line entry point (the runner, and tools around it)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``bulletin run`` (one run, as in the runner image), ``bulletin crd`` and
    ``bulletin preview`` (render a manifest to files, see bulletin.preview)."""
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["run"]:
        from bulletin.run import main as run_main

        return run_main()
    if args[:1] == ["crd"]:
        from bulletin.api.crd import render

        sys.stdout.write(render())
        return 0
    if args[:1] == ["preview"]:
        from bulletin.preview import main as preview_main

        return preview_main(args[1:])
    print("usage: bulletin {run|crd|preview}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
