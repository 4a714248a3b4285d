// Limits that more than one layer enforces or advertises. Each is defined here once; the
// layers that check it (collection, engine, API, CLI) name it instead of retyping the number.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vista {

// Largest vector dimension a collection (and an index) may have.
inline constexpr int kMaxDimension = 65536;

// Most hits one search may ask for.
inline constexpr int64_t kMaxSearchK = 10000;

// Longest document id, in bytes of UTF-8.
inline constexpr size_t kMaxDocumentIdBytes = 256;

// Most documents `vista ingest` commits in one atomic, fsynced write (--write-batch).
inline constexpr int kMaxIngestWriteBatch = 65536;

}  // namespace vista
