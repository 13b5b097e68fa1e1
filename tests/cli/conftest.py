"""The completion tests' fake providers and gateway, for the CLI's calls.

``megarouter route`` and ``megarouter complete`` are tested against the
same real server, with two fake OpenAI-compatible providers on loopback.
"""

from tests.completions.conftest import admin, fakes, gateway  # noqa: F401
