#!/usr/bin/env python3
"""The official `openai` Python client against a running `septet serve`
(stories260K, loopback only): chat, streaming with usage, completions with
logprobs, chat logprobs, models, and errors raised as the client's exception
types (401 -> AuthenticationError, 400 -> BadRequestError).

Run by ctest (TIMEOUT set there): serve_openai_client_test.py SEPTET_BINARY
Exits 77 (ctest SKIP_RETURN_CODE) only when the `openai` module is missing.
"""
import os
import re
import subprocess
import sys
import threading
import time

try:
    import openai
except ImportError:
    print("SKIP: the Python module 'openai' is not installed (scripts/install-deps.sh installs it)")
    sys.exit(77)

KEY = "sk-septet-test"


def shared_dir():
    if os.environ.get("SEPTET_SHARED"):
        return os.environ["SEPTET_SHARED"]
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared")


def start_server(binary, model):
    proc = subprocess.Popen(
        [binary, "serve", "-m", model, "--host", "127.0.0.1", "--port", "0", "--parallel", "2", "--api-key", KEY],
        stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    for line in proc.stderr:
        m = re.search(r"on http://127\.0\.0\.1:(\d+)", line)
        if m:
            # Keep reading its log so that a full pipe never blocks the server.
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, int(m.group(1))
        if time.time() > deadline:
            break
    proc.kill()
    raise SystemExit("septet serve did not start")


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what)


def main():
    binary = sys.argv[1]
    model = os.path.join(shared_dir(), "models", "stories260K", "stories260K.bin")
    proc, port = start_server(binary, model)
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY, timeout=30, max_retries=0)

        models = client.models.list()
        check(models.data[0].id == "stories260K.bin" and models.data[0].created > 0, "models: id and file mtime")

        chat = client.chat.completions.create(
            model="stories260K.bin", messages=[{"role": "user", "content": "Tell me a story"}],
            max_tokens=12, temperature=0)
        check(chat.choices[0].message.role == "assistant" and isinstance(chat.choices[0].message.content, str),
              "chat: an assistant message")
        check(chat.usage.completion_tokens <= 12 and chat.usage.prompt_tokens > 0, "chat: usage")

        parts = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": [{"type": "text", "text": "Tell me "},
                                                             {"type": "text", "text": "a story"}]}],
            max_tokens=12, temperature=0)
        check(parts.choices[0].message.content == chat.choices[0].message.content,
              "chat: text parts are joined (same greedy reply)")

        stream = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "Tell me a story"}], max_tokens=12, temperature=0,
            stream=True, stream_options={"include_usage": True})
        text, usage, finish = "", None, None
        for chunk in stream:
            if chunk.usage is not None:
                usage = chunk.usage
            for c in chunk.choices:
                text += c.delta.content or ""
                finish = c.finish_reason or finish
        check(text == chat.choices[0].message.content, "streaming: deltas add up to the whole reply")
        check(usage is not None and usage.completion_tokens == chat.usage.completion_tokens,
              "streaming: include_usage chunk")
        check(finish in ("stop", "length"), "streaming: finish_reason")

        comp = client.completions.create(model="m", prompt="Once upon a time", max_tokens=8, temperature=0,
                                         logprobs=2)
        lp = comp.choices[0].logprobs
        check(comp.choices[0].text.startswith(", there was"), "completions: the greedy continuation")
        check(len(lp.tokens) == 8 and "".join(lp.tokens) == comp.choices[0].text, "completions: logprobs tokens")
        check(all(l <= 0 for l in lp.token_logprobs) and len(lp.top_logprobs[0]) == 2, "completions: logprobs values")

        chat_lp = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "Hi"}], max_tokens=4, temperature=0,
            logprobs=True, top_logprobs=3)
        content = chat_lp.choices[0].logprobs.content
        check(len(content) == 4 and len(content[0].top_logprobs) == 3 and content[0].bytes is not None,
              "chat: logprobs content")

        try:
            openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="wrong", max_retries=0).models.list()
            check(False, "a wrong key is refused")
        except openai.AuthenticationError as e:
            check(e.status_code == 401 and "API key" in str(e), "401 raises openai.AuthenticationError")

        try:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}], n=2)
            check(False, "n=2 is refused")
        except openai.BadRequestError as e:
            check(e.status_code == 400 and "'n'" in str(e), "400 raises openai.BadRequestError naming the field")

        try:
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}],
                                           tools=[{"type": "function", "function": {"name": "f"}}])
            check(False, "tools are refused")
        except openai.BadRequestError as e:
            check("tools" in str(e), "unimplemented 'tools' is refused, not ignored")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    print("PASS")


if __name__ == "__main__":
    main()
