// Start-up check of the batched path: `ufw --dry-run` of each rule shape against our generator.
#include "dockgate/privsep/process.hpp"
#include "dockgate/ufw/rules_document.hpp"
#include "dockgate/ufw/rules_file.hpp"
#include "dockgate/ufw/ufw_firewall.hpp"

#include <spdlog/logger.h>

#include <filesystem>
#include <fstream>
#include <sys/resource.h>
#include <thread>
#include <unistd.h>

#include "nft_monitor.hpp"
#include "ufw_files.hpp"

namespace dockgate {
namespace {

namespace fs = std::filesystem;
using clock = std::chrono::steady_clock;

constexpr int verification_niceness = 10;

/// One sample per rule shape dockgate emits, in documentation addresses that no real rule uses,
/// in two chains that run side by side, each on its own copy of ufw's configuration. A chain
/// holds what its operations need: the owner change and the delete follow their own add.
std::vector<std::vector<rule_op>> sample_chains(bool all_shapes) {
    const owner_tag owner{"000000000000", "dockgate-selftest"};
    const owner_tag other{"111111111111", "dockgate-selftest"};
    auto shape = [](rule_kind kind, protocol proto, port_range port, const char* dst,
                    const char* src, bool log) {
        rule r;
        r.kind = kind;
        r.proto = proto;
        r.port = port;
        r.destination = *parse_prefix(dst);
        r.source = *parse_prefix(src);
        r.log = log;
        return r;
    };
    auto add = [](const rule& what, const owner_tag& tag, const char* reason = "self-test") {
        return rule_op{op_kind::add, {what, tag}, reason};
    };
    const auto route_tcp =
        shape(rule_kind::route, protocol::tcp, {80, 80}, "2001:db8:d0c::1", "::/0", false);
    if (!all_shapes) {
        return {{add(route_tcp, owner)}};
    }
    const auto route_udp_from = shape(rule_kind::route, protocol::udp, {5353, 5353},
                                      "2001:db8:d0c::2", "2001:db8:d0c:ffff::100", false);
    return {
        {add(route_tcp, owner),
         add(shape(rule_kind::route, protocol::tcp, {8000, 8010}, "2001:db8:d0c::3", "::/0", true),
             owner),
         add(shape(rule_kind::input, protocol::tcp, {8081, 8081}, "::/0", "::/0", false), owner),
         add(route_tcp, other, "self-test: owner changed")},
        {add(route_udp_from, owner),
         add(shape(rule_kind::route, protocol::udp, {6000, 6010}, "2001:db8:d0c::4",
                   "2001:db8:d0c:1000::/52", true),
             owner),
         add(shape(rule_kind::input, protocol::udp, {9000, 9010}, "2001:db8:d0c::6",
                   "2001:db8:d0c:ffff::200", true),
             owner),
         {op_kind::remove, {route_udp_from, owner}, "self-test"}},
    };
}

std::size_t sample_count(bool all_shapes) {
    std::size_t count = 0;
    for (const auto& chain : sample_chains(all_shapes)) {
        count += chain.size();
    }
    return count;
}

constexpr std::string_view scratch_prefix = "verify-";

/// An executor killed during its verification (its watchdog, SIGKILL) leaves its scratch
/// directory behind; only one verification runs at a time (one executor), so at start-up every
/// verify-XXXXXX directory (and kernel-XXXXXX script) in state_dir is a leftover. Symlinks and
/// other files are left alone.
void remove_stale_scratch_dirs(const std::string& state_dir) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(state_dir, ec)) {
        const auto name = entry.path().filename().string();
        std::error_code type_ec;
        const auto type = entry.symlink_status(type_ec).type();
        if (name.starts_with(scratch_prefix) && name.size() == scratch_prefix.size() + 6 &&
            type == fs::file_type::directory) {
            fs::remove_all(entry.path(), type_ec);
        }
        if (name.starts_with(scratch_file_prefix) &&
            name.size() == scratch_file_prefix.size() + 6 && type == fs::file_type::regular) {
            fs::remove(entry.path(), type_ec);
        }
    }
}

/// A private copy of ufw's configuration for `ufw --dry-run --datadir`, removed when done.
class scratch_datadir {
  public:
    scratch_datadir(const ufw_settings& settings, std::string& error) {
        std::error_code ec;
        // The directory may be shared (with --user it also holds the sockets the watcher uses),
        // so its mode is left alone; mkdtemp makes the scratch directory itself 0700.
        fs::create_directories(settings.state_dir, ec);
        std::string path = settings.state_dir + "/" + std::string(scratch_prefix) + "XXXXXX";
        if (::mkdtemp(path.data()) == nullptr) {
            error = errno_text("cannot create a scratch directory in " + settings.state_dir);
            return;
        }
        root_ = path;
        fs::create_directories(root_ / "etc/default", ec);
        fs::create_directories(root_ / "lib/ufw", ec);
        fs::copy(settings.config_dir, root_ / "etc/ufw", fs::copy_options::recursive, ec);
        if (!ec) {
            fs::copy_file(settings.defaults_file, root_ / "etc/default/ufw", ec);
        }
        if (ec) {
            error = "cannot copy ufw's configuration for the dry runs: " + ec.message();
        }
    }
    scratch_datadir(const scratch_datadir&) = delete;
    scratch_datadir& operator=(const scratch_datadir&) = delete;
    ~scratch_datadir() {
        if (!root_.empty()) {
            std::error_code ec;
            fs::remove_all(root_, ec);
        }
    }
    [[nodiscard]] std::string root() const { return root_.string(); }
    [[nodiscard]] std::string rules6() const { return (root_ / "etc/ufw/user6.rules").string(); }

  private:
    fs::path root_;
};

/// A crash between writing and renaming leaves a temporary file; it never held the only copy.
void remove_stale_temp_files(const std::string& config_dir) {
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(config_dir, ec)) {
        if (entry.path().filename().string().starts_with(temp_prefix)) {
            fs::remove(entry.path(), ec);
        }
    }
}

/// The argv of `ufw --dry-run` for `op` against the copy of ufw's configuration in `datadir`.
std::vector<std::string> dry_run_argv(const ufw_settings& settings, const std::string& datadir,
                                      const rule_op& op) {
    const auto comment = op.target.owner.to_comment();
    std::vector<std::string> argv{settings.ufw_path, "--dry-run", "--rootdir=/",
                                  "--datadir=" + datadir};
    const auto args = op.kind == op_kind::add ? op.target.what.ufw_add_args(comment)
                                              : op.target.what.ufw_delete_args(comment);
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
}

/// Applies `op` to the document parsed from `text`, runs ufw's dry run of it from `text` in
/// `scratch` and compares the two; nullopt and the document as it now is when they agree.
std::optional<std::string> check_one_shape(const ufw_settings& settings,
                                           const scratch_datadir& scratch, const rule_op& op,
                                           std::string& text, const std::string& rules6) {
    std::string why;
    auto ours = parse_rules_document(text, &why);
    if (!ours) {
        return rules6 + ": " + why;
    }
    const auto verdict = apply_to_document(*ours, op);
    if (verdict.outcome == ufw_outcome::error || verdict.outcome == ufw_outcome::already_present ||
        verdict.outcome == ufw_outcome::not_found) {
        return "self-test rule " + op.target.what.describe() + ": " + to_string(verdict.outcome);
    }
    {
        std::ofstream out(scratch.rules6(), std::ios::binary | std::ios::trunc);
        out << text;
        if (!out.flush()) {
            return "cannot write " + scratch.rules6();
        }
    }
    // Each dry run is one ufw run, with the same deadline as any other.
    const auto run =
        run_process(dry_run_argv(settings, scratch.root(), op), tool_env, settings.timeout);
    if (!run.spawn_error.empty() || run.timed_out || run.exit_code != 0) {
        return "ufw --dry-run " + op.target.what.describe() + " failed: " + failure_text(run);
    }
    if (auto difference = compare_with_dry_run(*ours, run.out)) {
        return op.target.what.describe() + " (" + op.reason + "): " + *difference;
    }
    text = ours->render();
    return std::nullopt;
}

} // namespace

void ufw_firewall::start_verification() {
    if (settings_.batch && settings_.incremental && !monitor_) {
        // Started first, so that it listens before the first batch loads.
        monitor_ = std::make_unique<nft_monitor>();
        start_monitor();
    }
    if (settings_.batch && !verifier_.joinable()) {
        path_ = write_path::verifying;
        verifier_ = std::thread([this] { verify_in_background(); });
    }
}

void ufw_firewall::verify_in_background() {
    // Background work: nice 10 for this thread and so for the dry-run ufw processes it starts
    // (Linux keeps niceness per thread, and a child inherits it), so that on a busy host the
    // check does not slow the first reconcile or Docker. Failure to lower it changes nothing.
    (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), verification_niceness);
    const std::lock_guard guard(batch_mutex_);
    const auto started = clock::now();
    remove_stale_temp_files(settings_.config_dir);
    remove_stale_scratch_dirs(settings_.state_dir);
    std::optional<std::string> current;
    {
        const ufw_lock lock(settings_.lock_file, settings_.timeout);
        if (!lock.held()) {
            path_ = write_path::per_rule;
            if (log_) {
                log_->warn("batched ufw path off: {}; using one ufw command per rule",
                           lock.error());
            }
            return;
        }
        current = read_text(rules6_path());
    }
    std::optional<std::string> failure =
        current ? verify_generator(*current, true)
                : std::optional<std::string>(errno_text("cannot read " + rules6_path()));
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - started);
    if (failure) {
        path_ = write_path::per_rule;
        if (log_) {
            log_->warn("batched ufw path off: the rules-file generator does not match "
                       "`ufw --dry-run` ({}); using one ufw command per rule",
                       *failure);
        }
        return;
    }
    known_rules6_ = *current;
    path_ = write_path::batched;
    if (log_) {
        log_->info("batched ufw path on: the rules-file generator matched `ufw --dry-run` for {} "
                   "rule shapes in {} ms",
                   sample_count(true), took.count());
    }
}

namespace {

/// The first block of a rule shape the generator writes that is not exactly what it writes
/// (hand-edited), so not what ufw would write either; nullopt when there is none. Linear in
/// the rules, and no ufw run: the dry runs check the generator itself.
std::optional<std::string> first_block_not_in_ufw_form(const rules_document& doc) {
    for (const auto& block : doc.blocks) {
        const auto parsed = parse_tuple(block.tuple);
        const auto comment = decode_hex_comment(block.comment_hex);
        if (!parsed || !batchable(*parsed) || !comment) {
            continue; // a shape dockgate never writes: carried over as ufw wrote it
        }
        if (block.text != render_rule_block(*parsed, *comment)) {
            return "the rule " + block.tuple + " is not in ufw's own form";
        }
    }
    return std::nullopt;
}

/// `text` without its rule blocks, when it parses as a rules file; otherwise as it is.
std::string without_rules(const std::string& text) {
    auto doc = parse_rules_document(text);
    if (!doc) {
        return text;
    }
    doc->blocks.clear();
    return doc->render();
}

} // namespace

std::optional<std::string> ufw_firewall::verify_generator(const std::string& current,
                                                          bool all_shapes) {
    std::string why;
    const auto doc = parse_rules_document(current, &why);
    if (!doc) {
        return rules6_path() + ": " + why;
    }
    if (auto odd = first_block_not_in_ufw_form(*doc)) {
        return odd;
    }
    // The dry runs start from the rules files without their rules: what they check (the
    // header and footer ufw writes now, and the block of each shape) does not depend on the
    // rules, and ufw's run time grows with them (2.4 s with 5,000). Each chain runs on its
    // own thread (niceness is inherited) and its own copy: ufw's start-up is most of a dry
    // run's time, and two of them overlap on a host with more than one core.
    const auto ipv4 = read_text(settings_.config_dir + "/user.rules");
    const auto ipv4_base = ipv4 ? std::optional<std::string>(without_rules(*ipv4)) : std::nullopt;
    const auto base = without_rules(current);
    auto run_chain = [&](const std::vector<rule_op>& chain) -> std::optional<std::string> {
        std::string error;
        const scratch_datadir scratch(settings_, error);
        if (!error.empty()) {
            return error;
        }
        if (ipv4_base) {
            std::ofstream out(scratch.root() + "/etc/ufw/user.rules",
                              std::ios::binary | std::ios::trunc);
            out << *ipv4_base;
        }
        std::string text = base;
        for (const auto& op : chain) {
            if (auto failure = check_one_shape(settings_, scratch, op, text, rules6_path())) {
                return failure;
            }
        }
        return std::nullopt;
    };
    const auto chains = sample_chains(all_shapes);
    std::vector<std::optional<std::string>> failures(chains.size());
    std::vector<std::thread> others;
    for (std::size_t i = 1; i < chains.size(); ++i) {
        others.emplace_back([&, i] { failures[i] = run_chain(chains[i]); });
    }
    failures[0] = run_chain(chains[0]);
    for (auto& other : others) {
        other.join();
    }
    for (auto& failure : failures) {
        if (failure) {
            return failure;
        }
    }
    return std::nullopt;
}

} // namespace dockgate
