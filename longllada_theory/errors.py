"""The one exception the package raises for bad input.

Every message says what was wrong and what is expected; the CLI prints it as one line and exits non-zero.
"""


class LongLLaDAError(ValueError):
    """Bad input from the user: a wrong length, an unknown preset, a config without RoPE fields, …"""
