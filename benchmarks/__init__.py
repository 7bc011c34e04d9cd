"""
The chat fan-out benchmark: C{python -m benchmarks}, run from the root of a
source checkout (after C{pip install '.[bench]'}).  It is not part of the
installed C{chat} package: it benchmarks the checkout it sits in.

It starts the server under test (and the baselines it is compared with) as
child processes, drives them from load generators in processes of their
own, and reports deliveries per second, latency, loss and reordering, CPU
per delivery and memory per idle connection, each as a ratio of the same
figure for the baselines measured in the same run (docs/performance.md).

One idea per module:

    payload.py    the text every benchmark message carries: who sent it, its number, when
    dialect.py    how a client logs on, joins and sends: our protocol and the bare broadcast
    irc.py        the same for IRC servers (ngIRCd, twistd words)
    counting.py   the receive side: count deliveries, check order, time them, cheaply
    generator.py  the load generator process (epoll, no Twisted: it must outrun the server)
    procstat.py   CPU time and resident memory of a process, from /proc
    servers.py    the servers under test: start, find the port, stop
    scenarios.py  what is measured: clients, senders, rate, duration
    runner.py     one scenario against one server, with its generators
    profile.py    py-spy on the server, summarised per function
    report.py     the table, the targets and the JSON
    plot.py       the PNG (matplotlib, optional)
    __main__.py   the command line

and the baselines it starts (servers.py):

    broadcast_server.py   the bare Twisted broadcast server, the floor
    words.tac             twistd words, Twisted's IRC server
    ngircd.conf.template  ngIRCd's configuration
"""
