"""The whole schema: importing this module registers every table on `SQLModel.metadata`."""

from __future__ import annotations

from sqlmodel import SQLModel

import console.models
import core.models
import exports.models
import feedback.models
import handlers.models
import ingest.models
import lookups.models

metadata = SQLModel.metadata
MODEL_MODULES = (
    console.models,
    core.models,
    feedback.models,
    handlers.models,
    ingest.models,
    exports.models,
    lookups.models,
)
