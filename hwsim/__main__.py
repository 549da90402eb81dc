"""``python -m hwsim`` and the ``hwsim`` console script: :func:`hwsim.cli.main`, with the cyclic
garbage collector paused while the CLI starts."""

import gc


def main() -> None:  # pragma: no cover - console entry point
    # Importing typer, pydantic and numpy makes hundreds of thousands of objects that live as long as
    # the process, and no garbage; the collections they trigger walk them all for nothing (about 50 ms
    # of a cached `hwsim estimate`, benchmarks/estimate_speed.py). The pause ends when the command
    # starts (hwsim.cli.user_errors); estimate / compare then pause their own body (hwsim.cli.gc_paused).
    gc.disable()
    from hwsim import cli

    cli.startup_gc_paused = True
    cli._one_command_process = True
    cli.main()


if __name__ == "__main__":  # pragma: no cover
    main()
