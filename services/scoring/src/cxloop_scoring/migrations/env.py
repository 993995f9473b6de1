from cxloop_scoring.tables import metadata
from cxloop_shared.migrations import run_env

run_env(metadata)
