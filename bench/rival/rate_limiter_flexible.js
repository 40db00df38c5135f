// The rival in memory: rate-limiter-flexible's RateLimiterMemory (Node.js),
// one key, consume(1) awaited in a loop, as our BM_AcquireCommit/0/1/0 does
// one acquire+commit at a time. Prints the median of 5 one-second rounds.
// Run by scripts/bench.sh, which installs the package under build/rival/.
// Usage: node rate_limiter_flexible.js [SECONDS_PER_ROUND]
'use strict';
const { RateLimiterMemory } = require('rate-limiter-flexible');

async function round(seconds) {
  const limiter = new RateLimiterMemory({ points: 1e12, duration: 1 });
  const end = process.hrtime.bigint() + BigInt(Math.round(seconds * 1e9));
  let ops = 0;
  const start = process.hrtime.bigint();
  while (true) {
    await limiter.consume('key', 1);
    ++ops;
    if ((ops & 1023) === 0 && process.hrtime.bigint() >= end) break;
  }
  const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
  return ops / elapsed;
}

(async () => {
  const seconds = Number(process.argv[2] || 1);
  const version = require('rate-limiter-flexible/package.json').version;
  await round(0.3);  // warm-up (JIT)
  const rates = [];
  for (let i = 0; i < 5; ++i) rates.push(await round(seconds));
  rates.sort((a, b) => a - b);
  console.log(`rate-limiter-flexible ${version} RateLimiterMemory consume: ` +
              `median ${(rates[2] / 1e6).toFixed(3)}M/s ` +
              `(${(1e9 / rates[2]).toFixed(0)} ns/op; rounds ${rates.map((r) => (r / 1e6).toFixed(2)).join(' ')})`);
})();
