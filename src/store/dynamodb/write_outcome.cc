#include "store/dynamodb/write_outcome.h"

#include <algorithm>
#include <string_view>
#include <variant>

#include "core/pair_hash.h"
#include "store/apply.h"

namespace zae::store {
namespace {

std::optional<int64_t> NumberOf(const Item* item, const std::string& attr) {
  if (!item) return std::nullopt;
  auto it = item->find(attr);
  if (it == item->end() || !it->second.is_number()) return std::nullopt;
  return it->second.as_number();
}

bool Has(const Item* item, const std::string& attr, const Value& v) {
  if (!item) return false;
  auto it = item->find(attr);
  return it != item->end() && it->second == v;
}

// The clause "attr <op> ..." standing alone in `c` (so it must hold).
const Predicate* SoleClause(const Condition& c, const std::string& attr, Predicate::Op op) {
  for (const auto& clause : c.clauses) {
    if (clause.size() == 1 && clause[0].attr == attr && clause[0].op == op) return &clause[0];
  }
  return nullptr;
}

bool IsCounter(std::string_view attr) { return attr.starts_with("b_"); }

WriteVerdict JudgePut(const Put& p, const Item* now) {
  if (SoleClause(p.condition, "PK", Predicate::Op::kNotExists)) {
    if (!now) return WriteVerdict::kNotApplied;
    // Later writes move the counters; what the create alone decides (rf,
    // ttl, keys, flags) must all be ours.
    for (const auto& [attr, v] : p.item) {
      if (!IsCounter(attr) && !Has(now, attr, v)) return WriteVerdict::kUnknown;
    }
    return WriteVerdict::kApplied;
  }
  if (now && *now == p.item) return WriteVerdict::kApplied;
  // An unconditional Put resent leaves what one would have.
  return p.condition.empty() ? WriteVerdict::kNotApplied : WriteVerdict::kUnknown;
}

WriteVerdict JudgeUpdate(const Update& u, const SentWrite& sent, const Item* now) {
  // Compare-and-set: the condition pins an attribute the write changes.
  bool cas = false, all_new = true, all_old = true;
  for (const auto& [attr, v] : u.set) {
    const Predicate* pin = SoleClause(u.condition, attr, Predicate::Op::kEq);
    if (!pin || pin->operand == v) continue;
    cas = true;
    all_new = all_new && Has(now, attr, v);
    all_old = all_old && Has(now, attr, pin->operand);
  }
  if (cas) {
    if (!now) return WriteVerdict::kNotApplied;  // a resend fails its condition, truthfully
    if (all_new) return WriteVerdict::kApplied;
    return all_old ? WriteVerdict::kNotApplied : WriteVerdict::kUnknown;
  }
  if (!u.add.empty()) {
    if (!now) {
      return SoleClause(u.condition, "PK", Predicate::Op::kExists) ? WriteVerdict::kNotApplied
                                                                   : WriteVerdict::kUnknown;
    }
    if (!sent.have_before || sent.before.size() != u.add.size()) return WriteVerdict::kUnknown;
    bool applied = true, unchanged = true;
    for (size_t i = 0; i < u.add.size(); ++i) {
      const std::optional<int64_t> n = NumberOf(now, u.add[i].first);
      const std::optional<int64_t>& b = sent.before[i];
      applied = applied && n == b.value_or(0) + u.add[i].second;  // ADD to nothing sets it
      unchanged = unchanged && n == b;
    }
    for (const auto& [attr, v] : u.set) applied = applied && Has(now, attr, v);
    // Zero deltas change no number: a resend is harmless.
    if (unchanged) return WriteVerdict::kNotApplied;
    return applied ? WriteVerdict::kApplied : WriteVerdict::kUnknown;
  }
  // SET/REMOVE only: a resend leaves what one would have, except a SET
  // guarded by the attribute's absence, which a resend would refuse.
  for (const auto& [attr, v] : u.set) {
    if (SoleClause(u.condition, attr, Predicate::Op::kNotExists)) {
      return Has(now, attr, v) ? WriteVerdict::kApplied : WriteVerdict::kNotApplied;
    }
  }
  return WriteVerdict::kNotApplied;
}

}  // namespace

uint64_t WriteKeyHash(const ItemKey& key) { return PairHash(key.pk, key.sk); }

WriteVerdict Judge(const WriteOp& op, const SentWrite& sent, const Item* now) {
  if (const auto* p = std::get_if<Put>(&op)) return JudgePut(*p, now);
  if (const auto* u = std::get_if<Update>(&op)) return JudgeUpdate(*u, sent, now);
  return WriteVerdict::kNotApplied;  // deletes and checks are resent by the client
}

SentWrite WriteLedger::Begin(const WriteOp& op) {
  if (std::holds_alternative<ConditionCheck>(op)) return {};  // writes nothing
  const Update* u = std::get_if<Update>(&op);
  std::vector<std::string_view> adds;
  if (u) {
    adds.reserve(u->add.size());
    for (const auto& [attr, delta] : u->add) adds.push_back(attr);
  }
  return BeginAdds(KeyOfOp(op), adds.data(), u ? adds.size() : kNotAnUpdate);
}

SentWrite WriteLedger::BeginAdds(const ItemKey& key, const std::string_view* adds, size_t n) {
  SentWrite s;
  s.key_hash = WriteKeyHash(key);
  Stripe& st = stripes_[s.key_hash % kStripes];
  std::lock_guard lock(st.mu);
  if (st.entries.size() >= kMaxPerStripe && !st.entries.contains(s.key_hash)) {
    std::erase_if(st.entries, [](const auto& kv) { return kv.second.in_flight == 0; });
  }
  Entry& e = st.entries[s.key_hash];
  if (e.pk != key.pk || e.sk != key.sk) {
    if (e.in_flight != 0) return s;  // a hash collision with a live item: untracked
    e = Entry{};
    e.pk = key.pk;
    e.sk = key.sk;
  }
  s.alone = e.in_flight == 0;
  if (n != kNotAnUpdate && s.alone && e.known) {
    s.have_before = true;
    s.before.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      const std::string_view attr = adds[i];
      auto it = std::lower_bound(e.numbers.begin(), e.numbers.end(), attr,
                                 [](const auto& x, std::string_view a) { return x.first < a; });
      s.before.push_back(it != e.numbers.end() && it->first == attr
                             ? std::optional<int64_t>(it->second)
                             : std::nullopt);
    }
  }
  ++e.in_flight;
  s.epoch = ++e.epoch;
  s.tracked = true;
  return s;
}

void WriteLedger::End(const SentWrite& sent, const Item* after) {
  if (!sent.tracked) return;
  std::vector<Number> numbers;
  if (after) {
    for (const auto& [attr, v] : *after) {  // std::map: sorted by name
      if (v.is_number()) numbers.emplace_back(attr, v.as_number());
    }
  }
  EndNumbers(sent, numbers.data(), numbers.size(), after != nullptr);
}

void WriteLedger::EndNumbers(const SentWrite& sent, const Number* numbers, size_t count,
                             bool known) {
  if (!sent.tracked) return;
  Stripe& st = stripes_[sent.key_hash % kStripes];
  std::lock_guard lock(st.mu);
  auto it = st.entries.find(sent.key_hash);
  if (it == st.entries.end()) return;
  Entry& e = it->second;
  --e.in_flight;
  // Only a write that overlapped no other of this process's knows the
  // item's latest state from its own answer.
  if (!known || !sent.alone || e.epoch != sent.epoch || e.in_flight != 0) {
    e.known = false;
    return;
  }
  // Reuses the entry's strings: the names rarely change between writes.
  e.numbers.resize(count);
  for (size_t i = 0; i < count; ++i) {
    if (e.numbers[i].first != numbers[i].first) e.numbers[i].first = numbers[i].first;
    e.numbers[i].second = numbers[i].second;
  }
  e.known = true;
}

void WriteLedger::Invalidate(const ItemKey& key) {
  const uint64_t h = WriteKeyHash(key);
  Stripe& st = stripes_[h % kStripes];
  std::lock_guard lock(st.mu);
  auto it = st.entries.find(h);
  if (it != st.entries.end()) {
    it->second.known = false;
    ++it->second.epoch;  // a write in flight now does not know the result
  }
}

size_t WriteLedger::tracked_items() const {
  size_t n = 0;
  for (const Stripe& st : stripes_) {
    std::lock_guard lock(st.mu);
    n += st.entries.size();
  }
  return n;
}

}  // namespace zae::store
