// Label and field requirements, evaluated against stored objects without the GIL.
// They arrive already parsed (pyk8s.api.selectors); the bindings only translate the
// operator strings into these enums.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "object.h"

namespace pyk8s::store {

enum class LabelOp { kEquals, kNotEquals, kIn, kNotIn, kExists, kDoesNotExist };
enum class FieldOp { kEquals, kNotEquals };

// False when `text` is not one of "=", "!=", "in", "notin", "exists", "!".
bool parse_label_op(std::string_view text, LabelOp* op);
// False when `text` is not "=" or "!=" ("==" is normalized to "=" by the parser).
bool parse_field_op(std::string_view text, FieldOp* op);

struct LabelRequirement {
  std::string key;
  LabelOp op = LabelOp::kExists;
  std::vector<std::string> values;
};

struct FieldRequirement {
  std::string field;
  FieldOp op = FieldOp::kEquals;
  std::string value;
};

// All requirements must hold (AND); an empty selector selects everything.
struct Selector {
  std::vector<LabelRequirement> labels;
  std::vector<FieldRequirement> fields;

  bool empty() const { return labels.empty() && fields.empty(); }
  bool matches(const Object& object) const;
};

// What a watch sees: an optional namespace plus a selector.
struct WatchFilter {
  std::string namespace_;  // "" = every namespace
  Selector selector;

  bool matches(const Object& object) const {
    if (!namespace_.empty() && object.namespace_ != namespace_) return false;
    return selector.matches(object);
  }
};

}  // namespace pyk8s::store
