#include "api/http_errors.h"

#include <httplib.h>

#include "common/logging.h"

namespace vista::api {

ApiError status_to_error(const Status& status, const ErrorContext& context, std::string_view what) {
  const std::string& m = status.message();
  switch (status.code()) {
    case StatusCode::kOk: break;  // not an error; falls through to internal below
    case StatusCode::kInvalidArgument: return ApiError::invalid(m);
    case StatusCode::kNotFound: return ApiError::not_found(m);
    case StatusCode::kAlreadyExists: return {409, "conflict", m, {}};
    case StatusCode::kFailedPrecondition: return {409, "conflict", m, {}};
    case StatusCode::kUnsupported: return ApiError::unsupported_media_type(m);
    case StatusCode::kResourceExhausted:
      // Shared with size limits; only a full queue means "come back later".
      if (status.subcode() == StatusSubCode::kQueueFull)
        return ApiError::overloaded("the server is busy (" + m + "); retry later",
                                    context.retry_after_s);
      return ApiError::too_large(m);
    case StatusCode::kUnauthenticated: return ApiError::unauthenticated(m);
    case StatusCode::kPermissionDenied: return ApiError::forbidden(m);
    case StatusCode::kCancelled:
      return ApiError::overloaded("the server is shutting down; retry later",
                                  context.retry_after_s);
    case StatusCode::kCorruption:
      if (context.client_image) return ApiError::invalid(m);
      break;
    case StatusCode::kIOError:
    case StatusCode::kInternal: break;
  }
  spdlog::error("{}{}{}", what, what.empty() ? "" : ": ", status.to_string());
  return ApiError::internal();
}

nlohmann::json error_object(const ApiError& error) {
  return {{"code", error.code}, {"message", error.message}};
}

void write_error(httplib::Response& res, const ApiError& error) {
  res.status = error.http_status;
  if (error.retry_after_s) res.set_header("Retry-After", std::to_string(*error.retry_after_s));
  nlohmann::json body = {{"error", error_object(error)}};
  // Messages may quote client bytes; replace invalid UTF-8 rather than throw.
  res.set_content(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n",
                  "application/json");
}

ApiError error_for_http_status(int http_status) {
  switch (http_status) {
    case 400: return ApiError::malformed("the request could not be parsed as HTTP/1.1");
    case 404: return ApiError::not_found("no such route");
    case 413: return ApiError::too_large("the request body exceeds limits.max_body_bytes");
    case 414: return {414, "uri_too_long", "the request URI is too long", {}};
    case 415: return ApiError::unsupported_media_type("unsupported content type");
    case 416: return {416, "range_not_satisfiable", "the requested range is not satisfiable", {}};
    case 503: return ApiError::overloaded("the server is busy; retry later", 1);
    default:
      if (http_status >= 500) return ApiError::internal();
      return {http_status, "http_" + std::to_string(http_status), "request failed", {}};
  }
}

std::string public_reason(const Status& status) {
  switch (status.code()) {
    case StatusCode::kCorruption:
    case StatusCode::kIOError:
    case StatusCode::kInternal:
      return "its files are damaged or cannot be read (the server log has the details)";
    default: return status.message();
  }
}

}  // namespace vista::api
