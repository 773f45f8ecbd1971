// The ufw CLI adapter: argv built from canonical rules, outcomes parsed from ufw's output.
#include "dockgate/ufw/ufw_firewall.hpp"

#include "dockgate/model/error.hpp"
#include "dockgate/privsep/process.hpp"

#include <spdlog/logger.h>

#include <chrono>
#include <sstream>
#include <thread>
#include <unistd.h>

#include "nft_monitor.hpp"
#include "ufw_files.hpp"

namespace dockgate {
namespace {

/// A rules file read while ufw rewrites it is read again this often, this far apart: ufw's
/// rewrite of a file of a few thousand rules takes a few milliseconds.
constexpr int torn_read_attempts = 5;
constexpr std::chrono::milliseconds torn_read_pause{20};

/// Value of KEY=value in a shell-style settings file (ufw.conf, /etc/default/ufw).
std::string setting(const std::string& text, const std::string& key) {
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (line.starts_with(key + "=")) {
            auto value = line.substr(key.size() + 1);
            std::erase(value, '"');
            std::erase(value, '\'');
            return value;
        }
    }
    return {};
}

} // namespace

bool outcome_confirms(op_kind kind, ufw_outcome outcome) {
    switch (outcome) {
    case ufw_outcome::added:
    case ufw_outcome::updated:
    case ufw_outcome::already_present:
        return kind == op_kind::add;
    case ufw_outcome::deleted:
    case ufw_outcome::not_found:
        return kind == op_kind::remove;
    case ufw_outcome::recorded:
        return true;
    case ufw_outcome::error:
        return false;
    }
    return false;
}

ufw_firewall::ufw_firewall(ufw_settings settings, std::shared_ptr<spdlog::logger> log)
    : settings_(std::move(settings)), log_(std::move(log)) {}

ufw_firewall::~ufw_firewall() {
    if (verifier_.joinable()) {
        verifier_.join();
    }
}

firewall_state ufw_firewall::probe() {
    firewall_state state;
    state.ufw_found = ::access(settings_.ufw_path.c_str(), X_OK) == 0;
    const auto defaults = read_text(settings_.defaults_file);
    state.ipv6_enabled = defaults && setting(*defaults, "IPV6") == "yes";
    const auto conf = read_text(settings_.config_dir + "/ufw.conf");
    state.active = conf && setting(*conf, "ENABLED") == "yes";
    state.path = path_;
    return state;
}

rules_file_contents ufw_firewall::read_rules(boost::system::error_code& ec) {
    return read_rules_since(0, ec);
}

namespace {

/// One fingerprint for the texts of all the rules files, in order. It includes the count, so
/// that a restarted executor cannot answer "unchanged" to a watcher holding an older reading.
std::uint64_t combined_version(const std::vector<std::uint64_t>& fingerprints) {
    std::uint64_t version = fingerprints.size();
    for (const auto fingerprint : fingerprints) {
        version = version * 1099511628211ULL ^ fingerprint;
    }
    return version;
}

} // namespace

std::optional<std::uint64_t>
ufw_firewall::version_from_stamps(const std::vector<std::string>& files) {
    std::vector<std::uint64_t> fingerprints;
    const std::lock_guard guard(fingerprints_mutex_);
    for (const auto& path : files) {
        const auto stamp = stamp_of(path);
        const auto fingerprint = stamp ? fingerprints_.find(path, *stamp) : std::nullopt;
        if (!fingerprint) {
            return std::nullopt;
        }
        fingerprints.push_back(*fingerprint);
    }
    return combined_version(fingerprints);
}

rules_file_contents ufw_firewall::read_rules_since(std::uint64_t known_version,
                                                   boost::system::error_code& ec) {
    std::vector<std::string> files{settings_.config_dir + "/user6.rules"};
    if (settings_.include_ipv4) {
        files.push_back(settings_.config_dir + "/user.rules");
    }
    rules_file_contents all;
    if (known_version != 0 && version_from_stamps(files) == known_version) {
        ec = {};
        all.version = known_version;
        all.unchanged = true;
        return all;
    }
    std::vector<std::string> texts;
    std::vector<std::uint64_t> fingerprints;
    for (const auto& path : files) {
        for (int attempt = 1;; ++attempt) {
            read_stamps stamps;
            auto text = read_text(path, &stamps);
            if (!text) {
                ec = errc::rules_file_unreadable;
                all.warnings.push_back(path + ": cannot read");
                return all;
            }
            if (rules_text_complete(*text)) {
                fingerprints.push_back(std::hash<std::string>{}(*text));
                const std::lock_guard guard(fingerprints_mutex_);
                fingerprints_.remember(path, stamps.before, stamps.after, fingerprints.back(),
                                       stamps.taken_ns, file_clock_tick_ns());
                texts.push_back(std::move(*text));
                break;
            }
            // Caught while ufw rewrites it in place (no lock is held for that): read again
            // shortly rather than take the missing rules for deleted ones.
            if (attempt == torn_read_attempts) {
                ec = errc::rules_file_unreadable;
                all.warnings.push_back(path + ": cut short (no COMMIT line at the end) in " +
                                       std::to_string(torn_read_attempts) + " reads");
                return all;
            }
            std::this_thread::sleep_for(torn_read_pause);
        }
    }
    ec = {};
    const auto version = combined_version(fingerprints);
    if (known_version != 0 && version == known_version) {
        all.version = version;
        all.unchanged = true;
        return all;
    }
    for (std::size_t i = 0; i < files.size(); ++i) {
        auto part = parse_rules_file(texts[i], false);
        for (auto& warning : part.warnings) {
            all.warnings.push_back(files[i] + ": " + warning);
        }
        std::move(part.entries.begin(), part.entries.end(), std::back_inserter(all.entries));
    }
    all.complete = true;
    all.version = version;
    return all;
}

namespace {

struct match_check {
    std::optional<apply_result> refusal; ///< set when the add must not run
    bool dockgate_rule_matches = false;  ///< one of dockgate's rules has the same match
};

/// ufw replaces a rule of the same match in place ("Rule updated"), whatever its comment, so an
/// add whose match a rule without dockgate's tag already has would take over the admin's rule
/// (and a later delete would remove it). Read under ufw's lock so that the file is whole.
match_check check_no_takeover(const ufw_settings& settings, const owned_rule& target) {
    match_check check;
    auto refuse = [&](errc code, std::string detail) {
        check.refusal = apply_result{{ufw_outcome::error, std::move(detail)}, code, {}};
        return check;
    };
    const auto path =
        settings.config_dir + (target.what.destination.v6 ? "/user6.rules" : "/user.rules");
    std::optional<std::string> text;
    {
        const ufw_lock lock(settings.lock_file, settings.timeout);
        if (!lock.held()) {
            return refuse(errc::ufw_lock_timeout, lock.error());
        }
        text = read_text(path);
    }
    // The lock is released here: ufw takes it itself, so it cannot be held across the ufw run.
    // An admin's ufw command that adds a rule of the same match in between is caught afterwards
    // (an unexpected "Rule updated" is an error), not prevented.
    if (!text) {
        return refuse(errc::rules_file_unreadable, errno_text("cannot read " + path));
    }
    const auto wanted = ufw_match_key(target.what.tuple());
    for (const auto& entry : parse_rules_file(*text).entries) {
        if (ufw_match_key(entry.tuple) != wanted) {
            continue;
        }
        if (!entry.owner) {
            return refuse(errc::ufw_failed,
                          "a rule that is not dockgate's has the same match: " + entry.tuple);
        }
        check.dockgate_rule_matches = true;
    }
    return check;
}

} // namespace

apply_result ufw_firewall::apply(const rule_op& op) {
    bool update_expected = false;
    if (op.kind == op_kind::add) {
        auto check = check_no_takeover(settings_, op.target);
        if (check.refusal) {
            if (log_) {
                log_->warn("refused to add {} for {}: {}", op.target.what.describe(),
                           op.target.owner.to_comment(), check.refusal->verdict.detail);
            }
            return *check.refusal;
        }
        update_expected = check.dockgate_rule_matches;
    }
    const auto comment = op.target.owner.to_comment();
    std::vector<std::string> argv{settings_.ufw_path};
    auto args = op.kind == op_kind::add ? op.target.what.ufw_add_args(comment)
                                        : op.target.what.ufw_delete_args(comment);
    argv.insert(argv.end(), args.begin(), args.end());
    const auto started = std::chrono::steady_clock::now();
    const auto run = run_process(argv, tool_env, settings_.timeout);
    apply_result result;
    result.took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    if (!run.spawn_error.empty()) {
        result.verdict = {ufw_outcome::error, run.spawn_error};
        result.ec = errc::ufw_failed;
        return result;
    }
    if (run.timed_out) {
        result.verdict = {ufw_outcome::error,
                          "killed after " + std::to_string(settings_.timeout.count()) + " ms"};
        result.ec = errc::ufw_timeout;
        return result;
    }
    result.verdict = classify_ufw_output(run.exit_code, run.out, run.err);
    if (result.verdict.outcome == ufw_outcome::updated && !update_expected) {
        // ufw replaced a rule that was not dockgate's when we looked: one added in between.
        result.verdict = {ufw_outcome::error,
                          "ufw updated a rule of the same match that was not dockgate's: " +
                              op.target.what.tuple()};
        result.ec = errc::ufw_unexpected_output;
        if (log_) {
            log_->error("adding {} for {}: {}", op.target.what.describe(), comment,
                        result.verdict.detail);
        }
        return result;
    }
    if (!outcome_confirms(op.kind, result.verdict.outcome)) {
        result.ec = result.verdict.outcome == ufw_outcome::error ? errc::ufw_failed
                                                                 : errc::ufw_unexpected_output;
    }
    return result;
}

} // namespace dockgate
