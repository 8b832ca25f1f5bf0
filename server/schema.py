"""The whole schema, for migrations and the model-vs-database test: importing this module registers every
table of every package on `SQLModel.metadata`. It lives in the composition root because it must import the
models of every layer, which `core/` may not."""

from __future__ import annotations

from sqlmodel import SQLModel

import console.models
import core.models
import exports.models
import feedback.models
import handlers.models
import lookups.models

metadata = SQLModel.metadata
MODEL_MODULES = (
    console.models,
    core.models,
    feedback.models,
    handlers.models,
    exports.models,
    lookups.models,
)
