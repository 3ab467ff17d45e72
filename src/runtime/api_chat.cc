#include <algorithm>

#include "runtime/api_impl.h"

namespace septet {

Chat::Chat(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Chat::~Chat() = default;

int64_t Chat::n_past() const { return impl_->ctx->n_past(); }

void Chat::Reset() {
  impl_->messages.clear();
  impl_->history.clear();
  impl_->ctx->Truncate(0);
}

bool Chat::Send(std::string_view user_message, const GenerateParams& params, const TokenCallback& on_text,
                std::string* reply, GenerateStats* stats, Error* error) {
  // After an exception the KV cache's state is unknown: the next turn evaluates the
  // whole conversation again (the recorded turns are kept).
  const auto forget_cache = [this] {
    impl_->history.clear();
    impl_->ctx->Truncate(0);
  };
  return api::Guard(
      error, "Chat::Send", false,
      [&] {
        Impl& c = *impl_;
        const Tokenizer& tok = *c.model->tokenizer;
        const runtime::ChatFormat fmt = c.model->chat_format;
        std::vector<runtime::ChatMessage> msgs;
        if (!c.system_prompt.empty()) msgs.push_back({"system", c.system_prompt});
        msgs.insert(msgs.end(), c.messages.begin(), c.messages.end());
        msgs.push_back({"user", std::string(user_message)});
        runtime::AddDefaultSystem(c.model->default_system, &msgs);  // as the template would
        // Special tokens only where the template wrote them (never from message text).
        const std::vector<int32_t> tokens = runtime::EncodeChat(tok, fmt, msgs, /*add_generation_prompt=*/true);

        // Reuse the longest cached prefix; evaluate the rest.
        size_t common = 0;
        while (common < c.history.size() && common < tokens.size() && c.history[common] == tokens[common]) ++common;
        if (common == tokens.size() && common > 0) --common;  // need at least one token for fresh logits
        c.ctx->Truncate(static_cast<int64_t>(common));
        c.history.resize(common);
        const std::span<const int32_t> rest(tokens.data() + common, tokens.size() - common);

        uint64_t seed = 0;
        runtime::GenerationParams gp = api::ToRuntime(params, &seed);
        for (const std::string& s : runtime::ChatStopStrings(fmt)) gp.stop_strings.push_back(s);
        std::string out;
        const runtime::TextCallback collect = [&](std::string_view t) {
          out.append(t);
          return on_text ? on_text(t) : true;
        };
        auto r = runtime::Generate(c.ctx.get(), tok, rest, &c.history, gp, collect);
        if (!r.ok()) {
          // The turn is not recorded; the cache keeps only a prefix, which stays valid.
          return api::Fail(r.status(), error);
        }
        // Record the turn; the reply is stored trimmed (the template adds separators).
        const size_t b = out.find_first_not_of(" \n");
        const size_t e = out.find_last_not_of(" \n");
        std::string trimmed = b == std::string::npos ? "" : out.substr(b, e - b + 1);
        c.messages.push_back({"user", std::string(user_message)});
        c.messages.push_back({"assistant", trimmed});
        if (reply != nullptr) *reply = std::move(trimmed);
        api::CopyStats(r.value(), seed, stats);
        if (stats != nullptr) stats->cached_tokens = static_cast<int64_t>(common);
        return true;
      },
      forget_cache);
}

}  // namespace septet
