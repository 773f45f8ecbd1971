// posix_spawn-based process runner with a deadline and bounded output capture.
#include "dockgate/privsep/process.hpp"

#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

namespace dockgate {
namespace {

/// Owns a pipe's two ends so every exit path closes them.
struct pipe_pair {
    std::array<int, 2> fd{-1, -1};
    pipe_pair() {
        if (pipe2(fd.data(), O_CLOEXEC) != 0) {
            fd = {-1, -1};
        }
    }
    pipe_pair(const pipe_pair&) = delete;
    pipe_pair& operator=(const pipe_pair&) = delete;
    ~pipe_pair() {
        close_read();
        close_write();
    }
    void close_read() {
        if (fd[0] >= 0) {
            ::close(fd[0]);
            fd[0] = -1;
        }
    }
    void close_write() {
        if (fd[1] >= 0) {
            ::close(fd[1]);
            fd[1] = -1;
        }
    }
};

std::vector<char*> c_strings(const std::vector<std::string>& items) {
    std::vector<char*> out;
    out.reserve(items.size() + 1);
    for (const auto& item : items) {
        out.push_back(const_cast<char*>(item.c_str())); // NOLINT: POSIX wants char* const[]
    }
    out.push_back(nullptr);
    return out;
}

/// Starts argv with stdin from /dev/null, stdout and stderr on the given descriptors, in its
/// own process group (so a timeout kills ufw and the iptables children it started) with default
/// signal handling. Returns 0 or the error number.
int spawn(const std::vector<std::string>& argv, const std::vector<std::string>& env, int out_fd,
          int err_fd, pid_t& pid) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
    posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t default_signals;
    sigfillset(&default_signals);
    posix_spawnattr_setsigdefault(&attr, &default_signals);
    sigset_t no_signals;
    sigemptyset(&no_signals);
    posix_spawnattr_setsigmask(&attr, &no_signals);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF |
                                        POSIX_SPAWN_SETSIGMASK);
    auto args = c_strings(argv);
    auto envp = c_strings(env);
    const int rc = posix_spawn(&pid, argv[0].c_str(), &actions, &attr, args.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    return rc;
}

} // namespace

reading_process start_reading_process(const std::vector<std::string>& argv,
                                      const std::vector<std::string>& env) {
    reading_process started;
    if (argv.empty()) {
        started.spawn_error = "empty argv";
        return started;
    }
    pipe_pair out_pipe;
    if (out_pipe.fd[0] < 0) {
        started.spawn_error = std::string("pipe: ") + std::strerror(errno);
        return started;
    }
    pid_t pid = -1;
    if (const int rc = spawn(argv, env, out_pipe.fd[1], out_pipe.fd[1], pid); rc != 0) {
        started.spawn_error = argv[0] + ": " + std::strerror(rc);
        return started;
    }
    started.pid = pid;
    started.out_fd = out_pipe.fd[0];
    out_pipe.fd[0] = -1; // handed over
    return started;
}

process_result run_process(const std::vector<std::string>& argv,
                           const std::vector<std::string>& env, std::chrono::milliseconds deadline,
                           std::size_t max_output) {
    process_result result;
    if (argv.empty()) {
        result.spawn_error = "empty argv";
        return result;
    }
    pipe_pair out_pipe;
    pipe_pair err_pipe;
    if (out_pipe.fd[0] < 0 || err_pipe.fd[0] < 0) {
        result.spawn_error = std::string("pipe: ") + std::strerror(errno);
        return result;
    }
    pid_t pid = -1;
    if (const int rc = spawn(argv, env, out_pipe.fd[1], err_pipe.fd[1], pid); rc != 0) {
        result.spawn_error = argv[0] + ": " + std::strerror(rc);
        return result;
    }
    result.pid = pid;
    out_pipe.close_write();
    err_pipe.close_write();

    const auto end = std::chrono::steady_clock::now() + deadline;
    std::array<pollfd, 2> fds{{{out_pipe.fd[0], POLLIN, 0}, {err_pipe.fd[0], POLLIN, 0}}};
    std::array<std::string*, 2> sinks{&result.out, &result.err};
    int open_streams = 2;
    std::array<char, 4096> chunk{};
    while (open_streams > 0) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            end - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            result.timed_out = true;
            break;
        }
        const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(left.count()));
        if (ready < 0 && errno != EINTR) {
            break;
        }
        for (std::size_t i = 0; i < fds.size(); ++i) {
            if (fds[i].fd < 0 || (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) == 0) {
                continue;
            }
            const auto n = ::read(fds[i].fd, chunk.data(), chunk.size());
            if (n <= 0) {
                fds[i].fd = -1; // poll ignores negative descriptors
                --open_streams;
                continue;
            }
            auto& sink = *sinks[i];
            sink.append(chunk.data(), std::min(static_cast<std::size_t>(n),
                                               max_output - std::min(max_output, sink.size())));
        }
    }
    if (result.timed_out) {
        ::kill(-pid, SIGKILL);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!result.timed_out && WIFEXITED(status)) {
        result.exit_code = WEXITSTATUS(status);
    }
    return result;
}

} // namespace dockgate
