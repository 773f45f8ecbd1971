// A firewall double that keeps rules in memory, written and read back in ufw's file format.
#pragma once

#include "dockgate/model/error.hpp"
#include "dockgate/ufw/firewall.hpp"

#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace dockgate::testing {

class fake_firewall final : public firewall {
  public:
    firewall_state probe() override {
        if (throw_on_probe) {
            throw std::runtime_error("injected: probe threw");
        }
        return {true, true, true};
    }

    rules_file_contents read_rules(boost::system::error_code& ec) override {
        const std::lock_guard lock(mutex_);
        ec = {};
        std::string text = "*filter\n### RULES ###\n";
        for (const auto& entry : rules_) {
            text += "\n### tuple ### " + entry.tuple;
            if (!entry.comment.empty()) {
                text += " comment=" + encode_hex_comment(entry.comment);
            }
            text += "\n-A ufw6-user-forward -j ACCEPT\n";
        }
        return parse_rules_file(text + "\n### END RULES ###\nCOMMIT\n");
    }

    apply_result apply(const rule_op& op) override {
        auto result = change(op);
        // Like ufw, whose rules have changed well before its process exits and the caller hears
        // of it: a test must not take a changed rule set for a finished round.
        std::this_thread::sleep_for(answer_delay);
        return result;
    }

    /// Adds a rule as if the admin typed it (any comment, or none).
    void add_foreign(const rule& r, std::string comment) {
        const std::lock_guard lock(mutex_);
        rules_.push_back({r.tuple(), std::move(comment)});
    }
    /// Removes a rule by tuple, as an admin's `ufw delete` would.
    void remove_by_hand(const std::string& tuple) {
        const std::lock_guard lock(mutex_);
        std::erase_if(rules_, [&](const auto& entry) { return entry.tuple == tuple; });
    }
    /// "tuple|comment" of every rule, in order.
    std::vector<std::string> listing() const {
        const std::lock_guard lock(mutex_);
        std::vector<std::string> out;
        for (const auto& entry : rules_) {
            out.push_back(entry.tuple + "|" + entry.comment);
        }
        return out;
    }

    std::atomic<int> mutations{0};
    std::atomic<int> fail_next{0};
    /// probe() throws, as a bug would: the loop that called it must end the daemon.
    std::atomic<bool> throw_on_probe{false};
    /// How long after changing the rules apply() returns.
    std::chrono::milliseconds answer_delay{0};

  private:
    apply_result change(const rule_op& op) {
        const std::lock_guard lock(mutex_);
        ++mutations;
        if (fail_next > 0) {
            --fail_next;
            return {{ufw_outcome::error, "ERROR: injected"}, make_error_code(errc::ufw_failed), {}};
        }
        const auto comment = op.target.owner.to_comment();
        const auto tuple = op.target.what.tuple();
        for (auto it = rules_.begin(); it != rules_.end(); ++it) {
            if (it->tuple != tuple) {
                continue;
            }
            if (op.kind == op_kind::remove) {
                if (it->comment != comment) {
                    return {{ufw_outcome::not_found, ""}, {}, {}};
                }
                rules_.erase(it);
                return {{ufw_outcome::deleted, ""}, {}, {}};
            }
            if (it->comment == comment) {
                return {{ufw_outcome::already_present, ""}, {}, {}};
            }
            it->comment = comment;
            return {{ufw_outcome::updated, ""}, {}, {}};
        }
        if (op.kind == op_kind::remove) {
            return {{ufw_outcome::not_found, ""}, {}, {}};
        }
        rules_.push_back({tuple, comment});
        return {{ufw_outcome::added, ""}, {}, {}};
    }

    // The tuple is kept as text: recomputing it for every rule on every change made an
    // 800-container test quadratic in inet_ntop (seconds under ASan).
    struct held_rule {
        std::string tuple;
        std::string comment;
    };
    mutable std::mutex mutex_;
    std::vector<held_rule> rules_;
};

} // namespace dockgate::testing
