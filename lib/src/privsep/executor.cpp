// The executor's request loop and the watcher's blocking client for it (SOCK_SEQPACKET).
#include "dockgate/privsep/executor.hpp"

#include "dockgate/model/error.hpp"
#include "dockgate/policy/rule_guard.hpp"
#include "dockgate/privsep/executor_protocol.hpp"
#include "dockgate/ufw/rules_file.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <vector>

namespace dockgate {
namespace {

constexpr std::size_t max_reply_bytes = 64 * 1024;

/// The members of one batch together; the longest canonical request is about 200 bytes.
constexpr std::size_t max_batch_bytes = max_batch_ops * 256;

/// Written by the SIGHUP handler, read by the request loop (self-pipe: any thread may get it).
int policy_reload_pipe = -1;

extern "C" void request_policy_reload(int /*signo*/) {
    const int saved = errno;
    const char byte = 1;
    (void)!::write(policy_reload_pipe, &byte, 1);
    errno = saved;
}

/// What the executor checks adds against: the policy it loaded itself, never the watcher's.
struct executor_policy {
    std::string path;
    /// The built-in policy may stand in for a missing file only when the daemon itself started
    /// without one: an executor restarted after the file was removed must not open up.
    bool builtin_allowed = true;
    std::optional<policy> current; ///< empty: no valid policy, every add is refused
    std::string problem;           ///< why `current` is empty

    void load(spdlog::logger& log) {
        policy_error error;
        bool builtin = false;
        auto fresh = load_policy_file(path, &error, &builtin);
        if (fresh && builtin && (current || !builtin_allowed)) {
            // Fail closed, as the watcher does: a file gone at reload must not bring in the
            // open built-in policy.
            fresh.reset();
            error = {path, 0, "the file does not exist"};
        }
        if (!fresh) {
            if (current) {
                log.error("executor: policy reload refused, previous policy stays in force: {}",
                          error.to_string());
            } else {
                problem = "no valid policy: " + error.to_string();
                log.error("executor: {}; every add is refused", problem);
            }
            return;
        }
        current = std::move(fresh);
        log.info("executor: checking adds against the policy {}",
                 builtin ? "built in (" + path + " not found)" : path);
    }

    /// Why the executor will not add `candidate`; counts it in `budget` otherwise.
    [[nodiscard]] std::optional<std::string> refuse(const owned_rule& candidate,
                                                    rule_budget& budget) const {
        if (!current) {
            return problem;
        }
        if (auto why = refuse_rule(candidate, *current)) {
            return why;
        }
        return budget.admit(candidate, *current);
    }
};

bool send_message(int fd, std::string_view message) {
    return ::send(fd, message.data(), message.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(message.size());
}

/// The inventory travels as ufw-format tuple lines in messages of at most 60 KiB, then
/// "ok end V" with its version; or only "ok same" when the asker has version `known` already.
void send_rules(int fd, firewall& fw, std::uint64_t known) {
    boost::system::error_code ec;
    const auto contents = fw.read_rules_since(known, ec);
    for (const auto& warning : contents.warnings) {
        send_message(fd, "warn " + warning.substr(0, 1000));
    }
    if (ec) {
        send_message(fd, "error " + std::to_string(ec.value()) + " error 0 cannot read rules");
        return;
    }
    if (contents.unchanged) {
        send_message(fd, "ok same");
        return;
    }
    std::string part;
    for (const auto& entry : contents.entries) {
        std::string line = "### tuple ### " + entry.tuple;
        if (!entry.comment.empty()) {
            line += " comment=" + encode_hex_comment(entry.comment);
        }
        if (part.size() + line.size() + 1 > 60 * 1024) {
            send_message(fd, "part " + part);
            part.clear();
        }
        part += line + "\n";
    }
    if (!part.empty()) {
        send_message(fd, "part " + part);
    }
    send_message(fd, contents.version == 0 ? std::string("ok end")
                                           : "ok end " + version_text(contents.version));
}

std::string refusal(std::string_view reason) {
    return "error " + std::to_string(static_cast<int>(errc::executor_refused)) + " error 0 " +
           std::string(reason);
}

/// Reads the `count` operations that follow "batch N", validating each like a single request.
/// A batch with any malformed member, or whose members do not all arrive within one deadline
/// or overrun the byte bound, is refused whole (one refusal reply per operation).
std::optional<std::vector<rule_op>> read_batch(int fd, std::size_t count, spdlog::logger& log,
                                               std::chrono::milliseconds batch_arrival,
                                               std::string& reason) {
    using clock = std::chrono::steady_clock;
    const auto deadline = clock::now() + batch_arrival;
    auto wait_readable = [&] {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock::now());
        pollfd readable{fd, POLLIN, 0};
        return left.count() > 0 && ::poll(&readable, 1, static_cast<int>(left.count())) == 1;
    };
    std::vector<rule_op> ops;
    std::size_t bytes = 0;
    std::array<char, max_request_bytes + 1> buffer{};
    for (std::size_t i = 0; i < count; ++i) {
        if (!wait_readable()) {
            reason = "batch ended after " + std::to_string(i) + " of " + std::to_string(count) +
                     " operations (all must arrive within " +
                     std::to_string(batch_arrival.count()) + " ms)";
            log.warn("executor: refused a batch of {}: {}", count, reason);
            return std::nullopt;
        }
        const auto n = ::recv(fd, buffer.data(), buffer.size(), MSG_TRUNC);
        if (n <= 0) {
            reason = "connection closed inside a batch";
            return std::nullopt;
        }
        const auto size = static_cast<std::size_t>(n);
        bytes += size;
        const auto parsed =
            parse_request(std::string_view(buffer.data(), std::min(size, buffer.size())));
        if (size > max_request_bytes || bytes > max_batch_bytes || !parsed.request ||
            (parsed.request->kind != request_kind::add &&
             parsed.request->kind != request_kind::remove)) {
            reason = "batch operation " + std::to_string(i + 1) + ": " +
                     (size > max_request_bytes ? std::string("request too long")
                      : bytes > max_batch_bytes
                          ? "batch longer than " + std::to_string(max_batch_bytes) + " bytes"
                      : parsed.request ? std::string("only add and delete may be batched")
                                       : parsed.reason);
            log.warn("executor: refused a batch of {}: {}", count, reason);
            // Drain the rest (within the same deadline) so that the next request starts on a
            // message boundary.
            for (++i; i < count; ++i) {
                if (!wait_readable() || ::recv(fd, buffer.data(), buffer.size(), MSG_TRUNC) <= 0) {
                    break;
                }
            }
            return std::nullopt;
        }
        ops.push_back({parsed.request->kind == request_kind::add ? op_kind::add : op_kind::remove,
                       *parsed.request->target, "executor"});
    }
    return ops;
}

/// The rule counts the caps start from; nullopt (with `reason`) when ufw's files cannot be read.
std::optional<rule_budget> current_budget(firewall& fw, std::string& reason) {
    boost::system::error_code ec;
    const auto contents = fw.read_rules(ec);
    if (ec) {
        reason = "cannot count the rules in ufw's files: " + ec.message();
        return std::nullopt;
    }
    return rule_budget(contents);
}

void log_refused_add(spdlog::logger& log, const owned_rule& target, const std::string& reason) {
    log.warn("executor: refused add {} for {}: {}", target.what.describe(),
             target.owner.to_comment(), reason);
}

/// Applies a batch whose members the policy and the caps allow; the others are answered with
/// a refusal in their place, so that the answers stay one per operation, in order.
void serve_batch(int fd, firewall& fw, const std::vector<rule_op>& ops,
                 const executor_policy& guard, spdlog::logger& log, std::chrono::seconds watchdog) {
    std::string budget_problem;
    auto budget = current_budget(fw, budget_problem);
    std::vector<std::optional<std::string>> refusals(ops.size());
    std::vector<rule_op> admitted;
    std::vector<std::size_t> admitted_index;
    for (std::size_t i = 0; i < ops.size(); ++i) {
        const auto& op = ops[i];
        if (op.kind == op_kind::add) {
            refusals[i] = budget ? guard.refuse(op.target, *budget) : budget_problem;
        } else if (budget) {
            budget->release(op.target);
        }
        if (refusals[i]) {
            log_refused_add(log, op.target, *refusals[i]);
            continue;
        }
        admitted.push_back(op);
        admitted_index.push_back(i);
    }
    std::size_t answered = 0;
    auto answer_refusals_before = [&](std::size_t end) {
        bool sent = true;
        for (; answered < end; ++answered) {
            // An admitted operation is here only when the batch stopped early (the peer went
            // away): it was not applied, and says so.
            sent = send_message(fd, refusal(refusals[answered] ? *refusals[answered]
                                                               : std::string("batch stopped"))) &&
                   sent;
        }
        return sent;
    };
    if (!admitted.empty()) {
        // The watchdog bounds each operation's step, not the whole batch; the first step may
        // also wait for the start-up verification (at most one ufw deadline).
        ::alarm(static_cast<unsigned>(2 * watchdog.count()));
        fw.apply_batch(admitted, [&](std::size_t k, const apply_result& result) {
            ::alarm(static_cast<unsigned>(watchdog.count()));
            const bool sent = answer_refusals_before(admitted_index[k]);
            ++answered;
            return send_message(fd, format_apply_response(result)) && sent;
        });
    }
    answer_refusals_before(ops.size());
}

/// Answers one request on `fd`; false when the peer is gone.
bool serve_request(int fd, firewall& fw, const executor_policy& guard, spdlog::logger& log,
                   const executor_deadlines& deadlines) {
    std::array<char, max_request_bytes + 1> buffer{};
    const auto n = ::recv(fd, buffer.data(), buffer.size(), MSG_TRUNC | MSG_DONTWAIT);
    if (n <= 0) {
        return n < 0 && (errno == EAGAIN || errno == EINTR);
    }
    const auto size = static_cast<std::size_t>(n);
    if (size > max_request_bytes) {
        log.warn("executor: refused a {}-byte request (limit {})", size, max_request_bytes);
        send_message(fd, refusal("request too long"));
        return true;
    }
    const std::string_view message(buffer.data(), size);
    const auto parsed = parse_request(message);
    if (!parsed.request) {
        std::string shown;
        for (const char c : message.substr(0, 120)) {
            shown += (c >= 0x20 && c < 0x7f) ? c : '?';
        }
        log.warn("executor: refused request \"{}\": {}", shown, parsed.reason);
        send_message(fd, refusal(parsed.reason));
        return true;
    }
    // A wedged request (not just a slow ufw, which run_process already kills) ends the
    // process; the supervisor starts a fresh executor and the watcher retries.
    ::alarm(static_cast<unsigned>(deadlines.watchdog.count()));
    switch (parsed.request->kind) {
    case request_kind::probe:
        send_message(fd, format_probe_response(fw.probe()));
        break;
    case request_kind::list:
        send_rules(fd, fw, parsed.request->known_version);
        break;
    case request_kind::kernel: {
        boost::system::error_code ec;
        const auto facts = fw.read_kernel(ec);
        send_message(fd, ec ? "error " + std::to_string(ec.value()) +
                                  " error 0 cannot read the kernel's tables"
                            : "ok kernel " + encode_kernel_facts(facts));
        break;
    }
    case request_kind::host_rules: {
        // The watcher only asks for the host rules to be brought up to date; what they are is
        // decided here, from the executor's own policy and its own read of the kernel, so a
        // compromised watcher can neither drop the DOCKER-USER guard nor open egress that the
        // policy forbids.
        if (!guard.current) {
            log.warn("executor: refused host rules: {}", guard.problem);
            send_message(fd, refusal(guard.problem));
            break;
        }
        boost::system::error_code ec;
        const auto kernel = fw.read_kernel(ec);
        if (ec) {
            send_message(fd, refusal("cannot read the kernel's tables"));
            break;
        }
        const auto decided =
            decide_host_rules(guard.current->egress, guard.current->docker_user_guard, kernel);
        if (!(decided == parsed.request->host_rules)) {
            log.warn("executor: host rules asked for (bridge {} egress {} guard {}) differ from "
                     "what the policy and the kernel call for; writing the latter",
                     parsed.request->host_rules.bridge_rules, parsed.request->host_rules.egress,
                     parsed.request->host_rules.guard);
        }
        send_message(fd, format_apply_response(fw.apply_host_rules(decided)));
        break;
    }
    case request_kind::add: {
        const auto& target = *parsed.request->target;
        std::string reason;
        auto budget = current_budget(fw, reason);
        if (auto why =
                budget ? guard.refuse(target, *budget) : std::optional<std::string>(reason)) {
            log_refused_add(log, target, *why);
            send_message(fd, refusal(*why));
            break;
        }
        send_message(fd, format_apply_response(fw.apply({op_kind::add, target, "executor"})));
        break;
    }
    case request_kind::remove:
        // A delete carries a dockgate tag (parse_request) and ufw deletes only a rule with
        // exactly that comment, so it cannot remove a rule that is not dockgate's.
        send_message(fd, format_apply_response(
                             fw.apply({op_kind::remove, *parsed.request->target, "executor"})));
        break;
    case request_kind::batch: {
        std::string reason;
        ::alarm(0); // read_batch has its own, shorter deadline
        const auto ops =
            read_batch(fd, parsed.request->batch_size, log, deadlines.batch_arrival, reason);
        ::alarm(static_cast<unsigned>(deadlines.watchdog.count()));
        if (!ops) {
            for (std::size_t i = 0; i < parsed.request->batch_size; ++i) {
                send_message(fd, refusal(reason));
            }
            break;
        }
        serve_batch(fd, fw, *ops, guard, log, deadlines.watchdog);
        break;
    }
    }
    ::alarm(0);
    return true;
}

bool peer_allowed(int fd, uid_t allowed_uid, spdlog::logger& log) {
    ucred peer{};
    socklen_t length = sizeof peer;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0 ||
        (peer.uid != 0 && peer.uid != allowed_uid)) {
        log.warn("executor: refused a connection from uid {} (pid {})", peer.uid, peer.pid);
        return false;
    }
    return true;
}

} // namespace

void serve_executor(int listen_fd, firewall& fw, uid_t allowed_uid, spdlog::logger& log,
                    const executor_deadlines& deadlines, const std::string& policy_path,
                    bool builtin_allowed) {
    constexpr std::size_t max_clients = 8;
    executor_policy guard{policy_path, builtin_allowed, std::nullopt, {}};
    guard.load(log);
    std::array<int, 2> reload_pipe{-1, -1};
    if (::pipe2(reload_pipe.data(), O_CLOEXEC | O_NONBLOCK) == 0) {
        policy_reload_pipe = reload_pipe[1];
        struct sigaction reload {};
        reload.sa_handler = request_policy_reload;
        reload.sa_flags = SA_RESTART;
        sigemptyset(&reload.sa_mask);
        ::sigaction(SIGHUP, &reload, nullptr);
    } else {
        log.error("executor: no policy reload on SIGHUP: {}", std::strerror(errno));
    }
    // fds[0] is the listening socket, fds[1] the reload pipe (-1, ignored by poll, without one).
    std::vector<pollfd> fds{{listen_fd, POLLIN, 0}, {reload_pipe[0], POLLIN, 0}};
    constexpr std::size_t first_client = 2;
    while (true) {
        if (::poll(fds.data(), fds.size(), -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            log.error("executor: poll failed: {}", std::strerror(errno));
            return;
        }
        if ((fds[1].revents & POLLIN) != 0) {
            std::array<char, 64> drained{};
            while (::read(fds[1].fd, drained.data(), drained.size()) > 0) {
            }
            guard.load(log);
        }
        // Requests are answered one at a time, in turn: that is what serialises ufw.
        for (std::size_t i = first_client; i < fds.size(); ++i) {
            if (fds[i].revents != 0 && !serve_request(fds[i].fd, fw, guard, log, deadlines)) {
                ::close(fds[i].fd);
                fds[i].fd = -1;
            }
        }
        fds.erase(std::remove_if(fds.begin() + first_client, fds.end(),
                                 [](const pollfd& p) { return p.fd < 0; }),
                  fds.end());
        if ((fds[0].revents & POLLIN) != 0) {
            const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd >= 0 &&
                (fds.size() - first_client >= max_clients || !peer_allowed(fd, allowed_uid, log))) {
                ::close(fd);
            } else if (fd >= 0) {
                fds.push_back({fd, POLLIN, 0});
            }
        }
    }
}

remote_firewall::~remote_firewall() {
    disconnect();
}

void remote_firewall::disconnect() {
    if (fd_ >= 0) {
        ::close(fd_);
        fd_ = -1;
    }
}

bool remote_firewall::connect_once() {
    fd_ = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (fd_ < 0 || socket_path_.size() >= sizeof address.sun_path) {
        disconnect();
        return false;
    }
    std::memcpy(address.sun_path, socket_path_.c_str(), socket_path_.size() + 1);
    // The receive timeout bounds the wait for each answer; a batch answers once per operation.
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout_.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout_.count() % 1000) * 1000);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        disconnect();
        return false;
    }
    return true;
}

boost::system::error_code remote_firewall::exchange_once(const std::string& request,
                                                         std::vector<std::string>& replies) {
    replies.clear();
    if (fd_ < 0 && !connect_once()) {
        return errc::executor_unavailable;
    }
    if (!send_message(fd_, request)) {
        disconnect();
        return errc::executor_unavailable;
    }
    std::string buffer(max_reply_bytes, '\0');
    while (true) {
        const auto n = ::recv(fd_, buffer.data(), buffer.size(), 0);
        if (n <= 0) {
            disconnect(); // EOF (executor died) or SO_RCVTIMEO passed (executor hung)
            return errc::executor_unavailable;
        }
        replies.emplace_back(buffer.data(), static_cast<std::size_t>(n));
        const auto& last = replies.back();
        if (!last.starts_with("part ") && !last.starts_with("warn ")) {
            return {};
        }
    }
}

boost::system::error_code remote_firewall::exchange(const std::string& request,
                                                    std::vector<std::string>& replies) {
    // Every request is idempotent (ufw skips duplicates, deleting a missing rule is a no-op),
    // so one retry on a fresh connection is safe.
    if (!exchange_once(request, replies)) {
        return {};
    }
    return exchange_once(request, replies);
}

firewall_state remote_firewall::probe() {
    std::vector<std::string> replies;
    if (exchange("probe", replies)) {
        return {};
    }
    return parse_probe_response(replies.back()).value_or(firewall_state{});
}

rules_file_contents remote_firewall::read_rules(boost::system::error_code& ec) {
    return read_rules_since(0, ec);
}

rules_file_contents remote_firewall::read_rules_since(std::uint64_t known_version,
                                                      boost::system::error_code& ec) {
    std::vector<std::string> replies;
    executor_request request{request_kind::list, std::nullopt};
    request.known_version = known_version;
    if ((ec = exchange(format_request(request), replies))) {
        return {};
    }
    std::vector<std::string> warnings;
    std::string text;
    for (const auto& reply : replies) {
        if (reply.starts_with("part ")) {
            text += reply.substr(5);
        } else if (reply.starts_with("warn ")) {
            warnings.push_back(reply.substr(5));
        }
    }
    const auto& last = replies.back();
    rules_file_contents contents;
    if (last == "ok same" && known_version != 0) {
        contents.unchanged = true; // neither sent nor parsed again
        contents.version = known_version;
    } else if (last == "ok end" || last.starts_with("ok end ")) {
        contents = parse_rules_file(text, false);
        contents.version =
            last.size() > 7 ? parse_version_text(std::string_view(last).substr(7)).value_or(0) : 0;
    } else {
        ec = errc::rules_file_unreadable;
        return {};
    }
    contents.warnings.insert(contents.warnings.begin(), warnings.begin(), warnings.end());
    return contents;
}

kernel_facts remote_firewall::read_kernel(boost::system::error_code& ec) {
    std::vector<std::string> replies;
    if ((ec = exchange("kernel", replies))) {
        return {};
    }
    constexpr std::string_view ok = "ok kernel ";
    if (replies.back().starts_with(ok)) {
        if (auto facts = decode_kernel_facts(std::string_view(replies.back()).substr(ok.size()))) {
            return *facts;
        }
    }
    ec = errc::ufw_failed;
    return {};
}

apply_result remote_firewall::apply_host_rules(const host_rules_request& request) {
    executor_request message{request_kind::host_rules, std::nullopt};
    message.host_rules = request;
    std::vector<std::string> replies;
    if (const auto ec = exchange(format_request(message), replies)) {
        return {{ufw_outcome::error, "no answer from the privileged executor"}, ec, {}};
    }
    if (auto parsed = parse_apply_response(replies.back())) {
        return *parsed;
    }
    return {{ufw_outcome::error, "unreadable answer from the executor"},
            errc::executor_unavailable,
            {}};
}

apply_result remote_firewall::apply(const rule_op& op) {
    const executor_request request{
        op.kind == op_kind::add ? request_kind::add : request_kind::remove, op.target};
    std::vector<std::string> replies;
    apply_result result;
    if (const auto ec = exchange(format_request(request), replies)) {
        result.ec = ec;
        result.verdict = {ufw_outcome::error, "no answer from the privileged executor"};
        return result;
    }
    if (auto parsed = parse_apply_response(replies.back())) {
        return *parsed;
    }
    result.ec = errc::executor_unavailable;
    result.verdict = {ufw_outcome::error, "unreadable answer from the executor"};
    return result;
}

void remote_firewall::apply_batch(const std::vector<rule_op>& ops, const batch_progress& progress) {
    auto unavailable = [](const char* why) {
        return apply_result{{ufw_outcome::error, why}, errc::executor_unavailable, {}};
    };
    std::size_t next = 0;
    while (next < ops.size()) {
        const auto count = std::min(max_batch_ops, ops.size() - next);
        std::size_t answered = 0;
        // Every operation is idempotent, so a batch that got no answer at all is sent once more
        // on a fresh connection; one cut off halfway reports the rest as unavailable.
        for (int attempt = 0; attempt < 2 && answered == 0; ++attempt) {
            bool sent = fd_ >= 0 || connect_once();
            sent = sent && send_message(fd_, "batch " + std::to_string(count));
            for (std::size_t i = 0; sent && i < count; ++i) {
                const auto& op = ops[next + i];
                sent = send_message(fd_,
                                    format_request({op.kind == op_kind::add ? request_kind::add
                                                                            : request_kind::remove,
                                                    op.target}));
            }
            std::string buffer(max_reply_bytes, '\0');
            while (sent && answered < count) {
                const auto n = ::recv(fd_, buffer.data(), buffer.size(), 0);
                if (n <= 0) {
                    break; // EOF (executor died) or SO_RCVTIMEO passed (executor hung)
                }
                auto parsed = parse_apply_response(
                    std::string_view(buffer.data(), static_cast<std::size_t>(n)));
                const auto result =
                    parsed ? *parsed : unavailable("unreadable answer from the executor");
                if (!progress(next + answered++, result)) {
                    disconnect(); // the executor stops when its next answer cannot be sent
                    return;
                }
            }
            if (answered < count) {
                disconnect();
            }
        }
        for (; answered < count; ++answered) {
            if (!progress(next + answered, unavailable("no answer from the privileged executor"))) {
                return;
            }
        }
        next += count;
    }
}

} // namespace dockgate
