// listen_unix_socket leaves existing directories alone and never deletes what is not a socket.
#include "dockgate/privsep/privsep.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

namespace dockgate {
namespace {

namespace fs = std::filesystem;

class privsep_socket : public ::testing::Test {
  protected:
    void SetUp() override {
        if (::geteuid() != 0) {
            GTEST_SKIP() << "the socket is chowned to root: needs root";
        }
        dir_ = fs::temp_directory_path() / ("dockgate-socket-test-" + std::to_string(::getpid()));
        fs::create_directories(dir_);
    }
    void TearDown() override {
        if (!dir_.empty()) {
            fs::remove_all(dir_);
        }
    }
    static mode_t mode_of(const fs::path& path) {
        struct stat st {};
        ::lstat(path.c_str(), &st);
        return st.st_mode & 07777;
    }
    fs::path dir_;
};

TEST_F(privsep_socket, a_missing_directory_is_created_0750) {
    std::string why;
    const int fd =
        listen_unix_socket((dir_ / "new/executor.sock").string(), SOCK_SEQPACKET, ::getgid(), &why);
    ASSERT_GE(fd, 0) << why;
    ::close(fd);
    EXPECT_EQ(mode_of(dir_ / "new"), 0750U);
    EXPECT_EQ(mode_of(dir_ / "new/executor.sock"), 0660U);
}

TEST_F(privsep_socket, an_existing_directory_keeps_its_mode) {
    const auto shared = dir_ / "shared";
    fs::create_directories(shared);
    ASSERT_EQ(::chmod(shared.c_str(), 01777), 0);
    std::string why;
    const int fd =
        listen_unix_socket((shared / "executor.sock").string(), SOCK_SEQPACKET, ::getgid(), &why);
    ASSERT_GE(fd, 0) << why;
    ::close(fd);
    EXPECT_EQ(mode_of(shared), 01777U);
}

TEST_F(privsep_socket, a_stale_socket_is_replaced_anything_else_is_refused_and_kept) {
    const auto path = (dir_ / "executor.sock").string();
    std::string why;
    int fd = listen_unix_socket(path, SOCK_SEQPACKET, ::getgid(), &why);
    ASSERT_GE(fd, 0) << why;
    ::close(fd);
    fd = listen_unix_socket(path, SOCK_SEQPACKET, ::getgid(), &why);
    ASSERT_GE(fd, 0) << why;
    ::close(fd);

    const auto file = dir_ / "important";
    std::ofstream(file) << "keep me\n";
    EXPECT_LT(listen_unix_socket(file.string(), SOCK_SEQPACKET, ::getgid(), &why), 0);
    EXPECT_NE(why.find("not a socket"), std::string::npos) << why;
    EXPECT_TRUE(fs::is_regular_file(file));
    const auto link = dir_ / "link";
    fs::create_symlink(file, link);
    EXPECT_LT(listen_unix_socket(link.string(), SOCK_SEQPACKET, ::getgid(), &why), 0);
    EXPECT_TRUE(fs::is_symlink(link));
}

} // namespace
} // namespace dockgate
