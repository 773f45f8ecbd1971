// What Docker does to IPv6 traffic on this host, and whether each rule dockgate writes counts.
#pragma once

#include "dockgate/model/address.hpp"
#include "dockgate/model/rule.hpp"

#include <nlohmann/json_fwd.hpp>

#include <array>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace dockgate {

/// The Engine as /version and /info describe it.
struct engine_facts {
    std::string version; ///< "28.5.2+dfsg1"
    int major = 0;
    int minor = 0;
    /// "iptables" or "nftables" (/info FirewallBackend, API 1.49+); empty when not said, which
    /// means iptables (every Engine before 29 has only that backend).
    std::string firewall_backend;
    [[nodiscard]] bool nftables() const { return firewall_backend == "nftables"; }
    friend bool operator==(const engine_facts&, const engine_facts&) = default;
};

/// Decodes GET /version (and, when given, GET /info). nullopt with `why` on a reply that
/// lacks a usable Version.
std::optional<engine_facts> decode_engine(const nlohmann::json& version_reply,
                                          const nlohmann::json* info_reply, std::string* why);

/// One Docker bridge network with IPv6, from GET /networks.
struct network_facts {
    std::string id;
    std::string name;
    std::string bridge; ///< its Linux interface: docker0, br-<12 hex id> or the bridge.name option
    bool ipv6 = false;
    bool internal = false;
    /// com.docker.network.bridge.gateway_mode_ipv6: nat (also when absent), routed,
    /// nat-unprotected or isolated.
    std::string gateway_mode6 = "nat";
    friend bool operator==(const network_facts&, const network_facts&) = default;
};

/// Decodes GET /networks: the bridge networks, each with its interface name. Other drivers
/// (host, null, overlay, macvlan) are left out: dockgate has nothing to say about them.
std::vector<network_facts> decode_networks(const nlohmann::json& reply,
                                           std::vector<std::string>* warnings);

/// Chain dockgate keeps in ufw's after6.rules for traffic that stays on a Docker bridge and
/// for containers' outgoing connections.
inline constexpr std::string_view bridge_chain = "dockgate6-forward";
/// Comment on every rule of dockgate's DOCKER-USER guard, so it can be recognised in the kernel.
inline constexpr std::string_view guard_comment = "dockgate-guard";

/// What the kernel's IPv6 tables show about Docker and about dockgate's own host rules.
struct kernel_facts {
    bool docker_filter = false; ///< ip6 filter holds Docker's chains: Docker's ip6tables is on
    bool docker_user = false;   ///< ip6 filter has DOCKER-USER and FORWARD jumps to it
    bool guard = false;         ///< dockgate's guard is in DOCKER-USER
    bool bridge_rules = false;  ///< dockgate6-forward exists and ufw6-after-forward jumps to it
    bool nft_docker = false;    ///< nftables table `ip6 docker-bridges` exists (Docker 29)
    bool ufw_chains = false;    ///< ufw is loaded (its chain ufw6-after-forward exists)
    std::size_t bridge_rule_count = 0; ///< rules in dockgate6-forward
    std::size_t guard_rule_count = 0;  ///< dockgate's rules in DOCKER-USER
    /// Container addresses that raw PREROUTING drops unless the packet comes in on their
    /// bridge (Docker 28+ nat gateway mode): address to bridge.
    std::map<std::string, std::string> raw_drops;
    /// Bridges whose DOCKER chain ends with `! -i BR -o BR -j DROP` (Docker 28+ writes it for
    /// every bridge; it decides for routed-mode networks, nat-mode ones are dropped earlier).
    std::set<std::string> routed_drop_bridges;
    friend bool operator==(const kernel_facts&, const kernel_facts&) = default;
};

/// A chain by table and name.
struct table_chain {
    std::string_view table;
    std::string_view chain;
};
/// The chains whose rules parse_ip6tables_save reads; of every other chain it needs only the
/// name. Listing just these (`ip6tables -S`) costs the same whatever the size of ufw's chains.
inline constexpr std::array<table_chain, 6> kernel_fact_chains{{{"raw", "PREROUTING"},
                                                                {"filter", "FORWARD"},
                                                                {"filter", "DOCKER-USER"},
                                                                {"filter", "DOCKER"},
                                                                {"filter", "ufw6-after-forward"},
                                                                {"filter", bridge_chain}}};

/// Parses `ip6tables-save` output (any number of tables: raw and filter are the ones used),
/// or the same cut down to the chains' names and the rules of kernel_fact_chains.
kernel_facts parse_ip6tables_save(std::string_view text);

/// One table for parse_ip6tables_save, put together from the names of its chains and the
/// `ip6tables -t TABLE -S CHAIN` listing of each of its kernel_fact_chains that exists (by
/// chain name): only their `-A` lines are kept.
std::string
save_text_from_listings(std::string_view table, const std::vector<std::string>& chains,
                        const std::map<std::string, std::string, std::less<>>& listings);

/// Compact single-message form for the executor protocol, and back.
std::string encode_kernel_facts(const kernel_facts& facts);
std::optional<kernel_facts> decode_kernel_facts(std::string_view text);

/// How Docker filters IPv6 on this host.
enum class docker_ip6_mode {
    unknown,  ///< not yet read
    off,      ///< "ip6tables": false: only ufw decides about forwarded IPv6
    iptables, ///< Docker's ip6tables rules, in FORWARD ahead of ufw's chains
    nftables, ///< Docker 29's nftables backend: its drops are final, its accepts are not
};
const char* to_string(docker_ip6_mode mode);

/// The DOCKER-USER guard: new connections from outside into Docker's bridges go through ufw's
/// forward rules and are dropped unless one allows them.
enum class guard_setting { automatic, off };

/// What dockgate concludes about one network.
struct network_posture {
    std::string network;
    std::string bridge;
    std::string gateway_mode6;
    /// A route rule to a container of this network lets packets from outside reach it.
    bool routes_count = true;
    /// Published ports of this network's containers are open past ufw (Docker accepts first).
    bool published_bypass = false;
    /// Published ports arrive as forwarded packets to the container port (DNAT) rather than
    /// on the host through docker-proxy: there the container port's route rule is what counts.
    bool published_via_forward = false;
    std::string why;  ///< the Docker rule that decides, when routes do not count or ports bypass
    std::string fix;  ///< the one-line fix, when there is one
    std::string note; ///< anything else the admin must know about this network, with its fix
    friend bool operator==(const network_posture&, const network_posture&) = default;
};

struct host_posture {
    docker_ip6_mode mode = docker_ip6_mode::unknown;
    bool guard_possible = false; ///< Docker has an IPv6 DOCKER-USER chain (iptables, Engine 23+)
    bool guard_wanted = false;   ///< dockgate writes the guard
    bool bridge_rules_wanted = false;
    bool egress = true;
    std::vector<network_posture> networks;
    /// Host interfaces named like Docker's bridges (docker0, br-*) that are no Docker
    /// network's: dockgate's host rules and guard match them by name (see bridges_not_docker).
    std::vector<std::string> stray_bridges;
    [[nodiscard]] const network_posture* find(std::string_view network) const;
    /// One line per fact for the start-up summary and `status`.
    [[nodiscard]] std::vector<std::string> summary() const;
    friend bool operator==(const host_posture&, const host_posture&) = default;
};

/// Decides what Docker does to each network and which of dockgate's host rules are wanted.
/// `egress`: containers may open outgoing connections (policy key).
host_posture assess_host(const engine_facts& engine, const std::vector<network_facts>& networks,
                         const kernel_facts& kernel, guard_setting guard, bool egress);

/// The interfaces among `interfaces` that dockgate's host rules would take for Docker bridges
/// (docker0, br-*) but that no network in `networks` has: a host's own br-lan, say.
std::vector<std::string> bridges_not_docker(const std::vector<std::string>& interfaces,
                                            const std::vector<network_facts>& networks);

/// What happens to packets a rule allows.
enum class rule_state {
    effective, ///< the rule decides, as written
    dead,      ///< Docker drops the packets before ufw sees them
    unknown,   ///< Docker's setup not read yet
};
const char* to_string(rule_state state);

struct rule_assessment {
    rule_state state = rule_state::unknown;
    std::string why; ///< the Docker rule that drops the packets, for dead
    std::string fix;
    friend bool operator==(const rule_assessment&, const rule_assessment&) = default;
};

/// Assesses one route rule to `address` on `network`; `published` says whether the rule's port
/// is published by the container (reachable through the host port even where the address is not).
rule_assessment assess_route(const host_posture& host, const kernel_facts& kernel,
                             std::string_view network, const std::string& address, bool published);

/// dockgate's own host rules, as kept in ufw's after6.rules and the kernel.
struct host_rules_request {
    bool bridge_rules = false; ///< traffic within one Docker bridge, and egress when `egress`
    bool egress = true;
    bool guard = false; ///< the DOCKER-USER guard
    friend bool operator==(const host_rules_request&, const host_rules_request&) = default;
};

/// The host rules a policy calls for, from the kernel alone (the executor's decision, which
/// never relies on the watcher): bridge traffic (and egress per the policy) where Docker writes
/// no IPv6 filter rules; the guard where Docker has an IPv6 DOCKER-USER chain that FORWARD
/// jumps to, ufw is loaded, and the policy's docker_user_guard is "auto".
host_rules_request decide_host_rules(bool egress_policy, bool guard_policy,
                                     const kernel_facts& kernel);

/// The rules file text (ip6tables-restore format, inside after6.rules' *filter section) of
/// dockgate's host rules: bridge traffic and egress, and the guard. Empty when none is wanted.
std::string host_rules_block(bool bridge_rules, bool egress, bool guard);

/// The ip6tables-restore -n document that takes the kernel from `now` to the host rules asked
/// for (the same rules as host_rules_block); empty when nothing needs to be loaded or removed.
std::string host_rules_kernel_update(bool bridge_rules, bool egress, bool guard,
                                     const kernel_facts& now);

/// Replaces dockgate's marked block in the text of after6.rules by `block` (removing it when
/// `block` is empty), placing it just before the *filter section's COMMIT. nullopt when the
/// file has no *filter section with a COMMIT.
std::optional<std::string> splice_host_rules(std::string_view after6_rules, std::string_view block);

} // namespace dockgate
