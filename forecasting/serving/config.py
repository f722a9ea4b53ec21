"""Where champions are served."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, model_validator

_UC_TABLE = re.compile(r"^[a-z0-9_]{1,255}\.[a-z0-9_]{1,255}\.[a-z0-9_]{1,200}$")


class DeployConfig(BaseModel):
    target: Literal["local", "databricks"] = "local"
    # local: `mlflow models serve` as a managed background process
    host: str = Field("127.0.0.1", description="bind address of local serving; loopback unless you mean it")
    port: int | None = Field(None, ge=1024, le=65535, description="fixed port; a free one by default")
    ready_timeout_seconds: float = Field(180, gt=0, description="how long a new server may take to answer /ping")
    drain_seconds: float = Field(2.0, ge=0, description="grace period before the old server stops after a swap")
    # databricks: Model Serving
    endpoint_name: str = "finance-forecast"
    workload_size: Literal["Small", "Medium", "Large"] = "Small"
    scale_to_zero: bool = True
    challenger_traffic_percent: int = Field(0, ge=0, le=100, description="share of traffic for the previous version (0: none)")
    databricks_profile: str | None = Field(None, description="~/.databrickscfg profile; else the environment")
    databricks_ready_timeout_seconds: float = Field(1800, gt=0, description="endpoints can take 20-30 minutes to be READY")
    poll_seconds: float = Field(10, gt=0)
    inference_table: str | None = Field(
        None, description="catalog.schema.prefix: log every request and response to Unity Catalog (the endpoint's AI Gateway inference table)")

    @model_validator(mode="after")
    def _inference_table_on_databricks(self) -> "DeployConfig":
        if self.inference_table is not None:
            if self.target != "databricks":
                raise ValueError("inference_table is a Databricks endpoint setting: it needs target databricks")
            if not _UC_TABLE.match(self.inference_table):
                raise ValueError(f"inference_table {self.inference_table!r} must be catalog.schema.prefix in lowercase letters, digits and underscores")
        return self
