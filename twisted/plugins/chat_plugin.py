"""twistd plugin: C{twistd chat}.  Kept tiny so that plugin discovery is cheap."""

from twisted.application.service import ServiceMaker

chat = ServiceMaker(
    "chat",
    "chat.tap",
    "A chat server with rooms (the CMsg protocol of docs/protocol.md)",
    "chat",
)
