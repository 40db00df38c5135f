// Injectable wall clock in epoch milliseconds. The limiter reads time only
// through a Clock, so tests drive it with FakeClock.
// Thread safety: both implementations are safe to call from many threads.
#ifndef ZAE_CLOCK_H_
#define ZAE_CLOCK_H_

#include <atomic>
#include <cstdint>

namespace zae {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMs() const = 0;
  // Waits `ms` milliseconds of this clock's time (FakeClock: advances itself).
  virtual void SleepMs(int64_t ms) const = 0;
};

// std::chrono::system_clock. Default() returns a process-wide instance.
class SystemClock final : public Clock {
 public:
  int64_t NowMs() const override;
  void SleepMs(int64_t ms) const override;
  static const SystemClock* Default();
};

// A clock that moves only when told to.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t now_ms = 1'700'000'000'000) : now_(now_ms) {}
  int64_t NowMs() const override { return now_.load(std::memory_order_relaxed); }
  void SleepMs(int64_t ms) const override { now_.fetch_add(ms, std::memory_order_relaxed); }
  void Set(int64_t now_ms) { now_.store(now_ms, std::memory_order_relaxed); }
  void Advance(int64_t ms) { now_.fetch_add(ms, std::memory_order_relaxed); }

 private:
  mutable std::atomic<int64_t> now_;
};

}  // namespace zae

#endif  // ZAE_CLOCK_H_
