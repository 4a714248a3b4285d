// Test-only pause points: named places in long operations where a test can stop the process
// deterministically (to kill it, or to signal it, at a known moment) instead of racing a timer.
//
// When the environment variable VISTA_TEST_PAUSE names the point, reaching it prints
// "vista: paused at <name>" to stderr and blocks until `resume()` returns true or the file named
// by VISTA_TEST_PAUSE_RESUME exists (both polled every 10 ms), or forever without either (the
// test then kills the process). Otherwise it costs one comparison. Production runs never set
// the variables.
#pragma once

#include <functional>
#include <string_view>

namespace vista {

void test_pause_point(std::string_view name, const std::function<bool()>& resume = {});

}  // namespace vista
