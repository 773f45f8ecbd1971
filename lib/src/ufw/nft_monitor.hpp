// The kernel's notifications of rule changes in ufw's chains (nf_tables netlink), grouped by
// transaction, and deleting rules by handle (private to lib/src/ufw).
#pragma once

#include "dockgate/ufw/kernel_edit.hpp"

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

struct mnl_socket;

namespace dockgate {

/// Listens to NFNLGRP_NFTABLES for the life of the executor (CAP_NET_ADMIN) and groups what the
/// kernel says about ufw's IPv6 user chains by transaction (each ends with NEWGEN, naming the
/// thread that committed it). Memory does not grow with the ruleset: only our chains' rule
/// events are kept, and at most `max_transactions` unread transactions of at most
/// `max_events` each; past either, or when the socket overflowed, everything since counts as
/// not ours.
class nft_monitor {
  public:
    static constexpr std::size_t max_transactions = 1024;
    static constexpr std::size_t max_events = 1U << 20U;

    nft_monitor() = default;
    ~nft_monitor();
    nft_monitor(const nft_monitor&) = delete;
    nft_monitor& operator=(const nft_monitor&) = delete;

    /// Starts listening unless it does; false with `why` when it cannot.
    bool start(std::string& why);
    [[nodiscard]] bool running();
    /// Drops every finished transaction; true when any touched ufw's chains (someone else
    /// changed them) or notifications were lost since the last call.
    bool take_others();
    /// The rule events of thread `pid`'s transaction, waiting at most `deadline` for it;
    /// nullopt when it did not come or notifications were lost. `others` is set when
    /// transactions of other threads touched ufw's chains before it.
    std::optional<std::vector<monitor_line>> take(long pid, std::chrono::milliseconds deadline,
                                                  bool& others);

  private:
    void read_loop();
    void on_event(monitor_line event);
    void stop();

    mnl_socket* socket_ = nullptr;
    int wake_[2] = {-1, -1}; ///< written to by stop() to end the reader
    std::thread reader_;
    std::mutex mutex_;
    std::condition_variable arrived_;
    std::deque<std::pair<long, std::vector<monitor_line>>> finished_;
    std::vector<monitor_line> pending_; ///< events of the transaction still being reported
    bool lost_ = false;
    bool ended_ = true;
};

/// Deletes `rules` from the IPv6 filter table in one transaction (all or nothing), committed by
/// the calling thread (so its id names the transaction). nullopt, or why it failed.
std::optional<std::string> delete_kernel_rules(const std::vector<kernel_rule>& rules,
                                               std::chrono::milliseconds deadline);

/// The names of the IPv6 table `table`'s chains (none when there is no such table), from one
/// netlink dump that carries no rules; nullopt when it cannot be asked or the list is unsure.
std::optional<std::vector<std::string>> kernel_chains(const std::string& table,
                                                      std::chrono::milliseconds deadline);

/// Whether the kernel has the IPv6 nf_tables table `name` (one request, whatever the ruleset's
/// size); nullopt when it cannot be asked.
std::optional<bool> kernel_has_table(const std::string& name, std::chrono::milliseconds deadline);

} // namespace dockgate
