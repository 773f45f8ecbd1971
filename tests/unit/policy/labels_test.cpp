// Table-driven tests of evaluate(): every label form, every policy check, and the stated
// rejections.
#include "dockgate/policy/labels.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace dockgate {
namespace {

using test::prefix;

constexpr const char* container_id =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

port_spec tcp(std::uint16_t first, std::uint16_t last = 0) {
    return {{first, last == 0 ? first : last}, protocol::tcp};
}
port_spec udp(std::uint16_t first, std::uint16_t last = 0) {
    return {{first, last == 0 ? first : last}, protocol::udp};
}

/// The built-in policy plus the profiles of the shipped example and two that overlap services.
policy base_policy() {
    policy pol = builtin_policy();
    pol.profiles["public-web"] = profile{{tcp(80), tcp(443), udp(443)}, {}, false, false};
    pol.profiles["office-ssh"] = profile{{tcp(22)}, {prefix("2001:db8:1234::/48")}, true, true};
    pol.profiles["limited-ssh"] = profile{{tcp(22)}, {}, true, false};
    pol.profiles["logged-web"] = profile{{tcp(80)}, {}, false, true};
    return pol;
}

/// A running container on one IPv6 network (with an IPv4 address too) publishing two ports.
container_info base_container() {
    container_info c;
    c.id = container_id;
    c.name = "web";
    c.running = true;
    c.networks = {{"v6net", "2001:db8::2", "172.18.0.2"}};
    c.published = {{80, "tcp", 8080}, {53, "udp", 5353}};
    return c;
}

void two_networks(container_info& c) {
    c.networks = {{"v6net", "2001:db8::2", "172.18.0.2"},
                  {"backend", "2001:db8:7::2", "172.19.0.2"}};
}

struct want_rejection {
    std::string label;
    std::string value;
    std::string reason_part;
};

struct label_case {
    std::string name;
    std::map<std::string, std::string> labels;
    std::vector<std::string> tuples; ///< the rules, as ufw tuples, in any order
    std::vector<want_rejection> rejections;
    std::function<void(policy&)> pol = nullptr;
    std::function<void(container_info&)> ctr = nullptr;
    friend void PrintTo(const label_case& c, std::ostream* os) { *os << c.name; }
};

// Tuples of the rules the cases expect, spelled as ufw stores them.
const std::string http_rule = "route:allow tcp 80 2001:db8::2 any ::/0 in";
const std::string https_tcp_rule = "route:allow tcp 443 2001:db8::2 any ::/0 in";
const std::string https_udp_rule = "route:allow udp 443 2001:db8::2 any ::/0 in";
const std::string alt_rule = "route:allow tcp 8443 2001:db8::2 any ::/0 in";
const std::string office_ssh_rule = "route:limit_log tcp 22 2001:db8::2 any 2001:db8:1234::/48 in";

std::vector<label_case> cases() {
    return {
        // ---- nothing asked
        {.name = "no_labels", .labels = {}, .tuples = {}, .rejections = {}},
        {.name = "unrelated_labels",
         .labels = {{"com.docker.compose.project", "proj"},
                    {"fw.allowed", "http"},
                    {"allow", "http"}},
         .tuples = {},
         .rejections = {}},
        {.name = "only_separators",
         .labels = {{"fw.allow", " , ,, \t"}},
         .tuples = {},
         .rejections = {}},

        // ---- services
        {.name = "service_http",
         .labels = {{"fw.allow", "http"}},
         .tuples = {http_rule},
         .rejections = {}},
        {.name = "service_https_is_tcp_and_udp",
         .labels = {{"fw.allow", "https"}},
         .tuples = {https_tcp_rule, https_udp_rule},
         .rejections = {}},
        {.name = "service_dns_two_protocols",
         .labels = {{"fw.allow", "dns"}},
         .tuples = {"route:allow tcp 53 2001:db8::2 any ::/0 in",
                    "route:allow udp 53 2001:db8::2 any ::/0 in"},
         .rejections = {}},
        {.name = "service_added_by_policy",
         .labels = {{"fw.allow", "grafana"}},
         .tuples = {"route:allow tcp 3000 2001:db8::2 any ::/0 in"},
         .rejections = {},
         .pol = [](policy& p) { p.services["grafana"] = {tcp(3000)}; }},
        {.name = "service_redefined_by_policy",
         .labels = {{"fw.allow", "http"}},
         .tuples = {"route:allow tcp 8080 2001:db8::2 any ::/0 in"},
         .rejections = {},
         .pol = [](policy& p) { p.services["http"] = {tcp(8080)}; }},
        {.name = "service_names_are_case_sensitive",
         .labels = {{"fw.allow", "HTTP"}},
         .tuples = {},
         .rejections = {{"fw.allow", "HTTP", "unknown service or profile name"}}},
        {.name = "unknown_name",
         .labels = {{"fw.allow", "htp"}},
         .tuples = {},
         .rejections = {{"fw.allow", "htp", "unknown service or profile name"}}},

        // ---- ports
        {.name = "port", .labels = {{"fw.allow", "8443"}}, .tuples = {alt_rule}, .rejections = {}},
        {.name = "port_tcp",
         .labels = {{"fw.allow", "8443/tcp"}},
         .tuples = {alt_rule},
         .rejections = {}},
        {.name = "port_udp",
         .labels = {{"fw.allow", "5353/udp"}},
         .tuples = {"route:allow udp 5353 2001:db8::2 any ::/0 in"},
         .rejections = {}},
        {.name = "range_tcp",
         .labels = {{"fw.allow", "8000-8010/tcp"}},
         .tuples = {"route:allow tcp 8000:8010 2001:db8::2 any ::/0 in"},
         .rejections = {}},
        {.name = "range_udp",
         .labels = {{"fw.allow", "6000-6010/udp"}},
         .tuples = {"route:allow udp 6000:6010 2001:db8::2 any ::/0 in"},
         .rejections = {}},
        {.name = "range_defaults_to_tcp",
         .labels = {{"fw.allow", "6000-6010"}},
         .tuples = {"route:allow tcp 6000:6010 2001:db8::2 any ::/0 in"},
         .rejections = {}},
        {.name = "whitespace_and_empty_items",
         .labels = {{"fw.allow", " http ,, \t8443/tcp\t, ,"}},
         .tuples = {http_rule, alt_rule},
         .rejections = {}},
        {.name = "duplicates_collapse",
         .labels = {{"fw.allow", "http,80,80/tcp, http"}},
         .tuples = {http_rule},
         .rejections = {}},
        {.name = "leading_zero_port",
         .labels = {{"fw.allow", "0080"}},
         .tuples = {},
         .rejections = {{"fw.allow", "0080", "leading zero"}}},
        {.name = "port_zero",
         .labels = {{"fw.allow", "0"}},
         .tuples = {},
         .rejections = {{"fw.allow", "0", "outside 1-65535"}}},
        {.name = "port_too_large",
         .labels = {{"fw.allow", "70000"}},
         .tuples = {},
         .rejections = {{"fw.allow", "70000", "outside 1-65535"}}},
        {.name = "protocol_sctp",
         .labels = {{"fw.allow", "80/sctp"}},
         .tuples = {},
         .rejections = {{"fw.allow", "80/sctp", "tcp or udp"}}},
        {.name = "protocol_upper_case",
         .labels = {{"fw.allow", "80/TCP"}},
         .tuples = {},
         .rejections = {{"fw.allow", "80/TCP", "tcp or udp"}}},
        {.name = "range_reversed",
         .labels = {{"fw.allow", "8010-8000"}},
         .tuples = {},
         .rejections = {{"fw.allow", "8010-8000", "range end must be above its start"}}},
        {.name = "range_end_too_large",
         .labels = {{"fw.allow", "8000-80000/tcp"}},
         .tuples = {},
         .rejections = {{"fw.allow", "8000-80000/tcp", "outside 1-65535"}}},
        {.name = "range_leading_zero_end",
         .labels = {{"fw.allow", "8000-08010"}},
         .tuples = {},
         .rejections = {{"fw.allow", "8000-08010", "leading zero"}}},
        {.name = "valid_items_survive_rejected_ones",
         .labels = {{"fw.allow", "http,htp,0080,8443,80/sctp"}},
         .tuples = {http_rule, alt_rule},
         .rejections = {{"fw.allow", "htp", "unknown service"},
                        {"fw.allow", "0080", "leading zero"},
                        {"fw.allow", "80/sctp", "tcp or udp"}}},
        {.name = "rejected_value_is_made_printable",
         .labels = {{"fw.allow", "\x01"
                                 "evil\xff"}},
         .tuples = {},
         .rejections = {{"fw.allow", "?evil?", "unknown service"}}},
        {.name = "rejected_value_is_bounded",
         .labels = {{"fw.allow", std::string(300, 'x')}},
         .tuples = {},
         .rejections = {{"fw.allow", std::string(128, 'x') + "...", "unknown service"}}},

        // ---- profiles
        {.name = "profile_ports",
         .labels = {{"fw.allow", "public-web"}},
         .tuples = {http_rule, https_tcp_rule, https_udp_rule},
         .rejections = {}},
        {.name = "profile_sources_limit_and_log",
         .labels = {{"fw.allow", "office-ssh"}},
         .tuples = {office_ssh_rule},
         .rejections = {}},
        {.name = "profile_sources_are_not_widened_by_the_label",
         .labels = {{"fw.allow", "office-ssh"}, {"fw.allow.from", "any"}},
         .tuples = {office_ssh_rule},
         .rejections = {}},
        {.name = "profile_and_service_each_keep_their_sources",
         .labels = {{"fw.allow", "office-ssh,http"}, {"fw.allow.from", "2001:db8:5678::/48"}},
         .tuples = {office_ssh_rule, "route:allow tcp 80 2001:db8::2 any 2001:db8:5678::/48 in"},
         .rejections = {}},
        {.name = "profile_is_the_admins_grant_even_on_a_denied_port",
         .labels = {{"fw.allow", "office-ssh,ssh"}},
         .tuples = {office_ssh_rule},
         .rejections = {{"fw.allow", "ssh", "22/tcp denied by policy (22/tcp)"}},
         .pol = [](policy& p) { p.denied_ports = {tcp(22)}; }},
        // ufw treats rules that differ only in action/log as the same rule ("Rule updated"), so
        // two such rules would overwrite each other on every reconcile: they merge into one.
        {.name = "same_port_from_service_and_limited_profile_merge",
         .labels = {{"fw.allow", "ssh,limited-ssh"}},
         .tuples = {"route:limit tcp 22 2001:db8::2 any ::/0 in"},
         .rejections = {}},
        {.name = "same_port_from_logged_profile_and_service_merge",
         .labels = {{"fw.allow", "logged-web,http"}},
         .tuples = {"route:allow_log tcp 80 2001:db8::2 any ::/0 in"},
         .rejections = {}},

        // ---- fw.allow.from
        {.name = "from_prefix",
         .labels = {{"fw.allow", "http"}, {"fw.allow.from", "2001:db8:1234::/48"}},
         .tuples = {"route:allow tcp 80 2001:db8::2 any 2001:db8:1234::/48 in"},
         .rejections = {}},
        {.name = "from_any",
         .labels = {{"fw.allow", "http"}, {"fw.allow.from", "any"}},
         .tuples = {http_rule},
         .rejections = {}},
        {.name = "from_host_is_canonical",
         .labels = {{"fw.allow", "http"}, {"fw.allow.from", "2001:DB8:FFFF:0::99/128"}},
         .tuples = {"route:allow tcp 80 2001:db8::2 any 2001:db8:ffff::99 in"},
         .rejections = {}},
        {.name = "from_list",
         .labels = {{"fw.allow", "http"},
                    {"fw.allow.from", "2001:db8:1234::/48, 2001:db8:5678::/48"}},
         .tuples = {"route:allow tcp 80 2001:db8::2 any 2001:db8:1234::/48 in",
                    "route:allow tcp 80 2001:db8::2 any 2001:db8:5678::/48 in"},
         .rejections = {}},
        {.name = "from_within_policy_sources",
         .labels = {{"fw.allow", "http"}, {"fw.allow.from", "2001:db8:1234:5::/64"}},
         .tuples = {"route:allow tcp 80 2001:db8::2 any 2001:db8:1234:5::/64 in"},
         .rejections = {},
         .pol = [](policy& p) { p.sources = {prefix("2001:db8:1234::/48")}; }},
        {.name = "from_outside_policy_sources_opens_nothing",
         .labels = {{"fw.allow", "http"}, {"fw.allow.from", "2001:db8:9999::/48"}},
         .tuples = {},
         .rejections = {{"fw.allow.from", "2001:db8:9999::/48", "not within the policy's sources"}},
         .pol = [](policy& p) { p.sources = {prefix("2001:db8:1234::/48")}; }},
        {.name = "from_empty_is_reported_and_opens_nothing",
         .labels = {{"fw.allow", "http"}, {"fw.allow.from", " , "}},
         .tuples = {},
         .rejections = {{"fw.allow.from", " , ", "no source given"}}},
        {.name = "from_any_outside_policy_sources_opens_nothing",
         .labels = {{"fw.allow", "http"}, {"fw.allow.from", "any"}},
         .tuples = {},
         .rejections = {{"fw.allow.from", "any", "not within the policy's sources"}},
         .pol = [](policy& p) { p.sources = {prefix("2001:db8:1234::/48")}; }},
        {.name = "from_all_invalid_never_falls_back_to_any",
         .labels = {{"fw.allow", "http,https"},
                    {"fw.allow.from", "2001:db8::1/64, banana, 2001:db8:9999::/48"}},
         .tuples = {},
         .rejections = {{"fw.allow.from", "2001:db8::1/64", "bits set beyond the prefix"},
                        {"fw.allow.from", "banana", "not an IPv6 or IPv4"},
                        {"fw.allow.from", "2001:db8:9999::/48", "not within the policy's sources"}},
         .pol = [](policy& p) { p.sources = {prefix("2001:db8:1234::/48")}; }},
        {.name = "from_partly_invalid_keeps_the_valid_sources",
         .labels = {{"fw.allow", "http"}, {"fw.allow.from", "banana, 2001:db8:1234::/48"}},
         .tuples = {"route:allow tcp 80 2001:db8::2 any 2001:db8:1234::/48 in"},
         .rejections = {{"fw.allow.from", "banana", "not an IPv6 or IPv4"}}},
        {.name = "no_from_label_uses_policy_sources",
         .labels = {{"fw.allow", "http"}},
         .tuples = {"route:allow tcp 80 2001:db8::2 any 2001:db8:1234::/48 in"},
         .rejections = {},
         .pol = [](policy& p) { p.sources = {prefix("2001:db8:1234::/48")}; }},
        {.name = "from_ipv4_source_never_pairs_with_ipv6_destination",
         .labels = {{"fw.allow", "http"}, {"fw.allow.from", "192.0.2.0/24"}},
         .tuples = {},
         .rejections = {},
         .pol =
             [](policy& p) {
                 p.sources = {prefix("::/0"), prefix("0.0.0.0/0")};
             }},

        // ---- which addresses get rules
        {.name = "every_network_by_default",
         .labels = {{"fw.allow", "http"}},
         .tuples = {http_rule, "route:allow tcp 80 2001:db8:7::2 any ::/0 in"},
         .rejections = {},
         .ctr = two_networks},
        {.name = "fw_networks_restricts",
         .labels = {{"fw.allow", "http"}, {"fw.networks", "backend"}},
         .tuples = {"route:allow tcp 80 2001:db8:7::2 any ::/0 in"},
         .rejections = {},
         .ctr = two_networks},
        {.name = "fw_networks_list",
         .labels = {{"fw.allow", "http"}, {"fw.networks", " v6net , backend "}},
         .tuples = {http_rule, "route:allow tcp 80 2001:db8:7::2 any ::/0 in"},
         .rejections = {},
         .ctr = two_networks},
        {.name = "fw_networks_not_attached",
         .labels = {{"fw.allow", "http"}, {"fw.networks", "frontend"}},
         .tuples = {},
         .rejections = {},
         .ctr = two_networks},
        {.name = "policy_networks_restricts",
         .labels = {{"fw.allow", "http"}},
         .tuples = {"route:allow tcp 80 2001:db8:7::2 any ::/0 in"},
         .rejections = {},
         .pol = [](policy& p) { p.networks = {"backend"}; },
         .ctr = two_networks},
        {.name = "policy_and_label_networks_must_both_agree",
         .labels = {{"fw.allow", "http"}, {"fw.networks", "backend"}},
         .tuples = {},
         .rejections = {},
         .pol = [](policy& p) { p.networks = {"v6net"}; },
         .ctr = two_networks},
        {.name = "link_local_never",
         .labels = {{"fw.allow", "http"}},
         .tuples = {},
         .rejections = {},
         .ctr =
             [](container_info& c) {
                 c.networks = {{"v6net", "fe80::42:acff:fe12:2", ""}};
             }},
        {.name = "unique_local_not_by_default",
         .labels = {{"fw.allow", "http"}},
         .tuples = {},
         .rejections = {},
         .ctr =
             [](container_info& c) {
                 c.networks = {{"v6net", "fd00:dead:beef::2", ""}};
             }},
        {.name = "unique_local_when_policy_names_it",
         .labels = {{"fw.allow", "http"}},
         .tuples = {"route:allow tcp 80 fd00:dead:beef::2 any ::/0 in"},
         .rejections = {},
         .pol = [](policy& p) { p.prefixes.push_back(prefix("fd00::/8")); },
         .ctr =
             [](container_info& c) {
                 c.networks = {{"v6net", "fd00:dead:beef::2", ""}};
             }},
        {.name = "link_local_never_even_if_policy_prefixes_cover_it",
         .labels = {{"fw.allow", "http"}},
         .tuples = {"route:allow tcp 80 fd00::2 any ::/0 in"},
         .rejections = {},
         .pol = [](policy& p) { p.prefixes = {prefix("::/0")}; },
         .ctr =
             [](container_info& c) {
                 c.networks = {{"ll", "fe80::2", ""}, {"ula", "fd00::2", ""}};
             }},
        {.name = "address_outside_policy_prefixes",
         .labels = {{"fw.allow", "http"}},
         .tuples = {"route:allow tcp 80 2001:db8:7::2 any ::/0 in"},
         .rejections = {},
         .pol = [](policy& p) { p.prefixes = {prefix("2001:db8:7::/48")}; },
         .ctr = two_networks},
        {.name = "no_global_ipv6_address",
         .labels = {{"fw.allow", "http"}},
         .tuples = {},
         .rejections = {},
         .ctr =
             [](container_info& c) {
                 c.networks = {{"bridge", "", "172.17.0.2"}};
             }},
        {.name = "unusable_addresses_are_skipped",
         .labels = {{"fw.allow", "http"}},
         .tuples = {"route:allow tcp 80 2001:db8:7::2 any ::/0 in"},
         .rejections = {},
         .ctr =
             [](container_info& c) {
                 c.networks = {{"a", "not-an-address", ""},
                               {"b", "2001:db8::/64", ""},
                               {"c", "2001:db8:7::2", ""}};
             }},
        {.name = "same_address_on_two_networks_once",
         .labels = {{"fw.allow", "http"}},
         .tuples = {http_rule},
         .rejections = {},
         .ctr =
             [](container_info& c) {
                 c.networks = {{"a", "2001:db8::2", ""}, {"b", "2001:DB8::2", ""}};
             }},
        {.name = "ipv4_ignored_unless_managed",
         .labels = {{"fw.allow", "http"}},
         .tuples = {http_rule},
         .rejections = {}},
        {.name = "ipv4_when_managed",
         .labels = {{"fw.allow", "http"}},
         .tuples = {http_rule, "route:allow tcp 80 172.18.0.2 any 0.0.0.0/0 in"},
         .rejections = {},
         .pol = [](policy& p) { p.manage_ipv4 = true; }},
        {.name = "ipv4_only_container_unmanaged",
         .labels = {{"fw.allow", "http"}},
         .tuples = {},
         .rejections = {},
         .ctr =
             [](container_info& c) {
                 c.networks = {{"bridge", "", "172.17.0.2"}};
             }},
        {.name = "ipv4_managed_with_an_ipv6_source_only_v6",
         .labels = {{"fw.allow", "http"}, {"fw.allow.from", "2001:db8:1234::/48"}},
         .tuples = {"route:allow tcp 80 2001:db8::2 any 2001:db8:1234::/48 in"},
         .rejections = {},
         .pol = [](policy& p) { p.manage_ipv4 = true; }},
        {.name = "ipv4_managed_link_local_never",
         .labels = {{"fw.allow", "http"}},
         .tuples = {},
         .rejections = {},
         .pol = [](policy& p) { p.manage_ipv4 = true; },
         .ctr =
             [](container_info& c) {
                 c.networks = {{"bridge", "", "169.254.3.4"}};
             }},

        // ---- strict mode
        {.name = "strict_allows_profiles",
         .labels = {{"fw.allow", "public-web"}},
         .tuples = {http_rule, https_tcp_rule, https_udp_rule},
         .rejections = {},
         .pol = [](policy& p) { p.mode = label_mode::strict; }},
        {.name = "strict_refuses_services_and_ports",
         .labels = {{"fw.allow", "office-ssh,http,8443"}},
         .tuples = {office_ssh_rule},
         .rejections = {{"fw.allow", "http", "strict policy"},
                        {"fw.allow", "8443", "strict policy"}},
         .pol = [](policy& p) { p.mode = label_mode::strict; }},

        // ---- denied_ports / allowed_ports
        {.name = "denied_port",
         .labels = {{"fw.allow", "2375"}},
         .tuples = {},
         .rejections = {{"fw.allow", "2375", "2375/tcp denied by policy (2375-2376/tcp)"}},
         .pol = [](policy& p) { p.denied_ports = {tcp(2375, 2376)}; }},
        {.name = "denied_range_overlap",
         .labels = {{"fw.allow", "2370-2380/tcp"}},
         .tuples = {},
         .rejections = {{"fw.allow", "2370-2380/tcp", "denied by policy (2375-2376/tcp)"}},
         .pol = [](policy& p) { p.denied_ports = {tcp(2375, 2376)}; }},
        {.name = "denied_range_touching_edge",
         .labels = {{"fw.allow", "2376-2380/tcp"}},
         .tuples = {},
         .rejections = {{"fw.allow", "2376-2380/tcp", "denied by policy"}},
         .pol = [](policy& p) { p.denied_ports = {tcp(2375, 2376)}; }},
        {.name = "denied_is_per_protocol",
         .labels = {{"fw.allow", "2375/udp, 2377"}},
         .tuples = {"route:allow udp 2375 2001:db8::2 any ::/0 in",
                    "route:allow tcp 2377 2001:db8::2 any ::/0 in"},
         .rejections = {},
         .pol = [](policy& p) { p.denied_ports = {tcp(2375, 2376)}; }},
        {.name = "denied_part_of_a_service",
         .labels = {{"fw.allow", "https"}},
         .tuples = {https_tcp_rule},
         .rejections = {{"fw.allow", "https", "443/udp denied by policy"}},
         .pol = [](policy& p) { p.denied_ports = {udp(443)}; }},
        {.name = "allowed_ports_contain",
         .labels = {{"fw.allow", "http, 1-1024/tcp"}},
         .tuples = {http_rule, "route:allow tcp 1:1024 2001:db8::2 any ::/0 in"},
         .rejections = {},
         .pol = [](policy& p) { p.allowed_ports = {tcp(1, 1024)}; }},
        {.name = "allowed_ports_refuse_outside",
         .labels = {{"fw.allow", "8443, 1000-2000/tcp, 53/udp"}},
         .tuples = {},
         .rejections = {{"fw.allow", "8443", "not within the policy's allowed_ports"},
                        {"fw.allow", "1000-2000/tcp", "not within the policy's allowed_ports"},
                        {"fw.allow", "53/udp", "not within the policy's allowed_ports"}},
         .pol = [](policy& p) { p.allowed_ports = {tcp(1, 1024)}; }},
        {.name = "denied_wins_over_allowed",
         .labels = {{"fw.allow", "ssh"}},
         .tuples = {},
         .rejections = {{"fw.allow", "ssh", "denied by policy (22/tcp)"}},
         .pol =
             [](policy& p) {
                 p.allowed_ports = {tcp(1, 65535)};
                 p.denied_ports = {tcp(22)};
             }},

        // ---- max_rules_per_container
        {.name = "rule_cap_reports_once",
         .labels = {{"fw.allow", "80,81,82,83"}},
         .tuples = {http_rule, "route:allow tcp 81 2001:db8::2 any ::/0 in"},
         .rejections = {{"fw.allow", "route allow tcp from any to 2001:db8::2 port 82",
                         "over the policy's limit of 2 rules per container"}},
         .pol = [](policy& p) { p.max_rules_per_container = 2; }},
        {.name = "rule_cap_counts_every_address",
         .labels = {{"fw.allow", "http"}},
         .tuples = {http_rule},
         .rejections = {{"fw.allow", "route allow tcp from any to 2001:db8:7::2 port 80",
                         "limit of 1"}},
         .pol = [](policy& p) { p.max_rules_per_container = 1; },
         .ctr = two_networks},

        // ---- fw.limit / fw.log
        {.name = "limit",
         .labels = {{"fw.allow", "http"}, {"fw.limit", "true"}},
         .tuples = {"route:limit tcp 80 2001:db8::2 any ::/0 in"},
         .rejections = {}},
        {.name = "log",
         .labels = {{"fw.allow", "http"}, {"fw.log", "yes"}},
         .tuples = {"route:allow_log tcp 80 2001:db8::2 any ::/0 in"},
         .rejections = {}},
        {.name = "limit_and_log",
         .labels = {{"fw.allow", "http"}, {"fw.limit", "1"}, {"fw.log", " on "}},
         .tuples = {"route:limit_log tcp 80 2001:db8::2 any ::/0 in"},
         .rejections = {}},
        {.name = "flags_off",
         .labels = {{"fw.allow", "http"}, {"fw.limit", "false"}, {"fw.log", "no"}},
         .tuples = {http_rule},
         .rejections = {}},
        {.name = "flags_0_and_off",
         .labels = {{"fw.allow", "http"}, {"fw.limit", "0"}, {"fw.log", "off"}},
         .tuples = {http_rule},
         .rejections = {}},
        {.name = "limit_invalid_value",
         .labels = {{"fw.allow", "http"}, {"fw.limit", "maybe"}},
         .tuples = {http_rule},
         .rejections = {{"fw.limit", "maybe", "must be true or false"}}},
        {.name = "log_invalid_value",
         .labels = {{"fw.allow", "http"}, {"fw.log", "sometimes"}},
         .tuples = {http_rule},
         .rejections = {{"fw.log", "sometimes", "must be true or false"}}},
        {.name = "flags_alone_open_nothing",
         .labels = {{"fw.limit", "true"}, {"fw.log", "true"}},
         .tuples = {},
         .rejections = {}},

        // ---- fw.publish
        {.name = "publish_refused_by_default",
         .labels = {{"fw.allow", "http"}, {"fw.publish", "auto"}},
         .tuples = {http_rule},
         .rejections = {{"fw.publish", "auto",
                         "policy does not allow opening published host ports"}}},
        {.name = "publish_auto",
         .labels = {{"fw.publish", "auto"}},
         .tuples = {"allow tcp 8080 ::/0 any ::/0 in", "allow udp 5353 ::/0 any ::/0 in"},
         .rejections = {},
         .pol = [](policy& p) { p.allow_publish = true; }},
        {.name = "publish_host_port",
         .labels = {{"fw.publish", "8080"}},
         .tuples = {"allow tcp 8080 ::/0 any ::/0 in"},
         .rejections = {},
         .pol = [](policy& p) { p.allow_publish = true; }},
        {.name = "publish_host_port_with_protocol",
         .labels = {{"fw.publish", "5353/udp"}},
         .tuples = {"allow udp 5353 ::/0 any ::/0 in"},
         .rejections = {},
         .pol = [](policy& p) { p.allow_publish = true; }},
        {.name = "publish_protocol_mismatch",
         .labels = {{"fw.publish", "8080/udp"}},
         .tuples = {},
         .rejections = {{"fw.publish", "8080/udp", "not a published host port of this container"}},
         .pol = [](policy& p) { p.allow_publish = true; }},
        {.name = "publish_container_port_is_not_a_host_port",
         .labels = {{"fw.publish", "80"}},
         .tuples = {},
         .rejections = {{"fw.publish", "80", "not a published host port"}},
         .pol = [](policy& p) { p.allow_publish = true; }},
        {.name = "publish_port_not_published",
         .labels = {{"fw.publish", "8080, 9999"}},
         .tuples = {"allow tcp 8080 ::/0 any ::/0 in"},
         .rejections = {{"fw.publish", "9999", "not a published host port"}},
         .pol = [](policy& p) { p.allow_publish = true; }},
        {.name = "publish_range_refused",
         .labels = {{"fw.publish", "8000-8010"}},
         .tuples = {},
         .rejections = {{"fw.publish", "8000-8010", "a single host port is expected"}},
         .pol = [](policy& p) { p.allow_publish = true; }},
        {.name = "publish_bad_port",
         .labels = {{"fw.publish", "08080"}},
         .tuples = {},
         .rejections = {{"fw.publish", "08080", "leading zero"}},
         .pol = [](policy& p) { p.allow_publish = true; }},
        {.name = "publish_denied_host_port",
         .labels = {{"fw.publish", "auto"}},
         .tuples = {"allow udp 5353 ::/0 any ::/0 in"},
         .rejections = {{"fw.publish", "8080/tcp", "denied by policy (8080/tcp)"}},
         .pol =
             [](policy& p) {
                 p.allow_publish = true;
                 p.denied_ports = {tcp(8080)};
             }},
        {.name = "publish_with_limit_and_log",
         .labels = {{"fw.publish", "8080"}, {"fw.limit", "true"}, {"fw.log", "true"}},
         .tuples = {"limit_log tcp 8080 ::/0 any ::/0 in"},
         .rejections = {},
         .pol = [](policy& p) { p.allow_publish = true; }},
        {.name = "publish_unsupported_protocol",
         .labels = {{"fw.publish", "auto"}},
         .tuples = {"allow tcp 8080 ::/0 any ::/0 in"},
         .rejections = {{"fw.publish", "9000/sctp", "protocol not supported"}},
         .pol = [](policy& p) { p.allow_publish = true; },
         .ctr =
             [](container_info& c) {
                 c.published = {{80, "tcp", 8080}, {9000, "sctp", 9000}};
             }},
        {.name = "publish_auto_and_explicit_once",
         .labels = {{"fw.publish", "auto, 8080"}},
         .tuples = {"allow tcp 8080 ::/0 any ::/0 in", "allow udp 5353 ::/0 any ::/0 in"},
         .rejections = {},
         .pol = [](policy& p) { p.allow_publish = true; }},
        {.name = "publish_auto_without_bindings",
         .labels = {{"fw.publish", "auto"}},
         .tuples = {},
         .rejections = {},
         .pol = [](policy& p) { p.allow_publish = true; },
         .ctr = [](container_info& c) { c.published.clear(); }},
        {.name = "publish_and_allow_together",
         .labels = {{"fw.allow", "http"}, {"fw.publish", "8080"}},
         .tuples = {http_rule, "allow tcp 8080 ::/0 any ::/0 in"},
         .rejections = {},
         .pol = [](policy& p) { p.allow_publish = true; }},

        // ---- label_prefix
        {.name = "custom_label_prefix",
         .labels = {{"dg.allow", "http"},
                    {"dg.allow.from", "2001:db8:1234::/48"},
                    {"dg.limit", "true"},
                    {"fw.allow", "8443"},
                    {"fw.log", "true"}},
         .tuples = {"route:limit tcp 80 2001:db8::2 any 2001:db8:1234::/48 in"},
         .rejections = {},
         .pol = [](policy& p) { p.label_prefix = "dg."; }},
        {.name = "custom_label_prefix_in_rejections",
         .labels = {{"dg.allow", "htp"}, {"dg.log", "loud"}},
         .tuples = {},
         .rejections = {{"dg.allow", "htp", "unknown service"},
                        {"dg.log", "loud", "true or false"}},
         .pol = [](policy& p) { p.label_prefix = "dg."; }},

        // ---- containers dockgate cannot tag
        {.name = "container_without_a_usable_id",
         .labels = {{"fw.allow", "http"}},
         .tuples = {},
         .rejections = {},
         .ctr = [](container_info& c) { c.id = "not-hex"; }},
    };
}

std::string describe_rejections(const std::vector<rejection>& rejected) {
    std::ostringstream out;
    for (const auto& r : rejected) {
        out << "\n  " << r;
    }
    return out.str();
}

class labels_evaluate : public ::testing::TestWithParam<label_case> {};

TEST_P(labels_evaluate, grants_and_refusals) {
    const auto& c = GetParam();
    policy pol = base_policy();
    if (c.pol) {
        c.pol(pol);
    }
    container_info container = base_container();
    container.labels = c.labels;
    if (c.ctr) {
        c.ctr(container);
    }

    const auto result = evaluate(container, pol);

    std::vector<std::string> tuples;
    for (const auto& r : result.rules) {
        tuples.push_back(r.what.tuple());
        EXPECT_EQ(r.owner, (owner_tag{"0123456789ab", "web"})) << r;
    }
    auto expected = c.tuples;
    std::sort(tuples.begin(), tuples.end());
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(tuples, expected);

    EXPECT_EQ(result.rejected.size(), c.rejections.size()) << describe_rejections(result.rejected);
    for (const auto& want : c.rejections) {
        const bool found =
            std::any_of(result.rejected.begin(), result.rejected.end(), [&](const rejection& r) {
                return r.label == want.label && r.value == want.value &&
                       r.reason.find(want.reason_part) != std::string::npos;
            });
        EXPECT_TRUE(found) << "missing rejection " << want.label << "=\"" << want.value << "\": ..."
                           << want.reason_part
                           << "...\nactual:" << describe_rejections(result.rejected);
    }
    EXPECT_EQ(result.wants_anything(), !c.tuples.empty() || !c.rejections.empty());
}

INSTANTIATE_TEST_SUITE_P(grammar, labels_evaluate, ::testing::ValuesIn(cases()),
                         [](const auto& p) { return p.param.name; });

TEST(labels, empty_from_list_opens_nothing) {
    // A from-list with no usable entry never means "any".
    auto container = base_container();
    container.labels = {{"fw.allow", "http"}, {"fw.allow.from", ""}};
    EXPECT_TRUE(evaluate(container, base_policy()).rules.empty());
    container.labels["fw.allow.from"] = " , ";
    EXPECT_TRUE(evaluate(container, base_policy()).rules.empty());
}

TEST(labels, rules_are_route_rules_to_the_container) {
    auto container = base_container();
    container.labels = {{"fw.allow", "http"}};
    const auto result = evaluate(container, base_policy());
    ASSERT_EQ(result.rules.size(), 1U);
    const auto& r = result.rules.front().what;
    EXPECT_EQ(r.kind, rule_kind::route);
    EXPECT_EQ(r.action, rule_action::allow);
    EXPECT_FALSE(r.log);
    EXPECT_EQ(r.proto, protocol::tcp);
    EXPECT_EQ(r.port, (port_range{80, 80}));
    EXPECT_EQ(r.destination, prefix("2001:db8::2"));
    EXPECT_TRUE(r.source.is_any());
    EXPECT_TRUE(r.source.v6);
}

TEST(labels, a_port_published_on_loopback_only_opens_nothing) {
    // -p 127.0.0.1:8080:80: Docker keeps it local; fw.publish must not open ::/0 port 8080.
    auto container = base_container();
    container.published = {{80, "tcp", 8080, true}};
    container.labels = {{"fw.publish", "8080"}};
    auto pol = base_policy();
    pol.allow_publish = true;
    const auto result = evaluate(container, pol);
    EXPECT_TRUE(result.rules.empty());
    ASSERT_EQ(result.rejected.size(), 1U);
    EXPECT_NE(result.rejected[0].reason.find("loopback"), std::string::npos);
}

TEST(container, control_characters_in_names_never_reach_logs_or_the_terminal) {
    const auto reply = nlohmann::json::parse(R"({"Id": ")" + std::string(64, 'a') + R"(",
        "Name": "/web\n2026-12-01 [error] forged\u001b[31m", "State": {"Running": true},
        "Config": {"Labels": {}},
        "NetworkSettings": {"Networks": {"net\u001b]0;x\u0007": {"GlobalIPv6Address": "2001:db8::5"}}}})");
    std::string why;
    const auto info = decode_inspect(reply, &why);
    ASSERT_TRUE(info.has_value()) << why;
    EXPECT_EQ(info->name, "web?2026-12-01 [error] forged?[31m");
    ASSERT_EQ(info->networks.size(), 1U);
    EXPECT_EQ(info->networks[0].network, "net?]0;x?");
}

TEST(container, a_binding_on_loopback_only_is_marked_and_any_other_address_unmarks_it) {
    const auto reply = nlohmann::json::parse(R"({"Id": ")" + std::string(64, 'a') + R"(",
        "Name": "/web", "State": {"Running": true}, "Config": {"Labels": {}},
        "NetworkSettings": {"Networks": {}, "Ports": {
            "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}, {"HostIp": "::1", "HostPort": "8080"}],
            "81/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8081"}, {"HostIp": "::", "HostPort": "8081"}]}}})");
    std::string why;
    const auto info = decode_inspect(reply, &why);
    ASSERT_TRUE(info.has_value()) << why;
    ASSERT_EQ(info->published.size(), 2U);
    for (const auto& b : info->published) {
        EXPECT_EQ(b.loopback_only, b.container_port == 80) << b.container_port;
    }
}

TEST(labels, a_label_over_the_byte_limit_is_one_rejection_and_opens_nothing) {
    auto container = base_container();
    std::string huge;
    for (int port = 1; port <= 6000; ++port) {
        huge += std::to_string(port) + ",";
    }
    container.labels = {{"fw.allow", huge}};
    const auto result = evaluate(container, base_policy());
    EXPECT_TRUE(result.rules.empty());
    ASSERT_EQ(result.rejected.size(), 1U);
    EXPECT_NE(result.rejected[0].reason.find("over the policy's max_label_bytes of 4096"),
              std::string::npos);
}

TEST(labels, over_long_source_or_network_lists_never_widen) {
    // fw.allow.from or fw.networks over a limit must not fall back to "any" or "all networks".
    auto container = base_container();
    std::string sources;
    for (int i = 0; i < 100; ++i) {
        sources += "2001:db8:" + std::to_string(i) + "::/48,";
    }
    container.labels = {{"fw.allow", "http"}, {"fw.allow.from", sources}};
    auto result = evaluate(container, base_policy());
    EXPECT_TRUE(result.rules.empty());
    ASSERT_EQ(result.rejected.size(), 1U);
    EXPECT_NE(result.rejected[0].reason.find("100 items, over the policy's max_label_items of 64"),
              std::string::npos);

    std::string networks;
    for (int i = 0; i < 100; ++i) {
        networks += "net" + std::to_string(i) + ",";
    }
    container.labels = {{"fw.allow", "http"}, {"fw.networks", networks + "v6net"}};
    result = evaluate(container, base_policy());
    EXPECT_TRUE(result.rules.empty());
}

TEST(labels, repeated_items_count_once) {
    // fw.allow.from=any repeated thousands of times was the quadratic CPU bomb: one item.
    auto container = base_container();
    std::string any;
    for (int i = 0; i < 600; ++i) {
        any += "any,";
    }
    container.labels = {{"fw.allow", "http,http,80"}, {"fw.allow.from", any}};
    const auto result = evaluate(container, base_policy());
    EXPECT_EQ(result.rules.size(), 1U);
    EXPECT_TRUE(result.rejected.empty());
}

} // namespace
} // namespace dockgate
