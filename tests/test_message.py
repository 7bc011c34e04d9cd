"""The codec: what decodes, what is refused and how, and that nothing else escapes it."""

import json
import struct

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from chat.message import MAX_FRAME, CMsg, Code, ProtocolError, decode, encode, frame


class DecodeTests(SynchronousTestCase):
    def test_minimal_message_gets_defaults(self) -> None:
        msg = decode(b'{"code":5}')
        self.assertEqual(msg, CMsg(code=5))
        self.assertEqual(msg.text, "")
        self.assertFalse(msg.close)
        self.assertEqual(msg.target_room, "lobby")

    def test_all_known_keys(self) -> None:
        body = json.dumps({
            "code": 6, "text": "hé", "close": True, "room": "r", "nick": "n", "to": "t",
            "color": "red", "id": 3, "ts": 4, "names": ["a", "b"], "error": "e", "reply_to": 1,
            "action": True,
        }).encode()
        self.assertEqual(
            decode(body),
            CMsg(6, "hé", True, "r", "n", "t", "red", 3, 4, ("a", "b"), "e", 1, True),
        )

    def test_unknown_keys_are_ignored(self) -> None:
        self.assertEqual(decode(b'{"code":9,"future":[1,{"x":2}]}'), CMsg(code=9))

    def assertRefused(self, body: bytes, slug: str) -> None:
        with self.assertRaises(ProtocolError) as cm:
            decode(body)
        self.assertEqual(cm.exception.slug, slug)
        self.assertTrue(cm.exception.text)

    def test_invalid_utf8(self) -> None:
        self.assertRefused(b'{"code":5,"text":"\xff"}', "bad-utf8")

    def test_lone_surrogate_escape(self) -> None:
        self.assertRefused(b'{"code":5,"text":"\\ud800"}', "bad-utf8")

    def test_not_json(self) -> None:
        self.assertRefused(b"hello", "bad-json")
        self.assertRefused(b"", "bad-json")

    def test_nan_is_not_json(self) -> None:
        self.assertRefused(b'{"code":5,"x":NaN}', "bad-json")
        self.assertRefused(b'{"code":"x","code":9}', "bad-json")  # parsers differ on which one wins
        self.assertRefused(b'{"code":5,"x":{"a":1,"a":2}}', "bad-json")

    def test_a_key_twice_is_refused_however_it_is_spaced(self) -> None:
        self.assertRefused(b'{"code":5, "code" :6}', "bad-json")
        self.assertRefused(b'{"code":5,"text":"a","text"\n:\t"b"}', "bad-json")
        self.assertRefused(rb'{"code":5,"text":"a","t\u0065xt":"b"}', "bad-json")  # the same key, escaped
        self.assertRefused(b'[{"a":1,"a":2}]', "bad-json")  # in an object that is not the frame's

    def test_what_only_looks_like_a_key_twice_is_read(self) -> None:
        self.assertEqual(decode(b'{"code":5,"text":"a\\":b \\" :c"}').text, 'a":b " :c')
        self.assertEqual(decode(b'{"code":5,"x":{"a":1,"b":{"c":2}},"room":"r"}').room, "r")

    def test_integers_past_64_bits_are_integers(self) -> None:
        self.assertEqual(decode(b'{"code":123456789012345678901234567890}').code, 123456789012345678901234567890)
        self.assertEqual(decode(b'{"code":11,"before":99999999999999999999}').before, 99999999999999999999)
        self.assertRefused(b'{"code":11,"before":1e3}', "bad-type")
        self.assertEqual(decode(encode(CMsg(Code.ERROR, reply_to=2 ** 70))).reply_to, 2 ** 70)

    def test_deep_nesting_is_refused_not_crashing(self) -> None:
        self.assertRefused(b"[" * 100000, "bad-json")
        self.assertRefused(b'{"code":1,"x":' + b"[" * 1020 + b"]" * 1020 + b"}", "bad-json")

    def test_not_an_object(self) -> None:
        self.assertRefused(b"[1,2]", "not-an-object")
        self.assertRefused(b'"code"', "not-an-object")

    def test_code_missing_or_not_int(self) -> None:
        self.assertRefused(b"{}", "bad-code")
        self.assertRefused(b'{"code":"5"}', "bad-code")
        self.assertRefused(b'{"code":5.0}', "bad-code")
        self.assertRefused(b'{"code":true}', "bad-code")

    def test_wrong_types_of_known_keys(self) -> None:
        for body in (
            b'{"code":5,"text":1}', b'{"code":5,"room":null}', b'{"code":5,"close":1}',
            b'{"code":5,"id":"1"}', b'{"code":5,"ts":true}', b'{"code":3,"names":"a"}',
            b'{"code":3,"names":[1]}', b'{"code":5,"action":"yes"}',
        ):
            self.assertRefused(body, "bad-type")


class EncodeTests(SynchronousTestCase):
    def test_absent_keys_are_left_out(self) -> None:
        self.assertEqual(json.loads(encode(CMsg(Code.PONG))), {"code": 10})

    def test_close_and_names(self) -> None:
        self.assertEqual(
            json.loads(encode(CMsg(Code.SENDING_CHATTERS_LIST, room="x", names=("a",), close=True))),
            {"code": 3, "room": "x", "names": ["a"], "close": True},
        )

    def test_frame_is_length_prefixed_utf8(self) -> None:
        data = frame(CMsg(Code.NORMAL_MESSAGE, text="é"))
        (length,) = struct.unpack("!I", data[:4])
        self.assertEqual(length, len(data) - 4)
        self.assertEqual(json.loads(data[4:].decode("utf-8")), {"code": 5, "text": "é"})

    def test_a_list_too_long_for_one_frame_is_split_in_order(self) -> None:
        names = tuple(f"member-{i:05}-\u00e9\u00e9\u00e9\u00e9" for i in range(3000))  # ~25 bytes each
        data = frame(CMsg(Code.SENDING_CHATTERS_LIST, room="lobby", names=names))
        bodies, lengths = [], []
        while data:
            (n,) = struct.unpack("!I", data[:4])
            self.assertLessEqual(n, MAX_FRAME)
            lengths.append(n)
            bodies.append(json.loads(data[4:4 + n].decode("utf-8")))
            data = data[4 + n:]
        self.assertGreater(len(bodies), 3)
        self.assertEqual([b.get("more", False) for b in bodies], [True] * (len(bodies) - 1) + [False])
        self.assertTrue(all(b["room"] == "lobby" and b["code"] == 3 for b in bodies))
        self.assertEqual(tuple(n for b in bodies for n in b["names"]), names)
        # Each frame but the last is full: no more frames than needed.
        self.assertTrue(all(n > MAX_FRAME - 40 for n in lengths[:-1]), lengths)

    def test_a_list_that_fits_stays_one_frame(self) -> None:
        data = frame(CMsg(Code.ROOM_LIST, names=("a", "b")))
        self.assertEqual(json.loads(data[4:]), {"code": 7, "names": ["a", "b"]})


text = st.text()
cmsgs = st.builds(
    CMsg,
    code=st.integers(min_value=-(2**40), max_value=2**40),
    text=text,
    close=st.booleans(),
    room=st.none() | text,
    nick=st.none() | text,
    to=st.none() | text,
    color=st.none() | text,
    id=st.none() | st.integers(),
    ts=st.none() | st.integers(),
    names=st.none() | st.lists(text).map(tuple),
    error=st.none() | text,
    reply_to=st.none() | st.integers(),
    action=st.booleans(),
    password=st.none() | text,
    history=st.booleans(),
    more=st.booleans(),
    before=st.none() | st.integers(),
    after=st.none() | st.integers(),
    limit=st.none() | st.integers(),
)


def _no_surrogates(msg: CMsg) -> bool:
    fields = [msg.text, msg.room, msg.nick, msg.to, msg.color, msg.error, msg.password, *(msg.names or ())]
    return not any(f is not None and any("\ud800" <= c <= "\udfff" for c in f) for f in fields)


class PasswordTests(SynchronousTestCase):
    def test_password_is_decoded_but_never_in_repr(self) -> None:
        msg = decode(b'{"code":4,"text":"alice","password":"hunter2"}')
        self.assertEqual(msg.password, "hunter2")
        self.assertNotIn("hunter2", repr(msg))


class PropertyTests(SynchronousTestCase):
    @settings(max_examples=400)
    @given(st.binary(max_size=300))
    def test_decoder_raises_only_protocol_error_on_any_bytes(self, data: bytes) -> None:
        try:
            decode(data)
        except ProtocolError:
            pass

    @settings(max_examples=300)
    @given(st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda children: st.lists(children) | st.dictionaries(st.text(), children),
        max_leaves=20,
    ))
    def test_decoder_raises_only_protocol_error_on_any_json(self, value: object) -> None:
        try:
            result = decode(json.dumps(value).encode())
        except ProtocolError:
            return
        self.assertIsInstance(result.code, int)

    @settings(max_examples=300)
    @given(cmsgs.filter(_no_surrogates))
    def test_round_trip(self, msg: CMsg) -> None:
        self.assertEqual(decode(encode(msg)), msg)


def test_a_long_member_list_marks_who_is_away_in_each_of_its_frames() -> None:
    """Code 3 split over frames: each frame's 'away' names only its own names (issue 28)."""
    from chat.message import MAX_FRAME, CMsg, Code, frame

    names = tuple(f"member{n:04d}" for n in range(3000))
    away = tuple(names[::7])
    data = frame(CMsg(Code.SENDING_CHATTERS_LIST, room="big", names=names, away=away))
    frames = []
    while data:
        n = int.from_bytes(data[:4], "big")
        assert n <= MAX_FRAME
        frames.append(decode(data[4:4 + n]))
        data = data[4 + n:]
    assert len(frames) > 1 and [f.more for f in frames] == [True] * (len(frames) - 1) + [False]
    assert tuple(name for f in frames for name in f.names or ()) == names
    assert tuple(name for f in frames for name in f.away or ()) == away
    assert all(set(f.away or ()) <= set(f.names or ()) for f in frames)
