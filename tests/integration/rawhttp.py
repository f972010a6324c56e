#!/usr/bin/env python3
"""Raw HTTP/1.1 probes for tests/integration/edge.sh: requests curl will not send.

Usage:
  rawhttp.py PORT send HEAD_FILE [BODY_FILE]
      send the bytes of HEAD_FILE (the request line and headers, as they
      are, CRLFs included) and of BODY_FILE, then read the answer
  rawhttp.py PORT stream HEAD_FILE BODY_BYTES
      send HEAD_FILE, then a chunked body of BODY_BYTES bytes (generated
      as it goes, never held), reading the answer meanwhile; stops
      sending when the server answers or closes
  rawhttp.py PORT storm CLIENTS REQUESTS HEAD_FILE...
      CLIENTS threads send REQUESTS requests in all, each on a connection
      of its own, cycling over the HEAD_FILEs; prints one line per status
      ("COUNT STATUS", 000 for no answer)

send and stream print one JSON object: status (0: no answer), body (of
the answer, as text), sent (bytes written after HEAD_FILE: stream goes on
sending after an answer, as a hostile client would, until the server
closes), closed (the server closed the connection, after its answer when
there was one, within the wait), connection and content_type (those
headers of the answer).  stream adds sent_before_answer (-1: none) and
stalled (the server neither read nor closed for the whole wait).
Options (environment): RAWHTTP_TIMEOUT seconds to wait for an answer and
then for the close (default 10).
"""

import json
import os
import select
import socket
import sys
import threading
import time

TIMEOUT = float(os.environ.get("RAWHTTP_TIMEOUT", "10"))
CHUNK = 64 * 1024


def connect(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # a small send buffer, so that what the kernel holds for us is small
    # next to what the server read
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
    s.settimeout(TIMEOUT)
    s.connect(("127.0.0.1", port))
    return s


class Answer:
    """Reads one response off s as it arrives."""

    def __init__(self, s):
        self.s = s
        self.buf = b""
        self.eof = False
        self.reset = False

    def feed(self):
        """Read what is there; False once the peer closed."""
        try:
            data = self.s.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            self.reset = True
            self.eof = True
            return False
        except socket.timeout:
            return True
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def head_end(self):
        return self.buf.find(b"\r\n\r\n")

    def complete(self):
        """True once a whole response (by Content-Length) is in."""
        end = self.head_end()
        if end < 0:
            return False
        length = self.header(b"content-length")
        n = int(length) if length is not None else 0
        return len(self.buf) >= end + 4 + n or self.eof

    def header(self, name):
        end = self.head_end()
        if end < 0:
            return None
        for line in self.buf[:end].split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == name:
                return v.strip().decode("latin-1")
        return None

    def status(self):
        end = self.head_end()
        if end < 0:
            return 0
        parts = self.buf[:end].split(b"\r\n")[0].split(b" ")
        try:
            return int(parts[1])
        except (IndexError, ValueError):
            return 0

    def body(self):
        """The answer's body (Content-Length bytes; what follows is not
        its own)."""
        end = self.head_end()
        if end < 0:
            return ""
        body = self.buf[end + 4:]
        length = self.header(b"content-length")
        if length is not None and length.isdigit():
            body = body[:int(length)]
        return body.decode("utf-8", "replace")

    def wait_close(self):
        """After the answer: True when the peer closes within TIMEOUT."""
        deadline = time.monotonic() + TIMEOUT
        while not self.eof and time.monotonic() < deadline:
            self.s.settimeout(max(0.01, deadline - time.monotonic()))
            if not self.feed():
                break
        return self.eof


def report(a, sent):
    out = {"status": a.status(), "body": a.body(), "sent": sent,
           "closed": False, "connection": a.header(b"connection") or "",
           "content_type": a.header(b"content-type") or ""}
    if a.status() != 0:
        out["closed"] = a.wait_close()
    else:
        out["closed"] = a.eof
    print(json.dumps(out))


def read_answer(a):
    deadline = time.monotonic() + TIMEOUT
    while not a.complete() and time.monotonic() < deadline:
        a.s.settimeout(max(0.01, deadline - time.monotonic()))
        if not a.feed():
            break


def do_send(port, head_file, body_file):
    with open(head_file, "rb") as f:
        data = f.read()
    head_len = len(data)
    if body_file:
        with open(body_file, "rb") as f:
            data += f.read()
    s = connect(port)
    a = Answer(s)
    sent = 0
    try:
        s.sendall(data)
        sent = len(data) - head_len
    except (BrokenPipeError, ConnectionResetError):
        pass
    read_answer(a)
    report(a, sent)
    s.close()


def do_stream(port, head_file, total):
    with open(head_file, "rb") as f:
        head = f.read()
    s = connect(port)
    a = Answer(s)
    s.sendall(head)
    chunk = b"%x\r\n" % CHUNK + b"a" * CHUNK + b"\r\n"
    pending = b""
    sent = 0
    answered_at = -1
    stalled = False
    s.setblocking(False)
    deadline = time.monotonic() + TIMEOUT
    # go on sending after an answer, as a hostile client would: what
    # counts is what the server takes before it closes
    while (sent < total or pending) and not a.eof:
        r, w, _ = select.select([s], [s] if not a.eof else [], [], 0.5)
        if r:
            a.feed()
            if answered_at < 0 and a.status():
                answered_at = sent
            continue
        if not w:
            if time.monotonic() > deadline:
                stalled = True  # neither reads nor closes
                break
            continue
        if not pending:
            pending = chunk
        try:
            n = s.send(pending)
        except (BrokenPipeError, ConnectionResetError):
            a.reset = True
            break
        except BlockingIOError:
            continue
        sent += n
        pending = pending[n:]
        deadline = time.monotonic() + TIMEOUT
    s.setblocking(True)
    if not a.eof and not stalled and sent >= total and not pending:
        try:
            s.sendall(b"0\r\n\r\n")
        except OSError:
            pass
    # a reset may have come after an answer already received: read what
    # is left of it
    if not a.eof:
        read_answer(a)
    if answered_at < 0 and a.status():
        answered_at = sent
    out = {"status": a.status(), "body": a.body(), "sent": sent,
           "sent_before_answer": answered_at, "stalled": stalled,
           "closed": a.eof or a.wait_close(),
           "connection": a.header(b"connection") or "",
           "content_type": a.header(b"content-type") or ""}
    print(json.dumps(out))
    s.close()


def do_storm(port, clients, requests, heads):
    datas = []
    for h in heads:
        with open(h, "rb") as f:
            datas.append(f.read())
    counts = {}
    lock = threading.Lock()
    next_i = [0]

    def worker():
        while True:
            with lock:
                i = next_i[0]
                if i >= requests:
                    return
                next_i[0] += 1
            status = 0
            try:
                s = connect(port)
                a = Answer(s)
                try:
                    s.sendall(datas[i % len(datas)])
                except (BrokenPipeError, ConnectionResetError):
                    pass
                read_answer(a)
                status = a.status()
                s.close()
            except OSError:
                pass
            with lock:
                counts[status] = counts.get(status, 0) + 1

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for status in sorted(counts):
        print("%d %03d" % (counts[status], status))


def main(argv):
    if len(argv) < 4:
        sys.stderr.write(__doc__)
        return 2
    port, mode = int(argv[1]), argv[2]
    if mode == "send":
        do_send(port, argv[3], argv[4] if len(argv) > 4 else None)
    elif mode == "stream":
        do_stream(port, argv[3], int(argv[4]))
    elif mode == "storm":
        do_storm(port, int(argv[3]), int(argv[4]), argv[5:])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
