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

namespace {

std::string RenderChatML(const std::vector<ChatMessage>& msgs, bool gen) {
  std::string out;
  for (const ChatMessage& m : msgs) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
  if (gen) out += "<|im_start|>assistant\n";
  return out;
}

std::string RenderLlama3(const std::vector<ChatMessage>& msgs, bool gen) {
  std::string out;
  for (const ChatMessage& m : msgs) {
    out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + m.content + "<|eot_id|>";
  }
  if (gen) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

// Meta's Llama 2 chat layout: the system prompt folds into the first user turn;
// each exchange is "[INST] user [/INST] assistant </s>", later ones open with <s>.
std::string RenderLlama2(const std::vector<ChatMessage>& msgs, bool gen) {
  std::string out, system;
  bool first = true;
  for (const ChatMessage& m : msgs) {
    if (m.role == "system") {
      system = m.content;
    } else if (m.role == "user") {
      if (!first) out += "<s>";
      out += "[INST] ";
      if (!system.empty()) {
        out += "<<SYS>>\n" + system + "\n<</SYS>>\n\n";
        system.clear();
      }
      out += m.content + " [/INST]";
      first = false;
    } else {  // assistant
      out += " " + m.content + " </s>";
    }
  }
  (void)gen;  // the open "[/INST]" already invites the assistant
  return out;
}

std::string RenderPlain(const std::vector<ChatMessage>& msgs, bool gen) {
  std::string out;
  for (const ChatMessage& m : msgs) {
    if (m.role == "system") {
      out += m.content + "\n\n";
    } else {
      out += (m.role == "user" ? "User: " : "Assistant: ") + m.content + "\n";
    }
  }
  if (gen) out += "Assistant:";
  return out;
}

}  // namespace

std::string RenderChat(ChatFormat format, const std::vector<ChatMessage>& messages, bool add_generation_prompt) {
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
