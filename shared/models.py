"""The base of the project's pydantic models: each one's validator and serializer are built the first
time it is used instead of when its class is defined.

An entry point declares many routes and imports the shapes of all of them, while one function
instance's first request uses a few: building every schema at import cost each cold start ~0.3 ms a
model for shapes mostly never used there (and some only ever by the OpenAPI document). Fields are
still collected when the class is defined, so `model_fields` is there from the start; a schema error
shows on first use, which the OpenAPI tests reach for every declared shape.
"""

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    model_config = ConfigDict(defer_build=True)
