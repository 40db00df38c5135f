#include "zae/memory_store.h"

#include <algorithm>
#include <exception>
#include <functional>

#include "store/apply.h"
#include "store/bucket_write.h"
#include "zae/errors.h"

namespace zae {

using store::Change;

// One item. `item` is the source of truth; the cells are pointers into it
// for the typed bucket path, rebuilt after any generic write (std::map nodes
// do not move, so the pointers stay valid until the item changes shape).
struct MemoryStore::Record {
  Record(Stripe* s, ItemKey k) : stripe(s), key(std::move(k)) {}

  Stripe* const stripe;
  const ItemKey key;
  Item item;
  bool live = true;  // false once erased from its stripe

  static constexpr size_t kMaxWindows = 4;
  // A counter cell of a snapshot record, valid while the bucket still uses
  // that record (usage_gen) and the record kept its shape.
  struct UsageCell {
    int64_t* cell = nullptr;
    uint64_t gen = ~uint64_t{0};
    uint64_t shape = 0;
  };
  struct LimitCells {
    std::string name;
    int64_t *tk = nullptr, *tc = nullptr, *cp = nullptr, *ra = nullptr, *rp = nullptr;
    UsageCell usage[kMaxWindows];  // this limit's counter in each window
  };
  bool cells_valid = false;
  uint64_t shape = 0;  // bumped whenever cell pointers may have moved
  int64_t *rf = nullptr, *ttl = nullptr, *shard_count = nullptr;
  std::vector<LimitCells> limits;                          // bucket items
  std::vector<std::pair<std::string, int64_t*>> counters;  // snapshot items
  // The snapshot records the last typed write to this bucket used, and the
  // caller's id for that set of windows (BucketWrite::usage_window).
  std::vector<std::shared_ptr<Record>> usage;
  int64_t usage_window = 0;
  uint64_t usage_gen = 0;  // bumped when `usage` changes
  // Per window, the snapshot's shape when its template's fields last held.
  uint64_t usage_applied[kMaxWindows] = {~uint64_t{0}, ~uint64_t{0}, ~uint64_t{0}, ~uint64_t{0}};
  UsageCell events_cells[kMaxWindows];  // total_events per window

  // ADD `delta` to the counter `name` of snapshot `snap` (window u) through
  // `cached`, refreshing it when the snapshot or its shape changed.
  void AddUsage(Record& snap, UsageCell& cached, std::string_view name, int64_t delta) {
    if (cached.gen != usage_gen || cached.shape != snap.shape) {
      cached = {snap.Counter(name), usage_gen, snap.shape};
    }
    snap.Add(cached.cell, name, nullptr, delta);
  }

  int64_t* Number(const std::string& attr) {
    auto it = item.find(attr);
    return it == item.end() ? nullptr : it->second.mutable_number();
  }
  void Invalidate() {
    ++shape;
    cells_valid = false;
    limits.clear();
    counters.clear();
  }
  void Validate() {
    if (cells_valid) return;
    rf = Number("rf");
    ttl = Number("ttl");
    shard_count = Number("shard_count");
    cells_valid = true;
  }
  LimitCells& Cells(std::string_view name) {
    Validate();
    for (LimitCells& c : limits) {
      if (c.name == name) return c;
    }
    // First typed write of this limit since the item last changed shape.
    LimitCells c{std::string(name)};
    c.tk = Number(store::BucketAttr(name, "tk"));
    c.tc = Number(store::BucketAttr(name, "tc"));
    c.cp = Number(store::BucketAttr(name, "cp"));
    c.ra = Number(store::BucketAttr(name, "ra"));
    c.rp = Number(store::BucketAttr(name, "rp"));
    limits.push_back(std::move(c));
    return limits.back();
  }
  // ADD `delta` to number attribute `attr` (created at 0 when missing).
  void Add(int64_t*& cell, std::string_view attr_or_limit, const char* field, int64_t delta) {
    if (delta == 0) return;
    if (cell) {
      *cell = SaturatingAdd(*cell, delta);
      return;
    }
    const std::string attr =
        field ? store::BucketAttr(attr_or_limit, field) : std::string(attr_or_limit);
    auto [it, inserted] = item.try_emplace(attr, Value(int64_t{0}));
    if (!it->second.is_number()) throw StoreError("attribute " + attr + " is not a number");
    it->second = Value(SaturatingAdd(it->second.as_number(), delta));
    Invalidate();  // the item changed shape; `cell` is rebuilt on next use
  }
  int64_t*& Counter(std::string_view name) {
    for (auto& [n, cell] : counters) {
      if (n == name) return cell;
    }
    counters.emplace_back(std::string(name), Number(std::string(name)));
    return counters.back().second;
  }
};

struct alignas(64) MemoryStore::Stripe {
  std::mutex mu;
  std::map<ItemKey, std::shared_ptr<Record>> items;
  // Typed writes counted here, under `mu`, so that threads writing
  // unrelated buckets share no counter cache line.
  int64_t typed_updates = 0;
  int64_t typed_transactions = 0;
};

namespace {

class Handle final : public BucketHandle {
 public:
  explicit Handle(std::shared_ptr<MemoryStore::Record> r) : record(std::move(r)) {}
  std::shared_ptr<MemoryStore::Record> record;
};

// Locks a set of stripes in address order, so two calls never deadlock.
class StripeLocks {
 public:
  template <class It>
  StripeLocks(It begin, It end) : stripes_(begin, end) {
    std::sort(stripes_.begin(), stripes_.end());
    stripes_.erase(std::unique(stripes_.begin(), stripes_.end()), stripes_.end());
    for (auto* s : stripes_) s->mu.lock();
  }
  ~StripeLocks() {
    for (auto it = stripes_.rbegin(); it != stripes_.rend(); ++it) (*it)->mu.unlock();
  }
  StripeLocks(const StripeLocks&) = delete;
  StripeLocks& operator=(const StripeLocks&) = delete;

 private:
  std::vector<MemoryStore::Stripe*> stripes_;
};

}  // namespace

MemoryStore::MemoryStore() : stripes_(new Stripe[kStripes]) {}
MemoryStore::~MemoryStore() = default;

MemoryStore::Stripe& MemoryStore::StripeOf(const std::string& pk) const {
  return stripes_[std::hash<std::string_view>{}(pk) % kStripes];
}

std::optional<Item> MemoryStore::Get(const ItemKey& key, bool) {
  Count(kGetItem);
  Stripe& s = StripeOf(key.pk);
  std::lock_guard lock(s.mu);
  auto it = s.items.find(key);
  if (it == s.items.end()) return std::nullopt;
  return it->second->item;
}

std::vector<std::optional<Item>> MemoryStore::BatchGet(const std::vector<ItemKey>& keys, bool) {
  Count(kBatchGetItem);
  std::vector<Stripe*> stripes;
  for (const auto& key : keys) stripes.push_back(&StripeOf(key.pk));
  StripeLocks locks(stripes.begin(), stripes.end());
  std::vector<std::optional<Item>> out;
  out.reserve(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    auto it = stripes[i]->items.find(keys[i]);
    out.push_back(it == stripes[i]->items.end() ? std::nullopt
                                                : std::optional<Item>(it->second->item));
  }
  return out;
}

namespace {

// Applies `op` to its item in `s` (locked by the caller).
WriteResult WriteLocked(MemoryStore::Stripe& s, const WriteOp& op) {
  const ItemKey key = store::KeyOfOp(op);
  auto it = s.items.find(key);
  WriteResult result;
  if (it == s.items.end()) {
    Item fresh;
    if (store::ApplyInPlace(op, fresh, false, result) == Change::kUpsert) {
      auto rec = std::make_shared<MemoryStore::Record>(&s, key);
      rec->item = std::move(fresh);
      s.items.emplace(key, std::move(rec));
    }
    return result;
  }
  MemoryStore::Record& rec = *it->second;
  const Change change = store::ApplyInPlace(op, rec.item, true, result);
  if (change == Change::kUpsert) rec.Invalidate();
  if (change == Change::kErase) {
    rec.live = false;
    s.items.erase(it);
  }
  return result;
}

}  // namespace

WriteResult MemoryStore::Write(const WriteOp& op) {
  static constexpr Op kOps[] = {kPutItem, kUpdateItem, kDeleteItem, kConditionCheck};
  Count(kOps[op.index()]);
  Stripe& s = StripeOf(store::KeyOfOp(op).pk);
  std::lock_guard lock(s.mu);
  return WriteLocked(s, op);
}

std::vector<WriteResult> MemoryStore::WriteEach(const std::vector<WriteOp>& ops) {
  return store::WriteEachInTurn(*this, ops);
}

TransactResult MemoryStore::Transact(const std::vector<WriteOp>& ops) {
  Count(kTransactWriteItems);
  std::vector<ItemKey> keys;
  std::vector<Stripe*> stripes;
  for (const auto& op : ops) {
    keys.push_back(store::KeyOfOp(op));
    stripes.push_back(&StripeOf(keys.back().pk));
  }
  StripeLocks locks(stripes.begin(), stripes.end());
  std::vector<Item*> items;
  std::vector<bool> exists;
  std::vector<Item> fresh(ops.size());  // stand-ins for missing items
  for (size_t i = 0; i < ops.size(); ++i) {
    auto it = stripes[i]->items.find(keys[i]);
    exists.push_back(it != stripes[i]->items.end());
    items.push_back(exists.back() ? &it->second->item : &fresh[i]);
  }
  std::vector<Change> changes;
  TransactResult result = store::ApplyTransaction(ops, items, exists, changes);
  for (size_t i = 0; i < ops.size(); ++i) {
    Stripe& s = *stripes[i];
    if (changes[i] == Change::kUpsert && !exists[i]) {
      auto rec = std::make_shared<Record>(&s, keys[i]);
      rec->item = std::move(fresh[i]);
      s.items.emplace(keys[i], std::move(rec));
    } else if (changes[i] == Change::kUpsert) {
      s.items.at(keys[i])->Invalidate();
    } else if (changes[i] == Change::kErase) {
      auto it = s.items.find(keys[i]);
      it->second->live = false;
      s.items.erase(it);
    }
  }
  return result;
}

void MemoryStore::BatchWrite(const std::vector<WriteOp>& ops) {
  Count(kBatchWriteItem);
  for (const auto& op : ops) {
    Stripe& s = StripeOf(store::KeyOfOp(op).pk);
    std::lock_guard lock(s.mu);
    WriteLocked(s, op);
  }
}

QueryPage MemoryStore::Query(const QueryRequest& request) {
  Count(kQuery);
  if (request.index == Index::kTable) {
    Stripe& s = StripeOf(request.hash);
    std::lock_guard lock(s.mu);
    std::vector<const Item*> candidates;
    for (auto it = s.items.lower_bound(ItemKey{request.hash, ""});
         it != s.items.end() && it->first.pk == request.hash; ++it) {
      candidates.push_back(&it->second->item);
    }
    return store::QueryItems(std::move(candidates), request, 1000);
  }
  std::vector<Stripe*> all;
  for (size_t i = 0; i < kStripes; ++i) all.push_back(&stripes_[i]);
  StripeLocks locks(all.begin(), all.end());
  std::vector<const Item*> candidates;
  for (Stripe* s : all) {
    for (const auto& [key, rec] : s->items) candidates.push_back(&rec->item);
  }
  return store::QueryItems(std::move(candidates), request, 1000);
}

std::shared_ptr<BucketHandle> MemoryStore::OpenBucket(const ItemKey& key) {
  Stripe& s = StripeOf(key.pk);
  std::lock_guard lock(s.mu);
  auto it = s.items.find(key);
  if (it == s.items.end()) return nullptr;
  return std::make_shared<Handle>(it->second);
}

void MemoryStore::WriteBuckets(BucketWrite* writes, size_t count) {
  if (count > 0 && !writes) throw ValidationError("writes", "", "null with a non-zero count");
  // Each write on its own; an error of one is rethrown after the others ran.
  std::exception_ptr first_error;
  for (size_t i = 0; i < count; ++i) {
    try {
      WriteBucket(writes[i]);
    } catch (...) {
      if (!first_error) first_error = std::current_exception();
    }
  }
  if (first_error) std::rethrow_exception(first_error);
}

void MemoryStore::WriteBucket(BucketWrite& w) {
  store::ValidateBucketWrite(w, /*usage_keys=*/false);  // keys: below, unless cached
  constexpr size_t kMaxLimits = 16;
  constexpr size_t kMaxLocks = 5;
  if (w.limit_count > kMaxLimits || w.usage_count + 1 > kMaxLocks) {
    // More than a bucket has in practice: the generic path.
    Store::WriteBuckets(&w, 1);
    return;
  }
  // The handle came from OpenBucket(*w.key) (the contract); an erased
  // record is looked up again by key below.
  Record* rec = w.handle ? static_cast<Handle*>(w.handle)->record.get() : nullptr;
  Stripe* bucket_stripe = rec ? rec->stripe : &StripeOf(w.key->pk);
  // Lock the bucket's stripe, then the snapshots' (found through the
  // records this bucket used last time, so no key is hashed on a warm write).
  // Stripes are locked in address order; one below the bucket's is tried,
  // and on contention everything is relocked in order.
  Stripe* locked[kMaxLocks];
  size_t n_locked = 0;
  struct Unlock {
    Stripe** s;
    size_t* n;
    ~Unlock() {
      for (size_t i = *n; i-- > 0;) s[i]->mu.unlock();
    }
  } unlock{locked, &n_locked};
  bucket_stripe->mu.lock();
  locked[n_locked++] = bucket_stripe;
  ++(w.usage_count > 0 ? bucket_stripe->typed_transactions : bucket_stripe->typed_updates);
  // A record found by key (no handle, or the handle's was erased) is held
  // here, so it outlives a relock below even if another call erases it.
  std::shared_ptr<Record> held;
  // Finds the live record by key; false (the write failed) when there is none.
  auto find_live = [&] {
    if (rec && rec->live) return true;
    auto it = bucket_stripe->items.find(*w.key);
    held = it == bucket_stripe->items.end() ? nullptr : it->second;
    rec = held.get();
    w.exists = rec != nullptr;
    if (!rec) {
      w.status = WriteStatus::kConditionFailed;
      store::ReadBucketOutputs(w, nullptr);
    }
    return rec != nullptr;
  };
  w.exists = true;
  if (!find_live()) return;
  // Same windows as last time: the cached snapshot records, no key compared
  // (they were checked when first seen).
  const bool same_windows = w.usage_window != 0 && rec->usage_window == w.usage_window &&
                            rec->usage.size() >= w.usage_count;
  if (!same_windows) store::ValidateBucketWrite(w, /*usage_keys=*/true);
  if (w.usage_count > 0) {
    Stripe* want[kMaxLocks];
    size_t n_want = 0;
    for (size_t u = 0; u < w.usage_count; ++u) {
      const Update& tmpl = w.usage[u];
      Stripe* s = same_windows ? rec->usage[u]->stripe
                  : u < rec->usage.size() && rec->usage[u] && rec->usage[u]->key == tmpl.key
                      ? rec->usage[u]->stripe
                      : &StripeOf(tmpl.key.pk);
      if (s != bucket_stripe && std::find(want, want + n_want, s) == want + n_want) {
        want[n_want++] = s;
      }
    }
    bool in_order = true;
    for (size_t i = 0; i < n_want; ++i) {
      if (want[i] > bucket_stripe || want[i]->mu.try_lock()) {
        if (want[i] > bucket_stripe) want[i]->mu.lock();
        locked[n_locked++] = want[i];
      } else {
        in_order = false;
        break;
      }
    }
    if (!in_order) {
      for (size_t i = n_locked; i-- > 0;) locked[i]->mu.unlock();
      n_locked = 0;
      want[n_want++] = bucket_stripe;
      // Insertion sort: a handful of pointers (std::sort trips GCC 12's
      // -Warray-bounds on a fixed array).
      for (size_t i = 1; i < n_want; ++i) {
        for (size_t j = i; j > 0 && want[j] < want[j - 1]; --j) std::swap(want[j], want[j - 1]);
      }
      for (size_t i = 0; i < n_want; ++i) {
        want[i]->mu.lock();
        locked[n_locked++] = want[i];
      }
      if (!find_live()) return;  // erased while the stripes were unlocked
    }
  }
  rec->Validate();
  Record::LimitCells* cells[kMaxLimits];
  const int64_t* tk[kMaxLimits];
  // Cell pointers for every limit; again if the vector holding them grew.
  auto fetch = [&] {
    if (rec->limits.capacity() < kMaxLimits) rec->limits.reserve(kMaxLimits);
    for (;;) {
      const size_t capacity = rec->limits.capacity();
      for (size_t i = 0; i < w.limit_count; ++i) cells[i] = &rec->Cells(w.limits[i].name);
      if (rec->limits.capacity() == capacity) return;
    }
  };
  fetch();
  for (size_t i = 0; i < w.limit_count; ++i) tk[i] = cells[i]->tk;
  const bool ok = store::BucketWriteHolds(w, true, rec->ttl, tk);
  w.status = ok ? WriteStatus::kOk : WriteStatus::kConditionFailed;
  if (ok) {
    // Everything that can fail is checked before anything changes, so a
    // failed write changes nothing: an attribute the write adds to must be
    // a number or absent, on the bucket and on its snapshots.
    auto addable = [](const Item& item, int64_t* cell, const std::string& attr) {
      if (cell) return;  // a number
      auto it = item.find(attr);
      if (it != item.end() && !it->second.is_number()) {
        throw StoreError("attribute " + attr + " is not a number");
      }
    };
    for (size_t i = 0; i < w.limit_count; ++i) {
      if (w.limits[i].consume_milli == 0) continue;
      if (!cells[i]->tk) addable(rec->item, nullptr, store::BucketAttr(w.limits[i].name, "tk"));
      if (!cells[i]->tc) addable(rec->item, nullptr, store::BucketAttr(w.limits[i].name, "tc"));
    }
    if (rec->usage.size() < w.usage_count) rec->usage.resize(w.usage_count);
    Record* snaps[Record::kMaxWindows] = {};
    for (size_t u = 0; u < w.usage_count; ++u) {
      const Update& tmpl = w.usage[u];
      std::shared_ptr<Record>& cached = rec->usage[u];
      if (!cached || !cached->live || (!same_windows && cached->key != tmpl.key)) {
        Stripe& st = StripeOf(tmpl.key.pk);
        auto it = st.items.find(tmpl.key);
        if (it != st.items.end()) {
          cached = it->second;
          ++rec->usage_gen;
        } else {
          cached.reset();
        }
      }
      snaps[u] = cached.get();
      auto counter_ok = [&](Record::UsageCell& c, std::string_view name) {
        if (snaps[u]) {
          if (c.cell && c.gen == rec->usage_gen && c.shape == snaps[u]->shape) return;  // a number
          const std::string attr(name);
          addable(snaps[u]->item, snaps[u]->Number(attr), attr);
          return;
        }
        for (const auto* list : {&tmpl.set, &tmpl.set_if_not_exists}) {
          for (const auto& [attr, v] : *list) {
            if (attr == name && !v.is_number()) {
              throw StoreError("attribute " + attr + " is not a number");
            }
          }
        }
      };
      for (size_t i = 0; i < w.limit_count; ++i) {
        if (store::UsageTokens(w.limits[i]) != 0) counter_ok(cells[i]->usage[u], w.limits[i].name);
      }
      if (w.usage_events != 0) counter_ok(rec->events_cells[u], store::kTotalEventsAttr);
    }
    // Apply.
    uint64_t shape = rec->shape;
    for (size_t i = 0; i < w.limit_count; ++i) {
      const int64_t m = w.limits[i].consume_milli;
      if (m == 0) continue;
      rec->Add(cells[i]->tk, w.limits[i].name, "tk", SaturatingNeg(m));
      if (rec->shape != shape) fetch(), shape = rec->shape;  // a tk was created
      rec->Add(cells[i]->tc, w.limits[i].name, "tc", m);
      if (rec->shape != shape) fetch(), shape = rec->shape;  // a tc was created
    }
    for (size_t u = 0; u < w.usage_count; ++u) {
      const Update& tmpl = w.usage[u];
      // The template's SET / SET-if-not-exists only (copied on the rare
      // writes that need it: a new window, or a snapshot changed meanwhile).
      auto fields_of = [&] {
        Update fields = tmpl;
        fields.add.clear();
        fields.condition = {};
        return fields;
      };
      if (!snaps[u]) {
        // A new window: make the snapshot item from its template.
        Stripe& st = StripeOf(tmpl.key.pk);
        auto made = std::make_shared<Record>(&st, tmpl.key);
        WriteResult unused;
        store::ApplyInPlace(fields_of(), made->item, false, unused);
        rec->usage[u] = made;
        snaps[u] = made.get();
        st.items.emplace(tmpl.key, std::move(made));
        ++rec->usage_gen;
        rec->usage_applied[u] = snaps[u]->shape;
      } else if (snaps[u]->shape != rec->usage_applied[u]) {
        // Changed by another write since this bucket last looked: the
        // template's fields hold again after this write, as the Update's do.
        if (!store::UpdateSetsHold(tmpl, snaps[u]->item)) {
          WriteResult unused;
          store::ApplyInPlace(fields_of(), snaps[u]->item, true, unused);
          snaps[u]->Invalidate();
        }
        rec->usage_applied[u] = snaps[u]->shape;
      }
      Record& snap = *snaps[u];
      for (size_t i = 0; i < w.limit_count; ++i) {
        if (const int64_t tokens = store::UsageTokens(w.limits[i]); tokens != 0) {
          rec->AddUsage(snap, cells[i]->usage[u], w.limits[i].name, tokens);
        }
      }
      if (w.usage_events != 0) {
        rec->AddUsage(snap, rec->events_cells[u], store::kTotalEventsAttr, w.usage_events);
      }
    }
    if (w.usage_count > 0) rec->usage_window = w.usage_window;
  }
  rec->Validate();
  w.rf = rec->rf ? *rec->rf : 0;
  w.shard_count = rec->shard_count ? *rec->shard_count : 1;
  if (!w.views) return;
  for (size_t i = 0; i < w.limit_count; ++i) {
    const Record::LimitCells& c = *cells[i];
    BucketLimitView& v = w.views[i];
    v.present = c.tk != nullptr;
    v.tk = c.tk ? *c.tk : 0;
    v.cp = c.cp ? *c.cp : 0;
    v.ra = c.ra ? *c.ra : 0;
    v.rp = c.rp ? *c.rp : 0;
    v.tc = c.tc ? std::optional<int64_t>(*c.tc) : std::nullopt;
  }
}

int64_t MemoryStore::DeleteExpired(int64_t now_seconds) {
  int64_t n = 0;
  for (size_t i = 0; i < kStripes; ++i) {
    Stripe& s = stripes_[i];
    std::lock_guard lock(s.mu);
    for (auto it = s.items.begin(); it != s.items.end();) {
      auto ttl = it->second->item.find("ttl");
      if (ttl != it->second->item.end() && ttl->second.is_number() &&
          ttl->second.as_number() < now_seconds) {
        it->second->live = false;
        it = s.items.erase(it);
        ++n;
      } else {
        ++it;
      }
    }
  }
  return n;
}

StoreStats MemoryStore::stats() const {
  static const char* const kNames[kNumOps] = {
      "GetItem",        "BatchGetItem",       "PutItem",        "UpdateItem", "DeleteItem",
      "ConditionCheck", "TransactWriteItems", "BatchWriteItem", "Query"};
  int64_t counts[kNumOps];
  for (int i = 0; i < kNumOps; ++i) counts[i] = calls_[i].load(std::memory_order_relaxed);
  for (size_t i = 0; i < kStripes; ++i) {
    std::lock_guard lock(stripes_[i].mu);
    counts[kUpdateItem] += stripes_[i].typed_updates;
    counts[kTransactWriteItems] += stripes_[i].typed_transactions;
  }
  StoreStats out;
  for (int i = 0; i < kNumOps; ++i) {
    if (counts[i] > 0) out.calls[kNames[i]] = counts[i];
  }
  return out;
}

void MemoryStore::ResetStats() {
  for (auto& c : calls_) c.store(0, std::memory_order_relaxed);
  for (size_t i = 0; i < kStripes; ++i) {
    std::lock_guard lock(stripes_[i].mu);
    stripes_[i].typed_updates = stripes_[i].typed_transactions = 0;
  }
}

size_t MemoryStore::size() const {
  size_t n = 0;
  for (size_t i = 0; i < kStripes; ++i) {
    std::lock_guard lock(stripes_[i].mu);
    n += stripes_[i].items.size();
  }
  return n;
}

}  // namespace zae
