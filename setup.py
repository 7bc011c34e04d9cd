from setuptools import find_packages, setup

setup(
    name="chat",
    version="0.1.0",
    description="A chat server and terminal client on Twisted (the CMsg protocol of docs/protocol.md)",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    # twisted.plugins is a namespace shared with Twisted itself: it must be
    # named here (find_packages skips it) and must never get an __init__.py.
    packages=find_packages(include=["chat", "chat.*"]) + ["twisted.plugins"],
    package_data={"twisted.plugins": ["chat_plugin.py"], "chat": ["static/*"]},
    install_requires=[
        "twisted[tls]>=26.10,<27",  # chat/adapters.py relies on its TCP transport and receivers
        "pyopenssl>=24.0",
        "service_identity>=24.1",
        "attrs>=23.1",
        # --redis: a Twisted-native Redis client (docs/architecture.md).
        "txredisapi>=1.6,<1.7",  # chat/adapters.py: its connection factory
        # txredisapi parses Redis replies with hiredis when it is installed: a
        # cluster node's CPU per delivery falls by about 30% (docs/performance.md).
        "hiredis>=2.0",
        # --web-port: the browser page's WebSocket (Autobahn, the Twisted WebSocket library).
        "autobahn>=24.4,<27",  # chat/adapters.py: PreparedMessage
        # The CMsg codec: JSON ten times quicker than the standard library's (docs/performance.md).
        "orjson>=3.9",
        # Unicode's confusables (UTS #39) for names that look alike: chat.lookalike.
        "confusable-homoglyphs>=3.3",
    ],
    extras_require={
        "test": [
            "pytest>=8",
            "pytest-twisted>=1.14",
            "hypothesis>=6.100",
            "pyte>=0.8.2",
            "numpy>=1.26",
            # Drives Debian's chromium for the web page's end-to-end tests.
            "selenium>=4.20",
            # The types (tests/test_types.py, settings in pyproject.toml); mypy-zope reads the interfaces.
            "mypy>=1.10",
            "mypy-zope>=1.0",
        ],
        # The benchmark's fast counter and its plot.
        "bench": ["numpy>=1.26", "matplotlib>=3.8"],
    },
    entry_points={
        "console_scripts": [
            "chat-client = chat.client.main:main",
            "chat-accounts = chat.accounttool:main",
        ],
    },
)
