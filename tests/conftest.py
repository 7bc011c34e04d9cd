from collections.abc import Iterator
from pathlib import Path

import tempfile

import pytest
from hypothesis import settings
from hypothesis.configuration import set_hypothesis_home_dir

from tests.processes import ServerProcess
from tests.redis_server import RedisProcess


# Tests leave nothing in the checkout: Hypothesis keeps no example database, and its caches go to a
# temporary directory rather than .hypothesis/ in the working directory.
set_hypothesis_home_dir(tempfile.mkdtemp(prefix="chat-tests-hypothesis-"))
settings.register_profile("chat", database=None)
settings.load_profile("chat")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A real `twistd -n chat` on a loopback port chosen by the OS."""
    process = ServerProcess(tmp_path)
    yield process
    process.kill()


@pytest.fixture(autouse=True)
def no_server_outlives_its_test() -> Iterator[None]:
    yield
    while ServerProcess.started:
        ServerProcess.started.pop().kill()
    while RedisProcess.started:
        RedisProcess.started.pop().kill()
