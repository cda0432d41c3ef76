"""An OpenAI-compatible chat endpoint that is *not* ours: stdlib http.server, chat-style answers.

It answers the way chat models do (a preamble, markdown numbering, bold titles, a
sign-off), draws its content from the vendored Davinci answers rather than our
simulator's grammar, and shares no code with workers/simulated. Used to show the
pipeline is not tuned to its own simulator.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
_VERBS = ["Summarize in one sentence", "Explain to a child", "Give a counterargument to", "Turn into a quiz question",
          "Rewrite in a formal tone", "List two assumptions behind", "Suggest a title for", "Find the main claim in",
          "Translate into plain English", "Write a follow-up question about", "Rate from 1 to 5 how convincing is",
          "Name the audience most likely to care about"]


def _sentences() -> list[str]:
    out = []
    for path in sorted((REPO / "data/human_eval/predictions").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            response = json.loads(line)["response"]
            for s in re.split(r"(?<=[.!?])\s+", response):
                s = " ".join(s.split())
                if 6 <= len(s.split()) <= 25 and s[0].isalpha() and s.isascii() and ":" not in s:
                    out.append(s.rstrip("."))
    return sorted(set(out))


class _LM:
    def __init__(self) -> None:
        self.sentences = _sentences()

    def reply(self, text: str) -> str:
        rng = random.Random(hashlib.sha256(text.encode()).digest())
        if "Is it classification?" in text:
            task = text.rsplit("Task:", 1)[-1].lower()
            return "Yes" if any(w in task for w in ("classify", "rate", "whether", "label")) else "No"
        if "Class label:" in text and text.rstrip().endswith(text.rsplit("Task:", 1)[-1].rstrip()):
            return "Class label: Positive\nSentence: I loved every minute of it.\nClass label: Negative\n" \
                   "Sentence: It was a waste of an afternoon."
        if "Come up with examples" in text:
            a, b = rng.sample(self.sentences, 2)
            return f"Example 1\nInput: {a}.\nOutput: {b}.\n\nExample 2\nInput: {b}.\nOutput: {a}."
        if "Come up with a series of" in text:
            items = [f"{rng.choice(_VERBS)}: \"{s}\"" for s in rng.sample(self.sentences, 10)]
            body = "\n".join(f"{i}. **Task {i}:** {item}" if i % 3 == 0 else f"{i}. {item}"
                             for i, item in enumerate(items, start=9))
            return f"Sure! Here are some more diverse tasks:\n\n{body}\n\nLet me know if you need more."
        return "I am not sure."


class ForeignEndpoint:
    def __init__(self) -> None:
        lm = _LM()
        self.calls = 0

        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                outer.calls += 1
                if self.path != "/v1/chat/completions":
                    return self._send(404, {"error": {"message": "not found"}})
                text = "\n".join(m["content"] for m in body["messages"])
                content = lm.reply(text)
                return self._send(200, {
                    "id": "x", "object": "chat.completion", "model": body["model"],
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": len(text) // 4, "completion_tokens": len(content) // 4,
                              "total_tokens": (len(text) + len(content)) // 4}})

            def _send(self, status, obj):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
