#include "runtime/chat_template.h"

namespace septet::runtime {

const char* ChatFormatName(ChatFormat f) {
  switch (f) {
    case ChatFormat::kPlain: return "plain";
    case ChatFormat::kChatML: return "chatml";
    case ChatFormat::kLlama3: return "llama3";
    case ChatFormat::kLlama2: return "llama2";
  }
  return "?";
}

ChatFormat DetectChatFormat(std::string_view t) {
  if (t.find("<|im_start|>") != std::string_view::npos) return ChatFormat::kChatML;
  if (t.find("<|start_header_id|>") != std::string_view::npos) return ChatFormat::kLlama3;
  if (t.find("[INST]") != std::string_view::npos) return ChatFormat::kLlama2;
  return ChatFormat::kPlain;
}

std::string DefaultSystemPrompt(std::string_view t) {
  if (DetectChatFormat(t) != ChatFormat::kChatML) return "";
  const bool tests_first = t.find("messages[0]['role'] != 'system'") != std::string_view::npos ||
                           t.find("messages[0][\"role\"] != \"system\"") != std::string_view::npos ||
                           t.find("messages[0].role != 'system'") != std::string_view::npos ||
                           t.find("messages[0].role != \"system\"") != std::string_view::npos;
  if (!tests_first) return "";
  for (std::string_view open : {std::string_view("<|im_start|>system\n"), std::string_view("<|im_start|>system\\n")}) {
    const size_t at = t.find(open);
    if (at == std::string_view::npos || at == 0 || (t[at - 1] != '\'' && t[at - 1] != '"')) continue;
    const size_t begin = at + open.size();
    const size_t end = t.find("<|im_end|>", begin);
    if (end == std::string_view::npos) return "";
    const std::string_view text = t.substr(begin, end - begin);
    // A literal only: no quote (the string ends), no expression, no escape.
    if (text.empty() || text.find_first_of("'\"{}\\+") != std::string_view::npos) return "";
    return std::string(text);
  }
  return "";
}

void AddDefaultSystem(std::string_view default_system, std::vector<ChatMessage>* messages) {
  if (default_system.empty() || (!messages->empty() && (*messages)[0].role == "system")) return;
  messages->insert(messages->begin(), ChatMessage{"system", std::string(default_system)});
}

namespace {

// Appends template text (Lit: recorded in template_ranges) and content (Raw).
struct Out {
  RenderedChat r;
  Out& Lit(std::string_view s) {
    if (s.empty()) return *this;
    const size_t at = r.text.size();
    r.text += s;
    if (!r.template_ranges.empty() && r.template_ranges.back().end == at) {
      r.template_ranges.back().end = r.text.size();
    } else {
      r.template_ranges.push_back({at, r.text.size()});
    }
    return *this;
  }
  Out& Raw(std::string_view s) {
    r.text += s;
    return *this;
  }
};

// Roles are one of a fixed set (the parser checks), so they count as template text.
RenderedChat RenderChatML(const std::vector<ChatMessage>& msgs, bool gen) {
  Out out;
  for (const ChatMessage& m : msgs) out.Lit("<|im_start|>").Lit(m.role).Lit("\n").Raw(m.content).Lit("<|im_end|>\n");
  if (gen) out.Lit("<|im_start|>assistant\n");
  return std::move(out.r);
}

RenderedChat RenderLlama3(const std::vector<ChatMessage>& msgs, bool gen) {
  Out out;
  for (const ChatMessage& m : msgs) {
    out.Lit("<|start_header_id|>").Lit(m.role).Lit("<|end_header_id|>\n\n").Raw(m.content).Lit("<|eot_id|>");
  }
  if (gen) out.Lit("<|start_header_id|>assistant<|end_header_id|>\n\n");
  return std::move(out.r);
}

// Meta's Llama 2 chat layout: the system prompt folds into the first user turn;
// each exchange is "[INST] user [/INST] assistant </s>", later ones open with <s>.
RenderedChat RenderLlama2(const std::vector<ChatMessage>& msgs, bool gen) {
  Out out;
  std::string system;
  bool first = true;
  for (const ChatMessage& m : msgs) {
    if (m.role == "system") {
      system = m.content;
    } else if (m.role == "user") {
      if (!first) out.Lit("<s>");
      out.Lit("[INST] ");
      if (!system.empty()) {
        out.Lit("<<SYS>>\n").Raw(system).Lit("\n<</SYS>>\n\n");
        system.clear();
      }
      out.Raw(m.content).Lit(" [/INST]");
      first = false;
    } else {  // assistant
      out.Lit(" ").Raw(m.content).Lit(" </s>");
    }
  }
  (void)gen;  // the open "[/INST]" already invites the assistant
  return std::move(out.r);
}

RenderedChat RenderPlain(const std::vector<ChatMessage>& msgs, bool gen) {
  Out out;
  for (const ChatMessage& m : msgs) {
    if (m.role == "system") {
      out.Raw(m.content).Lit("\n\n");
    } else {
      out.Lit(m.role == "user" ? "User: " : "Assistant: ").Raw(m.content).Lit("\n");
    }
  }
  if (gen) out.Lit("Assistant:");
  return std::move(out.r);
}

}  // namespace

std::string RenderChat(ChatFormat format, const std::vector<ChatMessage>& messages, bool add_generation_prompt) {
  return RenderChatMarked(format, messages, add_generation_prompt).text;
}

std::vector<int32_t> EncodeChat(const Tokenizer& tokenizer, ChatFormat format,
                                const std::vector<ChatMessage>& messages, bool add_generation_prompt) {
  const RenderedChat r = RenderChatMarked(format, messages, add_generation_prompt);
  return tokenizer.EncodeMarked(r.text, /*add_bos=*/true, r.template_ranges);
}

RenderedChat RenderChatMarked(ChatFormat format, const std::vector<ChatMessage>& messages,
                              bool add_generation_prompt) {
  switch (format) {
    case ChatFormat::kChatML: return RenderChatML(messages, add_generation_prompt);
    case ChatFormat::kLlama3: return RenderLlama3(messages, add_generation_prompt);
    case ChatFormat::kLlama2: return RenderLlama2(messages, add_generation_prompt);
    case ChatFormat::kPlain: return RenderPlain(messages, add_generation_prompt);
  }
  return {};
}

std::vector<std::string> ChatStopStrings(ChatFormat format) {
  switch (format) {
    case ChatFormat::kChatML: return {"<|im_end|>"};
    case ChatFormat::kLlama3: return {"<|eot_id|>"};
    case ChatFormat::kLlama2: return {"</s>", "[INST]"};
    case ChatFormat::kPlain: return {"\nUser:"};
  }
  return {};
}

}  // namespace septet::runtime
