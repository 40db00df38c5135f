// Item-level semantics of the Store contract (include/zae/store.h), shared by
// the embedded backends (memory, SQLite) so both behave identically: they
// only fetch the current item, call Apply, and persist the outcome.
// Pure functions; thread-compatible.
#ifndef ZAE_STORE_APPLY_H_
#define ZAE_STORE_APPLY_H_

#include <string>
#include <utility>
#include <vector>

#include "zae/store.h"

namespace zae::store {

enum class Change { kNone, kUpsert, kErase };

// Key addressed by a write operation.
ItemKey KeyOfOp(const WriteOp& op);

// Applies `op` to `item` in place, its condition included. `exists` false
// means the item is missing and `item` is empty. The caller persists the
// returned change: kUpsert stores `item`, kErase removes it; on kNone `item`
// is untouched. Working in place spares the backends an item copy per write.
Change ApplyInPlace(const WriteOp& op, Item& item, bool exists, WriteResult& result);

// For Transact: all conditions are checked first; if any fails nothing
// changes. `items[i]` is the item op i addresses (empty and `exists[i]`
// false when missing). When result.ok, `changes[i]` says what to persist.
// Ops addressing the same key twice are rejected (as DynamoDB does).
TransactResult ApplyTransaction(const std::vector<WriteOp>& ops, const std::vector<Item*>& items,
                                const std::vector<bool>& exists, std::vector<Change>& changes);

// True when applying u's SET and SET-if-not-exists to `item` would change
// nothing: every SET attribute already holds its value and every
// SET-if-not-exists attribute exists.
bool UpdateSetsHold(const Update& u, const Item& item);

// WriteEach for backends without concurrent writes: runs every op through
// store.Write in order, then rethrows the first error (the contract).
std::vector<WriteResult> WriteEachInTurn(Store& store, const std::vector<WriteOp>& ops);

// Hash/sort attribute names of an index ("PK"/"SK", "GSI1PK"/"GSI1SK", ...).
std::pair<std::string, std::string> IndexAttributes(Index index);

// Query over a set of candidate items (already filtered to nothing in
// particular): filters by hash/prefix, orders by (sort, PK, SK), pages.
QueryPage QueryItems(std::vector<const Item*> candidates, const QueryRequest& request,
                     int default_page_size);

}  // namespace zae::store

#endif  // ZAE_STORE_APPLY_H_
