// The executor protocol end to end: remote_firewall against serve_executor in a child process.
#include "dockgate/privsep/executor.hpp"
#include "dockgate/privsep/executor_protocol.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace dockgate {
namespace {

/// Answers from the operation alone, so the parent can tell which answer belongs to which.
class scripted_firewall final : public firewall {
  public:
    firewall_state probe() override { return {true, true, true, write_path::batched}; }
    rules_file_contents read_rules(boost::system::error_code& ec) override {
        ec = {};
        return {};
    }
    apply_result apply(const rule_op& op) override {
        const bool odd = op.target.what.port.first % 2 == 1;
        return {{odd ? ufw_outcome::added : ufw_outcome::deleted, {}},
                {},
                std::chrono::milliseconds(op.target.what.port.first)};
    }
};

rule_op op_for(std::uint16_t port) {
    rule r;
    r.port = {port, port};
    r.destination = *parse_prefix("2001:db8::2");
    r.source = *parse_prefix("::/0");
    return {port % 2 == 1 ? op_kind::add : op_kind::remove, {r, {"0123456789ab", "web"}}, "test"};
}

class executor_test : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("dockgate-executor-test-" + std::to_string(::getpid()));
        std::filesystem::create_directories(dir_);
        path_ = (dir_ / "executor.sock").string();
        policy_path_ = (dir_ / "policy.json").string();
        // Room for the long plans below; everything else as built in.
        write_policy(R"({"max_rules_per_container": 10000})");
        const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::memcpy(address.sun_path, path_.c_str(), path_.size() + 1);
        ASSERT_EQ(::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
        ASSERT_EQ(::listen(fd, 8), 0);
        child_ = ::fork();
        if (child_ == 0) {
            scripted_firewall fw;
            auto log = std::make_shared<spdlog::logger>(
                "executor", std::make_shared<spdlog::sinks::null_sink_mt>());
            serve_executor(fd, fw, ::getuid(), *log, {std::chrono::seconds(10)}, policy_path_);
            ::_exit(0);
        }
        ::close(fd);
    }
    void TearDown() override {
        ::kill(child_, SIGKILL);
        ::waitpid(child_, nullptr, 0);
        std::filesystem::remove_all(dir_);
    }
    void write_policy(const std::string& text) const {
        const auto temp = policy_path_ + ".new";
        std::ofstream(temp) << text;
        std::filesystem::rename(temp, policy_path_);
    }
    /// A raw connection, as a compromised watcher would use it.
    int connect_raw() const {
        const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::memcpy(address.sun_path, path_.c_str(), path_.size() + 1);
        EXPECT_EQ(::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
        return fd;
    }
    static std::string receive(int fd) {
        std::string buffer(4096, '\0');
        const auto n = ::recv(fd, buffer.data(), buffer.size(), 0);
        return n > 0 ? buffer.substr(0, static_cast<std::size_t>(n)) : std::string("<nothing>");
    }
    std::filesystem::path dir_;
    std::string path_;
    std::string policy_path_;
    pid_t child_ = -1;
};

TEST_F(executor_test, a_batch_gets_one_answer_per_operation_in_order) {
    remote_firewall remote(path_, std::chrono::milliseconds(5000));
    std::vector<rule_op> ops;
    for (std::uint16_t port = 1; port <= 5; ++port) {
        ops.push_back(op_for(port));
    }
    std::vector<std::pair<std::size_t, apply_result>> answers;
    remote.apply_batch(ops, [&](std::size_t i, const apply_result& r) {
        answers.emplace_back(i, r);
        return true;
    });
    ASSERT_EQ(answers.size(), 5U);
    for (std::size_t i = 0; i < answers.size(); ++i) {
        EXPECT_EQ(answers[i].first, i);
        EXPECT_FALSE(answers[i].second.ec);
        EXPECT_EQ(answers[i].second.verdict.outcome,
                  i % 2 == 0 ? ufw_outcome::added : ufw_outcome::deleted);
        EXPECT_EQ(answers[i].second.took.count(), static_cast<long>(i + 1));
    }
    EXPECT_EQ(remote.probe().path, write_path::batched);
}

TEST_F(executor_test, a_plan_longer_than_one_batch_is_split) {
    remote_firewall remote(path_, std::chrono::milliseconds(5000));
    std::vector<rule_op> ops;
    for (std::size_t i = 0; i < max_batch_ops + 10; ++i) {
        ops.push_back(op_for(static_cast<std::uint16_t>(1 + i)));
    }
    std::size_t answered = 0;
    remote.apply_batch(ops, [&](std::size_t i, const apply_result& r) {
        EXPECT_EQ(i, answered);
        EXPECT_EQ(r.took.count(), static_cast<long>(i + 1));
        ++answered;
        return true;
    });
    EXPECT_EQ(answered, ops.size());
}

TEST_F(executor_test, stopping_midway_reports_no_more_answers) {
    remote_firewall remote(path_, std::chrono::milliseconds(5000));
    std::vector<rule_op> ops{op_for(1), op_for(2), op_for(3)};
    std::size_t answered = 0;
    remote.apply_batch(ops, [&](std::size_t, const apply_result&) { return ++answered < 2; });
    EXPECT_EQ(answered, 2U);
    // The executor still serves the next request.
    EXPECT_TRUE(remote.probe().ufw_found);
}

TEST_F(executor_test, a_batch_with_a_bad_member_is_refused_whole_and_the_executor_keeps_serving) {
    const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path_.c_str(), path_.size() + 1);
    ASSERT_EQ(::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
    const std::vector<std::string> messages{
        "batch 3", format_request({request_kind::add, op_for(1).target}),
        "add route allow nolog tcp 80 2001:db8::2 ::/0 dockgate:0123456789ab:x;reboot", "probe"};
    for (const auto& m : messages) {
        ASSERT_EQ(::send(fd, m.data(), m.size(), 0), static_cast<ssize_t>(m.size()));
    }
    std::string buffer(4096, '\0');
    for (int i = 0; i < 3; ++i) {
        const auto n = ::recv(fd, buffer.data(), buffer.size(), 0);
        ASSERT_GT(n, 0);
        const auto reply = buffer.substr(0, static_cast<std::size_t>(n));
        EXPECT_TRUE(reply.starts_with("error 14 ")) << reply;
        EXPECT_NE(reply.find("batch operation 2"), std::string::npos) << reply;
    }
    ::close(fd);
    remote_firewall remote(path_, std::chrono::milliseconds(5000));
    EXPECT_TRUE(remote.probe().ufw_found);
}

TEST_F(executor_test, an_add_outside_the_policy_is_refused_with_its_reason_and_serving_goes_on) {
    remote_firewall remote(path_, std::chrono::milliseconds(5000));
    auto outside = op_for(1);
    outside.target.what.destination = *parse_prefix("fd00::1");
    const auto result = remote.apply(outside);
    EXPECT_EQ(result.ec, make_error_code(errc::executor_refused));
    EXPECT_NE(result.verdict.detail.find("outside the policy's prefixes"), std::string::npos)
        << result.verdict.detail;
    EXPECT_FALSE(remote.apply(op_for(1)).ec);
}

TEST_F(executor_test, a_refused_batch_member_is_answered_in_its_place) {
    remote_firewall remote(path_, std::chrono::milliseconds(5000));
    auto publish = op_for(3);
    publish.target.what.kind = rule_kind::input;
    publish.target.what.destination = *parse_prefix("::/0");
    const std::vector<rule_op> ops{op_for(1), publish, op_for(2), op_for(5)};
    std::vector<apply_result> answers;
    remote.apply_batch(ops, [&](std::size_t i, const apply_result& r) {
        EXPECT_EQ(i, answers.size());
        answers.push_back(r);
        return true;
    });
    ASSERT_EQ(answers.size(), 4U);
    EXPECT_FALSE(answers[0].ec);
    EXPECT_EQ(answers[1].ec, make_error_code(errc::executor_refused));
    EXPECT_NE(answers[1].verdict.detail.find("allow_publish is false"), std::string::npos);
    EXPECT_EQ(answers[2].verdict.outcome, ufw_outcome::deleted);
    EXPECT_EQ(answers[3].took.count(), 5);
}

TEST_F(executor_test, a_trickled_batch_is_refused_within_one_deadline_for_the_whole_batch) {
    const int fd = connect_raw();
    const auto started = std::chrono::steady_clock::now();
    const std::string header = "batch 3";
    ASSERT_EQ(::send(fd, header.data(), header.size(), 0), static_cast<ssize_t>(header.size()));
    // One member every 3 s: each would be within a per-member wait, the batch is not.
    for (int i = 0; i < 3; ++i) {
        const auto member = format_request({request_kind::add, op_for(1).target});
        ::send(fd, member.data(), member.size(), MSG_NOSIGNAL);
        std::this_thread::sleep_for(std::chrono::seconds(3));
        if (std::chrono::steady_clock::now() - started > std::chrono::seconds(5)) {
            break;
        }
    }
    const auto reply = receive(fd);
    EXPECT_TRUE(reply.starts_with("error 14 ")) << reply;
    EXPECT_NE(reply.find("within 5000 ms"), std::string::npos) << reply;
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(8));
    ::close(fd);
    remote_firewall remote(path_, std::chrono::milliseconds(5000));
    EXPECT_TRUE(remote.probe().ufw_found);
}

TEST_F(executor_test, sighup_reloads_the_policy_and_a_bad_file_keeps_the_previous_one) {
    remote_firewall remote(path_, std::chrono::milliseconds(5000));
    EXPECT_FALSE(remote.apply(op_for(81)).ec);
    write_policy(R"({"denied_ports": ["81/tcp"]})");
    ::kill(child_, SIGHUP);
    bool refused = false;
    for (int i = 0; i < 50 && !refused; ++i) {
        refused = remote.apply(op_for(81)).ec == make_error_code(errc::executor_refused);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    EXPECT_TRUE(refused);
    write_policy("{ not json");
    ::kill(child_, SIGHUP);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const auto still = remote.apply(op_for(81));
    EXPECT_EQ(still.ec, make_error_code(errc::executor_refused));
    EXPECT_NE(still.verdict.detail.find("denied by the policy"), std::string::npos)
        << still.verdict.detail;
    EXPECT_FALSE(remote.apply(op_for(83)).ec);
}

} // namespace
} // namespace dockgate
