// dockgate's host rules in ufw's after6.rules and the kernel, and the kernel's view of Docker.
#include "dockgate/docker/docker_setup.hpp"
#include "dockgate/privsep/process.hpp"
#include "dockgate/ufw/ufw_firewall.hpp"

#include <spdlog/logger.h>

#include <algorithm>
#include <map>
#include <mutex>
#include <string_view>
#include <unistd.h>

#include "nft_monitor.hpp"
#include "ufw_files.hpp"

namespace dockgate {
namespace {

using clock = std::chrono::steady_clock;

/// Bounds what one ip6tables-save may print; Docker's and ufw's chains stay far below.
constexpr std::size_t max_save_output = 8U << 20U;

struct load_failure {
    errc code;
    std::string detail;
};

/// Loads `update` (ip6tables-restore -n input for dockgate's host chains) from a scratch file
/// beside `path`; nullopt once it is in the kernel.
std::optional<load_failure> load_kernel_update(const ufw_settings& settings,
                                               const std::string& path, const std::string& update) {
    std::string error;
    const auto temp = write_beside(path, update, error);
    if (!temp) {
        return load_failure{errc::rules_file_unwritable, error};
    }
    const auto restore = restore_rules(settings, *temp);
    ::unlink(temp->c_str());
    if (restore.exit_code != 0) {
        return load_failure{
            restore.timed_out ? errc::ufw_timeout : errc::ufw_failed,
            "ip6tables-restore -n of dockgate's host rules: " +
                (!restore.spawn_error.empty() ? restore.spawn_error : first_line(restore.err))};
    }
    return std::nullopt;
}

/// What parse_ip6tables_save needs, chain by chain: each table's chain names (one netlink dump,
/// no rules) and `ip6tables -S` of the few chains it reads rules from. `ip6tables-save` prints
/// all of ufw's rules as well: about 200 ms for raw and filter at 10,000 rules, twice in a
/// warm restart. nullopt when a step fails (a chain gone between the steps, say), and when
/// nf_tables shows no IPv6 FORWARD chain: ufw is not loaded, or ip6tables is the legacy one,
/// whose tables netlink does not show; ip6tables-save then answers for either.
std::optional<std::string> chains_text(const ufw_settings& settings) {
    std::string text;
    for (const std::string table : {"raw", "filter"}) {
        const auto chains = kernel_chains(table, settings.timeout);
        if (!chains || (table == "filter" &&
                        std::find(chains->begin(), chains->end(), "FORWARD") == chains->end())) {
            return std::nullopt;
        }
        std::map<std::string, std::string, std::less<>> listings;
        for (const auto& [fact_table, chain] : kernel_fact_chains) {
            if (fact_table != table ||
                std::find(chains->begin(), chains->end(), chain) == chains->end()) {
                continue;
            }
            auto run = run_process({settings.ip6tables, "-t", table, "-S", std::string(chain)},
                                   tool_env, settings.timeout, max_save_output);
            if (run.exit_code != 0) {
                return std::nullopt;
            }
            listings.emplace(chain, std::move(run.out));
        }
        text += save_text_from_listings(table, *chains, listings);
    }
    return text;
}

} // namespace

kernel_facts ufw_firewall::read_kernel(boost::system::error_code& ec) {
    if (const auto text = chains_text(settings_)) {
        auto facts = parse_ip6tables_save(*text);
        facts.nft_docker = kernel_has_table("docker-bridges", settings_.timeout).value_or(false);
        ec = {};
        return facts;
    }
    // The whole tables, as ip6tables-save prints them.
    if (log_) {
        log_->debug("reading the kernel's IPv6 tables whole: the chain-by-chain read failed");
    }
    std::string text;
    // raw first: a kernel without the raw table answers with an error there, which only means
    // that Docker's raw-table drops cannot be there either.
    for (const char* table : {"raw", "filter"}) {
        const auto run = run_process({settings_.ip6tables_save, "-t", table}, tool_env,
                                     settings_.timeout, max_save_output);
        if (run.exit_code != 0 && std::string_view(table) == "filter") {
            ec = run.timed_out ? errc::ufw_timeout : errc::ufw_failed;
            return {};
        }
        if (run.exit_code == 0) {
            text += run.out;
        }
    }
    auto facts = parse_ip6tables_save(text);
    // One netlink request: `nft list table` would fetch the whole ruleset first.
    facts.nft_docker = kernel_has_table("docker-bridges", settings_.timeout).value_or(false);
    ec = {};
    return facts;
}

apply_result ufw_firewall::apply_host_rules(const host_rules_request& request) {
    const auto started = clock::now();
    auto finish = [&](ufw_outcome outcome, errc code, std::string detail) {
        apply_result result{{outcome, std::move(detail)}, code, {}};
        result.took = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - started);
        return result;
    };
    // Not batch_mutex_: the start-up verification holds that for its dry runs, which never
    // read after6.rules, and a warm restart would wait for them. ufw's lock keeps ufw out.
    const ufw_lock lock(settings_.lock_file, settings_.timeout);
    if (!lock.held()) {
        return finish(ufw_outcome::error, errc::ufw_lock_timeout, lock.error());
    }
    const auto path = settings_.config_dir + "/after6.rules";
    const auto text = read_text(path);
    if (!text) {
        return finish(ufw_outcome::error, errc::rules_file_unreadable,
                      errno_text("cannot read " + path));
    }
    const auto block = host_rules_block(request.bridge_rules, request.egress, request.guard);
    const auto wanted = splice_host_rules(*text, block);
    if (!wanted) {
        return finish(ufw_outcome::error, errc::rules_file_unreadable,
                      path + " has no *filter section ending in COMMIT, or a dockgate block cut "
                             "short; left as it is");
    }
    boost::system::error_code ec;
    const auto now = read_kernel(ec);
    if (ec) {
        return finish(ufw_outcome::error, errc::ufw_failed, "ip6tables-save -t filter failed");
    }
    bool changed = false;
    // The kernel first, then the file: a failed load leaves both as they were. Without ufw's
    // chains (ufw inactive) only the file changes; ufw loads it when enabled.
    const auto update =
        now.ufw_chains
            ? host_rules_kernel_update(request.bridge_rules, request.egress, request.guard, now)
            : std::string{};
    if (!update.empty()) {
        if (auto failed = load_kernel_update(settings_, path, update)) {
            return finish(ufw_outcome::error, failed->code, std::move(failed->detail));
        }
        changed = true;
    }
    if (*wanted != *text) {
        std::string error;
        const auto temp = write_beside(path, *wanted, error);
        if (!temp || !replace_with(*temp, path, error)) {
            return finish(ufw_outcome::error, errc::rules_file_unwritable, error);
        }
        changed = true;
    }
    return finish(changed ? ufw_outcome::added : ufw_outcome::already_present, errc::ok, {});
}

} // namespace dockgate
