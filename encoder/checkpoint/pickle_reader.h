// A strict interpreter for the pickle that `torch.save(state_dict)` writes as `data.pkl`.
//
// Python's unpickler runs arbitrary callables named by the file; this one runs nothing. It knows
// the opcodes torch.save's protocol-2 pickler emits for a state dict (PROTO, GLOBAL, MARK,
// BINPUT/LONG_BINPUT, BINGET/LONG_BINGET, EMPTY_DICT/TUPLE/LIST, TUPLE/TUPLE1-3, APPEND(S),
// SETITEM(S), BINUNICODE, BININT/BININT1/BININT2/LONG1, NEWTRUE/NEWFALSE, NONE, REDUCE, BUILD,
// BINPERSID, STOP) and exactly these globals:
//   collections.OrderedDict         called with no arguments (the dict and backward hooks);
//   torch._utils._rebuild_tensor_v2 (storage, offset, size, stride, requires_grad, hooks[, meta]);
//   torch.<Dtype>Storage            only as the type inside a persistent id
//                                   ('storage', type, key, location, numel).
// BUILD is accepted only on an OrderedDict whose state is a dict (torch stores `_metadata`
// there; it is dropped). Anything else is rejected with Unsupported naming the opcode or global
// and its byte offset; malformed input (stack underflow, unknown memo slot, truncated argument)
// gives Corruption with the byte offset.
#pragma once

#include <torch/types.h>

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace vista::encoder {

// Supplies the bytes behind the persistent id ('storage', <dtype>Storage, key, location, numel).
// Called once per distinct key; the storage must hold at least numel elements of dtype.
using StorageLoader = std::function<Result<c10::Storage>(const std::string& key,
                                                         torch::ScalarType dtype, int64_t numel)>;

// Interprets `pickle` as a state dict: a (possibly ordered) dict of string keys to tensors.
// Returns the tensors in dict order (a repeated key keeps its first position and last value, as
// Python's dict does). Views are checked against their storage's size before they are made.
// Messages do not name the file; the caller adds that context.
Result<std::vector<std::pair<std::string, torch::Tensor>>> unpickle_state_dict(
    std::string_view pickle, const StorageLoader& load_storage);

// The storage dtype torch names `torch.<name>` (e.g. "FloatStorage"), or nullopt when the name is
// not a storage type this reader supports.
std::optional<torch::ScalarType> storage_dtype(std::string_view name);

}  // namespace vista::encoder
