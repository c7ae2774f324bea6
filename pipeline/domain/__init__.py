"""Plain data: models, messages, errors, names, outcomes.

No I/O; imports nothing of ours outside this package.
"""
