// dockgated's entry point: argv to options, logging, signals, the io_context, and dispatch.
#include "dockgate/asio.hpp"
#include "dockgate/policy/policy.hpp"
#include "dockgate/privsep/privsep.hpp"
#include "dockgate/reconcile/controller.hpp"
#include "dockgate/service/log_fields.hpp"
#include "dockgate/service/service.hpp"
#include "dockgate/ufw/ufw_firewall.hpp"
#include "dockgate/version.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <malloc.h>
#include <optional>
#include <sys/socket.h>
#include <sysexits.h>
#include <unistd.h>

#include "commands.hpp"
#include "options.hpp"
#include "supervisor.hpp"

using namespace dockgate;
using namespace dockgate::daemon;

namespace {

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

/// False (after saying why) when ufw cannot be used at all: not installed, or IPv6 off.
bool firewall_usable(firewall& fw, const options& opt, spdlog::logger& log) {
    const auto state = fw.probe();
    if (!state.ufw_found) {
        log.critical("ufw not found at {}; install ufw (apt-get install ufw)", opt.ufw.ufw_path);
        return false;
    }
    if (!state.ipv6_enabled) {
        log.critical("IPv6 is disabled in ufw (IPV6=no in /etc/default/ufw); set IPV6=yes");
        return false;
    }
    if (!state.active) {
        log.warn("ufw is inactive: rules are recorded but not enforced until `ufw enable`");
    }
    return true;
}

/// SIGHUP: the policy file again; a refused one leaves the previous policy in force.
void reload_policy(const std::string& path, controller& ctl, spdlog::logger& log) {
    policy_error reload_error;
    bool missing = false;
    auto fresh = load_policy_file(path, &reload_error, &missing);
    if (missing) {
        // Fail closed: a file gone at reload must not bring in the open built-in policy (any
        // port, any source).
        fresh.reset();
        reload_error = {path, 0, "the file does not exist"};
    } else if (fresh && fresh->manage_ipv4 != ctl.current_policy().manage_ipv4) {
        // Which rules files are read (user.rules too, or not) is fixed at start; half a change
        // would leave IPv4 rules no one removes.
        fresh.reset();
        reload_error = {path, 0,
                        "\"manage_ipv4\" changed: that takes a restart "
                        "(systemctl restart dockgated)"};
    }
    if (fresh) {
        log.info("policy reloaded from {}", path);
        ctl.replace_policy(std::move(*fresh));
    } else {
        log.error("policy reload refused, previous policy stays in force: {}",
                  reload_error.to_string());
    }
}

/// The status view and the metrics endpoint, when configured.
struct side_servers {
    std::optional<status_server> status;
    std::optional<metrics_server> metrics;

    void start(asio::io_context& ioc, controller& ctl, const options& opt, spdlog::logger& log) {
        int status_fd = opt.status_fd; // inherited when privilege-separated
        if (status_fd < 0) {
            std::string why;
            status_fd = listen_unix_socket(opt.status_socket, SOCK_STREAM, ::getgid(), &why);
            if (status_fd < 0) {
                log.warn("no status view: {}", why);
            }
        }
        if (status_fd >= 0) {
            status.emplace(ioc, ctl, status_fd);
            status->start();
        }
        if (!opt.metrics_listen.empty()) {
            metrics.emplace(ioc, ctl, opt.metrics_listen);
            metrics->start();
            log.info("metrics at http://{}/metrics", opt.metrics_listen);
        }
    }
    void stop() {
        if (metrics) {
            metrics->stop();
        }
        if (status) {
            status->stop();
        }
    }
};

/// The daemon itself (or the watcher, under --user): reconciles until SIGTERM/SIGINT.
int run_watcher(options& opt, policy pol, firewall& fw,
                const std::shared_ptr<spdlog::logger>& log) {
    if (!firewall_usable(fw, opt, *log)) {
        return 2;
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
                reload_policy(opt.policy_path, ctl, *log);
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
    side_servers extras;
    extras.start(ioc, ctl, opt, *log);
    stop_extras = [&] {
        notifier.stop();
        extras.stop();
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

} // namespace

int main(int argc, char** argv) try {
    // Memory stays flat with the number of rules ufw holds: the rules files' texts (a megabyte
    // at 10,000 rules) go to mmap and back to the kernel when freed (a fixed threshold: glibc's
    // own grows with the largest block freed, keeping such texts on the heap for good), and
    // two arenas rather than one per thread keep what the worker, executor, verification and
    // kernel-notification threads free reusable by each other.
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
    mallopt(M_ARENA_MAX, 2);
    options opt;
    const auto parsed = parse_options(argc, argv, opt);
    if (parsed.status == parse_status::help || parsed.status == parse_status::version) {
        std::cout << parsed.text << '\n';
        return 0;
    }
    if (parsed.status == parse_status::usage_error) {
        std::cerr << "dockgated: " << parsed.text << '\n';
        return EX_USAGE;
    }
    if (!opt.command.empty()) {
        return show_status(opt.status_socket, opt.json, opt.status_timeout);
    }
    if (!opt.check_policy.empty()) {
        return check_policy(opt.check_policy);
    }
    auto log = make_logger(opt.log_level);
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
        return explain(opt.controller.docker, opt.explain, *pol, fw);
    }
    if (opt.run_as.empty()) {
        if (!opt.controller.dry_run) {
            fw.start_verification(); // with --user, the executor verifies its own instance
        }
        return run_watcher(opt, std::move(*pol), fw, log);
    }
    opt.policy_was_builtin = builtin;
    return run_privilege_separated(opt, std::move(*pol), log, run_watcher);
} catch (const std::exception& e) {
    // The edge: what a library throws (e.g. a --metrics-listen address that cannot be bound).
    std::cerr << "dockgated: " << e.what() << '\n';
    return 2;
}
