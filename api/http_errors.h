// The one place where failures become HTTP statuses and error bodies.
//
// Every error response is {"error": {"code": "<stable snake_case code>", "message": "..."}}:
//
//   400 malformed_request      body is not JSON, not the documented shape, bad base64 ...
//   401 unauthenticated        missing or wrong API key
//   403 permission_denied      read-only key on a write endpoint; image_path outside the roots
//   404 not_found              collection, document or route does not exist
//   405 method_not_allowed     the path exists, the method does not (Allow lists the methods)
//   409 conflict               collection exists; collection of another model; no model loaded
//   413 too_large              body, image bytes or pixels, batch size or text over the limits
//   415 unsupported_media_type wrong Content-Type, or an image format the decoder does not know
//   422 invalid_argument       well-formed but invalid values (k, filter, name, vector, id)
//   503 overloaded             encode queue or connection queue full; shutting down (Retry-After)
//   500 internal               a bug or an I/O failure; the message never carries internals
//
// Engine Status codes map as below (status_to_error). Two codes are ambiguous on their own:
// ResourceExhausted is both "the encode queue is full" (503) and "this image is too big" (413);
// Corruption is both "the client's image is damaged" (422) and "stored data is damaged" (500).
// The caller says which one its call can mean through ErrorContext.
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace httplib {
struct Response;
}  // namespace httplib

namespace vista::api {

struct ApiError {
  int http_status = 500;
  std::string code;     // stable, snake_case (see the table above)
  std::string message;  // for people; never internals for 500
  std::optional<int> retry_after_s;

  static ApiError malformed(std::string message) {
    return {400, "malformed_request", std::move(message), {}};
  }
  static ApiError unauthenticated(std::string message) {
    return {401, "unauthenticated", std::move(message), {}};
  }
  static ApiError forbidden(std::string message) {
    return {403, "permission_denied", std::move(message), {}};
  }
  static ApiError not_found(std::string message) {
    return {404, "not_found", std::move(message), {}};
  }
  static ApiError too_large(std::string message) {
    return {413, "too_large", std::move(message), {}};
  }
  static ApiError unsupported_media_type(std::string message) {
    return {415, "unsupported_media_type", std::move(message), {}};
  }
  static ApiError invalid(std::string message) {
    return {422, "invalid_argument", std::move(message), {}};
  }
  static ApiError overloaded(std::string message, int retry_after_s) {
    return {503, "overloaded", std::move(message), retry_after_s};
  }
  static ApiError internal() {
    return {500, "internal", "internal error (see the server log)", {}};
  }
};

struct ErrorContext {
  // The request carried an image (bytes or path): Corruption means that image is damaged.
  bool client_image = false;
  int retry_after_s = 1;
};

// Maps an engine Status to the API error. Internal, IOError and (without client_image)
// Corruption become a generic 500 and the real message is logged with `what` (the route).
ApiError status_to_error(const Status& status, const ErrorContext& context = {},
                         std::string_view what = "");

// The per-item error object of document results: {"code", "message"}.
nlohmann::json error_object(const ApiError& error);

// Writes the error body (and Retry-After) onto `res`.
void write_error(httplib::Response& res, const ApiError& error);

// The body for an error status httplib produced on its own (400 unparsable request, 413 body
// over the limit, 414 URI too long ...), when no handler wrote one.
ApiError error_for_http_status(int http_status);

// What a client may be told about a failure: the message, except for failures whose messages
// carry internals (paths, library errors: Corruption, IOError, Internal), which get a generic
// sentence; the log has the details.
std::string public_reason(const Status& status);

}  // namespace vista::api
