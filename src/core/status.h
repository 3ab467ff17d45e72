// Status and Result<T>: how recoverable failures travel (bad path, corrupt file,
// unsupported architecture, bad request). Messages name the file / tensor /
// field and say what was expected. Broken invariants use SEPTET_CHECK instead.
#pragma once

#include <cstdio>
#include <string>
#include <utility>
#include <variant>

namespace septet {

enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument = 1,  // caller passed something wrong (shape, flag, K too large)
  kNotFound = 2,         // file or tensor missing
  kCorrupt = 3,          // file is malformed or truncated
  kUnsupported = 4,      // valid but not handled (arch, dtype, version)
  kIoError = 5,          // OS-level read/write failure
  kOutOfRange = 6,       // e.g. prompt longer than the context
  kInternal = 7,
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status Ok() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "corrupt: model.gguf: tensor 'blk.0.attn_q.weight': ..." style.
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// printf-style message builder for Status factories.
std::string StrFormat(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

#define SEPTET_STATUS_FACTORY(Name, Code)                                      \
  template <typename... Args>                                                 \
  Status Name(const char* fmt, Args... args) {                                \
    if constexpr (sizeof...(Args) == 0) {                                     \
      return Status(StatusCode::Code, fmt);                                   \
    } else {                                                                  \
      return Status(StatusCode::Code, StrFormat(fmt, args...));               \
    }                                                                         \
  }
SEPTET_STATUS_FACTORY(InvalidArgument, kInvalidArgument)
SEPTET_STATUS_FACTORY(NotFound, kNotFound)
SEPTET_STATUS_FACTORY(Corrupt, kCorrupt)
SEPTET_STATUS_FACTORY(Unsupported, kUnsupported)
SEPTET_STATUS_FACTORY(IoError, kIoError)
SEPTET_STATUS_FACTORY(OutOfRange, kOutOfRange)
SEPTET_STATUS_FACTORY(Internal, kInternal)
#undef SEPTET_STATUS_FACTORY

// A value or a non-OK Status (std::expected is C++23).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    if (std::get<Status>(v_).ok()) v_ = Status(StatusCode::kInternal, "Result built from OK status");
  }
  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace septet

// Early-return helpers.
#define SEPTET_RETURN_IF_ERROR(expr)              \
  do {                                            \
    ::septet::Status _st = (expr);                \
    if (!_st.ok()) return _st;                    \
  } while (0)

#define SEPTET_CONCAT_INNER(a, b) a##b
#define SEPTET_CONCAT(a, b) SEPTET_CONCAT_INNER(a, b)
#define SEPTET_ASSIGN_OR_RETURN(lhs, expr)                                 \
  auto SEPTET_CONCAT(_res_, __LINE__) = (expr);                            \
  if (!SEPTET_CONCAT(_res_, __LINE__).ok())                                \
    return SEPTET_CONCAT(_res_, __LINE__).status();                        \
  lhs = std::move(SEPTET_CONCAT(_res_, __LINE__)).value()
