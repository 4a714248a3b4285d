// CPU time, for benchmarks that must report figures a busy shared machine does not inflate the
// way it inflates wall time.
#pragma once

namespace vista {

// CPU seconds used so far by every thread of this process.
double process_cpu_seconds();

// CPU seconds used so far by the calling thread.
double thread_cpu_seconds();

}  // namespace vista
