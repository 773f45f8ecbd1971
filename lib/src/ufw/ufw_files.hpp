// Small file, lock and tool helpers shared by the ufw adapter's sources (private to lib/src/ufw).
#pragma once

#include "dockgate/privsep/process.hpp"
#include "dockgate/ufw/file_stamp.hpp"
#include "dockgate/ufw/ufw_firewall.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dockgate {

/// Environment of every iptables/ufw tool run: no locale, a fixed PATH.
extern const std::vector<std::string> tool_env;
/// Scratch files beside a rules file start with this; leftovers are removed at start-up.
inline constexpr std::string_view temp_prefix = ".user6.rules.dockgate-";

/// "what: strerror(errno)".
std::string errno_text(const std::string& what);

/// ufw's own lock: ufw takes /run/ufw.lock with lockf(LOCK_EX), a POSIX write lock on the whole
/// file, for every command but --dry-run. Holding it keeps ufw runs out while we edit.
class ufw_lock {
  public:
    ufw_lock(const std::string& path, std::chrono::milliseconds deadline);
    ufw_lock(const ufw_lock&) = delete;
    ufw_lock& operator=(const ufw_lock&) = delete;
    ~ufw_lock();
    [[nodiscard]] bool held() const { return held_; }
    [[nodiscard]] const std::string& error() const { return error_; }

  private:
    int fd_ = -1;
    bool held_ = false;
    std::string error_;
};

/// The stamps of a file just before and just after one read of it, and when it began.
struct read_stamps {
    file_stamp before;
    file_stamp after;
    std::int64_t taken_ns = 0;
};

/// The whole file, or nullopt (errno set) when it cannot be opened; with `stamps`, also what
/// stat said of it around the read.
std::optional<std::string> read_text(const std::string& path, read_stamps* stamps = nullptr);
/// What stat says of `path` now, or nullopt (errno set).
std::optional<file_stamp> stamp_of(const std::string& path);
/// Nanoseconds since the epoch, the clock file times are on.
std::int64_t wall_clock_ns();
/// How far apart the kernel's file times can be: one tick of the coarse wall clock.
std::int64_t file_clock_tick_ns();

/// Writes `text` to a new file beside `target` with the target's mode and owner, synced unless
/// `sync` is false (then sync_file before renaming it into place).
/// Returns its path, or nullopt with `error` set and nothing left behind.
std::optional<std::string> write_beside(const std::string& target, std::string_view text,
                                        std::string& error, bool sync = true);
/// fsync for a file write_beside left unsynced; false with `error` set when it fails.
bool sync_file(const std::string& path, std::string& error);

/// Writes `text` to a new private file in `dir` (not synced: for a tool to read at once).
/// Returns its path, or nullopt with `error` set and nothing left behind.
std::optional<std::string> write_scratch(const std::string& dir, std::string_view text,
                                         std::string& error);
/// Scratch files for the kernel tools start with this; leftovers are removed at start-up.
inline constexpr std::string_view scratch_file_prefix = "kernel-";

/// Renames `temp` (from write_beside) over `target` and syncs their directory. On failure
/// `temp` is removed, `error` says why and `target` is as it was.
bool replace_with(const std::string& temp, const std::string& target, std::string& error);

void sync_directory(const std::string& dir);

std::string first_line(std::string_view text);

/// Why a tool run failed, in a few words: "timed out", the spawn error or its first stderr line.
std::string failure_text(const process_result& run);

/// `ip6tables-restore -n file` (the file's tables replace the kernel's chains it names, all or
/// nothing), with the tool environment and the settings' deadline.
process_result restore_rules(const ufw_settings& settings, const std::string& file);

} // namespace dockgate
