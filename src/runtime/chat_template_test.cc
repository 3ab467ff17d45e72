#include "runtime/chat_template.h"

#include <gtest/gtest.h>

namespace septet::runtime {
namespace {

const std::vector<ChatMessage> kConversation = {
    {"system", "Be brief."}, {"user", "Hi"}, {"assistant", "Hello."}, {"user", "Bye"}};

TEST(ChatTemplateTest, DetectsCommonShapes) {
  EXPECT_EQ(DetectChatFormat("{% for m in messages %}<|im_start|>{{m.role}}\n"), ChatFormat::kChatML);
  EXPECT_EQ(DetectChatFormat("{{ '<|start_header_id|>' + message['role'] }}"), ChatFormat::kLlama3);
  EXPECT_EQ(DetectChatFormat("{{ bos_token + '[INST] ' + content }}"), ChatFormat::kLlama2);
  EXPECT_EQ(DetectChatFormat(""), ChatFormat::kPlain);
  EXPECT_EQ(DetectChatFormat("{{ something else }}"), ChatFormat::kPlain);
}

TEST(ChatTemplateTest, ChatML) {
  EXPECT_EQ(RenderChat(ChatFormat::kChatML, kConversation, true),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello.<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n"
            "<|im_start|>assistant\n");
}

TEST(ChatTemplateTest, Llama3) {
  EXPECT_EQ(RenderChat(ChatFormat::kLlama3, {{"user", "Hi"}}, true),
            "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

TEST(ChatTemplateTest, Llama2FoldsSystemIntoFirstTurn) {
  EXPECT_EQ(RenderChat(ChatFormat::kLlama2, kConversation, true),
            "[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello. </s><s>[INST] Bye [/INST]");
}

TEST(ChatTemplateTest, PlainTurns) {
  EXPECT_EQ(RenderChat(ChatFormat::kPlain, kConversation, true),
            "Be brief.\n\nUser: Hi\nAssistant: Hello.\nUser: Bye\nAssistant:");
  EXPECT_EQ(ChatStopStrings(ChatFormat::kPlain), std::vector<std::string>{"\nUser:"});
}

}  // namespace
}  // namespace septet::runtime
