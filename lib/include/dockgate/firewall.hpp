// The firewall port: what the reconciler needs from ufw, and the ufw CLI adapter behind it.
#pragma once

#include "dockgate/plan.hpp"
#include "dockgate/rules_file.hpp"
#include "dockgate/ufw_output.hpp"

#include <boost/system/error_code.hpp>

#include <chrono>
#include <string>

namespace dockgate {

struct firewall_state {
    bool ufw_found = false;
    bool ipv6_enabled = false;
    bool active = false;
};

struct apply_result {
    ufw_verdict verdict;
    boost::system::error_code ec; ///< set when the change cannot be confirmed
    std::chrono::milliseconds took{0};
};

/// Blocking interface; the daemon calls it from its single worker thread only, which is what
/// serialises every ufw call (concurrent ufw runs lose rules, LP #2126805).
class firewall {
  public:
    firewall() = default;
    firewall(const firewall&) = delete;
    firewall& operator=(const firewall&) = delete;
    virtual ~firewall() = default;
    virtual firewall_state probe() = 0;
    /// All tuples of the rules files (both families when IPv4 is managed).
    virtual rules_file_contents read_rules(boost::system::error_code& ec) = 0;
    virtual apply_result apply(const rule_op& op) = 0;
};

struct ufw_settings {
    std::string ufw_path = "/usr/sbin/ufw";
    std::string config_dir = "/etc/ufw";          ///< holds user6.rules, user.rules, ufw.conf
    std::string defaults_file = "/etc/default/ufw"; ///< holds IPV6=
    std::chrono::milliseconds timeout{30000};
    bool include_ipv4 = false;
};

/// Runs /usr/sbin/ufw per operation (argv only, LC_ALL=C) and reads its rules files.
class ufw_firewall final : public firewall {
  public:
    explicit ufw_firewall(ufw_settings settings) : settings_(std::move(settings)) {}
    firewall_state probe() override;
    rules_file_contents read_rules(boost::system::error_code& ec) override;
    apply_result apply(const rule_op& op) override;

  private:
    ufw_settings settings_;
};

/// True when the outcome confirms that `kind` now holds in ufw.
bool outcome_confirms(op_kind kind, ufw_outcome outcome);

} // namespace dockgate
