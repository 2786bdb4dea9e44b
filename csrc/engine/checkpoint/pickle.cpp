#include <lowbit/csrc/engine/checkpoint/pickle.h>

#include <ATen/ATen.h>
#include <ATen/core/class_type.h>
#include <ATen/core/jit_type.h>

#include <cstdio>
#include <cstring>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace lowbit::engine {
namespace {

// The opcodes of pickle protocols 2 to 5 that Python's pickler writes; Lib/pickletools.py
// documents each one's argument and stack effect.
enum class Op : uint8_t {
  Proto = 0x80, Frame = 0x95, Stop = '.',
  Mark = '(', Pop = '0', PopMark = '1', Dup = '2',
  None = 'N', NewTrue = 0x88, NewFalse = 0x89,
  BinInt = 'J', BinInt1 = 'K', BinInt2 = 'M', Long1 = 0x8a, Long4 = 0x8b, BinFloat = 'G',
  BinUnicode = 'X', ShortBinUnicode = 0x8c, BinUnicode8 = 0x8d,
  BinString = 'T', ShortBinString = 'U', BinBytes = 'B', ShortBinBytes = 'C', BinBytes8 = 0x8e,
  EmptyList = ']', List = 'l', Append = 'a', Appends = 'e',
  EmptyTuple = ')', Tuple = 't', Tuple1 = 0x85, Tuple2 = 0x86, Tuple3 = 0x87,
  EmptyDict = '}', Dict = 'd', SetItem = 's', SetItems = 'u',
  EmptySet = 0x8f, AddItems = 0x90, FrozenSet = 0x91,
  Global = 'c', StackGlobal = 0x93, Reduce = 'R', NewObj = 0x81, NewObjEx = 0x92, Build = 'b',
  BinPersId = 'Q',
  BinGet = 'h', LongBinGet = 'j', BinPut = 'q', LongBinPut = 'r', Memoize = 0x94,
};

c10::IValue new_dict() { return c10::impl::GenericDict(c10::AnyType::get(), c10::AnyType::get()); }
c10::IValue new_list() { return c10::impl::GenericList(c10::AnyType::get()); }

// The dtype of a storage class: torch.FloatStorage -> Float, torch.BFloat16Storage -> BFloat16.
std::optional<at::ScalarType> storage_dtype(const std::string& storage_class) {
  if (storage_class == "torch.UntypedStorage") return at::kByte;
  const std::string prefix = "torch.", suffix = "Storage";
  if (storage_class.size() <= prefix.size() + suffix.size() || storage_class.rfind(prefix, 0) != 0 ||
      storage_class.compare(storage_class.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return std::nullopt;
  }
  const auto name = storage_class.substr(prefix.size(), storage_class.size() - prefix.size() - suffix.size());
  for (int i = 0; i < static_cast<int>(at::ScalarType::NumOptions); ++i) {
    const auto dtype = static_cast<at::ScalarType>(i);
    if (name == c10::toString(dtype) && !c10::isQIntType(dtype)) return dtype;
  }
  return std::nullopt;
}

// Wrappers that LibTorch's pickler (torch::pickle_save) puts around typed containers, e.g.
// restore_type_tag(value, "Dict[str, Tensor]"): their first argument is the value.
bool is_type_tag(const std::string& name) {
  static const std::unordered_set<std::string> names = {
      "torch.jit._pickle.restore_type_tag", "torch.jit._pickle.build_intlist", "torch.jit._pickle.build_tensorlist",
      "torch.jit._pickle.build_doublelist", "torch.jit._pickle.build_boollist"};
  return names.count(name) > 0;
}

class Unpickler {
 public:
  Unpickler(std::string_view bytes, const StorageLoader& load_storage) : bytes_(bytes), load_storage_(load_storage) {}

  c10::IValue run() {
    while (true) {
      at_ = pos_;
      check(pos_ < bytes_.size(), "truncated (no STOP opcode)");
      const auto op = static_cast<Op>(take(1)[0]);
      if (op == Op::Stop) {
        check(stack_.size() == 1 && marks_.empty(), "STOP with ", stack_.size(), " values on the stack");
        return stack_.back();
      }
      step(op);
    }
  }

 private:
  // Errors name the offset of the opcode being run.
  template <typename... Args>
  void check(bool ok, const Args&... what) const {
    TORCH_CHECK(ok, "pickle offset ", at_, ": ", what...);
  }

  std::string_view take(uint64_t n) {
    check(n <= bytes_.size() - pos_, "truncated: needs ", n, " more bytes, ", bytes_.size() - pos_, " left");
    const auto out = bytes_.substr(pos_, n);
    pos_ += n;
    return out;
  }

  uint64_t little_endian(size_t n) {
    const auto b = take(n);
    uint64_t value = 0;
    for (size_t i = n; i-- > 0;) value = (value << 8) | static_cast<uint8_t>(b[i]);
    return value;
  }

  // LONG1 / LONG4: a little-endian two's-complement integer of `n` bytes.
  int64_t long_int(uint64_t n) {
    check(n <= 8, "integer of ", n, " bytes does not fit in 64 bits");
    uint64_t value = little_endian(n);
    if (n > 0 && n < 8 && (value >> (8 * n - 1)) & 1) value |= ~uint64_t{0} << (8 * n);
    return static_cast<int64_t>(value);
  }

  std::string line() {
    const auto end = bytes_.find('\n', pos_);
    check(end != std::string_view::npos, "truncated: no end of line");
    std::string out(bytes_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return out;
  }

  size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }

  c10::IValue& top() {
    check(stack_.size() > floor(), "stack underflow");
    return stack_.back();
  }

  c10::IValue pop() {
    auto value = std::move(top());
    stack_.pop_back();
    return value;
  }

  std::vector<c10::IValue> pop_mark() {
    check(!marks_.empty(), "no MARK");
    const size_t start = marks_.back();
    marks_.pop_back();
    std::vector<c10::IValue> items(std::make_move_iterator(stack_.begin() + start), std::make_move_iterator(stack_.end()));
    stack_.resize(start);
    return items;
  }

  void append(c10::IValue& target, std::vector<c10::IValue> items) {
    if (!python_class(target).empty()) return;  // a list subclass or other object: contents not kept
    check(target.isList(), "APPEND to ", describe(target));
    auto list = target.toList();
    for (auto& item : items) list.push_back(std::move(item));
  }

  void set_items(c10::IValue& target, std::vector<c10::IValue> items) {
    if (!python_class(target).empty()) return;  // e.g. a defaultdict: contents not kept
    check(target.isGenericDict(), "SETITEM on ", describe(target));
    check(items.size() % 2 == 0, "SETITEMS with an odd number of values");
    auto dict = target.toGenericDict();
    for (size_t i = 0; i < items.size(); i += 2) dict.insert_or_assign(std::move(items[i]), std::move(items[i + 1]));
  }

  // An opaque stand-in for a Python class, function or object named `name` ("module.qualname").
  c10::IValue object(const std::string& name) {
    auto& type = classes_[name];
    if (!type) type = c10::ClassType::create(c10::QualifiedName(name), {});
    return c10::ivalue::Object::create(type, 0);
  }

  c10::ArrayRef<c10::IValue> arguments(const c10::IValue& args, size_t at_least, const std::string& function) {
    check(args.isTuple() && args.toTupleRef().elements().size() >= at_least, function, " expects ", at_least,
          " or more arguments, got ", describe(args));
    return args.toTupleRef().elements().asArrayRef();
  }

  std::vector<int64_t> ints(const c10::IValue& tuple, const char* what) {
    check(tuple.isTuple(), "_rebuild_tensor_v2: ", what, " is ", describe(tuple));
    std::vector<int64_t> out;
    for (const auto& v : tuple.toTupleRef().elements()) {
      check(v.isInt(), "_rebuild_tensor_v2: ", what, " holds ", describe(v));
      out.push_back(v.toInt());
    }
    return out;
  }

  // REDUCE / NEWOBJ: OrderedDict, the torch functions that rebuild tensors, type tags; anything
  // else is an opaque object.
  c10::IValue call(const c10::IValue& callable, const c10::IValue& args) {
    const auto name = python_class(callable);
    check(!name.empty(), "calls ", describe(callable), ", not a class or function");
    if (name == "collections.OrderedDict") return new_dict();
    if (name == "torch._utils._rebuild_tensor_v2") {
      // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
      const auto a = arguments(args, 4, name);
      check(a[0].isTensor() && a[1].isInt(), "_rebuild_tensor_v2: expects a storage and an offset, got ",
            describe(a[0]), " and ", describe(a[1]));
      const auto& storage = a[0].toTensor();
      return at::empty({0}, storage.options()).set_(storage.storage(), a[1].toInt(), ints(a[2], "size"), ints(a[3], "stride"));
    }
    if (name == "torch._utils._rebuild_parameter" || name == "torch._utils._rebuild_parameter_with_state") {
      const auto a = arguments(args, 1, name);  // (data, requires_grad, backward_hooks[, state])
      check(a[0].isTensor(), name, ": expects a tensor, got ", describe(a[0]));
      return a[0];
    }
    if (is_type_tag(name)) return arguments(args, 1, name)[0];
    if (name == "torch._tensor._rebuild_from_type_v2") {
      const auto a = arguments(args, 3, name);  // (function, type, arguments[, state])
      return call(a[0], a[2]);
    }
    return object(name);
  }

  c10::IValue persistent_load(const c10::IValue& id) {
    // ("storage", torch.<Dtype>Storage, key, location, numel): the location (a device) is ignored.
    const bool storage = id.isTuple() && id.toTupleRef().elements().size() == 5;
    const auto e = storage ? id.toTupleRef().elements().asArrayRef() : c10::ArrayRef<c10::IValue>();
    check(storage && e[0].isString() && e[0].toStringRef() == "storage" && e[2].isString() && e[4].isInt(),
          "unsupported persistent id (expected ('storage', type, key, location, numel))");
    const auto dtype = storage_dtype(python_class(e[1]));
    check(dtype.has_value(), "storage of unsupported type ", describe(e[1]));
    return load_storage_(*dtype, e[2].toStringRef(), e[4].toInt());
  }

  void memo_put(uint64_t index) { memo_[index] = top(); }

  void memo_get(uint64_t index) {
    const auto it = memo_.find(index);
    check(it != memo_.end(), "memo entry ", index, " was never stored");
    stack_.push_back(it->second);
  }

  // Framing, the stack, and scalars (ints, floats, strings); false for any other opcode.
  bool step_scalar(Op op) {
    switch (op) {
      case Op::Proto: {
        const auto protocol = little_endian(1);
        check(protocol <= 5, "pickle protocol ", protocol, " is newer than 5");
        return true;
      }
      case Op::Frame: little_endian(8); return true;
      case Op::Mark: marks_.push_back(stack_.size()); return true;
      case Op::Pop: pop(); return true;
      case Op::PopMark: pop_mark(); return true;
      case Op::Dup: stack_.push_back(top()); return true;
      case Op::None: stack_.emplace_back(); return true;
      case Op::NewTrue: stack_.emplace_back(true); return true;
      case Op::NewFalse: stack_.emplace_back(false); return true;
      case Op::BinInt: stack_.emplace_back(int64_t{static_cast<int32_t>(little_endian(4))}); return true;
      case Op::BinInt1: stack_.emplace_back(static_cast<int64_t>(little_endian(1))); return true;
      case Op::BinInt2: stack_.emplace_back(static_cast<int64_t>(little_endian(2))); return true;
      case Op::Long1: stack_.emplace_back(long_int(little_endian(1))); return true;
      case Op::Long4: stack_.emplace_back(long_int(little_endian(4))); return true;
      case Op::BinFloat: {
        const auto b = take(8);
        uint64_t bits = 0;
        for (char c : b) bits = (bits << 8) | static_cast<uint8_t>(c);  // big-endian IEEE 754
        double value;
        std::memcpy(&value, &bits, sizeof(value));
        stack_.emplace_back(value);
        return true;
      }
      case Op::ShortBinUnicode:
      case Op::ShortBinString:
      case Op::ShortBinBytes: stack_.emplace_back(std::string(take(little_endian(1)))); return true;
      case Op::BinUnicode:
      case Op::BinString:
      case Op::BinBytes: stack_.emplace_back(std::string(take(little_endian(4)))); return true;
      case Op::BinUnicode8:
      case Op::BinBytes8: stack_.emplace_back(std::string(take(little_endian(8)))); return true;
      default:
        return false;
    }
  }

  // Lists, tuples, sets and dicts; false for any other opcode.
  bool step_container(Op op) {
    switch (op) {
      case Op::EmptyList:
      case Op::EmptySet: stack_.push_back(new_list()); return true;
      case Op::List:
      case Op::FrozenSet: {
        auto items = pop_mark();
        stack_.push_back(new_list());
        append(stack_.back(), std::move(items));
        return true;
      }
      case Op::Append: {
        auto item = pop();
        append(top(), {std::move(item)});
        return true;
      }
      case Op::Appends:
      case Op::AddItems: {
        auto items = pop_mark();
        append(top(), std::move(items));
        return true;
      }
      case Op::EmptyTuple: stack_.emplace_back(c10::ivalue::Tuple::create(std::vector<c10::IValue>{})); return true;
      case Op::Tuple: stack_.emplace_back(c10::ivalue::Tuple::create(pop_mark())); return true;
      case Op::Tuple1:
      case Op::Tuple2:
      case Op::Tuple3: {
        const size_t n = static_cast<uint8_t>(op) - static_cast<uint8_t>(Op::Tuple1) + 1;
        check(stack_.size() >= floor() + n, "stack underflow");
        std::vector<c10::IValue> items(std::make_move_iterator(stack_.end() - n), std::make_move_iterator(stack_.end()));
        stack_.resize(stack_.size() - n);
        stack_.emplace_back(c10::ivalue::Tuple::create(std::move(items)));
        return true;
      }
      case Op::EmptyDict: stack_.push_back(new_dict()); return true;
      case Op::Dict: {
        auto items = pop_mark();
        stack_.push_back(new_dict());
        set_items(stack_.back(), std::move(items));
        return true;
      }
      case Op::SetItem: {
        auto value = pop();
        auto key = pop();
        set_items(top(), {std::move(key), std::move(value)});
        return true;
      }
      case Op::SetItems: {
        auto items = pop_mark();
        set_items(top(), std::move(items));
        return true;
      }
      default:
        return false;
    }
  }

  // Classes, calls, persistent storages and the memo; false for any other opcode.
  bool step_object(Op op) {
    switch (op) {
      case Op::Global: {
        const auto module = line();
        const auto name = line();
        check(!module.empty() && !name.empty(), "GLOBAL with an empty name");
        stack_.push_back(object(module + "." + name));
        return true;
      }
      case Op::StackGlobal: {
        const auto name = pop();
        const auto module = pop();
        check(module.isString() && name.isString() && !module.toStringRef().empty() && !name.toStringRef().empty(),
              "STACK_GLOBAL expects two names");
        stack_.push_back(object(module.toStringRef() + "." + name.toStringRef()));
        return true;
      }
      case Op::Reduce:
      case Op::NewObj: {
        const auto args = pop();
        const auto callable = pop();
        stack_.push_back(call(callable, args));
        return true;
      }
      case Op::NewObjEx: {
        pop();  // keyword arguments
        const auto args = pop();
        const auto callable = pop();
        stack_.push_back(call(callable, args));
        return true;
      }
      case Op::Build: pop(); return true;  // object state (an OrderedDict's _metadata): not kept
      case Op::BinPersId: {
        const auto id = pop();
        stack_.push_back(persistent_load(id));
        return true;
      }
      case Op::BinGet: memo_get(little_endian(1)); return true;
      case Op::LongBinGet: memo_get(little_endian(4)); return true;
      case Op::BinPut: memo_put(little_endian(1)); return true;
      case Op::LongBinPut: memo_put(little_endian(4)); return true;
      case Op::Memoize: memo_put(memo_.size()); return true;
      default:
        return false;
    }
  }

  void step(Op op) {
    if (step_scalar(op) || step_container(op) || step_object(op)) return;
    char code[8];
    std::snprintf(code, sizeof(code), "0x%02x", static_cast<uint8_t>(op));
    check(false, "unsupported opcode ", code);
  }

  std::string_view bytes_;
  const StorageLoader& load_storage_;
  size_t pos_ = 0, at_ = 0;
  std::vector<c10::IValue> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, c10::IValue> memo_;
  std::unordered_map<std::string, c10::ClassTypePtr> classes_;
};

}  // namespace

c10::IValue unpickle(std::string_view bytes, const StorageLoader& load_storage) {
  return Unpickler(bytes, load_storage).run();
}

std::string python_class(const c10::IValue& value) {
  if (!value.isObject()) return "";
  const auto type = value.toObjectRef().type();
  return type->name() ? type->name()->qualifiedName() : "";
}

std::string describe(const c10::IValue& value) {
  if (value.isTensor()) return "a tensor";
  if (value.isObject()) return "a Python " + python_class(value);
  if (value.isNone()) return "None";
  if (value.isBool()) return "a bool";
  if (value.isInt()) return "an int";
  if (value.isDouble()) return "a float";
  if (value.isString()) return "a string";
  if (value.isList()) return "a list";
  if (value.isTuple()) return "a tuple";
  if (value.isGenericDict()) return "a dict";
  return value.tagKind();
}

}  // namespace lowbit::engine
