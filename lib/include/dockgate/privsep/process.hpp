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
    long pid = 0; ///< the process's id, once started
};

/// Blocking: runs argv[0] (an absolute path) with `env` as its whole environment, kills the
/// process group at `deadline`, and keeps at most `max_output` bytes of each stream.
process_result run_process(const std::vector<std::string>& argv,
                           const std::vector<std::string>& env, std::chrono::milliseconds deadline,
                           std::size_t max_output = 1 << 20);

/// A started process whose stdout and stderr the caller reads from `out_fd` (its to close).
struct reading_process {
    long pid = 0;
    int out_fd = -1;
    std::string spawn_error; ///< set when it could not be started
};
/// Starts argv[0] (an absolute path) like run_process, without waiting for it: the caller
/// reads its output and ends it (kill and waitpid on `pid`).
reading_process start_reading_process(const std::vector<std::string>& argv,
                                      const std::vector<std::string>& env);

} // namespace dockgate
