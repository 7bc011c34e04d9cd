"""
Accounts kept by the whole cluster, in Redis: an account registered on one
node logs on at every other.  Keys (under the node's prefix):

  accounts      hash: account key (folded name) -> the account record
  accountkeys   hash: every key a name is found under -> the account key

Each change is one Lua script, so two nodes registering look-alike names at
once cannot both succeed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twisted.internet import defer
from zope.interface import implementer

from chat.core.accountbook import Account, IAccountStore

FIND = r"""
local P = ARGV[1]
for i = 2, #ARGV do
  local owner = redis.call('HGET', P .. 'accountkeys', ARGV[i])
  if owner then
    local body = redis.call('HGET', P .. 'accounts', owner)
    if body then return body end
  end
end
return false
"""

CREATE = r"""
local P, key, body = ARGV[1], ARGV[2], ARGV[3]
if redis.call('HEXISTS', P .. 'accounts', key) == 1 then return 0 end
for i = 4, #ARGV do
  if redis.call('HEXISTS', P .. 'accountkeys', ARGV[i]) == 1 then return 0 end
end
redis.call('HSET', P .. 'accounts', key, body)
for i = 4, #ARGV do redis.call('HSET', P .. 'accountkeys', ARGV[i], key) end
return 1
"""

REPLACE = r"""
local P, key, body = ARGV[1], ARGV[2], ARGV[3]
if redis.call('HEXISTS', P .. 'accounts', key) == 1 then redis.call('HSET', P .. 'accounts', key, body) end
return 1
"""

DELETE = r"""
local P, key = ARGV[1], ARGV[2]
redis.call('HDEL', P .. 'accounts', key)
for i = 3, #ARGV do
  if redis.call('HGET', P .. 'accountkeys', ARGV[i]) == key then redis.call('HDEL', P .. 'accountkeys', ARGV[i]) end
end
return 1
"""


@implementer(IAccountStore)
class RedisAccountStore:
    """The cluster's accounts, through a node's command connection (refused while Redis is out of reach)."""

    durable = True

    def __init__(self, run: Any) -> None:
        #: The node's script runner: C{run(script, *args)}, with the prefix as the first argument.
        self.run = run

    def find(self, keys: Sequence[str]) -> defer.Deferred[Account | None]:
        d = self.run(FIND, *keys)
        return d.addCallback(lambda body: Account.from_body(body) if body else None)

    def create(self, account: Account, keys: Sequence[str]) -> defer.Deferred[bool]:
        return self.run(CREATE, account.key, account.body(), *keys).addCallback(lambda done: int(done) == 1)

    def replace(self, account: Account) -> defer.Deferred[None]:
        return self.run(REPLACE, account.key, account.body()).addCallback(lambda _: None)

    def delete(self, account: Account, keys: Sequence[str]) -> defer.Deferred[None]:
        return self.run(DELETE, account.key, *keys).addCallback(lambda _: None)
