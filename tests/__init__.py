"""siplab's test suite (a package, so tests can ``from tests.helpers import ...``)."""
