"""The flood control token bucket, on times given by hand."""

from twisted.trial.unittest import SynchronousTestCase

from chat.limits import TokenBucket


class TokenBucketTests(SynchronousTestCase):
    def test_burst_passes_then_frames_are_spaced_at_the_rate(self) -> None:
        bucket = TokenBucket(0.0, rate=10, burst=5, kick=3)
        self.assertEqual([bucket.take(0.0) for _ in range(5)], [0.0] * 5)
        self.assertAlmostEqual(bucket.take(0.0), 0.1)
        self.assertAlmostEqual(bucket.take(0.1), 0.1)
        self.assertFalse(bucket.flooding)

    def test_tokens_refill_up_to_the_burst(self) -> None:
        bucket = TokenBucket(0.0, rate=10, burst=5)
        for _ in range(5):
            bucket.take(0.0)
        self.assertEqual([bucket.take(100.0) for _ in range(5)], [0.0] * 5)

    def test_slowed_in_consecutive_seconds_is_flooding(self) -> None:
        bucket = TokenBucket(0.0, rate=10, burst=5, kick=3)
        t = 0.0
        seconds_flooded = 0
        while not bucket.flooding:
            t += bucket.take(t) or 0.01
            seconds_flooded = int(t)
        self.assertEqual(seconds_flooded, 3)

    def test_a_pause_resets_the_streak(self) -> None:
        bucket = TokenBucket(0.0, rate=10, burst=2, kick=3)
        for second in (0.0, 1.0, 2.0, 5.0, 6.0):  # slowed in 0, 1, 2; quiet in 3, 4
            for _ in range(14):
                bucket.take(second)
        self.assertEqual(bucket.streak, 2)
        self.assertFalse(bucket.flooding)

    def test_costs_slow_a_client_down_but_never_count_as_flooding(self) -> None:
        """A client paging through history one 200-message page after another is slowed, never kicked."""
        bucket = TokenBucket(0.0, rate=10, burst=20, kick=10)
        now = 0.0
        for _ in range(100):
            wait = bucket.take(now)  # the HISTORY frame itself
            now += wait
            now += bucket.charge(now, 4)  # the page's cost: it waits before the next is read
            self.assertFalse(bucket.flooding)
        self.assertGreater(now, 30.0)  # 100 pages of 4 tokens at 10 a second, less the burst
        self.assertEqual(bucket.charge(now + 100, 4), 0.0, "refilled after a rest")
