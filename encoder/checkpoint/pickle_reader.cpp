#include "encoder/checkpoint/pickle_reader.h"

#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <unordered_map>

#include "common/utf8.h"

namespace vista::encoder {
namespace {

constexpr size_t kMaxDims = 64;

// Every opcode of pickle protocols 0-5, so a rejection can say which one it met.
const char* opcode_name(uint8_t op) {
  switch (op) {
    case '(': return "MARK";
    case '.': return "STOP";
    case '0': return "POP";
    case '1': return "POP_MARK";
    case '2': return "DUP";
    case 'F': return "FLOAT";
    case 'I': return "INT";
    case 'J': return "BININT";
    case 'K': return "BININT1";
    case 'L': return "LONG";
    case 'M': return "BININT2";
    case 'N': return "NONE";
    case 'P': return "PERSID";
    case 'Q': return "BINPERSID";
    case 'R': return "REDUCE";
    case 'S': return "STRING";
    case 'T': return "BINSTRING";
    case 'U': return "SHORT_BINSTRING";
    case 'V': return "UNICODE";
    case 'X': return "BINUNICODE";
    case 'a': return "APPEND";
    case 'b': return "BUILD";
    case 'c': return "GLOBAL";
    case 'd': return "DICT";
    case '}': return "EMPTY_DICT";
    case 'e': return "APPENDS";
    case 'g': return "GET";
    case 'h': return "BINGET";
    case 'i': return "INST";
    case 'j': return "LONG_BINGET";
    case 'l': return "LIST";
    case ']': return "EMPTY_LIST";
    case 'o': return "OBJ";
    case 'p': return "PUT";
    case 'q': return "BINPUT";
    case 'r': return "LONG_BINPUT";
    case 's': return "SETITEM";
    case 't': return "TUPLE";
    case ')': return "EMPTY_TUPLE";
    case 'u': return "SETITEMS";
    case 'G': return "BINFLOAT";
    case 'B': return "BINBYTES";
    case 'C': return "SHORT_BINBYTES";
    case 0x80: return "PROTO";
    case 0x81: return "NEWOBJ";
    case 0x82: return "EXT1";
    case 0x83: return "EXT2";
    case 0x84: return "EXT4";
    case 0x85: return "TUPLE1";
    case 0x86: return "TUPLE2";
    case 0x87: return "TUPLE3";
    case 0x88: return "NEWTRUE";
    case 0x89: return "NEWFALSE";
    case 0x8a: return "LONG1";
    case 0x8b: return "LONG4";
    case 0x8c: return "SHORT_BINUNICODE";
    case 0x8d: return "BINUNICODE8";
    case 0x8e: return "BINBYTES8";
    case 0x8f: return "EMPTY_SET";
    case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET";
    case 0x92: return "NEWOBJ_EX";
    case 0x93: return "STACK_GLOBAL";
    case 0x94: return "MEMOIZE";
    case 0x95: return "FRAME";
    case 0x96: return "BYTEARRAY8";
    case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER";
    default: return nullptr;
  }
}

std::string describe_opcode(uint8_t op) {
  char hex[8];
  std::snprintf(hex, sizeof(hex), "0x%02x", op);
  const char* name = opcode_name(op);
  return name ? std::string(name) + " (" + hex + ")" : std::string("unknown opcode ") + hex;
}

enum class Global { kOrderedDict, kRebuildTensorV2, kStorageType };

struct Value;
using ValuePtr = std::shared_ptr<Value>;

// The objects the allowed subset can build. Dicts and lists are mutable and shared through the
// memo, as in Python, hence shared_ptr.
struct Value {
  enum class Kind { kNone, kBool, kInt, kString, kTuple, kList, kDict, kGlobal, kStorage, kTensor };
  Kind kind = Kind::kNone;
  bool boolean = false;
  int64_t integer = 0;
  std::string text;             // kString; kGlobal: "module.name"
  std::vector<ValuePtr> items;  // kTuple, kList
  // kDict: entries in insertion order, plus an index for string keys (the only kind state
  // dicts use; int keys are found by a scan).
  std::vector<std::pair<ValuePtr, ValuePtr>> entries;
  std::unordered_map<std::string, size_t> string_index;
  Global global = Global::kOrderedDict;                // kGlobal
  torch::ScalarType dtype = torch::ScalarType::Float;  // kGlobal storage type, kStorage
  c10::Storage storage;                                // kStorage
  int64_t numel = 0;                                   // kStorage
  torch::Tensor tensor;                                // kTensor
};

const char* kind_name(Value::Kind kind) {
  switch (kind) {
    case Value::Kind::kNone: return "None";
    case Value::Kind::kBool: return "bool";
    case Value::Kind::kInt: return "int";
    case Value::Kind::kString: return "str";
    case Value::Kind::kTuple: return "tuple";
    case Value::Kind::kList: return "list";
    case Value::Kind::kDict: return "dict";
    case Value::Kind::kGlobal: return "global";
    case Value::Kind::kStorage: return "storage";
    case Value::Kind::kTensor: return "tensor";
  }
  return "?";
}

ValuePtr make(Value::Kind kind) {
  auto v = std::make_shared<Value>();
  v->kind = kind;
  return v;
}

ValuePtr make_int(int64_t i) {
  auto v = make(Value::Kind::kInt);
  v->integer = i;
  return v;
}

class Interpreter {
 public:
  Interpreter(std::string_view data, const StorageLoader& load_storage)
      : data_(data), load_storage_(load_storage) {}

  Result<ValuePtr> run() {
    while (true) {
      if (pos_ >= data_.size()) {
        return corrupt(data_.size(), "ends before STOP (truncated pickle)");
      }
      op_pos_ = pos_;
      const uint8_t op = static_cast<uint8_t>(data_[pos_++]);
      if (op == '.') {  // STOP
        if (stack_.empty()) return corrupt(op_pos_, "STOP with an empty stack");
        return stack_.back();
      }
      VISTA_RETURN_IF_ERROR(step(op));
    }
  }

 private:
  Status corrupt(size_t at, const std::string& what) const {
    return Status::corruption("data.pkl byte " + std::to_string(at) + ": " + what);
  }
  Status corrupt(const std::string& what) const { return corrupt(op_pos_, what); }
  Status unsupported(const std::string& what) const {
    return Status::unsupported("data.pkl byte " + std::to_string(op_pos_) + ": " + what);
  }

  Result<std::string_view> take(size_t n) {
    if (data_.size() - pos_ < n) {
      return corrupt("argument of " + describe_opcode(static_cast<uint8_t>(data_[op_pos_])) +
                     " runs past the end of the pickle");
    }
    std::string_view out = data_.substr(pos_, n);
    pos_ += n;
    return out;
  }

  template <typename T>
  Result<T> take_le() {
    VISTA_ASSIGN_OR_RETURN(auto bytes, take(sizeof(T)));
    T v = 0;
    for (size_t i = 0; i < sizeof(T); ++i) {
      v |= static_cast<T>(static_cast<uint8_t>(bytes[i])) << (8 * i);
    }
    return v;
  }

  Result<std::string_view> take_line() {
    size_t end = data_.find('\n', pos_);
    if (end == std::string_view::npos) return corrupt("GLOBAL argument has no newline");
    std::string_view line = data_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return line;
  }

  Result<ValuePtr> pop() {
    if (stack_.size() <= floor()) return corrupt("stack underflow");
    ValuePtr v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }

  // Items above the innermost MARK may be popped; the mark itself only by pop_mark().
  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }

  Result<std::vector<ValuePtr>> pop_mark() {
    if (marks_.empty()) return corrupt("no MARK to pop to");
    size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<ValuePtr> items(std::make_move_iterator(stack_.begin() + mark),
                                std::make_move_iterator(stack_.end()));
    stack_.resize(mark);
    return items;
  }

  Result<ValuePtr> memo_get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) return corrupt("memo slot " + std::to_string(index) + " is empty");
    return it->second;
  }

  Status memo_put(uint64_t index) {
    if (stack_.size() <= floor()) return corrupt("stack underflow");
    memo_[index] = stack_.back();
    return Status::ok();
  }

  Status push_tuple(std::vector<ValuePtr> items) {
    auto t = make(Value::Kind::kTuple);
    t->items = std::move(items);
    stack_.push_back(std::move(t));
    return Status::ok();
  }

  Status set_item(Value& dict, ValuePtr key, ValuePtr value) {
    if (dict.kind != Value::Kind::kDict) {
      return unsupported("SETITEM on a " + std::string(kind_name(dict.kind)) + ", not a dict");
    }
    if (key->kind == Value::Kind::kString) {
      auto [it, inserted] = dict.string_index.emplace(key->text, dict.entries.size());
      if (inserted) {
        dict.entries.emplace_back(std::move(key), std::move(value));
      } else {
        dict.entries[it->second].second = std::move(value);
      }
      return Status::ok();
    }
    if (key->kind == Value::Kind::kInt) {
      for (auto& [k, v] : dict.entries) {
        if (k->kind == Value::Kind::kInt && k->integer == key->integer) {
          v = std::move(value);
          return Status::ok();
        }
      }
      dict.entries.emplace_back(std::move(key), std::move(value));
      return Status::ok();
    }
    return unsupported(std::string("dict key of type ") + kind_name(key->kind));
  }

  Status global(std::string_view module, std::string_view name) {
    auto g = make(Value::Kind::kGlobal);
    g->text = std::string(module) + "." + std::string(name);
    if (module == "collections" && name == "OrderedDict") {
      g->global = Global::kOrderedDict;
    } else if (module == "torch._utils" && name == "_rebuild_tensor_v2") {
      g->global = Global::kRebuildTensorV2;
    } else if (module == "torch" && name.size() > 7 && name.substr(name.size() - 7) == "Storage") {
      auto dtype = storage_dtype(name);
      if (!dtype) {
        return unsupported("unsupported storage dtype " + g->text +
                           " (supported: float32/64, float16, bfloat16, int8/16/32/64, uint8, "
                           "bool)");
      }
      g->global = Global::kStorageType;
      g->dtype = *dtype;
    } else {
      return unsupported("unsupported global '" + g->text +
                         "' (only collections.OrderedDict, torch._utils._rebuild_tensor_v2 and "
                         "torch.<dtype>Storage are read; nothing is executed)");
    }
    stack_.push_back(std::move(g));
    return Status::ok();
  }

  Result<int64_t> as_int(const ValuePtr& v, const char* what) {
    if (v->kind != Value::Kind::kInt) {
      return corrupt(std::string(what) + " is a " + kind_name(v->kind) + ", expected an int");
    }
    return v->integer;
  }

  Result<std::vector<int64_t>> as_int_tuple(const ValuePtr& v, const char* what) {
    if (v->kind != Value::Kind::kTuple) {
      return corrupt(std::string(what) + " is a " + kind_name(v->kind) + ", expected a tuple");
    }
    if (v->items.size() > kMaxDims) {
      return unsupported(std::string(what) + " has " + std::to_string(v->items.size()) +
                         " dimensions (at most " + std::to_string(kMaxDims) + ")");
    }
    std::vector<int64_t> out;
    out.reserve(v->items.size());
    for (const auto& item : v->items) {
      VISTA_ASSIGN_OR_RETURN(int64_t i, as_int(item, what));
      if (i < 0) return corrupt(std::string(what) + " has a negative entry " + std::to_string(i));
      out.push_back(i);
    }
    return out;
  }

  // ('storage', torch.<Dtype>Storage, key, location, numel) -> the storage, loaded once per key.
  Result<ValuePtr> persistent_load(const ValuePtr& pid) {
    if (pid->kind != Value::Kind::kTuple || pid->items.size() != 5 ||
        pid->items[0]->kind != Value::Kind::kString || pid->items[0]->text != "storage") {
      return unsupported("persistent id is not ('storage', type, key, location, numel)");
    }
    const auto& type = pid->items[1];
    const auto& key = pid->items[2];
    const auto& location = pid->items[3];
    if (type->kind != Value::Kind::kGlobal || type->global != Global::kStorageType) {
      return unsupported("persistent id names no torch.<dtype>Storage type");
    }
    if (key->kind != Value::Kind::kString || key->text.empty() ||
        key->text.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                    "0123456789_") != std::string::npos) {
      return corrupt("storage key is not a plain name");
    }
    if (location->kind != Value::Kind::kString) return corrupt("storage location is not a str");
    VISTA_ASSIGN_OR_RETURN(int64_t numel, as_int(pid->items[4], "storage numel"));
    if (numel < 0) return corrupt("storage numel is negative");

    auto it = storages_.find(key->text);
    if (it != storages_.end()) {
      const Value& known = *it->second;
      if (known.dtype != type->dtype || known.numel != numel) {
        return unsupported("storage '" + key->text + "' is referenced as " +
                           c10::toString(known.dtype) + "[" + std::to_string(known.numel) +
                           "] and as " + c10::toString(type->dtype) + "[" + std::to_string(numel) +
                           "]");
      }
      return it->second;
    }
    auto loaded = load_storage_(key->text, type->dtype, numel);
    if (!loaded.is_ok()) {
      return Status(loaded.status().code(),
                    "data.pkl byte " + std::to_string(op_pos_) + ": " + loaded.status().message());
    }
    auto s = make(Value::Kind::kStorage);
    s->storage = std::move(loaded).value();
    s->dtype = type->dtype;
    s->numel = numel;
    storages_.emplace(key->text, s);
    return s;
  }

  Result<ValuePtr> rebuild_tensor(const std::vector<ValuePtr>& args) {
    if (args.size() != 6 && args.size() != 7) {
      return corrupt("_rebuild_tensor_v2 takes 6 or 7 arguments, got " +
                     std::to_string(args.size()));
    }
    const ValuePtr& storage = args[0];
    if (storage->kind != Value::Kind::kStorage) {
      return corrupt(std::string("_rebuild_tensor_v2 storage is a ") + kind_name(storage->kind));
    }
    VISTA_ASSIGN_OR_RETURN(int64_t offset, as_int(args[1], "storage offset"));
    if (offset < 0) return corrupt("negative storage offset");
    VISTA_ASSIGN_OR_RETURN(auto sizes, as_int_tuple(args[2], "tensor size"));
    VISTA_ASSIGN_OR_RETURN(auto strides, as_int_tuple(args[3], "tensor stride"));
    if (sizes.size() != strides.size()) {
      return corrupt("tensor size has " + std::to_string(sizes.size()) + " dimensions but stride " +
                     std::to_string(strides.size()));
    }
    if (args[4]->kind != Value::Kind::kBool) return corrupt("requires_grad is not a bool");
    if (args[5]->kind != Value::Kind::kDict || !args[5]->entries.empty()) {
      return unsupported("tensor with backward hooks");
    }
    if (args.size() == 7 && args[6]->kind != Value::Kind::kNone &&
        !(args[6]->kind == Value::Kind::kDict && args[6]->entries.empty())) {
      return unsupported("tensor with Python metadata");
    }

    // The furthest element the view touches must lie inside the storage.
    int64_t numel = 1;
    int64_t last = offset;
    bool empty = false;
    for (size_t d = 0; d < sizes.size(); ++d) {
      if (sizes[d] == 0) empty = true;
      int64_t span;
      if (__builtin_mul_overflow(sizes[d] == 0 ? 0 : sizes[d] - 1, strides[d], &span) ||
          __builtin_add_overflow(last, span, &last) ||
          __builtin_mul_overflow(numel, sizes[d], &numel)) {
        return corrupt("tensor size/stride overflow");
      }
    }
    const int64_t needed = empty ? offset : last + 1;
    if (needed > storage->numel) {
      std::string shape;
      for (size_t d = 0; d < sizes.size(); ++d) shape += (d ? "," : "") + std::to_string(sizes[d]);
      return Status::corruption("data.pkl byte " + std::to_string(op_pos_) +
                                ": storage too short: a [" + shape + "] view at offset " +
                                std::to_string(offset) + " needs " + std::to_string(needed) +
                                " elements, the storage holds " + std::to_string(storage->numel));
    }
    auto t = make(Value::Kind::kTensor);
    t->tensor = torch::empty({0}, torch::TensorOptions().dtype(storage->dtype))
                    .set_(storage->storage, offset, sizes, strides);
    return t;
  }

  Status reduce() {
    VISTA_ASSIGN_OR_RETURN(ValuePtr args, pop());
    VISTA_ASSIGN_OR_RETURN(ValuePtr callable, pop());
    if (callable->kind != Value::Kind::kGlobal) {
      return unsupported(std::string("REDUCE calls a ") + kind_name(callable->kind));
    }
    if (args->kind != Value::Kind::kTuple) return corrupt("REDUCE arguments are not a tuple");
    switch (callable->global) {
      case Global::kOrderedDict:
        if (!args->items.empty()) return unsupported("collections.OrderedDict with arguments");
        stack_.push_back(make(Value::Kind::kDict));
        return Status::ok();
      case Global::kRebuildTensorV2: {
        VISTA_ASSIGN_OR_RETURN(ValuePtr t, rebuild_tensor(args->items));
        stack_.push_back(std::move(t));
        return Status::ok();
      }
      case Global::kStorageType: break;
    }
    return unsupported("calling " + callable->text);
  }

  Status step(uint8_t op) {
    switch (op) {
      case 0x80: {  // PROTO
        VISTA_ASSIGN_OR_RETURN(uint8_t proto, take_le<uint8_t>());
        if (proto < 2 || proto > 5) return unsupported("pickle protocol " + std::to_string(proto));
        return Status::ok();
      }
      case 'c': {  // GLOBAL
        VISTA_ASSIGN_OR_RETURN(auto module, take_line());
        VISTA_ASSIGN_OR_RETURN(auto name, take_line());
        return global(module, name);
      }
      case 'q': {  // BINPUT
        VISTA_ASSIGN_OR_RETURN(uint8_t i, take_le<uint8_t>());
        return memo_put(i);
      }
      case 'r': {  // LONG_BINPUT
        VISTA_ASSIGN_OR_RETURN(uint32_t i, take_le<uint32_t>());
        return memo_put(i);
      }
      case 'h': {  // BINGET
        VISTA_ASSIGN_OR_RETURN(uint8_t i, take_le<uint8_t>());
        VISTA_ASSIGN_OR_RETURN(ValuePtr v, memo_get(i));
        stack_.push_back(std::move(v));
        return Status::ok();
      }
      case 'j': {  // LONG_BINGET
        VISTA_ASSIGN_OR_RETURN(uint32_t i, take_le<uint32_t>());
        VISTA_ASSIGN_OR_RETURN(ValuePtr v, memo_get(i));
        stack_.push_back(std::move(v));
        return Status::ok();
      }
      case '(':  // MARK
        marks_.push_back(stack_.size());
        return Status::ok();
      case '}':  // EMPTY_DICT
        stack_.push_back(make(Value::Kind::kDict));
        return Status::ok();
      case ']':  // EMPTY_LIST
        stack_.push_back(make(Value::Kind::kList));
        return Status::ok();
      case ')':  // EMPTY_TUPLE
        return push_tuple({});
      case 't': {  // TUPLE
        VISTA_ASSIGN_OR_RETURN(auto items, pop_mark());
        return push_tuple(std::move(items));
      }
      case 0x85:    // TUPLE1
      case 0x86:    // TUPLE2
      case 0x87: {  // TUPLE3
        const size_t n = op - 0x84;
        if (stack_.size() < floor() + n) return corrupt("stack underflow");
        std::vector<ValuePtr> items(std::make_move_iterator(stack_.end() - n),
                                    std::make_move_iterator(stack_.end()));
        stack_.resize(stack_.size() - n);
        return push_tuple(std::move(items));
      }
      case 'a': {  // APPEND
        VISTA_ASSIGN_OR_RETURN(ValuePtr item, pop());
        if (stack_.size() <= floor()) return corrupt("stack underflow");
        Value& list = *stack_.back();
        if (list.kind != Value::Kind::kList) return unsupported("APPEND to a non-list");
        list.items.push_back(std::move(item));
        return Status::ok();
      }
      case 'e': {  // APPENDS
        VISTA_ASSIGN_OR_RETURN(auto items, pop_mark());
        if (stack_.size() <= floor()) return corrupt("stack underflow");
        Value& list = *stack_.back();
        if (list.kind != Value::Kind::kList) return unsupported("APPENDS to a non-list");
        for (auto& item : items) list.items.push_back(std::move(item));
        return Status::ok();
      }
      case 's': {  // SETITEM
        VISTA_ASSIGN_OR_RETURN(ValuePtr value, pop());
        VISTA_ASSIGN_OR_RETURN(ValuePtr key, pop());
        if (stack_.size() <= floor()) return corrupt("stack underflow");
        return set_item(*stack_.back(), std::move(key), std::move(value));
      }
      case 'u': {  // SETITEMS
        VISTA_ASSIGN_OR_RETURN(auto items, pop_mark());
        if (items.size() % 2 != 0) return corrupt("SETITEMS with an odd number of items");
        if (stack_.size() <= floor()) return corrupt("stack underflow");
        Value& dict = *stack_.back();
        for (size_t i = 0; i < items.size(); i += 2) {
          VISTA_RETURN_IF_ERROR(set_item(dict, std::move(items[i]), std::move(items[i + 1])));
        }
        return Status::ok();
      }
      case 'X': {  // BINUNICODE
        VISTA_ASSIGN_OR_RETURN(uint32_t n, take_le<uint32_t>());
        VISTA_ASSIGN_OR_RETURN(auto bytes, take(n));
        if (!is_valid_utf8(bytes)) return corrupt("BINUNICODE string is not valid UTF-8");
        auto s = make(Value::Kind::kString);
        s->text = std::string(bytes);
        stack_.push_back(std::move(s));
        return Status::ok();
      }
      case 'J': {  // BININT
        VISTA_ASSIGN_OR_RETURN(uint32_t u, take_le<uint32_t>());
        stack_.push_back(make_int(static_cast<int32_t>(u)));
        return Status::ok();
      }
      case 'K': {  // BININT1
        VISTA_ASSIGN_OR_RETURN(uint8_t u, take_le<uint8_t>());
        stack_.push_back(make_int(u));
        return Status::ok();
      }
      case 'M': {  // BININT2
        VISTA_ASSIGN_OR_RETURN(uint16_t u, take_le<uint16_t>());
        stack_.push_back(make_int(u));
        return Status::ok();
      }
      case 0x8a: {  // LONG1: little-endian two's complement of n bytes
        VISTA_ASSIGN_OR_RETURN(uint8_t n, take_le<uint8_t>());
        if (n > 8) return unsupported("integer of " + std::to_string(n) + " bytes");
        VISTA_ASSIGN_OR_RETURN(auto bytes, take(n));
        uint64_t u = 0;
        for (size_t i = 0; i < n; ++i)
          u |= static_cast<uint64_t>(static_cast<uint8_t>(bytes[i])) << (8 * i);
        if (n > 0 && n < 8 && (static_cast<uint8_t>(bytes[n - 1]) & 0x80)) {
          u |= ~uint64_t{0} << (8 * n);  // sign-extend
        }
        stack_.push_back(make_int(static_cast<int64_t>(u)));
        return Status::ok();
      }
      case 0x88:    // NEWTRUE
      case 0x89: {  // NEWFALSE
        auto b = make(Value::Kind::kBool);
        b->boolean = op == 0x88;
        stack_.push_back(std::move(b));
        return Status::ok();
      }
      case 'N':  // NONE
        stack_.push_back(make(Value::Kind::kNone));
        return Status::ok();
      case 'R':  // REDUCE
        return reduce();
      case 'b': {  // BUILD
        VISTA_ASSIGN_OR_RETURN(ValuePtr state, pop());
        if (stack_.size() <= floor()) return corrupt("stack underflow");
        const Value& target = *stack_.back();
        // torch.save sets the state dict's `_metadata` attribute this way; it is not needed.
        if (target.kind != Value::Kind::kDict || state->kind != Value::Kind::kDict) {
          return unsupported(std::string("BUILD of a ") + kind_name(target.kind) + " with a " +
                             kind_name(state->kind) + " state");
        }
        return Status::ok();
      }
      case 'Q': {  // BINPERSID
        VISTA_ASSIGN_OR_RETURN(ValuePtr pid, pop());
        VISTA_ASSIGN_OR_RETURN(ValuePtr storage, persistent_load(pid));
        stack_.push_back(std::move(storage));
        return Status::ok();
      }
      default: return unsupported("unsupported pickle opcode " + describe_opcode(op));
    }
  }

  std::string_view data_;
  const StorageLoader& load_storage_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  std::vector<ValuePtr> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, ValuePtr> memo_;
  std::unordered_map<std::string, ValuePtr> storages_;
};

}  // namespace

std::optional<torch::ScalarType> storage_dtype(std::string_view name) {
  static const std::pair<std::string_view, torch::ScalarType> kTypes[] = {
      {"FloatStorage", torch::kFloat32}, {"DoubleStorage", torch::kFloat64},
      {"HalfStorage", torch::kFloat16},  {"BFloat16Storage", torch::kBFloat16},
      {"LongStorage", torch::kInt64},    {"IntStorage", torch::kInt32},
      {"ShortStorage", torch::kInt16},   {"CharStorage", torch::kInt8},
      {"ByteStorage", torch::kUInt8},    {"BoolStorage", torch::kBool},
  };
  for (const auto& [n, t] : kTypes) {
    if (n == name) return t;
  }
  return std::nullopt;
}

Result<std::vector<std::pair<std::string, torch::Tensor>>> unpickle_state_dict(
    std::string_view pickle, const StorageLoader& load_storage) {
  Interpreter interpreter(pickle, load_storage);
  VISTA_ASSIGN_OR_RETURN(ValuePtr root, interpreter.run());
  if (root->kind != Value::Kind::kDict) {
    return Status::unsupported(std::string("data.pkl holds a ") + kind_name(root->kind) +
                               ", not a state dict");
  }
  std::vector<std::pair<std::string, torch::Tensor>> out;
  out.reserve(root->entries.size());
  for (auto& [key, value] : root->entries) {
    if (key->kind != Value::Kind::kString) {
      return Status::unsupported(std::string("data.pkl: state dict key of type ") +
                                 kind_name(key->kind));
    }
    if (value->kind != Value::Kind::kTensor) {
      return Status::unsupported("data.pkl: state dict entry '" + key->text + "' is a " +
                                 kind_name(value->kind) + ", not a tensor");
    }
    out.emplace_back(key->text, value->tensor);
  }
  return out;
}

}  // namespace vista::encoder
