// Runs a program by argv (never a shell) with a deadline, capturing its output.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace dockgate {

struct process_result {
    int exit_code = -1;      ///< -1 when it did not exit normally
    bool timed_out = false;  ///< killed at the deadline
    std::string spawn_error; ///< set when the program could not be started
    std::string out;
    std::string err;
};

/// Blocking: runs argv[0] (an absolute path) with `env` as its whole environment, kills the
/// process group at `deadline`, and keeps at most `max_output` bytes of each stream.
process_result run_process(const std::vector<std::string>& argv,
                           const std::vector<std::string>& env, std::chrono::milliseconds deadline,
                           std::size_t max_output = 1 << 20);

} // namespace dockgate
