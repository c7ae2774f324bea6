"""The ``gallery`` command: CLI, embedded stack, server launchers, uploader.

It sits on top of everything and only tests and benchmarks import it.
"""
