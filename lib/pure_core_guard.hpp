// Force-included into every source of dockgate_core: the pure core may not use I/O libraries.
// A use of Asio, Beast, spdlog, libsystemd, a thread, a lock or a clock is a compile error here,
// so the boundary between the pure reconcile core and its I/O adapters is checked on every build.
#pragma once

// The standard and library headers that mention these names are read first (their include guards
// keep them from being read again); the core's own code cannot use the names after this.
#include <boost/system/error_code.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <shared_mutex>
#include <thread>

#pragma GCC poison asio beast spdlog sd_notify sd_journal_send sd_journal_print
#pragma GCC poison thread jthread mutex timed_mutex shared_mutex steady_clock system_clock
