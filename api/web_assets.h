// The web page served at GET /, compiled into the binary so the server works offline and needs
// no files beside it. The bytes come from api/web/index.html at build time
// (api/web/CMakeLists.txt).
#pragma once

#include <string_view>

namespace vista::api {

// The complete page (UTF-8 HTML with inline CSS and JavaScript). The view points at static
// storage: valid for the life of the program, safe to read from any number of threads.
std::string_view web_index_html();

// A strong HTTP entity tag for the page (quoted, e.g. "\"3f9a0c1d2e4b5a69\""), derived from its
// SHA-256, so the server can answer If-None-Match with 304 and the page can be cached.
std::string_view web_index_etag();

// docs/openapi.yaml, served at GET /openapi.yaml, and its entity tag (same rules as above).
std::string_view openapi_yaml();
std::string_view openapi_yaml_etag();

}  // namespace vista::api
