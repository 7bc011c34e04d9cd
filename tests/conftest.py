from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import ServerProcess
from tests.redis_server import RedisProcess


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
