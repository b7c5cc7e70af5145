#!/usr/bin/env python3
#
# A tiny stand-in for Docker Model Runner, for t/pkg/test-deb.sh: listens
# on 127.0.0.1 (a free port, printed as the first line on stdout once it
# listens), answers DMR's model list, its runner state and chat
# completions, and appends "METHOD PATH" of every request to the file
# named by the first argument.

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "ai/smollm2"
REPLY = "hello from the deb test stand-in"
LOG = sys.argv[1]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def record(self):
        with open(LOG, "a") as f:
            f.write("%s %s\n" % (self.command, self.path))

    def answer(self, status, doc):
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.record()
        if self.path == "/engines/v1/models":
            self.answer(200, {"object": "list", "data": [
                {"id": MODEL, "object": "model", "created": 1742816981,
                 "owned_by": "docker"}]})
        elif self.path == "/engines/ps":
            self.answer(200, [])
        else:
            self.answer(404, {"error": "not found: " + self.path})

    def do_POST(self):
        self.record()
        n = int(self.headers.get("Content-Length") or 0)
        try:
            req = json.loads(self.rfile.read(n) or b"{}")
        except ValueError:
            req = {}
        if self.path != "/engines/v1/chat/completions":
            self.answer(404, {"error": "not found: " + self.path})
            return
        self.answer(200, {
            "id": "chatcmpl-debtest", "object": "chat.completion",
            "created": 1742816981, "model": req.get("model", MODEL),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": REPLY}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 7,
                      "total_tokens": 12}})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
