// Test helpers for src/serve/*_test.cc: a live server on an ephemeral loopback
// port, and a raw socket client for what httplib's client will not do (chunked
// uploads of chosen sizes, hanging up mid-request).
#pragma once

#include <arpa/inet.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "model/llama_model.h"
#include "serve/engine.h"
#include "serve/http_server.h"
#include "tokenizer/tokenizer.h"
#include "util/test_util.h"

namespace septet::serve::harness {

// A suite over stories260K: the model and its tokenizer, loaded once per suite.
class StoriesSuite : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto m = model::LlamaModel::Load(testing::SharedFile("models/stories260K/stories260K.bin"), {});
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    model_ = std::move(m).value().release();
    auto t = LoadTokenizer(model_->file());
    ASSERT_TRUE(t.ok()) << t.status().ToString();
    tok_ = std::move(t).value().release();
  }
  static void TearDownTestSuite() {
    delete tok_;
    delete model_;
    tok_ = nullptr;
    model_ = nullptr;
  }
  static inline model::LlamaModel* model_ = nullptr;
  static inline Tokenizer* tok_ = nullptr;
};

class LiveServer {
 public:
  LiveServer(const model::LlamaModel& m, const Tokenizer& t, EngineOptions o, ServerOptions so = {},
             runtime::ChatFormat format = runtime::ChatFormat::kPlain) {
    engine_ = std::move(Engine::Create(m, t, o)).value();
    if (so.model_name == "septet") so.model_name = "stories";
    server_ = std::make_unique<HttpServer>(engine_.get(), &t, format, so);
    port_ = server_->Bind("127.0.0.1", 0).value();
    thread_ = std::thread([this] { (void)server_->Listen(); });
  }
  LiveServer(const model::LlamaModel& m, const Tokenizer& t, int32_t slots, int64_t n_ctx)
      : LiveServer(m, t, Options(slots, n_ctx)) {}
  ~LiveServer() {
    server_->Stop();
    thread_.join();
  }
  static EngineOptions Options(int32_t slots, int64_t n_ctx) {
    EngineOptions o;
    o.n_slots = slots;
    o.n_ctx = n_ctx;
    return o;
  }
  httplib::Client Client() const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(60, 0);
    return c;
  }
  int port() const { return port_; }
  Engine& engine() { return *engine_; }
  HttpServer& server() { return *server_; }

  // Polls `done` every 10 ms for up to `seconds`.
  static bool WaitFor(const std::function<bool()>& done, double seconds = 10) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    while (!done()) {
      if (std::chrono::steady_clock::now() > end) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return true;
  }

 private:
  std::unique_ptr<Engine> engine_;
  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
  std::thread thread_;
};

// A raw TCP connection to 127.0.0.1:port with a receive timeout.
class RawClient {
 public:
  explicit RawClient(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok_ = fd_ >= 0 && connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  }
  ~RawClient() { Close(); }
  bool ok() const { return ok_; }
  bool Send(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      const ssize_t n = ::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }
  // Reads until `until` appears in what was received, the peer closes, or timeout.
  std::string ReadUntil(const std::string& until, double timeout_s = 30) {
    const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
    while (got_.find(until) == std::string::npos && std::chrono::steady_clock::now() < end) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) break;
      got_.append(buf, static_cast<size_t>(n));
    }
    return got_;
  }
  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
  std::string got_;
};

inline std::string PostHead(const std::string& path, const std::string& extra_headers = "") {
  return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" + extra_headers;
}

}  // namespace septet::serve::harness
