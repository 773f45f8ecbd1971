// Unit tests for the racy-stamp rule and the fingerprint cache that lets an unchanged rules
// file be recognised by its stat alone.
#include "dockgate/ufw/file_stamp.hpp"

#include <gtest/gtest.h>

namespace dockgate {
namespace {

constexpr std::int64_t ms = 1'000'000;
constexpr std::int64_t tick = 4 * ms; // the file clock of a kernel with HZ=250

/// `milliseconds` since the epoch, off a whole second (a file system with nanosecond times).
constexpr std::int64_t at(std::int64_t milliseconds) {
    return milliseconds * ms + 7;
}

file_stamp stamp_changed_at(std::int64_t at_ns, std::int64_t size = 1000) {
    return {1, 42, size, at_ns, at_ns};
}

TEST(FileStamp, AStampIsSettledOnlyTwoTicksAfterTheFileLastChanged) {
    const auto stamp = stamp_changed_at(at(1000));
    EXPECT_FALSE(stamp_settled(stamp, at(1000), tick)); // written in this very tick
    EXPECT_FALSE(stamp_settled(stamp, at(1008), tick)); // a write now could share the tick
    EXPECT_TRUE(stamp_settled(stamp, at(1009), tick));
    // A modification time set into the future (touch -d) is never settled.
    EXPECT_FALSE(stamp_settled({1, 42, 1000, at(5000), at(900)}, at(1009), tick));
    // Whole seconds in both times: a file system without finer times, a tick of a second.
    const file_stamp coarse{1, 42, 1000, 1000 * ms, 1000 * ms};
    EXPECT_FALSE(stamp_settled(coarse, 2500 * ms, tick));
    EXPECT_TRUE(stamp_settled(coarse, 3001 * ms, tick));
}

TEST(FileStamp, AFingerprintIsFoundWhileTheStampIsTheSame) {
    stamped_fingerprints cache;
    const auto stamp = stamp_changed_at(at(1000));
    cache.remember("/etc/ufw/user6.rules", stamp, stamp, 77, at(2000), tick);
    EXPECT_EQ(cache.find("/etc/ufw/user6.rules", stamp), 77U);
    EXPECT_FALSE(cache.find("/etc/ufw/user.rules", stamp));

    auto replaced = stamp; // ufw writes a new file and renames it over the old one
    replaced.inode = 43;
    EXPECT_FALSE(cache.find("/etc/ufw/user6.rules", replaced));
    auto appended = stamp; // `echo >> user6.rules` in the same tick
    appended.size += 10;
    EXPECT_FALSE(cache.find("/etc/ufw/user6.rules", appended));
    auto rewritten = stamp; // an editor writing in place, to the same size, later
    rewritten.changed_ns += tick;
    EXPECT_FALSE(cache.find("/etc/ufw/user6.rules", rewritten));
}

TEST(FileStamp, ARacyOrMovingReadIsNotRemembered) {
    stamped_fingerprints cache;
    const auto old = stamp_changed_at(at(1000));
    cache.remember("f", old, old, 1, at(2000), tick);
    ASSERT_TRUE(cache.find("f", old));

    // Written during the read: the stamps before and after differ; the old entry goes too.
    const auto during = stamp_changed_at(at(2001));
    cache.remember("f", old, during, 2, at(2010), tick);
    EXPECT_FALSE(cache.find("f", old));
    EXPECT_FALSE(cache.find("f", during));

    // Read in the tick of its last write: another write in that tick would look the same.
    const auto fresh = stamp_changed_at(at(3000));
    cache.remember("f", fresh, fresh, 3, at(3001), tick);
    EXPECT_FALSE(cache.find("f", fresh));

    cache.remember("f", fresh, fresh, 3, at(3100), tick);
    EXPECT_EQ(cache.find("f", fresh), 3U);
    cache.forget("f");
    EXPECT_FALSE(cache.find("f", fresh));
}

} // namespace
} // namespace dockgate
