#!/usr/bin/env python3
"""A small, misbehaving-on-demand MCP stdio server for the stdio proxy's tests.

Usage: fake_server.py [MODE...]. Without modes it is a plain server: it answers `initialize`
(with the version asked for), `tools/list` (tools `echo` and `env`), `tools/call` and `ping`,
ignores notifications, answers any other request with -32601, and exits when its input ends.

Modes (each a word on the command line):
  record=FILE     append every line received to FILE (what reached the server)
  slow=SECONDS    answer `tools/call` of `slow` only after SECONDS (other requests meanwhile)
  wedge           after the handshake, answer nothing at all (but keep reading)
  die-on-call     exit with status 3 when a `tools/call` arrives
  ignore-eof      on end of input, keep running and ignore SIGTERM (must be killed)
  grandchild=FILE start a `sleep 300` in the same process group, write its pid to FILE
  garbage         before each `tools/call` answer: garbage lines, an 8 MiB line, invalid
                  JSON, an answer to an id never sent, and 2,000 notifications/message
  describe=TEXT   offer the `echo` tool with TEXT as its description (a changed descriptor)
  stderr=TEXT     write the line TEXT to standard error at start
  die-after=N     exit at once with status 4 (no cleanup) once N lines have been received and
                  handled (N=0: before reading anything)
  die-mid-answer  with die-after: the N-th line's answer is cut: its first half is written,
                  without a newline, and the server exits then
Dummy data only.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time

modes = {}
for word in sys.argv[1:]:
    key, _, value = word.partition("=")
    modes[key] = value

lock = threading.Lock()
out = sys.stdout.buffer


received = 0


def dying():
    """Whether the line being handled is the last one a `die-after` server takes."""
    return "die-after" in modes and received == int(modes["die-after"])


def send(message):
    data = json.dumps(message, separators=(",", ":")).encode() + b"\n"
    if "die-mid-answer" in modes and dying():
        with lock:
            out.write(data[: len(data) // 2])
            out.flush()
            os._exit(4)
    with lock:
        out.write(data)
        out.flush()


def send_raw(data):
    with lock:
        out.write(data)
        out.flush()


TOOLS = [
    {
        "name": "echo",
        "description": "Returns the message it is given.",
        "inputSchema": {"type": "object", "properties": {"message": {"type": "string"}}},
    },
    {
        "name": "env",
        "description": "Lists the names of the environment variables the server runs with.",
        "inputSchema": {"type": "object", "properties": {}},
    },
    {
        "name": "slow",
        "description": "Returns after a delay.",
        "inputSchema": {"type": "object", "properties": {}},
    },
]

if "describe" in modes:
    TOOLS[0]["description"] = modes["describe"]

if "stderr" in modes:
    sys.stderr.write(modes["stderr"] + "\n")
    sys.stderr.flush()

if "grandchild" in modes:
    child = subprocess.Popen(["sleep", "300"])
    with open(modes["grandchild"], "w") as f:
        f.write(str(child.pid))

handshake_done = False


def answer(request):
    rid = request.get("id")
    method = request.get("method")
    params = request.get("params") or {}
    if "wedge" in modes and handshake_done:
        return
    if method == "initialize":
        version = params.get("protocolVersion", "2025-06-18")
        send({"jsonrpc": "2.0", "id": rid, "result": {
            "protocolVersion": version,
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "fake-server", "version": "0.0.1"},
        }})
    elif method == "tools/list":
        send({"jsonrpc": "2.0", "id": rid, "result": {"tools": TOOLS}})
    elif method == "tools/call":
        if "die-on-call" in modes:
            os._exit(3)
        name = params.get("name")
        args = params.get("arguments") or {}
        if "garbage" in modes:
            send_raw(b"this is not json\n")
            send_raw(b"{\"jsonrpc\":\"2.0\",\"id\":\n")
            send_raw(b"x" * (8 << 20) + b"\n")
            send({"jsonrpc": "2.0", "id": 987654, "result": {"content": []}})
            for i in range(2000):
                send({"jsonrpc": "2.0", "method": "notifications/message",
                      "params": {"level": "info", "data": "flood %d" % i}})
        if name == "slow":
            delay = float(modes.get("slow", "1"))

            def later():
                time.sleep(delay)
                send({"jsonrpc": "2.0", "id": rid,
                      "result": {"content": [{"type": "text", "text": "slow done"}]}})

            threading.Thread(target=later).start()
            return
        if name == "env":
            text = ",".join(sorted(os.environ.keys()))
        else:
            text = "Echo: " + str(args.get("message", ""))
        send({"jsonrpc": "2.0", "id": rid, "result": {"content": [{"type": "text", "text": text}]}})
    elif method == "ping":
        send({"jsonrpc": "2.0", "id": rid, "result": {}})
    elif rid is not None:
        send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": "Method not found"}})


def main():
    global handshake_done, received
    record = open(modes["record"], "ab") if "record" in modes else None
    if dying():
        os._exit(4)
    for line in sys.stdin.buffer:
        received += 1
        if record:
            record.write(line)
            record.flush()
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if isinstance(message, dict) and "method" in message:
            answer(message)
            if message.get("method") == "notifications/initialized":
                handshake_done = True
        if dying():
            os._exit(4)
    if "ignore-eof" in modes:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        while True:
            time.sleep(1)


main()
