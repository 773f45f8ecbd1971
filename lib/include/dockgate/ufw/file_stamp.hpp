// A file's identity and last change as stat gives them, and when they can stand for its text.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace dockgate {

/// What stat says of a file: device, inode, size and its last modification and status change
/// (nanoseconds since the epoch). Any write changes one of these, except a write in place, to
/// the same size, within the same tick of the kernel's file clock as the previous change.
struct file_stamp {
    std::uint64_t device = 0;
    std::uint64_t inode = 0;
    std::int64_t size = 0;
    std::int64_t modified_ns = 0;
    std::int64_t changed_ns = 0;
    bool operator==(const file_stamp&) const = default;
};

/// Whether `stamp`, taken at `taken_ns` on the wall clock, can stand for the text read with it:
/// its last change is more than two ticks of the file clock (`tick_ns`) old, so no later write
/// can carry the same timestamps. A younger stamp is "racy" (git's word for its index): a write
/// within the same tick would go unseen. Times in whole seconds count as a file system's that
/// keeps no finer time: its tick is a second.
bool stamp_settled(const file_stamp& stamp, std::int64_t taken_ns, std::int64_t tick_ns);

/// A fingerprint of each file's text, keyed by path and valid while the file's stamp is the
/// same: reading a megabyte to find it unchanged costs milliseconds, a stat microseconds.
class stamped_fingerprints {
  public:
    /// The fingerprint remembered for `path`, when `now` is the stamp it was remembered with.
    [[nodiscard]] std::optional<std::uint64_t> find(const std::string& path,
                                                    const file_stamp& now) const;
    /// Remembers `fingerprint` for `path` as read between stamps `before` and `after`, taken at
    /// `taken_ns`: only when nothing changed during the read and the stamp is settled.
    void remember(const std::string& path, const file_stamp& before, const file_stamp& after,
                  std::uint64_t fingerprint, std::int64_t taken_ns, std::int64_t tick_ns);
    void forget(const std::string& path) { entries_.erase(path); }

  private:
    struct entry {
        file_stamp stamp;
        std::uint64_t fingerprint = 0;
    };
    std::map<std::string, entry> entries_;
};

} // namespace dockgate
