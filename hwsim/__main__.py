"""``python -m hwsim`` and the ``hwsim`` console script: a repeated estimate replayed
(:mod:`hwsim.replay`, standard library only), else :func:`hwsim.cli.main` with the cyclic garbage
collector paused while the CLI is imported."""

import gc
import sys


def main() -> None:  # pragma: no cover - console entry point
    from hwsim.replay import replay_main

    if replay_main(sys.argv[1:]):  # the same estimate on the same files: its stored output
        return
    # Importing typer, pydantic and numpy makes hundreds of thousands of objects that live as long as
    # the process, and no garbage; the collections they trigger walk them all for nothing (about 50 ms
    # of CPU in a cached `hwsim estimate`). The pause ends, start-up objects frozen, when the command
    # starts (hwsim.cli._end_startup_gc_pause); estimate / compare pause their own body (gc_paused).
    gc.disable()
    from hwsim.cli import main as cli_main

    cli_main()


if __name__ == "__main__":  # pragma: no cover
    main()
