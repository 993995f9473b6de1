"""Wire models of /v1/config. The configuration itself is cxloop_shared.config.WorkspaceConfig."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ConfigApplied(BaseModel):
    """What a PUT of the configuration did, or (dry run) would do."""

    version: int = Field(
        description="The stored version after the PUT (on a dry run: the one stored now; 0: none)."
    )
    changed: list[str] = Field(
        description="Paths that differ from the stored configuration, e.g. "
        "`touchpoints.checkout.policy.delay`; empty: nothing to store."
    )
    dry_run: bool
