// Small file, lock and tool helpers shared by the ufw adapter's sources (private to lib/src/ufw).
#include "ufw_files.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

namespace dockgate {
namespace {
namespace fs = std::filesystem;
using clock = std::chrono::steady_clock;

bool write_all(int fd, std::string_view text) {
    while (!text.empty()) {
        const auto n = ::write(fd, text.data(), text.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        text.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

/// Closes a new file written with `ok`; its path, or nullopt with `error` set and the file gone.
std::optional<std::string> close_written(int fd, std::string path, bool ok, std::string& error) {
    if (!ok) {
        error = errno_text("cannot write " + path);
    }
    if (::close(fd) != 0 && ok) {
        error = errno_text("cannot write " + path);
    }
    if (!error.empty()) {
        ::unlink(path.c_str());
        return std::nullopt;
    }
    return path;
}

} // namespace

const std::vector<std::string> tool_env{"LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"};

std::string errno_text(const std::string& what) {
    return what + ": " + std::strerror(errno);
}

ufw_lock::ufw_lock(const std::string& path, std::chrono::milliseconds deadline) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
        error_ = errno_text("cannot open " + path);
        return;
    }
    const auto give_up = clock::now() + deadline;
    for (;;) {
        struct flock whole_file {};
        whole_file.l_type = F_WRLCK;
        whole_file.l_whence = SEEK_SET;
        if (::fcntl(fd_, F_SETLK, &whole_file) == 0) {
            held_ = true;
            return;
        }
        if ((errno != EAGAIN && errno != EACCES) || clock::now() >= give_up) {
            error_ = errno == EAGAIN || errno == EACCES
                         ? "another ufw run held " + path + " for more than " +
                               std::to_string(deadline.count()) + " ms"
                         : errno_text("cannot lock " + path);
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

ufw_lock::~ufw_lock() {
    if (fd_ >= 0) {
        ::close(fd_); // closing releases the lock
    }
}

namespace {

file_stamp stamp_from(const struct stat& info) {
    auto ns = [](const timespec& at) {
        return static_cast<std::int64_t>(at.tv_sec) * 1'000'000'000 + at.tv_nsec;
    };
    return {static_cast<std::uint64_t>(info.st_dev), static_cast<std::uint64_t>(info.st_ino),
            static_cast<std::int64_t>(info.st_size), ns(info.st_mtim), ns(info.st_ctim)};
}

} // namespace

std::optional<std::string> read_text(const std::string& path, read_stamps* stamps) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return std::nullopt;
    }
    // One allocation of the file's size (a megabyte at 10,000 rules), not a doubling stream.
    struct stat info {};
    std::string text;
    if (stamps != nullptr) {
        // Before the first look: a write during the read must count as younger than this.
        stamps->taken_ns = wall_clock_ns();
    }
    if (::fstat(fd, &info) == 0) {
        if (info.st_size > 0) {
            text.reserve(static_cast<std::size_t>(info.st_size) + 1);
        }
        if (stamps != nullptr) {
            stamps->before = stamp_from(info);
        }
    }
    std::array<char, 65536> chunk{};
    for (;;) {
        const auto n = ::read(fd, chunk.data(), chunk.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            const int saved = errno;
            ::close(fd);
            errno = saved;
            return std::nullopt;
        }
        if (n == 0) {
            break;
        }
        text.append(chunk.data(), static_cast<std::size_t>(n));
    }
    if (stamps != nullptr && ::fstat(fd, &info) == 0) {
        stamps->after = stamp_from(info);
    }
    ::close(fd);
    return text;
}

std::optional<file_stamp> stamp_of(const std::string& path) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) {
        return std::nullopt;
    }
    return stamp_from(info);
}

std::int64_t wall_clock_ns() {
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    return static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

std::int64_t file_clock_tick_ns() {
    // File times come from the coarse wall clock, which moves once a scheduler tick.
    static const std::int64_t tick = [] {
        timespec resolution{};
        if (::clock_getres(CLOCK_REALTIME_COARSE, &resolution) != 0) {
            return std::int64_t{10'000'000}; // HZ=100, the coarsest kernels have
        }
        return static_cast<std::int64_t>(resolution.tv_sec) * 1'000'000'000 + resolution.tv_nsec;
    }();
    return tick;
}

/// Writes `text` to a new file beside `target` with the target's mode and owner, synced.
/// Returns its path, or nullopt with `error` set and nothing left behind.
std::optional<std::string> write_beside(const std::string& target, std::string_view text,
                                        std::string& error, bool sync) {
    struct stat original {};
    if (::stat(target.c_str(), &original) != 0) {
        error = errno_text("cannot stat " + target);
        return std::nullopt;
    }
    std::string path = fs::path(target).parent_path() / (std::string(temp_prefix) + "XXXXXX");
    const int fd = ::mkostemp(path.data(), O_CLOEXEC);
    if (fd < 0) {
        error = errno_text("cannot write in " + fs::path(target).parent_path().string());
        return std::nullopt;
    }
    // The executor keeps no CAP_CHOWN: ownership is only set when it differs (root:root, as ufw
    // installs the file, needs nothing), and a failure to match it is an error, not a change.
    struct stat created {};
    const bool same_owner = ::fstat(fd, &created) == 0 && created.st_uid == original.st_uid &&
                            created.st_gid == original.st_gid;
    const bool ok = write_all(fd, text) && ::fchmod(fd, original.st_mode & 07777) == 0 &&
                    (same_owner || ::fchown(fd, original.st_uid, original.st_gid) == 0) &&
                    (!sync || ::fsync(fd) == 0);
    return close_written(fd, std::move(path), ok, error);
}

std::optional<std::string> write_scratch(const std::string& dir, std::string_view text,
                                         std::string& error) {
    std::error_code ec;
    fs::create_directories(dir, ec);
    std::string path = dir + "/" + std::string(scratch_file_prefix) + "XXXXXX";
    const int fd = ::mkostemp(path.data(), O_CLOEXEC);
    if (fd < 0) {
        error = errno_text("cannot write in " + dir);
        return std::nullopt;
    }
    const bool ok = write_all(fd, text);
    return close_written(fd, std::move(path), ok, error);
}

bool sync_file(const std::string& path, std::string& error) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    const bool ok = fd >= 0 && ::fsync(fd) == 0;
    if (!ok) {
        error = errno_text("cannot sync " + path);
    }
    if (fd >= 0) {
        ::close(fd);
    }
    return ok;
}

bool replace_with(const std::string& temp, const std::string& target, std::string& error) {
    if (::rename(temp.c_str(), target.c_str()) != 0) {
        error = errno_text("cannot replace " + target);
        ::unlink(temp.c_str());
        return false;
    }
    sync_directory(fs::path(target).parent_path());
    return true;
}

void sync_directory(const std::string& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        ::fsync(fd);
        ::close(fd);
    }
}

std::string first_line(std::string_view text) {
    const auto end = text.find('\n');
    return std::string(text.substr(0, end == std::string_view::npos ? text.size() : end));
}

std::string failure_text(const process_result& run) {
    return run.timed_out              ? std::string("timed out")
           : !run.spawn_error.empty() ? run.spawn_error
                                      : first_line(run.err);
}

process_result restore_rules(const ufw_settings& settings, const std::string& file) {
    return run_process({settings.ip6tables_restore, "-n", file}, tool_env, settings.timeout);
}

} // namespace dockgate
