"""
The cluster's state changes, each one Lua script run atomically by Redis.

Every change that others must see in one order (a join, a leave, a rename, a
message) is an entry in the room's stream, appended by the same script that
changes the membership, so a member list, the stream and the ids never
disagree.  Keys (all under a prefix, by default C{chat:}):

  nodes                 set of live node ids
  alive:NODE            the node's heartbeat (its address), expires
  suspect:NODE          when a node was first seen without a heartbeat
  nicks                 hash: folded nickname -> "NODE<TAB>nick"
  nodeusers:NODE        set of the folded nicknames on that node
  userrooms:NICK        set of the folded room names a user is in
  rooms                 hash: folded room name -> room name (rooms with members)
  members:ROOM          hash: folded nickname -> nickname
  lastid:ROOM           the room's last message id
  seq:ROOM              the number of the room's last stream entry (gap detection)
  room:ROOM             stream of everything said and done in the room
  history:ROOM          stream of the room's messages only, entry id "ID-0"
  topics                hash: folded room name -> the topic as a joiner gets it (a record)
  away                  hash: folded nickname -> away message (users who are away)
  accountof             hash: folded nickname -> the account its user is logged in to (users logged in)
  realnameof            hash: folded nickname -> its client's real name (IRC's USER), where it gave one
  looks                 hash: what a nickname looks like (chat.lookalike.look_keys, each) -> folded nickname
  lookof                hash: folded nickname -> its look keys, tab-separated
  inbox:NODE            stream of private messages (and wake-ups) for a node

Every entry's 'm' is a stored record (L{chat.core.events}): typed fields, no
text for people; each node renders it for its clients.

Stream entry ids carry the message ids: message N is entry "N-0" in both
streams; an event after it is "N-1", "N-2"... (Redis 7's "N-*"), so a
HISTORY page is a range query on ids the clients know.
"""

from __future__ import annotations

#: Functions every script starts with.  ARGV[1] is always the key prefix.
_COMMON = r"""
local P = ARGV[1]
local ROOM_MAXLEN = 100000
-- Seconds the stream of an empty room where nothing was said is kept (for
-- nodes still reading it), before it is forgotten with its topic.
local EMPTY_ROOM_TTL = 600

-- Every entry of a room's stream has 'n', its number in the room: a reader
-- that finds a number missing knows entries were trimmed before it read them.
local function event(room, body, extra_field, extra_value)
    local last = redis.call('GET', P .. 'lastid:' .. room) or '0'
    local n = redis.call('INCR', P .. 'seq:' .. room)
    if extra_field then
        return redis.call('XADD', P .. 'room:' .. room, 'MAXLEN', '~', ROOM_MAXLEN, last .. '-*',
                          'm', body, 'n', n, extra_field, extra_value)
    end
    return redis.call('XADD', P .. 'room:' .. room, 'MAXLEN', '~', ROOM_MAXLEN, last .. '-*', 'm', body, 'n', n)
end

local function room_name(room)
    return redis.call('HGET', P .. 'rooms', room) or room
end

-- A record (chat.core.events.record): its version, its kind, its fields.
local function record(kind, fields)
    fields.v = 1
    fields.t = kind
    return cjson.encode(fields)
end

-- Take one user out of one room, telling the room (a record of the kind 'left' or 'quit', with the
-- fields given); forget empty rooms.
local function remove_member(room, fold, kind, fields)
    if redis.call('HDEL', P .. 'members:' .. room, fold) == 1 then
        local name = room_name(room)
        fields.room = name
        event(room, record(kind, fields))
        if redis.call('HLEN', P .. 'members:' .. room) == 0 then
            redis.call('HDEL', P .. 'rooms', room)
            if redis.call('EXISTS', P .. 'lastid:' .. room) == 0 then
                -- Nothing was said: nothing of the room is kept (its history, if any, keeps it).
                redis.call('HDEL', P .. 'topics', room)
                redis.call('EXPIRE', P .. 'room:' .. room, EMPTY_ROOM_TTL)
                redis.call('EXPIRE', P .. 'seq:' .. room, EMPTY_ROOM_TTL)
            end
        end
    end
    redis.call('SREM', P .. 'userrooms:' .. fold, room)
end

-- The nickname a node's user holds, from the folded one.
local function holder_nick(node, fold)
    local holder = redis.call('HGET', P .. 'nicks', fold)
    if holder and string.sub(holder, 1, #node + 1) == node .. '\t' then
        return string.sub(holder, #node + 2)
    end
    return fold
end

-- What a nickname looks like is taken while its holder is on (several keys, tab-separated).
local function each_look(looks)
    return string.gmatch(looks, '[^\t]+')
end

local function look_twin(fold, looks, also)
    for look in each_look(looks) do
        local twin = redis.call('HGET', P .. 'looks', look)
        if twin and twin ~= fold and twin ~= also then
            return twin
        end
    end
    return false
end

local function forget_look(fold)
    local looks = redis.call('HGET', P .. 'lookof', fold)
    if looks then
        for look in each_look(looks) do
            if redis.call('HGET', P .. 'looks', look) == fold then
                redis.call('HDEL', P .. 'looks', look)
            end
        end
    end
    redis.call('HDEL', P .. 'lookof', fold)
end

local function take_look(fold, looks)
    for look in each_look(looks) do
        redis.call('HSET', P .. 'looks', look, fold)
    end
    redis.call('HSET', P .. 'lookof', fold, looks)
end

-- The rooms a user is in (folded), and their names as shown, in the same order.
local function rooms_of(fold)
    local rooms = redis.call('SMEMBERS', P .. 'userrooms:' .. fold)
    local names = {}
    for i, room in ipairs(rooms) do
        names[i] = room_name(room)
    end
    return rooms, names
end

-- Remove a user from the whole cluster (quit, lost connection, dead node); why: what its rooms are told.
-- A user's field in a hash of them: set, or forgotten when it is empty.
local function set_or_forget(hash, fold, value)
    if value and value ~= '' then
        redis.call('HSET', P .. hash, fold, value)
    else
        redis.call('HDEL', P .. hash, fold)
    end
end

local function remove_user(node, fold, nick, why)
    local rooms, names = rooms_of(fold)
    for _, room in ipairs(rooms) do
        remove_member(room, fold, 'quit', {nick = nick, why = why, rooms = names})
    end
    redis.call('DEL', P .. 'userrooms:' .. fold)
    local holder = redis.call('HGET', P .. 'nicks', fold)
    if holder and string.sub(holder, 1, #node + 1) == node .. '\t' then
        redis.call('HDEL', P .. 'nicks', fold)
        redis.call('HDEL', P .. 'away', fold)
        redis.call('HDEL', P .. 'accountof', fold)
        redis.call('HDEL', P .. 'realnameof', fold)
        forget_look(fold)
    end
    redis.call('SREM', P .. 'nodeusers:' .. node, fold)
end
"""

#: ARGV: prefix, node, info, ttl ms.  A node joins the cluster.
REGISTER = _COMMON + r"""
local node = ARGV[2]
redis.call('SADD', P .. 'nodes', node)
redis.call('SET', P .. 'alive:' .. node, ARGV[3], 'PX', ARGV[4])
redis.call('DEL', P .. 'suspect:' .. node)
return 1
"""

#: ARGV: prefix, node, info, ttl ms.  0: this node was removed from the
#: cluster (taken for dead, or Redis lost its data).
BEAT = _COMMON + r"""
local node = ARGV[2]
if redis.call('SISMEMBER', P .. 'nodes', node) == 0 then
    return 0
end
redis.call('SET', P .. 'alive:' .. node, ARGV[3], 'PX', ARGV[4])
redis.call('DEL', P .. 'suspect:' .. node)
return 1
"""

#: ARGV: prefix, grace ms, why (what rooms are told).  Removes every node whose heartbeat has been
#: gone for the grace period, announcing its users' leaves once; returns their ids.
REAP = _COMMON + r"""
local grace, why = tonumber(ARGV[2]), ARGV[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local reaped = {}
for _, node in ipairs(redis.call('SMEMBERS', P .. 'nodes')) do
    if redis.call('EXISTS', P .. 'alive:' .. node) == 0 then
        local since = redis.call('GET', P .. 'suspect:' .. node)
        if not since then
            redis.call('SET', P .. 'suspect:' .. node, now, 'PX', grace * 10)
        elseif now - tonumber(since) >= grace then
            for _, fold in ipairs(redis.call('SMEMBERS', P .. 'nodeusers:' .. node)) do
                remove_user(node, fold, holder_nick(node, fold), why)
            end
            redis.call('DEL', P .. 'nodeusers:' .. node, P .. 'suspect:' .. node)
            redis.call('SREM', P .. 'nodes', node)
            redis.call('DEL', P .. 'inbox:' .. node)
            table.insert(reaped, node)
        end
    end
end
return reaped
"""

#: ARGV: prefix, node, why (what rooms are told).  A node leaves cleanly (its users have quit).
UNREGISTER = _COMMON + r"""
local node = ARGV[2]
for _, fold in ipairs(redis.call('SMEMBERS', P .. 'nodeusers:' .. node)) do
    remove_user(node, fold, holder_nick(node, fold), ARGV[3])
end
redis.call('DEL', P .. 'nodeusers:' .. node, P .. 'alive:' .. node, P .. 'inbox:' .. node)
redis.call('SREM', P .. 'nodes', node)
return 1
"""

#: ARGV: prefix, node, fold, nick, look.  1: taken; 0: in use; -1: node not
#: in the cluster; -2: it looks like a nickname in use.
LOGON = _COMMON + r"""
local node, fold, nick, look = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if redis.call('SISMEMBER', P .. 'nodes', node) == 0 then
    return -1
end
if look_twin(fold, look, fold) then
    return -2
end
if redis.call('HSETNX', P .. 'nicks', fold, node .. '\t' .. nick) == 0 then
    return 0
end
take_look(fold, look)
redis.call('HDEL', P .. 'away', fold)
set_or_forget('accountof', fold, ARGV[6])
set_or_forget('realnameof', fold, ARGV[7])
redis.call('SADD', P .. 'nodeusers:' .. node, fold)
return 1
"""

#: ARGV: prefix, node, old fold, old nick, new fold, new nick, new look.
#: 1, 0 (in use) or -2 (it looks like a nickname in use).
RENAME = _COMMON + r"""
local node, oldfold, oldnick, newfold, newnick, newlook = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
if look_twin(oldfold, newlook, newfold) then
    return -2
end
if oldfold ~= newfold then
    if redis.call('HSETNX', P .. 'nicks', newfold, node .. '\t' .. newnick) == 0 then
        return 0
    end
    redis.call('HDEL', P .. 'nicks', oldfold)
    redis.call('SREM', P .. 'nodeusers:' .. node, oldfold)
    redis.call('SADD', P .. 'nodeusers:' .. node, newfold)
    if redis.call('EXISTS', P .. 'userrooms:' .. oldfold) == 1 then
        redis.call('RENAME', P .. 'userrooms:' .. oldfold, P .. 'userrooms:' .. newfold)
    end
    for _, hash in ipairs({'away', 'realnameof'}) do
        local value = redis.call('HGET', P .. hash, oldfold)
        if value then
            redis.call('HSET', P .. hash, newfold, value)
            redis.call('HDEL', P .. hash, oldfold)
        end
    end
    redis.call('HDEL', P .. 'accountof', oldfold)
else
    redis.call('HSET', P .. 'nicks', newfold, node .. '\t' .. newnick)
end
forget_look(oldfold)
take_look(newfold, newlook)
set_or_forget('accountof', newfold, ARGV[8])
local rooms, names = rooms_of(newfold)
for i, room in ipairs(rooms) do
    redis.call('HDEL', P .. 'members:' .. room, oldfold)
    redis.call('HSET', P .. 'members:' .. room, newfold, newnick)
    local renamed = {room = names[i], old = oldnick, new = newnick, rooms = names}
    if ARGV[8] ~= '' then renamed.account = ARGV[8] end
    if ARGV[9] ~= '' then renamed.was = ARGV[9] end
    event(room, record('renamed', renamed))
end
return 1
"""
ACCOUNT = _COMMON + r"""
local fold, nick, account = ARGV[2], ARGV[3], ARGV[4]
set_or_forget('accountof', fold, account)
local rooms, names = rooms_of(fold)
for i, room in ipairs(rooms) do
    local changed = {room = names[i], nick = nick, rooms = names}
    if account ~= '' then changed.account = account end
    event(room, record('account', changed))
end
return 1
"""

#: ARGV: prefix, node, fold, nick, room fold, room name, replay count, whether the user may create a
#: room ("1" or "0").  Returns {entry id, room name, member nicks, last replay + 1 messages newest
#: first, topic or "", 1 if the join created the room}, or -3 if the room is new and may not be created.
JOIN = _COMMON + r"""
local node, fold, nick, room, name, replay = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], tonumber(ARGV[7])
local created = 0
if redis.call('HEXISTS', P .. 'rooms', room) == 0 then
    if redis.call('EXISTS', P .. 'lastid:' .. room) == 0 and redis.call('HEXISTS', P .. 'topics', room) == 0 then
        if ARGV[8] == '0' then
            return -3
        end
        created = 1
    end
    redis.call('HSET', P .. 'rooms', room, name)
end
redis.call('PERSIST', P .. 'room:' .. room)
redis.call('PERSIST', P .. 'seq:' .. room)
name = room_name(room)
redis.call('HSET', P .. 'members:' .. room, fold, nick)
redis.call('SADD', P .. 'userrooms:' .. fold, room)
local joined = {nick = nick, room = name}
if ARGV[9] ~= '' then joined.account = ARGV[9] end
if ARGV[10] ~= '' then joined.realname = ARGV[10] end
local id = event(room, record('joined', joined), 'j', node .. '\t' .. fold)
local away = redis.call('HGET', P .. 'away', fold)
if away then  -- the others learn at once that the one joining is away
    event(room, record('away', {room = name, nick = nick, away = away, rooms = {name}}))
end
-- One more than the replay: whether there are more (with no replay, whether there are any).
local history = redis.call('XREVRANGE', P .. 'history:' .. room, '+', '-', 'COUNT', replay + 1)
local members = redis.call('HGETALL', P .. 'members:' .. room)
local nicks, away = {}, {}
for i = 1, #members, 2 do
    nicks[#nicks + 1] = members[i + 1]
    if redis.call('HEXISTS', P .. 'away', members[i]) == 1 then away[#away + 1] = members[i + 1] end
end
return {id, name, nicks, history, redis.call('HGET', P .. 'topics', room) or '', created, away}
"""

#: ARGV: prefix, fold, room fold, the change (a record), the topic a joiner gets
#: (a record, "" to clear).  0 if the user is not in the room.
TOPIC = _COMMON + r"""
local fold, room, change, kept = ARGV[2], ARGV[3], ARGV[4], ARGV[5]
if redis.call('HEXISTS', P .. 'members:' .. room, fold) == 0 then
    return 0
end
if kept == '' then
    redis.call('HDEL', P .. 'topics', room)
else
    redis.call('HSET', P .. 'topics', room, kept)
end
event(room, change)
return 1
"""

#: ARGV: prefix, fold, nick, room fold, reason.
LEAVE = _COMMON + r"""
remove_member(ARGV[4], ARGV[2], 'left', {nick = ARGV[3], reason = ARGV[5]})
return 1
"""

#: ARGV: prefix, node, fold, nick, why.
QUIT = _COMMON + r"""
remove_user(ARGV[2], ARGV[3], ARGV[4], ARGV[5])
return 1
"""

#: ARGV: prefix, room fold, the record without its id and closing brace, history keep (0: all).
#: The message's id is allocated here, so the stream order is the id order.
SAY = _COMMON + r"""
local room, keep = ARGV[2], tonumber(ARGV[4])
local id = redis.call('INCR', P .. 'lastid:' .. room)
local body = ARGV[3] .. ',"id":' .. id .. '}'
local n = redis.call('INCR', P .. 'seq:' .. room)
redis.call('XADD', P .. 'room:' .. room, 'MAXLEN', '~', ROOM_MAXLEN, id .. '-0', 'm', body, 'n', n)
if keep > 0 then
    redis.call('XADD', P .. 'history:' .. room, 'MAXLEN', keep, id .. '-0', 'm', body)
else
    redis.call('XADD', P .. 'history:' .. room, id .. '-0', 'm', body)
end
return id
"""

#: ARGV: prefix, sender node, sender fold, target fold, the record without
#: its target and closing brace.  Returns {the target's nickname, its away message or ""},
#: or false if nobody has it.
PRIVATE = _COMMON + r"""
local node, sender, target = ARGV[2], ARGV[3], ARGV[4]
local holder = redis.call('HGET', P .. 'nicks', target)
if not holder then
    return false
end
local tab = string.find(holder, '\t', 1, true)
local tnode, tnick = string.sub(holder, 1, tab - 1), string.sub(holder, tab + 1)
local body = ARGV[5] .. ',"to":' .. cjson.encode(tnick) .. '}'
redis.call('XADD', P .. 'inbox:' .. tnode, 'MAXLEN', '~', ROOM_MAXLEN, '*', 'm', body, 'r', target, 's', sender)
if tnode ~= node then
    redis.call('XADD', P .. 'inbox:' .. node, 'MAXLEN', '~', ROOM_MAXLEN, '*', 'm', body, 'r', target, 's', sender)
end
return {tnick, redis.call('HGET', P .. 'away', target) or ''}
"""

#: ARGV: prefix, node, fold, away message ("" clears it).  0 if the node does not hold that user.
AWAY = _COMMON + r"""
local node, fold, text = ARGV[2], ARGV[3], ARGV[4]
local holder = redis.call('HGET', P .. 'nicks', fold)
if not holder or string.sub(holder, 1, #node + 1) ~= node .. '\t' then
    return 0
end
set_or_forget('away', fold, text)
local nick = string.sub(holder, #node + 2)
local rooms, names = rooms_of(fold)
for i, room in ipairs(rooms) do
    local changed = {room = names[i], nick = nick, rooms = names}
    if text ~= '' then changed.away = text end
    event(room, record('away', changed))
end
return 1
"""
