// Unit tests for the racy-stamp rule and the fingerprint cache that lets an unchanged rules
// file be recognised by its stat alone.
#include "dockgate/ufw/file_stamp.hpp"

#include <gtest/gtest.h>

namespace dockgate {
namespace {

constexpr std::int64_t ms = 1'000'000;
constexpr std::int64_t tick = 4 * ms; // the file clock of a kernel with HZ=250

file_stamp stamp_changed_at(std::int64_t at_ns, std::int64_t size = 1000) {
    return {1, 42, size, at_ns, at_ns};
}

TEST(FileStamp, AStampIsSettledOnlyTwoTicksAfterTheFileLastChanged) {
    const auto stamp = stamp_changed_at(1000 * ms);
    EXPECT_FALSE(stamp_settled(stamp, 1000 * ms, tick)); // written in this very tick
    EXPECT_FALSE(stamp_settled(stamp, 1008 * ms, tick)); // a write now could share the tick
    EXPECT_TRUE(stamp_settled(stamp, 1009 * ms, tick));
    // A modification time set into the future (touch -d) is never settled.
    EXPECT_FALSE(stamp_settled({1, 42, 1000, 5000 * ms, 900 * ms}, 1009 * ms, tick));
}

TEST(FileStamp, AFingerprintIsFoundWhileTheStampIsTheSame) {
    stamped_fingerprints cache;
    const auto stamp = stamp_changed_at(1000 * ms);
    cache.remember("/etc/ufw/user6.rules", stamp, stamp, 77, 2000 * ms, tick);
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
    const auto old = stamp_changed_at(1000 * ms);
    cache.remember("f", old, old, 1, 2000 * ms, tick);
    ASSERT_TRUE(cache.find("f", old));

    // Written during the read: the stamps before and after differ; the old entry goes too.
    const auto during = stamp_changed_at(2001 * ms);
    cache.remember("f", old, during, 2, 2010 * ms, tick);
    EXPECT_FALSE(cache.find("f", old));
    EXPECT_FALSE(cache.find("f", during));

    // Read in the tick of its last write: another write in that tick would look the same.
    const auto fresh = stamp_changed_at(3000 * ms);
    cache.remember("f", fresh, fresh, 3, 3001 * ms, tick);
    EXPECT_FALSE(cache.find("f", fresh));

    cache.remember("f", fresh, fresh, 3, 3100 * ms, tick);
    EXPECT_EQ(cache.find("f", fresh), 3U);
    cache.forget("f");
    EXPECT_FALSE(cache.find("f", fresh));
}

} // namespace
} // namespace dockgate
