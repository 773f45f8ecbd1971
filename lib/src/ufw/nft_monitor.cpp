// The kernel's notifications of rule changes in ufw's chains (nf_tables netlink), grouped by
// transaction, and deleting rules by handle.
#include "nft_monitor.hpp"

#include "dockgate/ufw/nft_messages.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <poll.h>
#include <unistd.h>

namespace dockgate {
namespace {

/// Room for a burst of notifications while the reader is busy: a full load of 10,000 rules
/// sends about 20,000 (each rule deleted, then added), a few hundred bytes each.
constexpr int receive_buffer = 32 * 1024 * 1024;

/// Closes the socket however the caller leaves.
struct socket_closer {
    mnl_socket* socket;
    ~socket_closer() {
        if (socket != nullptr) {
            mnl_socket_close(socket);
        }
    }
};

std::string errno_text(const char* what) {
    return std::string(what) + ": " + std::strerror(errno);
}

} // namespace

nft_monitor::~nft_monitor() {
    stop();
}

void nft_monitor::stop() {
    if (reader_.joinable()) {
        const char byte = 0;
        if (::write(wake_[1], &byte, 1) != 1) {
            ::close(wake_[1]); // the reader then sees the pipe end
            wake_[1] = -1;
        }
        reader_.join();
    }
    for (int& fd : wake_) {
        if (fd >= 0) {
            ::close(fd);
            fd = -1;
        }
    }
    if (socket_ != nullptr) {
        mnl_socket_close(socket_);
        socket_ = nullptr;
    }
}

bool nft_monitor::start(std::string& why) {
    if (running()) {
        return true;
    }
    stop();
    socket_ = mnl_socket_open(NETLINK_NETFILTER);
    if (socket_ == nullptr) {
        why = errno_text("netlink socket");
        return false;
    }
    const int fd = mnl_socket_get_fd(socket_);
    // Forcing the size needs CAP_NET_ADMIN, which the executor has; else take what is allowed.
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &receive_buffer, sizeof receive_buffer) != 0) {
        (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
    }
    if (mnl_socket_bind(socket_, 1U << (NFNLGRP_NFTABLES - 1), MNL_SOCKET_AUTOPID) < 0) {
        why = errno_text("listening to nf_tables notifications");
        stop();
        return false;
    }
    if (::pipe2(wake_, O_CLOEXEC) != 0) {
        why = errno_text("pipe");
        stop();
        return false;
    }
    {
        const std::lock_guard guard(mutex_);
        finished_.clear();
        pending_.clear();
        lost_ = true; // whatever happened before it listened is not known
        ended_ = false;
    }
    reader_ = std::thread([this] { read_loop(); });
    return true;
}

bool nft_monitor::running() {
    const std::lock_guard guard(mutex_);
    return !ended_;
}

void nft_monitor::read_loop() {
    std::vector<char> buffer(static_cast<std::size_t>(MNL_SOCKET_BUFFER_SIZE) * 4);
    std::array<pollfd, 2> fds{{{mnl_socket_get_fd(socket_), POLLIN, 0}, {wake_[0], POLLIN, 0}}};
    for (;;) {
        if (::poll(fds.data(), fds.size(), -1) < 0 && errno != EINTR) {
            break;
        }
        if (fds[1].revents != 0) {
            break; // stop()
        }
        if ((fds[0].revents & POLLIN) == 0) {
            continue;
        }
        const auto n = mnl_socket_recvfrom(socket_, buffer.data(), buffer.size());
        if (n < 0) {
            if (errno == ENOBUFS) {
                on_event({monitor_line::kind::lost, {}, 0, 0}); // the kernel dropped some
                continue;
            }
            if (errno == EINTR || errno == EAGAIN) {
                continue;
            }
            break;
        }
        auto left = static_cast<int>(n);
        for (const auto* message = reinterpret_cast<const nlmsghdr*>(buffer.data());
             mnl_nlmsg_ok(message, left); message = mnl_nlmsg_next(message, &left)) {
            auto event = decode_nft_notification(message);
            if (event.what != monitor_line::kind::ignored) {
                on_event(std::move(event));
            }
        }
    }
    const std::lock_guard guard(mutex_);
    ended_ = true;
    lost_ = true;
    arrived_.notify_all();
}

void nft_monitor::on_event(monitor_line event) {
    const std::lock_guard guard(mutex_);
    switch (event.what) {
    case monitor_line::kind::lost:
        lost_ = true;
        pending_.clear();
        return;
    case monitor_line::kind::generation:
        // Transactions that did not touch ufw's chains are of no interest.
        if (!pending_.empty()) {
            if (finished_.size() == max_transactions) {
                finished_.pop_front();
                lost_ = true;
            }
            finished_.emplace_back(event.pid, std::move(pending_));
            pending_.clear();
            arrived_.notify_all();
        }
        return;
    default:
        if (pending_.size() == max_events) {
            lost_ = true;
            return;
        }
        pending_.push_back(std::move(event));
    }
}

bool nft_monitor::take_others() {
    const std::lock_guard guard(mutex_);
    const bool touched = lost_ || !finished_.empty();
    finished_.clear();
    lost_ = false;
    return touched;
}

std::optional<std::vector<monitor_line>>
nft_monitor::take(long pid, std::chrono::milliseconds deadline, bool& others) {
    std::unique_lock lock(mutex_);
    const auto give_up = std::chrono::steady_clock::now() + deadline;
    for (;;) {
        while (!finished_.empty() && finished_.front().first != pid) {
            finished_.pop_front();
            others = true;
        }
        if (!finished_.empty()) {
            auto events = std::move(finished_.front().second);
            finished_.pop_front();
            if (lost_) {
                others = true;
                return std::nullopt;
            }
            return events;
        }
        if (ended_ || arrived_.wait_until(lock, give_up) == std::cv_status::timeout) {
            others = others || lost_;
            return std::nullopt;
        }
    }
}

namespace {

/// Sends `request` on a fresh netlink socket and hands each answer addressed to it to
/// `answer`, which returns false when it has what it waited for. nullopt, or why not.
template <typename Answer>
std::optional<std::string> talk(const std::string& request, std::chrono::milliseconds deadline,
                                Answer answer) {
    const socket_closer owned{mnl_socket_open(NETLINK_NETFILTER)};
    if (owned.socket == nullptr || mnl_socket_bind(owned.socket, 0, MNL_SOCKET_AUTOPID) < 0) {
        return errno_text("netlink socket");
    }
    if (mnl_socket_sendto(owned.socket, request.data(), request.size()) < 0) {
        return errno_text("sending to nf_tables");
    }
    const auto portid = mnl_socket_get_portid(owned.socket);
    const auto give_up = std::chrono::steady_clock::now() + deadline;
    std::vector<char> buffer(static_cast<std::size_t>(MNL_SOCKET_BUFFER_SIZE));
    for (;;) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            give_up - std::chrono::steady_clock::now());
        pollfd fd{mnl_socket_get_fd(owned.socket), POLLIN, 0};
        if (left.count() <= 0 || ::poll(&fd, 1, static_cast<int>(left.count())) <= 0) {
            return "no answer from the kernel in time";
        }
        const auto n = mnl_socket_recvfrom(owned.socket, buffer.data(), buffer.size());
        if (n < 0) {
            return errno_text("reading the kernel's answer");
        }
        auto size = static_cast<int>(n);
        for (const auto* message = reinterpret_cast<const nlmsghdr*>(buffer.data());
             mnl_nlmsg_ok(message, size); message = mnl_nlmsg_next(message, &size)) {
            if (message->nlmsg_pid == portid && !answer(message)) {
                return std::nullopt;
            }
        }
    }
}

/// The error number of an NLMSG_ERROR answer (0 for an ack); nullopt for any other message.
std::optional<int> error_of(const nlmsghdr* message) {
    if (message->nlmsg_type != NLMSG_ERROR) {
        return std::nullopt;
    }
    return -static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(message))->error;
}

} // namespace

std::optional<std::string> delete_kernel_rules(const std::vector<kernel_rule>& rules,
                                               std::chrono::milliseconds deadline) {
    // One ack (or error) per DELRULE; the kernel sends them once the batch is done.
    std::size_t acked = 0;
    int failed = 0;
    const auto batch = encode_delete_batch(rules, static_cast<std::uint32_t>(::time(nullptr)));
    if (auto trouble = talk(batch, deadline, [&](const nlmsghdr* message) {
            if (const auto error = error_of(message)) {
                ++acked;
                failed = *error;
            }
            // After an error the whole batch is undone; the other answers add nothing.
            return failed == 0 && acked < rules.size();
        })) {
        return trouble;
    }
    if (failed != 0) {
        return std::string("deleting rules by handle: ") + std::strerror(failed);
    }
    return std::nullopt;
}

std::optional<std::vector<std::string>> kernel_chains(const std::string& table,
                                                      std::chrono::milliseconds deadline) {
    // Far more than any host has; past it the caller reads the tables the slow way.
    constexpr std::size_t max_chains = 10000;
    std::vector<std::string> names;
    bool complete = false;
    bool unusable = false;
    int failed = 0;
    const auto request = encode_get_chains(table, static_cast<std::uint32_t>(::time(nullptr)));
    if (talk(request, deadline, [&](const nlmsghdr* message) {
            // The ruleset changed during the dump: the list may miss a chain.
            unusable = unusable || (message->nlmsg_flags & NLM_F_DUMP_INTR) != 0;
            if (message->nlmsg_type == NLMSG_DONE) {
                complete = true;
                return false;
            }
            if (const auto error = error_of(message)) {
                failed = *error;
                return false;
            }
            if (auto name = decode_chain_name(message, table)) {
                unusable = unusable || names.size() == max_chains;
                names.push_back(std::move(*name));
            }
            return !unusable;
        })) {
        return std::nullopt;
    }
    if (failed == ENOENT) {
        return std::vector<std::string>{}; // no such table
    }
    if (failed != 0 || !complete || unusable) {
        return std::nullopt;
    }
    return names;
}

std::optional<bool> kernel_has_table(const std::string& name, std::chrono::milliseconds deadline) {
    std::optional<bool> found;
    int failed = 0;
    const auto request = encode_get_table(name, static_cast<std::uint32_t>(::time(nullptr)));
    if (talk(request, deadline, [&](const nlmsghdr* message) {
            if (const auto error = error_of(message)) {
                if (*error == ENOENT) {
                    found = found.value_or(false);
                } else if (*error != 0) {
                    failed = *error;
                }
                return false; // the ack (or error) comes last
            }
            found = true; // the table itself
            return true;
        })) {
        return std::nullopt;
    }
    if (failed != 0) {
        return std::nullopt;
    }
    return found;
}

} // namespace dockgate
