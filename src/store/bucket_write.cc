#include "store/bucket_write.h"

#include <exception>

#include "zae/errors.h"

namespace zae::store {

std::string BucketAttr(std::string_view limit, std::string_view field) {
  std::string out;
  out.reserve(3 + limit.size() + field.size());
  out += "b_";
  out += limit;
  out += '_';
  out += field;
  return out;
}

bool IsBucketAttr(std::string_view attr, std::string_view limit, std::string_view field) {
  return attr.size() == 3 + limit.size() + field.size() && attr.substr(0, 2) == "b_" &&
         attr.substr(2, limit.size()) == limit && attr[2 + limit.size()] == '_' &&
         attr.substr(3 + limit.size()) == field;
}

bool BucketWriteHolds(const BucketWrite& w, bool exists, const int64_t* ttl,
                      const int64_t* const* tk) {
  if (!exists) return false;
  if (w.ttl_after != BucketWrite::kNoTtlCheck && ttl && *ttl <= w.ttl_after) return false;
  for (size_t i = 0; i < w.limit_count; ++i) {
    if (w.limits[i].guard && (!tk[i] || *tk[i] < w.limits[i].guard_milli)) return false;
  }
  return true;
}

void ValidateBucketWrite(const BucketWrite& w, bool usage_keys) {
  if (!w.key) throw ValidationError("BucketWrite.key", "", "must not be null");
  if (w.limit_count > 0 && !w.limits) {
    throw ValidationError("BucketWrite.limits", "", "null with a non-zero limit_count");
  }
  if (w.usage_count > 0 && !w.usage) {
    throw ValidationError("BucketWrite.usage", "", "null with a non-zero usage_count");
  }
  if (!usage_keys) return;
  for (size_t i = 0; i < w.usage_count; ++i) {
    bool dup = w.usage[i].key == *w.key;
    for (size_t j = 0; j < i; ++j) dup = dup || w.usage[j].key == w.usage[i].key;
    if (dup) {
      throw ValidationError("transaction", w.usage[i].key.pk,
                            "two operations address the same item");
    }
  }
}

Update BucketWriteAsUpdate(const BucketWrite& w) {
  Update u;
  u.key = *w.key;
  for (size_t i = 0; i < w.limit_count; ++i) {
    const BucketLimitDelta& d = w.limits[i];
    if (d.consume_milli != 0) {
      u.add.emplace_back(BucketAttr(d.name, "tk"), SaturatingNeg(d.consume_milli));
      u.add.emplace_back(BucketAttr(d.name, "tc"), d.consume_milli);
    }
  }
  for (size_t i = 0; i < w.limit_count; ++i) {
    const BucketLimitDelta& d = w.limits[i];
    if (d.guard)
      u.condition.Compare(BucketAttr(d.name, "tk"), Predicate::Op::kGe, Value(d.guard_milli));
  }
  u.condition.Exists("PK");
  if (w.ttl_after != BucketWrite::kNoTtlCheck) {
    u.condition.AnyOf(
        {{"ttl", Predicate::Op::kNotExists, {}}, {"ttl", Predicate::Op::kGt, Value(w.ttl_after)}});
  }
  u.return_new = w.views != nullptr;
  u.return_old_on_failure = w.views != nullptr;
  return u;
}

Update UsageWindowUpdate(const BucketWrite& w, size_t i) {
  Update u = w.usage[i];
  u.add.clear();
  u.condition = {};
  for (size_t l = 0; l < w.limit_count; ++l) {
    if (const int64_t n = UsageTokens(w.limits[l]); n != 0) {
      u.add.emplace_back(std::string(w.limits[l].name), n);
    }
  }
  if (w.usage_events != 0) u.add.emplace_back(std::string(kTotalEventsAttr), w.usage_events);
  return u;
}

void ReadBucketOutputs(BucketWrite& w, const Item* item) {
  w.rf = 0;
  w.shard_count = 1;
  if (!item) {
    if (w.views) {
      for (size_t i = 0; i < w.limit_count; ++i) w.views[i] = {};
    }
    return;
  }
  auto num = [&](const std::string& attr) -> std::optional<int64_t> {
    auto it = item->find(attr);
    if (it == item->end() || !it->second.is_number()) return std::nullopt;
    return it->second.as_number();
  };
  w.rf = num("rf").value_or(0);
  w.shard_count = num("shard_count").value_or(1);
  if (!w.views) return;
  for (size_t i = 0; i < w.limit_count; ++i) {
    const std::string_view name = w.limits[i].name;
    BucketLimitView& v = w.views[i];
    v = {};
    const auto tk = num(BucketAttr(name, "tk"));
    if (!tk) continue;
    v.present = true;
    v.tk = *tk;
    v.cp = num(BucketAttr(name, "cp")).value_or(0);
    v.ra = num(BucketAttr(name, "ra")).value_or(0);
    v.rp = num(BucketAttr(name, "rp")).value_or(0);
    v.tc = num(BucketAttr(name, "tc"));
  }
}

}  // namespace zae::store

namespace zae {

std::shared_ptr<BucketHandle> Store::OpenBucket(const ItemKey&) { return nullptr; }

void Store::WriteBucketsAsync(BucketWrite* writes, size_t count, WriteBucketsCallback done) {
  std::exception_ptr error;
  try {
    WriteBuckets(writes, count);
  } catch (...) {
    error = std::current_exception();
  }
  done(error);
}

void Store::WriteBuckets(BucketWrite* writes, size_t count) {
  // Without usage windows: one UpdateItem each (overlapped by WriteEach).
  // With them: one transaction per write, so the bucket and its snapshots
  // land together.
  std::vector<WriteOp> plain;
  std::vector<size_t> plain_index;
  std::exception_ptr first_error;
  for (size_t i = 0; i < count; ++i) {
    BucketWrite& w = writes[i];
    if (w.usage_count == 0) {
      plain.push_back(store::BucketWriteAsUpdate(w));
      plain_index.push_back(i);
      continue;
    }
    try {
      std::vector<WriteOp> ops{store::BucketWriteAsUpdate(w)};
      for (size_t u = 0; u < w.usage_count; ++u) ops.push_back(store::UsageWindowUpdate(w, u));
      TransactResult t = Transact(ops);
      w.status = t.ok ? WriteStatus::kOk : WriteStatus::kConditionFailed;
      const std::optional<Item>* item = nullptr;
      if (t.ok && !t.new_items.empty()) item = &t.new_items[0];
      if (!t.ok && !t.old_items.empty()) item = &t.old_items[0];
      w.exists = t.ok || (item && item->has_value());
      store::ReadBucketOutputs(w, item && item->has_value() ? &**item : nullptr);
    } catch (...) {
      if (!first_error) first_error = std::current_exception();
    }
  }
  if (!plain.empty()) {
    std::vector<WriteResult> results;
    try {
      if (plain.size() == 1) {
        results.push_back(Write(plain[0]));
      } else {
        results = WriteEach(plain);
      }
    } catch (...) {
      if (!first_error) first_error = std::current_exception();
    }
    for (size_t j = 0; j < results.size(); ++j) {
      BucketWrite& w = writes[plain_index[j]];
      w.status = results[j].status;
      w.exists = results[j].ok() || results[j].item.has_value();
      store::ReadBucketOutputs(w, results[j].item ? &*results[j].item : nullptr);
    }
  }
  if (first_error) std::rethrow_exception(first_error);
}

}  // namespace zae
