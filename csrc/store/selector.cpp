#include "selector.h"

#include <algorithm>

namespace pyk8s::store {

bool parse_label_op(std::string_view text, LabelOp* op) {
  if (text == "=" || text == "==") *op = LabelOp::kEquals;
  else if (text == "!=") *op = LabelOp::kNotEquals;
  else if (text == "in") *op = LabelOp::kIn;
  else if (text == "notin") *op = LabelOp::kNotIn;
  else if (text == "exists") *op = LabelOp::kExists;
  else if (text == "!") *op = LabelOp::kDoesNotExist;
  else return false;
  return true;
}

bool parse_field_op(std::string_view text, FieldOp* op) {
  if (text == "=" || text == "==") *op = FieldOp::kEquals;
  else if (text == "!=") *op = FieldOp::kNotEquals;
  else return false;
  return true;
}

namespace {

bool contains(const std::vector<std::string>& values, const std::string& value) {
  return std::find(values.begin(), values.end(), value) != values.end();
}

// Upstream semantics: "!=" and "notin" also match objects that lack the key.
bool label_matches(const LabelRequirement& req, const StringPairs& labels) {
  const std::string* value = find_pair(labels, req.key);
  switch (req.op) {
    case LabelOp::kEquals:
      return value && !req.values.empty() && *value == req.values.front();
    case LabelOp::kNotEquals:
      return !value || req.values.empty() || *value != req.values.front();
    case LabelOp::kIn:
      return value && contains(req.values, *value);
    case LabelOp::kNotIn:
      return !value || !contains(req.values, *value);
    case LabelOp::kExists:
      return value != nullptr;
    case LabelOp::kDoesNotExist:
      return value == nullptr;
  }
  return false;
}

}  // namespace

bool Selector::matches(const Object& object) const {
  for (const auto& req : labels) {
    if (!label_matches(req, object.labels)) return false;
  }
  for (const auto& req : fields) {
    bool equal = object.field(req.field) == req.value;
    if (equal != (req.op == FieldOp::kEquals)) return false;
  }
  return true;
}

}  // namespace pyk8s::store
