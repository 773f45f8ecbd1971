// dockgated's entry point: options, logging, signals and the io_context; the work is in lib/.
#include "dockgate/asio.hpp"
#include "dockgate/reconcile/controller.hpp"
#include "dockgate/docker/docker_api_proxy.hpp"
#include "dockgate/privsep/executor.hpp"
#include "dockgate/ufw/ufw_firewall.hpp"
#include "dockgate/service/log_fields.hpp"
#include "dockgate/policy/policy.hpp"
#include "dockgate/privsep/privsep.hpp"
#include "dockgate/service/service.hpp"
#include "dockgate/version.hpp"

#include <boost/program_options.hpp>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <ctime>
#include <csignal>
#include <cstdlib>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>
#include <iostream>

namespace po = boost::program_options;
using namespace dockgate;

namespace {

struct options {
    std::string docker_host = "unix:///var/run/docker.sock";
    std::string policy_path = "/etc/dockgate/policy.json";
    std::string check_policy;
    std::string explain;
    std::string log_level = "info";
    ufw_settings ufw;
    controller_settings controller;
    bool remove_all = false;
    std::string run_as;
    std::string executor_socket = "/run/dockgate/executor.sock";
    std::string status_socket = "/run/dockgate/status.sock";
    int status_timeout_ms = 5000;
    bool policy_was_builtin = false; ///< no policy file at start (see serve_executor)
    std::string docker_filter_socket = "/run/dockgate/docker.sock"; ///< the watcher's Docker
    int status_fd = -1; ///< inherited from the supervisor when privilege-separated
    std::string command;
    std::string metrics_listen; ///< empty: metrics off
    bool json = false;
};

std::shared_ptr<spdlog::logger> make_logger(const std::string& level) {
    std::shared_ptr<spdlog::logger> log;
    // JOURNAL_STREAM is set by systemd when stderr goes to the journal: log natively there.
    if (std::getenv("JOURNAL_STREAM") != nullptr) {
        log = std::make_shared<spdlog::logger>("dockgated",
                                               std::make_shared<journald_sink>("dockgated"));
    } else {
        log = std::make_shared<spdlog::logger>("dockgated",
                                               std::make_shared<spdlog::sinks::stderr_sink_mt>());
        log->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    }
    log->set_level(spdlog::level::from_str(level));
    log->flush_on(spdlog::level::trace);
    return log;
}

std::string socket_path_of(const std::string& docker_host) {
    constexpr std::string_view scheme = "unix://";
    if (!docker_host.starts_with(scheme)) {
        throw std::invalid_argument("--docker-host must be unix:///path/to/docker.sock, got \"" +
                                    docker_host + "\"");
    }
    return docker_host.substr(scheme.size());
}

/// --explain's report on one container, once Docker's setup has been read (or not).
evaluation print_explanation(const container_info& info_ref, const policy& pol, firewall& fw,
                             const std::optional<docker_setup_reading>& setup,
                             const std::string& setup_why) {
    const auto* info = &info_ref;
    boost::system::error_code ec;
    const auto actual = fw.read_rules(ec);
    // What Docker does to the container's traffic, as the daemon assesses it.
    boost::system::error_code kernel_ec;
    const auto kernel = fw.read_kernel(kernel_ec);
    std::optional<host_posture> posture;
    if (setup && !kernel_ec) {
        posture = assess_host(setup->engine, setup->networks, kernel,
                              pol.docker_user_guard ? guard_setting::automatic : guard_setting::off,
                              pol.egress);
    }
    const bool forwarded = posture && posture->mode != docker_ip6_mode::off;
    const auto result = evaluate(*info, pol, forwarded ? publish_target::container_port
                                                       : publish_target::host_port);
    std::cout << "  rules (" << (info->running ? result.rules.size() : 0U) << "):\n";
    for (const auto& wanted : result.rules) {
        const auto tuple = wanted.what.tuple();
        const auto found = std::find_if(actual.entries.begin(), actual.entries.end(),
                                        [&](const auto& e) { return e.tuple == tuple; });
        const char* state = ec                            ? "ufw rules unreadable"
                            : found == actual.entries.end() ? "not in ufw yet"
                            : found->owner              ? "in ufw"
                                                        : "allowed by an admin rule";
        std::cout << "    " << wanted.what.describe() << "  [" << state << "]\n";
        if (posture && wanted.what.kind == rule_kind::route) {
            const auto address = wanted.what.destination.to_string();
            const auto on = std::find_if(info->networks.begin(), info->networks.end(),
                                         [&](const auto& n) { return n.global_ipv6 == address; });
            const bool published = std::any_of(
                info->published.begin(), info->published.end(), [&](const auto& b) {
                    return b.proto == to_string(wanted.what.proto) &&
                           wanted.what.port.first <= b.container_port &&
                           b.container_port <= wanted.what.port.last;
                });
            const auto verdict = assess_route(*posture, kernel,
                                              on == info->networks.end() ? "" : on->network,
                                              address, published);
            std::cout << "      traffic: " << to_string(verdict.state);
            if (verdict.state == rule_state::dead) {
                std::cout << ": " << verdict.why << "\n      fix: " << verdict.fix;
            }
            std::cout << '\n';
        }
    }
    if (info->running && result.rules.empty() && result.rejected.empty()) {
        const bool labelled = std::any_of(info->labels.begin(), info->labels.end(), [&](const auto& l) {
            return l.first.starts_with(pol.label_prefix);
        });
        std::cout << "  why no rule: "
                  << (labelled ? why_no_rules(*info, pol) : "no " + pol.label_prefix + "* label")
                  << '\n';
    }
    if (!posture) {
        std::cout << "  Docker's setup: not known ("
                  << (setup ? "cannot read the kernel's IPv6 tables" : setup_why) << ")\n";
    } else {
        std::cout << "  Docker's setup:\n";
        for (const auto& line : posture->summary()) {
            std::cout << "    " << line << '\n';
        }
    }
    return result;
}

/// --explain: what rules a container gets under the policy and why, and what ufw holds now.
asio::awaitable<int> explain(docker_client& docker, std::string container, const policy& pol,
                             firewall& fw) {
    if (const auto ec = co_await docker.ping()) {
        std::cerr << "cannot reach Docker at " << docker.settings().socket_path << ": "
                  << ec.message() << '\n';
        co_return 1;
    }
    const auto reply =
        co_await docker.get(docker.versioned("/containers/" + url_encode(container) + "/json"));
    if (reply.ec) {
        std::cerr << "container " << container << ": " << reply.ec.message() << '\n';
        co_return 1;
    }
    std::string why;
    const auto info = decode_inspect(nlohmann::json::parse(reply.body, nullptr, false), &why);
    if (!info) {
        std::cerr << "container " << container << ": unusable reply from Docker: " << why << '\n';
        co_return 1;
    }
    std::cout << "container " << info->name << " (" << info->id.substr(0, 12) << "), "
              << (info->running ? "running" : "not running: no rules") << '\n';
    for (const auto& net : info->networks) {
        std::cout << "  network " << net.network << ": "
                  << (net.global_ipv6.empty() ? "no global IPv6 address" : net.global_ipv6)
                  << '\n';
    }
    std::string setup_why;
    const auto setup = co_await read_docker_setup(docker, &setup_why);
    const auto result = print_explanation(*info, pol, fw, setup, setup_why);
    if (!result.rejected.empty()) {
        std::cout << "  rejected:\n";
        for (const auto& r : result.rejected) {
            std::cout << "    " << r.label << "=\"" << r.value << "\": " << r.reason << '\n';
        }
    }
    co_return 0;
}


/// `dockgated status`: reads the running daemon's status socket.
int show_status(const std::string& path, bool raw_json, std::chrono::milliseconds timeout) {
    asio::io_context ioc;
    local_stream::socket socket(ioc);
    error_code ec;
    // A daemon that accepts and never answers must not hang the command: the connect and the
    // read together get `timeout`. (Asio's blocking reads poll past SO_RCVTIMEO, so they are
    // asynchronous here and the io_context runs for at most `timeout`.)
    std::string text;
    bool finished = false;
    socket.async_connect(local_stream::endpoint(path), [&](const error_code& connect_ec) {
        if (connect_ec) {
            ec = connect_ec;
            finished = true;
            return;
        }
        asio::async_read(socket, asio::dynamic_buffer(text),
                         [&](const error_code& read_ec, std::size_t) {
                             ec = read_ec;
                             finished = true;
                         });
    });
    ioc.run_for(timeout);
    if (!finished) {
        std::cerr << "no status from dockgated at " << path << " within " << timeout.count()
                  << " ms\n";
        return 1;
    }
    if (ec && ec != asio::error::eof) {
        std::cerr << "cannot reach dockgated at " << path << ": " << ec.message()
                  << " (is it running? root or the daemon's group may read it)\n";
        return 1;
    }
    const auto doc = nlohmann::json::parse(text, nullptr, false);
    if (doc.is_discarded()) {
        std::cerr << "unreadable status from " << path << "\n";
        return 1;
    }
    if (raw_json) {
        std::cout << doc.dump(2) << '\n';
        return 0;
    }
    const auto& docker = doc["docker"];
    std::cout << "Docker:      " << docker["state"].get<std::string>() << " ("
              << docker["socket"].get<std::string>() << ", API "
              << docker["api_version"].get<std::string>() << ")\n";
    std::cout << "In sync:     " << (doc["in_sync"].get<bool>() ? "yes" : "no");
    if (doc["last_sync_unix"].is_number()) {
        const std::time_t when = doc["last_sync_unix"].get<std::time_t>();
        std::array<char, 64> buffer{};
        std::strftime(buffer.data(), buffer.size(), "%Y-%m-%d %H:%M:%S", std::localtime(&when));
        std::cout << ", last sync " << buffer.data();
    }
    std::cout << "\nufw writes:  " << doc.value("ufw_write_path", std::string("per-rule"));
    std::cout << "\nRules:       " << doc["owned_rules"].get<std::size_t>() << " owned, "
              << doc["pending_operations"].get<std::size_t>() << " pending, "
              << doc["failed_operations"].size() << " failed\n";
    // An older daemon (still running after an upgrade) sends no docker_setup.
    if (const auto setup = doc.value("docker_setup", nlohmann::json()); setup.is_object()) {
        std::cout << "Docker setup: Engine " << setup["engine"].get<std::string>() << ", "
                  << setup["firewall_backend"].get<std::string>() << " backend, IPv6 filtering by Docker "
                  << setup["docker_ip6_filtering"].get<std::string>() << "; "
                  << setup["rules_effective"].get<std::size_t>() << " rule(s) effective, "
                  << setup["rules_dead"].get<std::size_t>() << " dead, "
                  << setup["published_open_past_ufw"].get<std::size_t>()
                  << " published port(s) open past ufw\n";
        for (const auto& line : setup["summary"]) {
            std::cout << "  " << line.get<std::string>() << '\n';
        }
    }
    for (const auto& c : doc["containers"]) {
        std::cout << "\n  " << c["name"].get<std::string>() << " (" << c["id"].get<std::string>()
                  << ")\n";
        const auto states = c.value("rule_states", nlohmann::json::array());
        for (const auto& r : c["rules"]) {
            std::string state;
            for (const auto& a : states) {
                if (a["rule"] == r) {
                    state = a["state"].get<std::string>();
                    if (state == "dead") {
                        state += ": " + a["why"].get<std::string>() + "; fix: " + a["fix"].get<std::string>();
                    }
                }
            }
            std::cout << "    " << r.get<std::string>() << (state.empty() ? "" : "  [" + state + "]")
                      << '\n';
        }
        for (const auto& a : states) {
            if (a["state"] == "open past ufw") {
                std::cout << "    " << a["rule"].get<std::string>() << "  [OPEN past ufw: "
                          << a["why"].get<std::string>() << "; fix: " << a["fix"].get<std::string>()
                          << "]\n";
            }
        }
        if (c.contains("why_no_rules")) {
            std::cout << "    no rules: " << c["why_no_rules"].get<std::string>() << '\n';
        }
        for (const auto& r : c["rejected"]) {
            std::cout << "    rejected " << r["label"].get<std::string>() << "=\""
                      << r["value"].get<std::string>() << "\": " << r["reason"].get<std::string>()
                      << '\n';
        }
    }
    for (const auto& f : doc["failed_operations"]) {
        std::cout << "\n  FAILED " << f["action"].get<std::string>() << " "
                  << f["rule"].get<std::string>() << " for " << f["container"].get<std::string>()
                  << ": " << f["error"].get<std::string>() << '\n';
    }
    return 0;
}

int remove_all_rules(firewall& fw, spdlog::logger& log) {
    boost::system::error_code ec;
    const auto actual = fw.read_rules(ec);
    if (ec) {
        log.error("cannot read ufw's rules: {}", ec.message());
        return 1;
    }
    int failures = 0;
    const auto cleanup = make_plan({}, actual);
    for (const auto& op : cleanup.ops) {
        const auto result = fw.apply(op);
        if (result.ec) {
            ++failures;
        }
        log.info("removed {} of {}: {}", op.target.what.describe(), op.target.owner.name,
                 to_string(result.verdict.outcome));
    }
    // dockgate's host rules (bridge traffic, egress, the DOCKER-USER guard) go too.
    const auto host = fw.apply_host_rules({false, false, false});
    if (host.ec) {
        ++failures;
        log.error("cannot remove dockgate's host rules from after6.rules and the kernel: {} ({})",
                  host.ec.message(), host.verdict.detail);
    } else if (host.verdict.outcome != ufw_outcome::already_present) {
        log.info("removed dockgate's host rules from ufw's after6.rules and the kernel");
    }
    log.info("{} dockgate rule(s) removed, {} failure(s); rules without a dockgate tag untouched",
             cleanup.ops.size() - static_cast<std::size_t>(failures), failures);
    return failures == 0 ? 0 : 1;
}

int run_watcher(options& opt, policy pol, firewall& fw, const std::shared_ptr<spdlog::logger>& log) {
    const auto state = fw.probe();
    if (!state.ufw_found) {
        log->critical("ufw not found at {}; install ufw (apt-get install ufw)", opt.ufw.ufw_path);
        return 2;
    }
    if (!state.ipv6_enabled) {
        log->critical("IPv6 is disabled in ufw (IPV6=no in /etc/default/ufw); set IPV6=yes");
        return 2;
    }
    if (!state.active) {
        log->warn("ufw is inactive: rules are recorded but not enforced until `ufw enable`");
    }

    asio::io_context ioc;
    controller ctl(ioc, opt.controller, std::move(pol), fw, log);
    asio::signal_set signals(ioc, SIGINT, SIGTERM, SIGHUP);
    std::function<void()> stop_extras = [] {};
    std::function<void(const boost::system::error_code&, int)> on_signal =
        [&](const boost::system::error_code& ec, int signo) {
            if (ec) {
                return;
            }
            if (signo == SIGHUP) {
                policy_error reload_error;
                bool missing = false;
                auto fresh = load_policy_file(opt.policy_path, &reload_error, &missing);
                if (missing) {
                    // Fail closed: a file gone at reload must not bring in the open built-in
                    // policy (any port, any source).
                    fresh.reset();
                    reload_error = {opt.policy_path, 0, "the file does not exist"};
                } else if (fresh && fresh->manage_ipv4 != ctl.current_policy().manage_ipv4) {
                    // Which rules files are read (user.rules too, or not) is fixed at start;
                    // half a change would leave IPv4 rules no one removes.
                    fresh.reset();
                    reload_error = {opt.policy_path, 0,
                                    "\"manage_ipv4\" changed: that takes a restart "
                                    "(systemctl restart dockgated)"};
                }
                if (fresh) {
                    log->info("policy reloaded from {}", opt.policy_path);
                    ctl.replace_policy(std::move(*fresh));
                } else {
                    log->error("policy reload refused, previous policy stays in force: {}",
                               reload_error.to_string());
                }
                signals.async_wait(on_signal);
                return;
            }
            // Cancel, do not stop the io_context: the loops unwind and run() returns by itself.
            ctl.stop();
            stop_extras();
            signals.cancel();
        };
    signals.async_wait(on_signal);
    // READY=1 only after the first reconcile has left ufw in step with Docker.
    service_notifier notifier(ioc, ctl);
    notifier.start();
    std::optional<status_server> status;
    int status_fd = opt.status_fd;
    if (status_fd < 0) {
        std::string why;
        status_fd = listen_unix_socket(opt.status_socket, SOCK_STREAM, ::getgid(), &why);
        if (status_fd < 0) {
            log->warn("no status view: {}", why);
        }
    }
    if (status_fd >= 0) {
        status.emplace(ioc, ctl, status_fd);
        status->start();
    }
    std::optional<metrics_server> metrics;
    if (!opt.metrics_listen.empty()) {
        metrics.emplace(ioc, ctl, opt.metrics_listen);
        metrics->start();
        log->info("metrics at http://{}/metrics", opt.metrics_listen);
    }
    stop_extras = [&] {
        notifier.stop();
        if (metrics) {
            metrics->stop();
        }
        if (status) {
            status->stop();
        }
    };
    ctl.on_fatal([&] {
        stop_extras();
        signals.cancel();
    });
    ctl.start();
    ioc.run();
    if (ctl.failed()) {
        log->critical("stopped after an internal error; exit status 1 so that systemd restarts "
                      "dockgated");
        return 1;
    }
    log->info("stopped");
    return 0;
}

/// kill() for a child's pid only: -1 (a child that is gone, or a fork that failed) would signal
/// every process this root supervisor may signal.
void signal_child(pid_t pid, int signo) {
    if (pid > 0) {
        ::kill(pid, signo);
    }
}

/// "signal 15" or "status 2", for the supervisor's log.
std::string exit_text(int status) {
    return WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                               : "status " + std::to_string(WEXITSTATUS(status));
}

/// In a child of the supervisor: SIGKILL when the supervisor dies (SIGKILLed, or aborted by
/// systemd's watchdog), so no executor or watcher outlives it. systemd's KillMode=mixed
/// signals only the main process and the rest only after TimeoutStopSec. Must be called after
/// any uid change, which clears it.
void die_with_supervisor(pid_t supervisor) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != supervisor) {
        ::_exit(1); // it died before the line above
    }
}

/// Root supervisor: the executor (uid 0, only CAP_NET_ADMIN and CAP_NET_RAW) runs ufw; the
/// Docker API filter (uid 0, no capabilities) passes the watcher's read-only Docker requests;
/// the watcher (an unprivileged user, no capabilities) reads Docker through it. A dead
/// executor or filter is restarted; the watcher's exit ends the service with its status.
int run_privilege_separated(options& opt, policy pol, const std::shared_ptr<spdlog::logger>& log) {
    if (::geteuid() != 0) {
        log->critical("--user needs dockgated to start as root (it forks the ufw executor)");
        return 2;
    }
    std::string why;
    // A missing capability is a configuration error: say so once and exit at once (EX_CONFIG,
    // which the unit does not restart), not an executor that fails capset and is restarted
    // once a second until systemd's start timeout.
    if (!has_firewall_capabilities(&why)) {
        log->critical("cannot run the ufw executor: {}", why);
        return EX_CONFIG;
    }
    const auto who = lookup_user(opt.run_as, &why);
    if (!who) {
        log->critical("--user {}: {}", opt.run_as, why);
        return 2;
    }
    const int listen_fd = listen_unix_socket(opt.executor_socket, SOCK_SEQPACKET, who->gid, &why);
    if (listen_fd < 0) {
        log->critical("{}", why);
        return 2;
    }
    // The watcher cannot create sockets under /run/dockgate itself: it inherits this one.
    opt.status_fd = listen_unix_socket(opt.status_socket, SOCK_STREAM, who->gid, &why);
    if (opt.status_fd < 0) {
        log->warn("no status view: {}", why);
    }
    // The watcher talks to Docker only through the Docker API filter, on this socket.
    const int filter_fd =
        listen_unix_socket(opt.docker_filter_socket, SOCK_STREAM, who->gid, &why);
    if (filter_fd < 0) {
        log->critical("{}", why);
        return 2;
    }
    sigset_t handled;
    sigemptyset(&handled);
    for (const int signo : {SIGTERM, SIGINT, SIGHUP, SIGCHLD}) {
        sigaddset(&handled, signo);
    }
    sigset_t previous;
    sigprocmask(SIG_BLOCK, &handled, &previous);
    const pid_t supervisor = ::getpid();

    auto spawn_executor = [&]() -> pid_t {
        const pid_t pid = ::fork();
        if (pid == 0) {
            // SIGHUP reloads the executor's policy, but its handler comes later: until then a
            // reload must not kill it (the default action).
            std::signal(SIGHUP, SIG_IGN);
            sigprocmask(SIG_SETMASK, &previous, nullptr);
            if (opt.status_fd >= 0) {
                ::close(opt.status_fd);
            }
            std::string error;
            if (!restrict_to_firewall_capabilities(&error)) {
                log->critical("executor: {}", error);
                ::_exit(EX_CONFIG); // the supervisor stops instead of restarting it
            }
            die_with_supervisor(supervisor);
            ufw_firewall executor_fw(opt.ufw, log);
            executor_fw.start_verification();
            const auto watchdog = std::chrono::duration_cast<std::chrono::seconds>(opt.ufw.timeout) +
                                  std::chrono::seconds(10);
            // The executor checks every add against the policy it loads itself, not the watcher's.
            serve_executor(listen_fd, executor_fw, who->uid, *log, watchdog, opt.policy_path,
                           opt.policy_was_builtin);
            ::_exit(1);
        }
        return pid;
    };
    pid_t executor = spawn_executor();
    auto executor_started = std::chrono::steady_clock::now();
    // uid 0 only to open Docker's socket (root:docker 0660) as its owner: no capability at all.
    auto spawn_filter = [&]() -> pid_t {
        const pid_t pid = ::fork();
        if (pid == 0) {
            sigprocmask(SIG_SETMASK, &previous, nullptr);
            // Only the supervisor stops it (SIGTERM): ^C and reloads are for the watcher.
            std::signal(SIGINT, SIG_IGN);
            std::signal(SIGHUP, SIG_IGN);
            ::close(listen_fd);
            if (opt.status_fd >= 0) {
                ::close(opt.status_fd);
            }
            std::string error;
            if (!drop_every_capability(&error)) {
                log->critical("docker API filter: {}", error);
                ::_exit(2);
            }
            die_with_supervisor(supervisor);
            docker_api_proxy_settings settings;
            settings.docker_socket = opt.controller.docker.socket_path;
            settings.allowed_uid = who->uid;
            ::_exit(serve_docker_api_filter(filter_fd, settings, *log));
        }
        return pid;
    };
    pid_t filter = spawn_filter();
    auto filter_started = std::chrono::steady_clock::now();
    // A dead executor or filter is started again; a crash loop must not spin, so at most one
    // restart per second.
    auto restart_child = [&](const char* what, int status, pid_t& pid,
                             std::chrono::steady_clock::time_point& started, const auto& spawn) {
        log->error("{} exited ({}); starting a new one", what, exit_text(status));
        if (std::chrono::steady_clock::now() - started < std::chrono::seconds(1)) {
            ::sleep(1);
        }
        pid = spawn();
        started = std::chrono::steady_clock::now();
    };
    const pid_t watcher = ::fork();
    if (watcher < 0) {
        log->critical("cannot start the watcher: {}", std::strerror(errno));
        signal_child(executor, SIGTERM);
        signal_child(filter, SIGTERM);
        return 1;
    }
    if (watcher == 0) {
        sigprocmask(SIG_SETMASK, &previous, nullptr);
        ::close(listen_fd);
        ::close(filter_fd);
        opt.controller.docker.socket_path = opt.docker_filter_socket;
        std::string error;
        if (!become_user(*who, &error)) {
            log->critical("watcher: {}", error);
            ::_exit(2);
        }
        die_with_supervisor(supervisor); // after the uid change, which clears it
        remote_firewall remote(opt.executor_socket, opt.ufw.timeout + std::chrono::seconds(15));
        ::_exit(run_watcher(opt, std::move(pol), remote, log));
    }
    log->info("privilege separation: executor pid {} (root, CAP_NET_ADMIN CAP_NET_RAW), Docker API "
              "filter pid {} (uid 0, no capabilities), watcher pid {} (uid {}, no capabilities)",
              executor, filter, watcher, who->uid);
    int exit_code = 0;
    // Set by the first SIGTERM/SIGINT (or a configuration error): from then on the watcher is
    // not signalled again, and an executor or filter that exits is not restarted (under
    // KillMode=control-group, or ^C in a terminal, they get the signal too).
    bool stopping = false;
    bool config_error = false;
    while (true) {
        siginfo_t info{};
        if (sigwaitinfo(&handled, &info) < 0) {
            continue;
        }
        if (info.si_signo == SIGTERM || info.si_signo == SIGINT || info.si_signo == SIGHUP) {
            if (info.si_signo != SIGHUP) {
                if (stopping) {
                    continue;
                }
                stopping = true;
            }
            signal_child(watcher, info.si_signo);
            if (info.si_signo == SIGHUP) {
                signal_child(executor, SIGHUP); // it reloads the policy it checks adds against
            }
            continue;
        }
        bool watcher_done = false;
        int status = 0;
        for (pid_t pid; (pid = ::waitpid(-1, &status, WNOHANG)) > 0;) {
            if (pid == watcher) {
                watcher_done = true;
                exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
            } else if (pid == filter && stopping) {
                log->info("Docker API filter exited ({}) while stopping", exit_text(status));
                filter = -1;
            } else if (pid == executor && stopping) {
                log->info("executor exited ({}) while stopping", exit_text(status));
                executor = -1;
            } else if (pid == executor && WIFEXITED(status) && WEXITSTATUS(status) == EX_CONFIG) {
                log->critical("the executor cannot run (configuration error, see above); stopping");
                executor = -1;
                stopping = config_error = true;
                signal_child(watcher, SIGTERM);
            } else if (pid == filter) {
                restart_child("Docker API filter", status, filter, filter_started, spawn_filter);
            } else if (pid == executor) {
                restart_child("executor", status, executor, executor_started, spawn_executor);
            }
        }
        if (watcher_done) {
            break;
        }
    }
    if (config_error) {
        exit_code = EX_CONFIG;
    }
    if (executor > 0) {
        ::kill(executor, SIGTERM);
        ::waitpid(executor, nullptr, 0);
    }
    ::close(listen_fd);
    ::unlink(opt.executor_socket.c_str());
    ::unlink(opt.status_socket.c_str());
    if (filter > 0) {
        ::kill(filter, SIGTERM);
        ::waitpid(filter, nullptr, 0);
    }
    ::close(filter_fd);
    ::unlink(opt.docker_filter_socket.c_str());
    return exit_code;
}

} // namespace

int main(int argc, char** argv) try {
    options opt;
    long long request_ms = 10000;
    long long health_ms = 0;
    long long drift_s = 60;
    long long recheck_ms = 2000;
    long long ufw_ms = 30000;
    long long coalesce_ms = 10;
    std::string batch_mode = "auto";
    po::options_description desc("dockgated " + std::string(version_string) +
                                 ": keeps ufw route rules in step with Docker containers\nOptions");
    desc.add_options()
        ("help,h", "show this help")
        ("version", "print the version")
        ("docker-host", po::value(&opt.docker_host)->default_value(opt.docker_host), "Docker Engine socket")
        ("policy", po::value(&opt.policy_path)->default_value(opt.policy_path), "policy file (built-in policy when absent)")
        ("check-policy", po::value(&opt.check_policy)->value_name("FILE"), "validate a policy file and exit")
        ("explain", po::value(&opt.explain)->value_name("CONTAINER"), "print the rules a container gets and why, and exit")
        ("dry-run", po::bool_switch(&opt.controller.dry_run), "log the plan, change nothing in ufw")
        ("remove-all-rules", po::bool_switch(&opt.remove_all), "delete every dockgate-owned ufw rule and exit (uninstall)")
        ("user", po::value(&opt.run_as)->value_name("NAME"), "privilege separation: read Docker as this user, run ufw in a separate root executor")
        ("status-socket", po::value(&opt.status_socket)->default_value(opt.status_socket), "where the status view is served and read")
        ("status-timeout-ms", po::value(&opt.status_timeout_ms)->default_value(opt.status_timeout_ms), "`dockgated status`: how long to wait for the daemon's answer")
        ("metrics-listen", po::value(&opt.metrics_listen)->value_name("ADDR:PORT"), "serve Prometheus metrics on this loopback address (off by default)")
        ("json", po::bool_switch(&opt.json), "with `status`: print the raw JSON")
        ("command", po::value(&opt.command), "`status`: show the running daemon's state")
        ("executor-socket", po::value(&opt.executor_socket)->default_value(opt.executor_socket), "the executor's socket (with --user)")
        ("docker-filter-socket", po::value(&opt.docker_filter_socket)->default_value(opt.docker_filter_socket), "the Docker API filter's socket, the watcher's only way to Docker (with --user)")
        ("log-level", po::value(&opt.log_level)->default_value(opt.log_level), "trace, debug, info, warn, error")
        ("ufw", po::value(&opt.ufw.ufw_path)->default_value(opt.ufw.ufw_path), "ufw executable")
        ("ufw-dir", po::value(&opt.ufw.config_dir)->default_value(opt.ufw.config_dir), "ufw's configuration directory")
        ("ufw-batch", po::value(&batch_mode)->default_value(batch_mode), "auto: write IPv6 allow rules in batches (rules file + one ip6tables-restore -n under ufw's lock) once verified against `ufw --dry-run`; off: one ufw command per rule")
        ("ip6tables-restore", po::value(&opt.ufw.ip6tables_restore)->default_value(opt.ufw.ip6tables_restore), "ip6tables-restore executable (batched path)")
        ("state-dir", po::value(&opt.ufw.state_dir)->default_value(opt.ufw.state_dir), "private scratch space for the dry-run verification")
        ("request-timeout-ms", po::value(&request_ms)->default_value(request_ms), "deadline of each Docker request")
        ("health-interval-ms", po::value(&health_ms)->default_value(health_ms), "Docker /_ping interval while streaming (0: with each drift check)")
        ("drift-interval-s", po::value(&drift_s)->default_value(drift_s), "re-check ufw for hand edits every N s (0: off)")
        ("recheck-after-write-ms", po::value(&recheck_ms)->default_value(recheck_ms), "re-read ufw this long after each change, to catch a change lost to a concurrent ufw command (0: off)")
        ("ufw-timeout-ms", po::value(&ufw_ms)->default_value(ufw_ms), "deadline of each ufw run")
        ("coalesce-ms", po::value(&coalesce_ms)->default_value(coalesce_ms), "window in which events are applied together");
    po::variables_map vm;
    po::positional_options_description positional;
    positional.add("command", 1);
    po::store(po::command_line_parser(argc, argv).options(desc).positional(positional).run(), vm);
    po::notify(vm);
    if (vm.count("help") != 0U) {
        std::cout << desc << '\n';
        return 0;
    }
    if (vm.count("version") != 0U) {
        std::cout << "dockgated " << version_string << '\n';
        return 0;
    }
    if (!opt.command.empty()) {
        if (opt.command != "status") {
            std::cerr << "unknown command \"" << opt.command << "\" (try --help)\n";
            return 2;
        }
        return show_status(opt.status_socket, opt.json,
                           std::chrono::milliseconds(opt.status_timeout_ms));
    }
    if (!opt.check_policy.empty()) {
        policy_error error;
        if (!load_policy_file(opt.check_policy, &error)) {
            std::cerr << error.to_string() << '\n';
            return 1;
        }
        std::cout << opt.check_policy << ": OK\n";
        return 0;
    }
    auto log = make_logger(opt.log_level);
    opt.controller.docker.socket_path = socket_path_of(opt.docker_host);
    opt.controller.docker.request_timeout = std::chrono::milliseconds(request_ms);
    opt.controller.health_interval = std::chrono::milliseconds(health_ms);
    opt.controller.drift_interval = std::chrono::seconds(drift_s);
    opt.controller.recheck_after_write = std::chrono::milliseconds(recheck_ms);
    opt.controller.coalesce_window = std::chrono::milliseconds(coalesce_ms);
    opt.ufw.timeout = std::chrono::milliseconds(ufw_ms);
    if (batch_mode != "auto" && batch_mode != "off") {
        std::cerr << "--ufw-batch must be auto or off\n";
        return 2;
    }
    opt.ufw.batch = batch_mode == "auto";

    policy_error error;
    bool builtin = false;
    auto pol = load_policy_file(opt.policy_path, &error, &builtin);
    if (!pol) {
        log->critical("policy refused: {}", error.to_string());
        return 2;
    }
    log->info("dockgated {} starting; policy: {}", version_string,
              builtin ? "built-in (" + opt.policy_path + " not found)" : opt.policy_path);
    opt.ufw.include_ipv4 = pol->manage_ipv4;
    ufw_firewall fw(opt.ufw, log);
    if (opt.remove_all) {
        return remove_all_rules(fw, *log);
    }
    if (!opt.explain.empty()) {
        asio::io_context ioc;
        docker_client docker(opt.controller.docker);
        int rc = 1;
        asio::co_spawn(ioc, explain(docker, opt.explain, *pol, fw),
                       [&rc](const std::exception_ptr& e, int value) {
                           if (e) {
                               std::rethrow_exception(e);
                           }
                           rc = value;
                       });
        ioc.run();
        return rc;
    }
    if (opt.run_as.empty()) {
        if (!opt.controller.dry_run) {
            fw.start_verification(); // with --user, the executor verifies its own instance
        }
        return run_watcher(opt, std::move(*pol), fw, log);
    }
    opt.policy_was_builtin = builtin;
    return run_privilege_separated(opt, std::move(*pol), log);
} catch (const std::exception& e) {
    std::cerr << "dockgated: " << e.what() << '\n';
    return 2;
}
