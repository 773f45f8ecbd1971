// dockgated's command line: every option with its default and --help text, parsed and checked.
#include "options.hpp"

#include "dockgate/version.hpp"

#include <boost/program_options.hpp>

#include <algorithm>
#include <array>
#include <sstream>
#include <string_view>
#include <vector>

namespace po = boost::program_options;

namespace dockgate::daemon {
namespace {

/// The upper bound of every duration: far past any sensible deadline or interval, and small
/// enough that adding a margin to it or turning it into a time point cannot overflow.
constexpr long long day_ms = 24LL * 60 * 60 * 1000;
constexpr long long day_s = 24LL * 60 * 60;

using std::chrono::milliseconds;
using std::chrono::seconds;

/// One numeric option: its default (then what argv said), the range it must fall in, and where
/// the checked value goes. Negative values are never meaningful, and 0 only where the setting
/// documents it ("0: off", "0: with each drift check"); elsewhere 0 would make every request
/// or ufw run fail at once, or let a crash loop spin.
struct number_option {
    const char* name;
    const char* unit; ///< shown as the value's name in --help
    const char* help;
    long long value;
    long long min;
    long long max;
    void (*store)(options&, long long);
};

std::vector<number_option> number_options(const options& opt) {
    const auto& ctl = opt.controller;
    return {
        {"request-timeout-ms", "MS", "deadline of each Docker request",
         ctl.docker.request_timeout.count(), 1, day_ms,
         [](options& o, long long v) { o.controller.docker.request_timeout = milliseconds(v); }},
        {"health-interval-ms", "MS",
         "Docker /_ping interval while streaming (0: with each drift check)",
         ctl.health_interval.count(), 0, day_ms,
         [](options& o, long long v) { o.controller.health_interval = milliseconds(v); }},
        {"drift-interval-s", "S", "re-check ufw for hand edits every N s (0: off)",
         std::chrono::duration_cast<seconds>(ctl.schedule.drift_interval).count(), 0, day_s,
         [](options& o, long long v) { o.controller.schedule.drift_interval = seconds(v); }},
        {"recheck-after-write-ms", "MS",
         "re-read ufw this long after each change, to catch a change lost to a concurrent ufw "
         "command (0: off)",
         ctl.schedule.recheck_after_write.count(), 0, day_ms,
         [](options& o, long long v) {
             o.controller.schedule.recheck_after_write = milliseconds(v);
         }},
        {"ufw-timeout-ms", "MS", "deadline of each ufw run", opt.ufw.timeout.count(), 1, day_ms,
         [](options& o, long long v) { o.ufw.timeout = milliseconds(v); }},
        {"kernel-report-ms", "MS",
         "how long to wait for the kernel's notification of a change dockgate made; without it "
         "the next change reloads ufw's IPv6 user chains",
         opt.ufw.kernel_report_wait.count(), 1, 600000,
         [](options& o, long long v) { o.ufw.kernel_report_wait = milliseconds(v); }},
        {"coalesce-ms", "MS", "window in which events are applied together (0: none)",
         ctl.schedule.coalesce_window.count(), 0, day_ms,
         [](options& o, long long v) { o.controller.schedule.coalesce_window = milliseconds(v); }},
        {"status-timeout-ms", "MS", "`dockgated status`: how long to wait for the daemon's answer",
         opt.status_timeout.count(), 1, day_ms,
         [](options& o, long long v) { o.status_timeout = milliseconds(v); }},
        {"executor-reply-margin-ms", "MS",
         "with --user: how much longer than --ufw-timeout-ms the watcher waits for the "
         "executor's reply before it reconnects",
         opt.executor_reply_margin.count(), 0, day_ms,
         [](options& o, long long v) { o.executor_reply_margin = milliseconds(v); }},
        {"executor-watchdog-margin-s", "S",
         "with --user: the executor is killed and restarted when one request step runs this "
         "long past --ufw-timeout-ms",
         opt.executor_watchdog_margin.count(), 1, day_s,
         [](options& o, long long v) { o.executor_watchdog_margin = seconds(v); }},
        {"executor-batch-arrival-ms", "MS",
         "with --user: every operation of a batch must reach the executor this long after the "
         "batch's header, or the batch is refused",
         opt.executor_batch_arrival.count(), 1, day_ms,
         [](options& o, long long v) { o.executor_batch_arrival = milliseconds(v); }},
        {"child-restart-pause-ms", "MS",
         "with --user: an executor or Docker API filter that exits sooner than this after its "
         "start is started again only after this pause",
         // The supervisor sleeps through the pause, signals waiting: keep it well under
         // systemd's stop timeout (TimeoutStopSec, 90 s by default).
         opt.child_restart_pause.count(), 1, 60000,
         [](options& o, long long v) { o.child_restart_pause = milliseconds(v); }},
    };
}

void add_text_options(po::options_description& desc, options& opt, std::string& batch_mode) {
    desc.add_options()("help,h", "show this help")("version", "print the version")(
        "docker-host", po::value(&opt.docker_host)->default_value(opt.docker_host),
        "Docker Engine socket (unix:///path)")(
        "policy", po::value(&opt.policy_path)->default_value(opt.policy_path),
        "policy file (built-in policy when absent)")(
        "check-policy", po::value(&opt.check_policy)->value_name("FILE"),
        "validate a policy file and exit")("explain",
                                           po::value(&opt.explain)->value_name("CONTAINER"),
                                           "print the rules a container gets and why, and exit")(
        "dry-run", po::bool_switch(&opt.controller.dry_run), "log the plan, change nothing in ufw")(
        "remove-all-rules", po::bool_switch(&opt.remove_all),
        "delete every dockgate-owned ufw rule and exit (uninstall)")(
        "user", po::value(&opt.run_as)->value_name("NAME"),
        "privilege separation: read Docker as this user, run ufw in a separate root executor")(
        "status-socket", po::value(&opt.status_socket)->default_value(opt.status_socket),
        "where the status view is served and read")(
        "metrics-listen", po::value(&opt.metrics_listen)->value_name("ADDR:PORT"),
        "serve Prometheus metrics on this loopback address (off by default)")(
        "json", po::bool_switch(&opt.json), "with `status`: print the raw JSON")(
        "command", po::value(&opt.command), "`status`: show the running daemon's state")(
        "executor-socket", po::value(&opt.executor_socket)->default_value(opt.executor_socket),
        "the executor's socket (with --user)")(
        "docker-filter-socket",
        po::value(&opt.docker_filter_socket)->default_value(opt.docker_filter_socket),
        "the Docker API filter's socket, the watcher's only way to Docker (with --user)")(
        "log-level", po::value(&opt.log_level)->default_value(opt.log_level),
        "trace, debug, info, warn, error")(
        "ufw", po::value(&opt.ufw.ufw_path)->default_value(opt.ufw.ufw_path), "ufw executable")(
        "ufw-dir", po::value(&opt.ufw.config_dir)->default_value(opt.ufw.config_dir),
        "ufw's configuration directory")(
        "ufw-batch", po::value(&batch_mode)->default_value(batch_mode),
        "auto: write IPv6 allow rules in batches (rules file edited under ufw's lock, once "
        "verified against `ufw --dry-run`) and change the kernel rule by rule (appends, deletes "
        "by handle) when it can; full: the same, reloading all of ufw's IPv6 user chains "
        "with one ip6tables-restore -n for every batch; off: one ufw command per rule")(
        "ip6tables-restore",
        po::value(&opt.ufw.ip6tables_restore)->default_value(opt.ufw.ip6tables_restore),
        "ip6tables-restore executable (batched path)")(
        "state-dir", po::value(&opt.ufw.state_dir)->default_value(opt.ufw.state_dir),
        "private scratch space for the dry-run verification");
}

void add_number_options(po::options_description& desc, std::vector<number_option>& numbers) {
    for (auto& n : numbers) {
        const std::string help = std::string(n.help) + " [" + std::to_string(n.min) + " to " +
                                 std::to_string(n.max) + "]";
        desc.add_options()(n.name, po::value(&n.value)->default_value(n.value)->value_name(n.unit),
                           help.c_str());
    }
}

/// The first value out of its range, as one line naming the option; empty when all fit.
std::string check_numbers(const std::vector<number_option>& numbers) {
    for (const auto& n : numbers) {
        if (n.value < n.min || n.value > n.max) {
            return "--" + std::string(n.name) + " " + std::to_string(n.value) +
                   " is out of range: allowed " + std::to_string(n.min) + " to " +
                   std::to_string(n.max) + " (" + (std::string_view(n.unit) == "S" ? "s" : "ms") +
                   ")";
        }
    }
    return {};
}

/// The Docker socket's path in `docker_host`, or empty when it is not unix:///path.
std::string socket_path_of(const std::string& docker_host) {
    constexpr std::string_view scheme = "unix://";
    if (!docker_host.starts_with(scheme) || docker_host.size() == scheme.size()) {
        return {};
    }
    return docker_host.substr(scheme.size());
}

/// Checks what is not a number and fills the fields derived from it; empty when all is well.
std::string check_text(options& opt, const std::string& batch_mode) {
    if (!opt.command.empty() && opt.command != "status") {
        return "unknown command \"" + opt.command + "\" (try --help)";
    }
    // spdlog reads an unknown level as "off": a typo would silence the daemon.
    constexpr std::array<std::string_view, 6> levels{"trace", "debug", "info",
                                                     "warn",  "error", "critical"};
    if (std::find(levels.begin(), levels.end(), opt.log_level) == levels.end()) {
        return "--log-level must be trace, debug, info, warn, error or critical, got \"" +
               opt.log_level + "\"";
    }
    if (batch_mode != "auto" && batch_mode != "full" && batch_mode != "off") {
        return "--ufw-batch must be auto, full or off, got \"" + batch_mode + "\"";
    }
    opt.ufw.batch = batch_mode != "off";
    opt.ufw.incremental = batch_mode == "auto";
    opt.controller.docker.socket_path = socket_path_of(opt.docker_host);
    if (opt.controller.docker.socket_path.empty()) {
        return "--docker-host must be unix:///path/to/docker.sock, got \"" + opt.docker_host + "\"";
    }
    return {};
}

} // namespace

parse_result parse_options(int argc, const char* const* argv, options& opt) {
    std::string batch_mode = !opt.ufw.batch ? "off" : opt.ufw.incremental ? "auto" : "full";
    auto numbers = number_options(opt);
    po::options_description desc("dockgated " + std::string(version_string) +
                                 ": keeps ufw route rules in step with Docker containers\nOptions");
    add_text_options(desc, opt, batch_mode);
    add_number_options(desc, numbers);
    po::positional_options_description positional;
    positional.add("command", 1);
    po::variables_map vm;
    // Boost reports a bad command line by throwing; here it becomes a usage error.
    try {
        po::store(po::command_line_parser(argc, argv).options(desc).positional(positional).run(),
                  vm);
        po::notify(vm);
    } catch (const po::error& e) {
        return {parse_status::usage_error, std::string(e.what()) + " (try --help)"};
    }
    if (vm.count("help") != 0U) {
        std::ostringstream text;
        text << desc;
        return {parse_status::help, text.str()};
    }
    if (vm.count("version") != 0U) {
        return {parse_status::version, "dockgated " + std::string(version_string)};
    }
    if (auto error = check_numbers(numbers); !error.empty()) {
        return {parse_status::usage_error, error};
    }
    for (const auto& n : numbers) {
        n.store(opt, n.value);
    }
    if (auto error = check_text(opt, batch_mode); !error.empty()) {
        return {parse_status::usage_error, error};
    }
    return {};
}

} // namespace dockgate::daemon
