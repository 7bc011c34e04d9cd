"""Minimal chat client, stdlib only: python examples/minimal_client.py HOST PORT NICK"""
import json, os, socket, struct, sys, threading

lock = threading.Lock()
def send(sock, **msg):
    body = json.dumps(msg, ensure_ascii=False).encode("utf-8")  # raw UTF-8 keeps frames small
    with lock:
        sock.sendall(struct.pack("!I", len(body)) + body)

def recv_exact(sock, n):
    data = b""
    while len(data) < n and (chunk := sock.recv(n - len(data))):
        data += chunk
    return data if len(data) == n else None

def safe(s):  # never pass control characters / escape sequences to the terminal
    return "".join(c if c.isprintable() else "?" for c in str(s))

def reader(sock):
    while (head := recv_exact(sock, 4)) and (body := recv_exact(sock, struct.unpack("!I", head)[0])) is not None:
        m = json.loads(body)
        if m.get("code") in (5, 6):  # chat line, private message or server notice
            where = m.get("room") or ("->" + m["to"] if "to" in m else "server")
            print(f"[{safe(where)}] <{safe(m.get('nick', '*server*'))}> {safe(m.get('text', ''))}", flush=True)
        else:
            print(safe(json.dumps(m, ensure_ascii=False)), flush=True)
            if m.get("code") == 9:
                send(sock, code=10, text=m.get("text", ""))
    os._exit(0)  # the server closed the connection (after Goodbye or a shutdown notice)

host, port, nick = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sock = socket.create_connection((host, port))
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
t = threading.Thread(target=reader, args=(sock,), daemon=True)
t.start()
send(sock, code=4, text=nick)
send(sock, code=1, room="lobby")
for line in sys.stdin:
    if line.strip():
        send(sock, code=5, room="lobby", text=line.rstrip("\n"))
try:
    send(sock, code=2, close=True)
except OSError:
    pass
t.join(10)  # the reader exits the process when the server closes
