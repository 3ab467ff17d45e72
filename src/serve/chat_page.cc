// The chat page. Text from the model or the user is only ever put in the page
// with textContent (never innerHTML), so it cannot become markup.
// Test hook: /?autotest=TEXT sends TEXT at load (temperature 0; max_tokens from
// &max_tokens=N, default 32) and sets <body data-state="done"> when the reply
// has streamed in; with &autostop it presses Stop once the first text arrived
// (tests/serve_chat_page_test.py drives it with headless Chromium).
#include "serve/chat_page.h"

namespace septet::serve {

std::string_view ChatPageHtml() {
  static constexpr std::string_view kPage = R"HTML(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>septet chat</title>
<style>
  :root { --fg: #1d1d1f; --muted: #6e6e73; --line: #d2d2d7; --user: #e8f0fe; --bot: #f5f5f7; --accent: #0b57d0; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 15px/1.45 system-ui, sans-serif; color: var(--fg); display: flex; flex-direction: column; height: 100vh; }
  header { display: flex; gap: 12px; align-items: center; padding: 8px 16px; border-bottom: 1px solid var(--line); flex-wrap: wrap; }
  header h1 { font-size: 16px; margin: 0 8px 0 0; }
  header label { color: var(--muted); font-size: 13px; display: flex; gap: 6px; align-items: center; }
  header input { font: inherit; padding: 3px 6px; border: 1px solid var(--line); border-radius: 6px; }
  #system { width: 280px; } #temperature { width: 60px; } #max_tokens { width: 70px; } #apikey { width: 140px; }
  #log { flex: 1; overflow-y: auto; padding: 16px; display: flex; flex-direction: column; gap: 10px; }
  .msg { max-width: 75ch; padding: 8px 12px; border-radius: 10px; white-space: pre-wrap; word-wrap: break-word; }
  .user { align-self: flex-end; background: var(--user); }
  .assistant { align-self: flex-start; background: var(--bot); }
  .error { align-self: center; color: #b3261e; font-size: 13px; }
  .role { display: block; font-size: 11px; color: var(--muted); text-transform: uppercase; letter-spacing: .05em; }
  form { display: flex; gap: 8px; padding: 12px 16px; border-top: 1px solid var(--line); }
  textarea { flex: 1; font: inherit; padding: 8px; border: 1px solid var(--line); border-radius: 8px; resize: none; height: 3.2em; }
  button { font: inherit; padding: 0 16px; border-radius: 8px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
  button:disabled { opacity: .4; cursor: default; }
  #stop { background: #fff; color: var(--accent); }
</style>
</head>
<body data-state="idle">
<header>
  <h1>septet</h1>
  <label>System <input id="system" placeholder="You are a helpful assistant."></label>
  <label>Temperature <input id="temperature" type="number" min="0" max="2" step="0.1" value="0.7"></label>
  <label>Max tokens <input id="max_tokens" type="number" min="1" value="256"></label>
  <label>API key <input id="apikey" type="password" placeholder="(if required)"></label>
</header>
<div id="log" aria-live="polite"></div>
<form id="form">
  <textarea id="input" placeholder="Message (Enter sends, Shift+Enter: new line)"></textarea>
  <button id="send" type="submit">Send</button>
  <button id="stop" type="button" disabled>Stop</button>
</form>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const history = [];  // {role, content}
let controller = null;
const params = new URLSearchParams(location.search);
const autostop = params.has("autostop");

function addMessage(role, text) {
  const div = document.createElement("div");
  div.className = "msg " + role;
  const label = document.createElement("span");
  label.className = "role";
  label.textContent = role;
  const body = document.createElement("span");
  body.className = "text";
  body.textContent = text;
  div.append(label, body);
  $("log").append(div);
  $("log").scrollTop = $("log").scrollHeight;
  return body;
}

function setBusy(busy) {
  $("send").disabled = busy;
  $("stop").disabled = !busy;
  document.body.dataset.state = busy ? "streaming" : "done";
}

async function send(text, overrides) {
  if (!text.trim() || controller) return;
  history.push({role: "user", content: text});
  addMessage("user", text);
  const messages = [];
  const system = $("system").value.trim();
  if (system) messages.push({role: "system", content: system});
  messages.push(...history);
  const body = {messages, stream: true, temperature: Number($("temperature").value),
                max_tokens: Number($("max_tokens").value), ...overrides};
  const headers = {"Content-Type": "application/json"};
  const key = $("apikey").value.trim();
  if (key) headers["Authorization"] = "Bearer " + key;
  const out = addMessage("assistant", "");
  out.parentElement.id = "reply-" + history.length;
  let reply = "";
  controller = new AbortController();
  setBusy(true);
  try {
    const res = await fetch("/v1/chat/completions", {method: "POST", headers, body: JSON.stringify(body),
                                                      signal: controller.signal});
    if (!res.ok) {
      let message = res.status + " " + res.statusText;
      try { message = (await res.json()).error.message; } catch (e) {}
      throw new Error(message);
    }
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, {stream: true});
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        for (const line of event.split("\n")) {
          if (!line.startsWith("data: ")) continue;
          const data = line.slice(6);
          if (data === "[DONE]") continue;
          const chunk = JSON.parse(data);
          if (chunk.error) throw new Error(chunk.error.message);
          for (const choice of chunk.choices || []) {
            if (choice.delta && choice.delta.content) {
              reply += choice.delta.content;
              out.textContent = reply;
              if (autostop) $("stop").click();
              $("log").scrollTop = $("log").scrollHeight;
            }
          }
        }
      }
    }
  } catch (e) {
    if (e.name !== "AbortError") addMessage("error", "error: " + e.message);
  } finally {
    history.push({role: "assistant", content: reply});
    controller = null;
    setBusy(false);
  }
}

$("form").addEventListener("submit", (e) => {
  e.preventDefault();
  const text = $("input").value;
  $("input").value = "";
  send(text, {});
});
$("input").addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); $("form").requestSubmit(); }
});
$("stop").addEventListener("click", () => { if (controller) controller.abort(); });
$("apikey").value = localStorage.getItem("septet-api-key") || "";
$("apikey").addEventListener("change", () => localStorage.setItem("septet-api-key", $("apikey").value));

if (params.has("key")) $("apikey").value = params.get("key");
if (params.has("autotest")) {
  send(params.get("autotest"), {temperature: 0, max_tokens: Number(params.get("max_tokens") || 32)});
}
</script>
</body>
</html>
)HTML";
  return kPage;
}

}  // namespace septet::serve
