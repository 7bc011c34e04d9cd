"""
The chat server for C{twistd -ny chat.tac}: the same service as C{twistd chat}.

Options come from the environment variable CHAT_OPTIONS, parsed exactly as
C{twistd chat} parses its command line, e.g.
C{CHAT_OPTIONS="--endpoint tcp:0:interface=127.0.0.1" twistd -ny chat.tac}.
"""

import os
import shlex

from twisted.application import service

from chat.tap import Options, makeService

options = Options()
options.parseOptions(shlex.split(os.environ.get("CHAT_OPTIONS", "")))

application = service.Application("chat")
makeService(options).setServiceParent(application)
