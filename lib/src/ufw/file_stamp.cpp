// When a file's stat can stand for its text: the racy-stamp rule and the fingerprint cache.
#include "dockgate/ufw/file_stamp.hpp"

#include <algorithm>

namespace dockgate {

bool stamp_settled(const file_stamp& stamp, std::int64_t taken_ns, std::int64_t tick_ns) {
    constexpr std::int64_t second = 1'000'000'000;
    // Whole seconds in both times: a file system that keeps no finer time (ext4 with small
    // inodes, say), whose tick is then a second whatever the clock's.
    if (stamp.modified_ns % second == 0 && stamp.changed_ns % second == 0) {
        tick_ns = std::max(tick_ns, second);
    }
    const auto last_change = std::max(stamp.modified_ns, stamp.changed_ns);
    return last_change < taken_ns - 2 * std::max<std::int64_t>(tick_ns, 1);
}

std::optional<std::uint64_t> stamped_fingerprints::find(const std::string& path,
                                                        const file_stamp& now) const {
    const auto found = entries_.find(path);
    if (found == entries_.end() || !(found->second.stamp == now)) {
        return std::nullopt;
    }
    return found->second.fingerprint;
}

void stamped_fingerprints::remember(const std::string& path, const file_stamp& before,
                                    const file_stamp& after, std::uint64_t fingerprint,
                                    std::int64_t taken_ns, std::int64_t tick_ns) {
    if (before == after && stamp_settled(after, taken_ns, tick_ns)) {
        entries_[path] = {after, fingerprint};
    } else {
        entries_.erase(path);
    }
}

} // namespace dockgate
