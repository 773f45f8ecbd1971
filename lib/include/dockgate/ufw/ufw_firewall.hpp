// The ufw CLI adapter behind the firewall port: per-rule ufw commands and the batched path.
#pragma once

#include "dockgate/ufw/file_stamp.hpp"
#include "dockgate/ufw/firewall.hpp"
#include "dockgate/ufw/kernel_edit.hpp"
#include "dockgate/ufw/rules_document.hpp"

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace spdlog {
class logger;
}

namespace dockgate {

struct read_stamps;

class nft_monitor;

struct ufw_settings {
    std::string ufw_path = "/usr/sbin/ufw";
    std::string config_dir = "/etc/ufw";            ///< holds user6.rules, user.rules, ufw.conf
    std::string defaults_file = "/etc/default/ufw"; ///< holds IPV6=
    std::chrono::milliseconds timeout{30000};
    bool include_ipv4 = false;
    /// Batched path: edit user6.rules under ufw's lock and load it with one ip6tables-restore -n.
    bool batch = true;
    std::string ip6tables_restore = "/usr/sbin/ip6tables-restore";
    std::string ip6tables_save = "/usr/sbin/ip6tables-save";
    std::string ip6tables = "/usr/sbin/ip6tables"; ///< lists single chains (`-S CHAIN`)
    /// Batched path: change the kernel rule by rule (append; delete by the handle the kernel's
    /// notifications gave) rather than reload all of ufw's IPv6 user chains, once the handles
    /// are known (see kernel_edit.hpp).
    bool incremental = true;
    /// How long to wait for the kernel's notification of our own change.
    std::chrono::milliseconds kernel_report_wait{2000};
    std::string lock_file = "/run/ufw.lock";
    /// Where the dry-run verification makes its private (0700) scratch directories.
    std::string state_dir = "/run/dockgate";
};

/// Runs /usr/sbin/ufw per operation (argv only, LC_ALL=C) and reads its rules files. With
/// `batch`, IPv6 allow rules instead go in batches through the rules file and one
/// `ip6tables-restore -n` under ufw's lock, once the generator has matched the installed ufw's
/// `--dry-run` output for every rule shape (start_verification); otherwise, and for every
/// other rule, per-rule ufw commands.
class ufw_firewall final : public firewall {
  public:
    explicit ufw_firewall(ufw_settings settings, std::shared_ptr<spdlog::logger> log = nullptr);
    ~ufw_firewall() override;
    ufw_firewall(const ufw_firewall&) = delete;
    ufw_firewall& operator=(const ufw_firewall&) = delete;

    /// Checks the batched path in the background (no effect without `batch`).
    void start_verification();
    firewall_state probe() override;
    rules_file_contents read_rules(boost::system::error_code& ec) override;
    rules_file_contents read_rules_since(std::uint64_t known_version,
                                         boost::system::error_code& ec) override;
    apply_result apply(const rule_op& op) override;
    void apply_batch(const std::vector<rule_op>& ops, const batch_progress& progress) override;
    kernel_facts read_kernel(boost::system::error_code& ec) override;
    apply_result apply_host_rules(const host_rules_request& request) override;

  private:
    struct batch_outcome {
        std::vector<apply_result> results; ///< one per operation, when the batch ran
        std::string fallback;              ///< otherwise why per-rule ufw must do it
    };
    void verify_in_background();
    /// nullopt when ufw's dry runs of every shape match the generator, from `current` onwards.
    std::optional<std::string> verify_generator(const std::string& current, bool all_shapes);
    batch_outcome run_batch(const std::vector<rule_op>& ops);
    /// Why the kernel needs the whole file, and in what state it is.
    struct full_load_reason {
        bool incremental = false; ///< the kernel's notifications are followed
        bool half_done = false;   ///< a rule-by-rule edit failed part way
        std::string why;
    };
    /// Puts the kernel to `now`, the document as `changes` changed it, rule by rule when it
    /// can: nullopt when done, else why the whole file must be loaded (load_kernel).
    std::optional<full_load_reason> edit_kernel(const rules_document& now,
                                                const document_changes& changes);
    /// Loads all of `now`, written to `new_file`, into the kernel: nullopt, or why it failed
    /// with the kernel as it was.
    std::optional<std::string> load_kernel(const std::string& new_file, const rules_document& now,
                                           const full_load_reason& reason);
    /// Rule by rule; nullopt on success, else why (the kernel then needs the whole file).
    std::optional<std::string> apply_kernel_edit(const kernel_edit& edit,
                                                 const document_changes& changes);
    /// Runs `argv` then waits for the kernel's report of its transaction.
    /// Runs `argv` on a scratch file holding `script`, then waits for the kernel's report of
    /// its transaction (nullopt with `failure` empty when the report did not come).
    std::optional<std::vector<monitor_line>> run_reported(const std::vector<std::string>& argv,
                                                          const std::string& script,
                                                          std::string& failure);
    /// Whether the kernel's notifications are followed (restarting the listener, at most every
    /// 10 s, when it ended).
    bool monitor_ready();
    void start_monitor();
    /// Keeps the stamps of a read of user6.rules as known_stamp_ when nothing moved during it.
    void remember_stamp(const read_stamps& stamps);
    /// The version of `files`' texts from their stamps alone, when each is remembered.
    std::optional<std::uint64_t> version_from_stamps(const std::vector<std::string>& files);
    std::string rules6_path() const { return settings_.config_dir + "/user6.rules"; }

    ufw_settings settings_;
    std::shared_ptr<spdlog::logger> log_;
    std::timed_mutex batch_mutex_; ///< held by the verification and by each batch
    std::atomic<write_path> path_{write_path::per_rule};
    std::string known_rules6_;                ///< user6.rules as last verified or written by us
    std::optional<file_stamp> known_stamp_;   ///< its stamp while it is known to hold that text
    bool known_stamp_settled_ = false;        ///< taken more than two clock ticks after a change
    std::optional<rules_document> known_doc_; ///< known_rules6_ parsed, after our last write
    std::unique_ptr<nft_monitor> monitor_;    ///< with `incremental`, started with the verification
    kernel_handles handles_;
    std::mutex fingerprints_mutex_; ///< reads come from the watcher's worker and from batches
    stamped_fingerprints fingerprints_;
    std::chrono::steady_clock::time_point monitor_started_{};
    std::thread verifier_;
};

} // namespace dockgate
