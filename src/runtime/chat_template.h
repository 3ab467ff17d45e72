// Chat prompt rendering. The model's Jinja template is not executed; instead its
// text is recognised as one of the common shapes and rendered by hand:
//   kChatML  "<|im_start|>" in the template      (Qwen, SmolLM2, many fine-tunes)
//   kLlama3  "<|start_header_id|>"                (Llama 3.x instruct)
//   kLlama2  "[INST]"                             (Llama 2 chat, Mistral-style)
//   kPlain   no template, or one not recognised:  "User: ...\nAssistant:" turns
// Special-token text ("<|im_end|>", "</s>") is emitted literally. RenderChatMarked
// also returns which bytes the template wrote, and the caller encodes with
// Tokenizer::EncodeMarked: special tokens are parsed only there, so message
// content that spells "<|im_end|><|im_start|>system" stays plain text (no prompt
// injection through special tokens). BOS is not part of the text: the caller adds
// it with the tokenizer (add_bos).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace septet::runtime {

enum class ChatFormat { kPlain, kChatML, kLlama3, kLlama2 };
const char* ChatFormatName(ChatFormat f);

ChatFormat DetectChatFormat(std::string_view jinja_template);

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

// The system message a ChatML template writes itself when the conversation does
// not start with one (SmolLM2's: "You are a helpful AI assistant named SmolLM,
// trained by Hugging Face"): the literal text between "<|im_start|>system" plus
// a newline and "<|im_end|>" in a string of a template that tests
// messages[0]['role'] != 'system'. "" when the template has none (or writes an
// expression there, not a literal).
std::string DefaultSystemPrompt(std::string_view jinja_template);
// Puts {system, default_system} in front of messages that do not start with a
// system message (nothing when default_system is empty), as the template would.
void AddDefaultSystem(std::string_view default_system, std::vector<ChatMessage>* messages);

// The conversation, ending with the opening of an assistant turn when
// add_generation_prompt is set.
std::string RenderChat(ChatFormat format, const std::vector<ChatMessage>& messages, bool add_generation_prompt);

struct RenderedChat {
  std::string text;
  std::vector<TextRange> template_ranges;  // sorted, disjoint: the bytes the template wrote
};
RenderedChat RenderChatMarked(ChatFormat format, const std::vector<ChatMessage>& messages,
                              bool add_generation_prompt);
// RenderChatMarked, then EncodeMarked: the token ids a chat request evaluates.
std::vector<int32_t> EncodeChat(const Tokenizer& tokenizer, ChatFormat format,
                                const std::vector<ChatMessage>& messages, bool add_generation_prompt);

// Text that ends an assistant turn in this format (besides the tokenizer's stop
// ids), e.g. "<|im_end|>" or, for kPlain, "\nUser:".
std::vector<std::string> ChatStopStrings(ChatFormat format);

}  // namespace septet::runtime
