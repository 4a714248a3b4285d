// The page compiled into the binary (api/web_assets.h) is exactly api/web/index.html and stands
// on its own: nothing it needs comes from another host.
#include "api/web_assets.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <regex>
#include <string>

#include "tests/test_support.h"

namespace {

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(WebAssets, EmbeddedPageIsTheSourceFileByteForByte) {
  const auto path = vista::testing::source_dir() / "api" / "web" / "index.html";
  const std::string source = read_file(path);
  ASSERT_FALSE(source.empty()) << "cannot read " << path;
  const std::string_view page = vista::api::web_index_html();
  EXPECT_EQ(page.size(), source.size());
  EXPECT_TRUE(page == source) << "rebuild: the embedded page differs from " << path;
}

TEST(WebAssets, PageLoadsNothingFromElsewhere) {
  const std::string page(vista::api::web_index_html());
  // Any src/href/url()/@import/fetch pointing at a scheme or a protocol-relative host would need
  // the network, which the page must work without.
  const std::regex external(
      R"(((src|href|action)\s*=\s*["']?\s*(https?:)?//)|(url\(\s*["']?\s*(https?:)?//)|(@import)|((fetch|open)\(\s*["'`]https?:))",
      std::regex::icase);
  std::smatch match;
  EXPECT_FALSE(std::regex_search(page, match, external)) << "external reference: " << match.str();
  EXPECT_EQ(page.find("<!doctype html>"), 0u);
  EXPECT_NE(page.find("</html>"), std::string::npos);
}

TEST(WebAssets, EtagIsAQuotedHexDigest) {
  const std::string etag(vista::api::web_index_etag());
  EXPECT_TRUE(std::regex_match(etag, std::regex(R"("[0-9a-f]{16}")"))) << etag;
}

}  // namespace
