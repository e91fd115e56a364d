import pydantic_ai.models

pytest_plugins = [
    "tests.fixtures.servers",
    "tests.fixtures.processes",
    "tests.fixtures.fake_openai",
    "tests.fixtures.fake_search",
    "tests.fixtures.stack",
    "tests.fixtures.api",
]

# Tests never reach a real model provider.
pydantic_ai.models.ALLOW_MODEL_REQUESTS = False
