"""Constants shared by dispatch's tests (a module of its own: every test folder has a conftest)."""

LINK_SECRET = "dispatch-test-link-secret"
