// Reading every page of a Store query. Not a public header.
#ifndef ZAE_LIMITER_QUERY_H_
#define ZAE_LIMITER_QUERY_H_

#include <utility>
#include <vector>

#include "zae/store.h"

namespace zae {

// Every item of `req`, page by page (req.limit is the page size), in order.
inline std::vector<Item> QueryAll(Store& store, QueryRequest req) {
  std::vector<Item> out;
  while (true) {
    QueryPage page = store.Query(req);
    for (auto& item : page.items) out.push_back(std::move(item));
    if (!page.last_evaluated) return out;
    req.start_after = std::move(page.last_evaluated);
  }
}

}  // namespace zae

#endif  // ZAE_LIMITER_QUERY_H_
