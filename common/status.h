// Status and Result<T>: how every Vista call that can fail reports failure.
//
// Modules return Status (or Result<T>) across their boundaries instead of throwing. Exceptions
// from third-party libraries (libtorch, FAISS, RocksDB, OpenCV) are caught where those libraries
// are called and turned into a Status whose message names the file, key or value at fault and
// what was expected. The api/ layer maps codes to HTTP statuses, the CLI to exit codes; nothing
// else interprets codes.
#pragma once

#include <cassert>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace vista {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,     // the caller's input is malformed or out of range
  kNotFound,            // a named collection, document, file or key does not exist
  kAlreadyExists,       // creating something that exists
  kFailedPrecondition,  // the system is not in a state where the call can run (e.g. model mismatch)
  kUnsupported,         // well-formed but not supported (image format, dtype, pickle opcode)
  kCorruption,          // stored or supplied data is damaged (truncated file, bad checkpoint)
  kIOError,             // the operating system refused a read or write
  kResourceExhausted,   // a configured limit was hit (size, pixels, queue full)
  kUnauthenticated,     // missing or wrong credentials
  kPermissionDenied,    // credentials valid but not allowed (read-only key, path outside roots)
  kCancelled,           // stopped on request (signal, shutdown)
  kInternal,            // a bug: an invariant broke
};

std::string_view status_code_name(StatusCode code);

// A finer reason within a code, for the few conditions callers must tell apart from others of
// the same code (in the spirit of RocksDB's Status::SubCode). Callers decide by code and
// subcode, never by message text.
enum class StatusSubCode {
  kNone = 0,
  kQueueFull,  // ResourceExhausted: a queue is full right now; retrying later may succeed
  kLockHeld,   // FailedPrecondition: the store is locked by another process (or instance)
};

std::string_view status_subcode_name(StatusSubCode subcode);  // "" for kNone

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  Status(StatusCode code, StatusSubCode subcode, std::string message)
      : code_(code), subcode_(subcode), message_(std::move(message)) {}

  static Status ok() { return Status(); }
  static Status invalid_argument(std::string m) {
    return {StatusCode::kInvalidArgument, std::move(m)};
  }
  static Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status already_exists(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
  static Status failed_precondition(std::string m, StatusSubCode sub = StatusSubCode::kNone) {
    return {StatusCode::kFailedPrecondition, sub, std::move(m)};
  }
  static Status unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
  static Status corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
  static Status io_error(std::string m) { return {StatusCode::kIOError, std::move(m)}; }
  static Status resource_exhausted(std::string m, StatusSubCode sub = StatusSubCode::kNone) {
    return {StatusCode::kResourceExhausted, sub, std::move(m)};
  }
  static Status unauthenticated(std::string m) {
    return {StatusCode::kUnauthenticated, std::move(m)};
  }
  static Status permission_denied(std::string m) {
    return {StatusCode::kPermissionDenied, std::move(m)};
  }
  static Status cancelled(std::string m) { return {StatusCode::kCancelled, std::move(m)}; }
  static Status internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool is_ok() const { return code_ == StatusCode::kOk; }
  explicit operator bool() const { return is_ok(); }
  StatusCode code() const { return code_; }
  StatusSubCode subcode() const { return subcode_; }
  const std::string& message() const { return message_; }

  // "InvalidArgument: <message>", or "OK".
  std::string to_string() const;

  // Returns a copy whose message is "<context>: <message>" (code and subcode kept); OK stays OK.
  Status with_context(std::string_view context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  StatusSubCode subcode_ = StatusSubCode::kNone;
  std::string message_;
};

std::ostream& operator<<(std::ostream& os, const Status& s);

// Either a value or a non-OK Status. Accessing value() of a failed Result is a bug (asserted).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : data_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : data_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(data_).is_ok() && "Result constructed from an OK status");
  }

  bool is_ok() const { return std::holds_alternative<T>(data_); }
  explicit operator bool() const { return is_ok(); }

  const Status& status() const {
    static const Status kOk;
    return is_ok() ? kOk : std::get<Status>(data_);
  }
  T& value() & {
    assert(is_ok());
    return std::get<T>(data_);
  }
  const T& value() const& {
    assert(is_ok());
    return std::get<T>(data_);
  }
  T&& value() && {
    assert(is_ok());
    return std::get<T>(std::move(data_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> data_;
};

}  // namespace vista

#define VISTA_CONCAT_INNER_(a, b) a##b
#define VISTA_CONCAT_(a, b) VISTA_CONCAT_INNER_(a, b)

// Returns the Status from the enclosing function if `expr` (a Status) is not OK.
#define VISTA_RETURN_IF_ERROR(expr)                   \
  do {                                                \
    ::vista::Status vista_status_ = (expr);           \
    if (!vista_status_.is_ok()) return vista_status_; \
  } while (0)

// `VISTA_ASSIGN_OR_RETURN(auto x, f());` : declares x from a Result, or returns its Status.
#define VISTA_ASSIGN_OR_RETURN(lhs, expr) \
  VISTA_ASSIGN_OR_RETURN_IMPL_(VISTA_CONCAT_(vista_result_, __LINE__), lhs, expr)
#define VISTA_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.is_ok()) return tmp.status();             \
  lhs = std::move(tmp).value()
