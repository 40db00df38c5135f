// What this process has used so far, for the load tools' CPU per operation
// and the server's process_* metrics. Thread-safe; each call reads the
// kernel's figures afresh.
#ifndef ZAE_CORE_PROCESS_STATS_H_
#define ZAE_CORE_PROCESS_STATS_H_

namespace zae {

// User + system CPU time of the whole process, in seconds.
double ProcessCpuSeconds();
// Resident set size now (not the peak), in bytes; 0 if unreadable.
double ProcessResidentBytes();

}  // namespace zae

#endif  // ZAE_CORE_PROCESS_STATS_H_
