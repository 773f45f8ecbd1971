// The admin's policy store: what a container label may open, where, and for whom.
#pragma once

#include "dockgate/model/address.hpp"
#include "dockgate/model/rule.hpp"

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace dockgate {

/// A protocol plus a port or range, e.g. 80/tcp or 6000-6010/udp.
struct port_spec {
    port_range ports;
    protocol proto = protocol::tcp;
    [[nodiscard]] std::string to_string() const;
    friend bool operator==(const port_spec&, const port_spec&) = default;
};

/// Parses "80", "80/udp", "8000-8010/tcp". Protocol defaults to tcp.
std::optional<port_spec> parse_port_spec(std::string_view text, std::string* why);

/// An admin-defined bundle: ports plus who may reach them and how.
struct profile {
    std::vector<port_spec> ports;
    std::vector<ip_prefix> sources; ///< empty means "as the label/policy says"
    bool limit = false;
    bool log = false;
};

enum class label_mode {
    open,   ///< labels may name services, profiles and ports within allowed_ports
    strict, ///< labels may name profiles only
};

struct policy {
    std::string label_prefix = "fw.";
    std::map<std::string, std::vector<port_spec>> services;
    std::map<std::string, profile> profiles;
    label_mode mode = label_mode::open;
    std::vector<port_spec> allowed_ports; ///< empty: any port
    /// Ports labels may never name directly; wins over allowed_ports. Profiles are the
    /// admin's own words and are not checked against it.
    std::vector<port_spec> denied_ports;
    std::vector<std::string> networks; ///< eligible Docker networks; empty: all
    std::vector<ip_prefix> prefixes;   ///< eligible container addresses
    std::vector<ip_prefix> sources;    ///< prefixes that fw.allow.from may name
    std::size_t max_rules_per_container = 64;
    /// Most rules carrying dockgate's tag that the executor lets ufw's rules files hold at once.
    std::size_t max_rules_total = 10000;
    /// Bounds on what a label costs to evaluate (labels are untrusted): a list label longer
    /// than this many bytes, or with more distinct items, is one rejection and ignored.
    std::size_t max_label_bytes = 4096;
    std::size_t max_label_items = 64;
    bool allow_publish = false; ///< may fw.publish open published host ports
    bool manage_ipv4 = false;   ///< also write rules for IPv4 container addresses
    /// Containers may open outgoing IPv6 connections where only ufw decides (Docker's
    /// ip6tables off; otherwise Docker's own rules allow them).
    bool egress = true;
    /// "auto": where Docker's ip6tables rules come first and it has an IPv6 DOCKER-USER chain
    /// (Engine 23+), dockgate guards that chain so that ufw's route rules decide; false: "off".
    bool docker_user_guard = true;
};

/// The built-in policy used when the policy file does not exist: the usual services,
/// open mode, global unicast IPv6 destinations only, any source, no published ports.
policy builtin_policy();

/// Where and why a policy file was refused.
struct policy_error {
    std::string file;
    int line = 0; ///< 1-based; 0 when unknown
    std::string reason;
    [[nodiscard]] std::string to_string() const;
};

/// Parses and validates a policy document. Keys not given keep the built-in defaults;
/// `services` are merged over the built-in table. Unknown keys are errors (a typo must not
/// silently widen or narrow what is opened).
std::optional<policy> parse_policy(std::string_view text, const std::string& file_name,
                                   policy_error* error);

/// Reads and parses a policy file; a missing file yields the built-in policy.
std::optional<policy> load_policy_file(const std::string& path, policy_error* error,
                                       bool* used_builtin = nullptr);

} // namespace dockgate
