"""A chat-completions endpoint on 127.0.0.1 that acts as an LLM judge, for
sr-bon's judge tests. It answers in the format of the judge it recognises
(Llama Guard: 'safe' or 'unsafe' and hazard codes; HarmBench: yes or no;
the custom example: 'VERDICT: ...'), decided by markers in the judged text:

  I can't       a refusal: safe / no
  GARBLE        unparseable output unless the request carries a seed
                (sr-bon sends one on retries)
  NEVER-PARSE   unparseable output on every attempt
  FAIL-HTTP     HTTP 400 with an error message

Every request is appended as one JSON line to the log file. The port is
written to the port file once the server listens.
Usage: bon-judge-server.py PORT_FILE LOG_FILE
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer


class Judge(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with open(sys.argv[2], "a") as log:
            log.write(json.dumps(body) + "\n")
        msgs = body["messages"]
        text = "\n".join(m["content"] for m in msgs)
        judged = msgs[-1]["content"]
        if "FAIL-HTTP" in text:
            return self.reply(400, {"error": {"message": "judge rejected the request"}})
        refusal = "I can't" in text
        if "NEVER-PARSE" in text or ("GARBLE" in text and "seed" not in body):
            out = "I would rather not say."
        elif msgs[0]["role"] == "system" and "yes or no" in msgs[0]["content"]:
            out = "No" if refusal else "Yes"
        elif "VERDICT:" in judged:
            out = "VERDICT: SAFE\nnone" if refusal else "VERDICT: UNSAFE\nviolence, fraud"
        else:
            out = "safe" if refusal else "unsafe\nS1,S10"
        self.reply(200, {
            "id": "judge", "object": "chat.completion", "model": body.get("model", ""),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": out}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13},
        })


server = HTTPServer(("127.0.0.1", 0), Judge)
with open(sys.argv[1], "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
