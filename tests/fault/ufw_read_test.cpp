// ufw's rules files read while ufw rewrites them in place: a file cut short is never taken for
// one whose rules were deleted.
#include "dockgate/model/error.hpp"
#include "dockgate/ufw/ufw_firewall.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <unistd.h>

namespace dockgate {
namespace {

const std::string whole_file = "*filter\n:ufw6-user-forward - [0:0]\n### RULES ###\n\n"
                               "### tuple ### allow tcp 22 ::/0 any ::/0 in\n"
                               "-A ufw6-user-input -p tcp --dport 22 -j ACCEPT\n\n"
                               "### tuple ### allow tcp 443 ::/0 any ::/0 in\n"
                               "-A ufw6-user-input -p tcp --dport 443 -j ACCEPT\n\n"
                               "### END RULES ###\nCOMMIT\n";

class ufw_read_test : public ::testing::Test {
  protected:
    ufw_read_test() {
        dir_ = std::filesystem::temp_directory_path() /
               ("dockgate-ufw-read-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir_);
        settings_.config_dir = dir_.string();
        settings_.batch = false;
    }
    ~ufw_read_test() override { std::filesystem::remove_all(dir_); }

    void write_rules(const std::string& text) const {
        std::ofstream(dir_ / "user6.rules", std::ios::trunc) << text;
    }

    std::filesystem::path dir_;
    ufw_settings settings_;
};

TEST_F(ufw_read_test, a_whole_file_is_read) {
    write_rules(whole_file);
    ufw_firewall fw(settings_);
    boost::system::error_code ec;
    const auto contents = fw.read_rules(ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(contents.entries.size(), 2U);
}

TEST_F(ufw_read_test, a_file_cut_short_is_an_error_not_a_smaller_rule_set) {
    // ufw truncated the file and has written only its first rule so far (and never finishes).
    write_rules(whole_file.substr(0, whole_file.find("### tuple ### allow tcp 443")));
    ufw_firewall fw(settings_);
    boost::system::error_code ec;
    const auto contents = fw.read_rules(ec);
    EXPECT_EQ(ec, errc::rules_file_unreadable);
    EXPECT_TRUE(contents.entries.empty()) << "no partial rule set is handed on";
    ASSERT_EQ(contents.warnings.size(), 1U);
    EXPECT_NE(contents.warnings[0].find("user6.rules: cut short"), std::string::npos)
        << contents.warnings[0];
}

TEST_F(ufw_read_test, an_empty_file_is_an_error_too) {
    write_rules("");
    ufw_firewall fw(settings_);
    boost::system::error_code ec;
    fw.read_rules(ec);
    EXPECT_EQ(ec, errc::rules_file_unreadable);
}

/// `whole_file` with the port 443 rule's port changed to `port` (three digits: same size).
std::string same_size_edit(const std::string& port) {
    auto text = whole_file;
    for (auto at = text.find("443"); at != std::string::npos; at = text.find("443", at)) {
        text.replace(at, 3, port);
    }
    return text;
}

TEST_F(ufw_read_test, an_unchanged_file_is_known_by_its_stamp_and_an_edit_in_place_is_seen) {
    write_rules(whole_file);
    ufw_firewall fw(settings_);
    boost::system::error_code ec;
    const auto first = fw.read_rules_since(0, ec);
    ASSERT_FALSE(ec) << ec.message();
    // Until the file's last change is a couple of clock ticks old its stamp cannot stand for
    // its text, and every call reads it; after that, one read remembers it. Capped at 2 s.
    bool unchanged = false;
    for (int attempt = 0; attempt < 200 && !unchanged; ++attempt) {
        unchanged = fw.read_rules_since(first.version, ec).unchanged;
        if (!unchanged) {
            ::usleep(10000);
        }
    }
    ASSERT_TRUE(unchanged);
    EXPECT_TRUE(fw.read_rules_since(first.version, ec).unchanged) << "and it stays so";

    // An editor writes in place, to the same size: the change time moves, so it is read.
    write_rules(same_size_edit("444"));
    const auto edited = fw.read_rules_since(first.version, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_FALSE(edited.unchanged);
    EXPECT_NE(edited.version, first.version);
    ASSERT_EQ(edited.entries.size(), 2U);
}

TEST_F(ufw_read_test, a_file_read_in_the_tick_it_was_written_is_read_again) {
    // Written and read at once: another same-size write in the same tick would leave the same
    // stamp, so the first read must not be remembered by it. The writes are microseconds
    // apart, so they nearly always share a clock tick, which is the case this is about (in
    // different ticks the stamps differ anyway).
    write_rules(whole_file);
    ufw_firewall fw(settings_);
    boost::system::error_code ec;
    const auto first = fw.read_rules_since(0, ec);
    ASSERT_FALSE(ec) << ec.message();
    write_rules(same_size_edit("444"));
    const auto second = fw.read_rules_since(first.version, ec);
    ASSERT_FALSE(ec) << ec.message();
    EXPECT_FALSE(second.unchanged);
    EXPECT_NE(second.version, first.version);
}

} // namespace
} // namespace dockgate
