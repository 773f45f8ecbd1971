// What Docker does to IPv6 traffic on this host, and whether each rule dockgate writes counts.
#include "dockgate/docker/docker_setup.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <sstream>

namespace dockgate {
namespace {

using json = nlohmann::json;

std::string string_field(const json& object, const char* key) {
    if (!object.is_object()) {
        return {};
    }
    const auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : std::string{};
}

bool bool_field(const json& object, const char* key) {
    const auto it = object.find(key);
    return it != object.end() && it->is_boolean() && it->get<bool>();
}

/// Leading decimal number of `text` ("28" of "28.5.2+dfsg1"); advances `text` past it and one dot.
std::optional<int> take_number(std::string_view& text) {
    int value = 0;
    const auto* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, value);
    if (ec != std::errc{} || ptr == text.data()) {
        return std::nullopt;
    }
    text.remove_prefix(static_cast<std::size_t>(ptr - text.data()));
    if (!text.empty() && text.front() == '.') {
        text.remove_prefix(1);
    }
    return value;
}

std::vector<std::string_view> split_words(std::string_view line) {
    std::vector<std::string_view> words;
    std::size_t pos = 0;
    while (pos < line.size()) {
        const auto start = line.find_first_not_of(' ', pos);
        if (start == std::string_view::npos) {
            break;
        }
        const auto end = std::min(line.find(' ', start), line.size());
        words.push_back(line.substr(start, end - start));
        pos = end;
    }
    return words;
}

/// The value after `flag` in a rule's words, or empty; `negated` tells whether a "!" preceded it.
std::string_view option(const std::vector<std::string_view>& words, std::string_view flag,
                        bool* negated = nullptr) {
    for (std::size_t i = 0; i + 1 < words.size(); ++i) {
        if (words[i] == flag) {
            if (negated != nullptr) {
                *negated = i > 0 && words[i - 1] == "!";
            }
            return words[i + 1];
        }
    }
    return {};
}

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        lines.push_back(line);
    }
    return lines;
}

constexpr std::string_view block_begin = "# BEGIN dockgate host rules (managed by dockgated)";
constexpr std::string_view block_end = "# END dockgate host rules";

} // namespace

std::optional<engine_facts> decode_engine(const json& version_reply, const json* info_reply,
                                          std::string* why) {
    engine_facts facts;
    facts.version = string_field(version_reply, "Version");
    std::string_view rest = facts.version;
    const auto major = take_number(rest);
    const auto minor = take_number(rest);
    if (!major || !minor) {
        if (why != nullptr) {
            *why = "GET /version has no usable \"Version\"";
        }
        return std::nullopt;
    }
    facts.major = *major;
    facts.minor = *minor;
    if (info_reply != nullptr && info_reply->is_object()) {
        const auto backend = info_reply->find("FirewallBackend");
        if (backend != info_reply->end() && backend->is_object()) {
            facts.firewall_backend = string_field(*backend, "Driver");
        }
    }
    return facts;
}

std::vector<network_facts> decode_networks(const json& reply, std::vector<std::string>* warnings) {
    std::vector<network_facts> networks;
    if (!reply.is_array()) {
        if (warnings != nullptr) {
            warnings->emplace_back("GET /networks is not a JSON array");
        }
        return networks;
    }
    for (const auto& item : reply) {
        if (!item.is_object() || string_field(item, "Driver") != "bridge") {
            continue;
        }
        network_facts net;
        net.id = string_field(item, "Id");
        net.name = string_field(item, "Name");
        net.ipv6 = bool_field(item, "EnableIPv6");
        net.internal = bool_field(item, "Internal");
        const auto options = item.find("Options");
        const json empty = json::object();
        const json& opts = options != item.end() && options->is_object() ? *options : empty;
        net.bridge = string_field(opts, "com.docker.network.bridge.name");
        if (net.bridge.empty()) {
            net.bridge = net.name == "bridge" ? "docker0" : "br-" + net.id.substr(0, 12);
        }
        const auto mode = string_field(opts, "com.docker.network.bridge.gateway_mode_ipv6");
        if (!mode.empty()) {
            net.gateway_mode6 = mode;
        }
        if (net.id.size() < 12 || net.name.empty()) {
            if (warnings != nullptr) {
                warnings->push_back("a network in GET /networks has no usable Id or Name");
            }
            continue;
        }
        networks.push_back(std::move(net));
    }
    return networks;
}

kernel_facts parse_ip6tables_save(std::string_view text) {
    kernel_facts facts;
    std::string table;
    bool bridge_chain_declared = false;
    bool bridge_chain_jump = false;
    bool docker_user_declared = false;
    while (!text.empty()) {
        const auto eol = std::min(text.find('\n'), text.size());
        const auto line = text.substr(0, eol);
        text.remove_prefix(std::min(eol + 1, text.size()));
        if (line.starts_with('*')) {
            table = std::string(line.substr(1));
            continue;
        }
        if (table == "filter" && line.starts_with(':')) {
            const auto name = line.substr(1, line.find(' ') - 1);
            if (name == "DOCKER" || name == "DOCKER-FORWARD" ||
                name == "DOCKER-ISOLATION-STAGE-1" || name == "DOCKER-BRIDGE") {
                facts.docker_filter = true;
            }
            docker_user_declared = docker_user_declared || name == "DOCKER-USER";
            facts.ufw_chains = facts.ufw_chains || name == "ufw6-after-forward";
            bridge_chain_declared = bridge_chain_declared || name == bridge_chain;
            continue;
        }
        if (!line.starts_with("-A ")) {
            continue;
        }
        const auto words = split_words(line);
        const auto chain = words.size() > 1 ? words[1] : std::string_view{};
        const auto target = option(words, "-j");
        if (table == "raw" && chain == "PREROUTING" && target == "DROP") {
            bool in_negated = false;
            const auto destination = option(words, "-d");
            const auto in = option(words, "-i", &in_negated);
            if (in_negated && !destination.empty() && !in.empty()) {
                auto address = std::string(destination);
                if (address.ends_with("/128")) {
                    address.resize(address.size() - 4);
                }
                facts.raw_drops.emplace(address, std::string(in));
            }
        } else if (table == "filter") {
            if (chain == "FORWARD" && target == "DOCKER-USER") {
                facts.docker_user = true;
            } else if (chain == "DOCKER-USER" &&
                       line.find(guard_comment) != std::string_view::npos) {
                facts.guard = true;
                ++facts.guard_rule_count;
            } else if (chain == bridge_chain) {
                ++facts.bridge_rule_count;
            } else if (chain == "ufw6-after-forward" && target == bridge_chain) {
                bridge_chain_jump = true;
            } else if (chain == "DOCKER" && target == "DROP") {
                bool in_negated = false;
                bool out_negated = false;
                const auto in = option(words, "-i", &in_negated);
                const auto out = option(words, "-o", &out_negated);
                if (in_negated && !out_negated && !in.empty() && in == out) {
                    facts.routed_drop_bridges.insert(std::string(out));
                }
            }
        }
    }
    facts.docker_user = facts.docker_user && docker_user_declared;
    facts.bridge_rules = bridge_chain_declared && bridge_chain_jump;
    return facts;
}

std::string
save_text_from_listings(std::string_view table, const std::vector<std::string>& chains,
                        const std::map<std::string, std::string, std::less<>>& listings) {
    std::string text = "*" + std::string(table) + "\n";
    for (const auto& name : chains) {
        text += ":" + name + " - [0:0]\n";
    }
    for (const auto& [chain, listing] : listings) {
        // `-S` also prints the chain itself (`-N CHAIN`, or `-P CHAIN POLICY`): not a rule.
        for (std::string_view rest = listing; !rest.empty();) {
            const auto eol = std::min(rest.find('\n'), rest.size());
            if (const auto line = rest.substr(0, eol); line.starts_with("-A " + chain + " ")) {
                text.append(line).append("\n");
            }
            rest.remove_prefix(std::min(eol + 1, rest.size()));
        }
    }
    return text + "COMMIT\n";
}

std::string encode_kernel_facts(const kernel_facts& facts) {
    json out{{"docker_filter", facts.docker_filter},
             {"docker_user", facts.docker_user},
             {"guard", facts.guard},
             {"bridge_rules", facts.bridge_rules},
             {"nft_docker", facts.nft_docker},
             {"ufw_chains", facts.ufw_chains},
             {"bridge_rule_count", facts.bridge_rule_count},
             {"guard_rule_count", facts.guard_rule_count},
             {"raw_drops", json::array()},
             {"routed_drop_bridges", facts.routed_drop_bridges}};
    // Bounded so that the reply fits one executor message (64 KiB): beyond that the
    // assessment falls back to what the network's gateway mode says.
    constexpr std::size_t max_raw_drops = 1000;
    for (const auto& [address, bridge] : facts.raw_drops) {
        if (out["raw_drops"].size() == max_raw_drops) {
            break;
        }
        out["raw_drops"].push_back({address, bridge});
    }
    return out.dump();
}

std::optional<kernel_facts> decode_kernel_facts(std::string_view text) {
    const auto in = json::parse(text, nullptr, false);
    if (!in.is_object()) {
        return std::nullopt;
    }
    kernel_facts facts;
    try {
        facts.docker_filter = in.at("docker_filter").get<bool>();
        facts.docker_user = in.at("docker_user").get<bool>();
        facts.guard = in.at("guard").get<bool>();
        facts.bridge_rules = in.at("bridge_rules").get<bool>();
        facts.nft_docker = in.at("nft_docker").get<bool>();
        facts.ufw_chains = in.at("ufw_chains").get<bool>();
        facts.bridge_rule_count = in.at("bridge_rule_count").get<std::size_t>();
        facts.guard_rule_count = in.at("guard_rule_count").get<std::size_t>();
        for (const auto& drop : in.at("raw_drops")) {
            facts.raw_drops.emplace(drop.at(0).get<std::string>(), drop.at(1).get<std::string>());
        }
        facts.routed_drop_bridges = in.at("routed_drop_bridges").get<std::set<std::string>>();
    } catch (const json::exception&) {
        return std::nullopt;
    }
    return facts;
}

const char* to_string(docker_ip6_mode mode) {
    switch (mode) {
    case docker_ip6_mode::off:
        return "off";
    case docker_ip6_mode::iptables:
        return "iptables";
    case docker_ip6_mode::nftables:
        return "nftables";
    case docker_ip6_mode::unknown:
        break;
    }
    return "unknown";
}

const char* to_string(rule_state state) {
    switch (state) {
    case rule_state::effective:
        return "effective";
    case rule_state::dead:
        return "dead";
    case rule_state::unknown:
        break;
    }
    return "unknown";
}

const network_posture* host_posture::find(std::string_view network) const {
    const auto it =
        std::find_if(networks.begin(), networks.end(),
                     [network](const network_posture& n) { return n.network == network; });
    return it == networks.end() ? nullptr : &*it;
}

namespace {

constexpr std::string_view fix_routed =
    "create the network with -o com.docker.network.bridge.gateway_mode_ipv6=routed";
constexpr std::string_view fix_ip6tables_off =
    "set \"ip6tables\": false in /etc/docker/daemon.json and restart Docker (dockgate then "
    "writes every IPv6 rule, egress included)";

network_posture assess_network(const engine_facts& engine, const network_facts& net,
                               const kernel_facts& kernel, docker_ip6_mode mode, bool guard) {
    network_posture out;
    out.network = net.name;
    out.bridge = net.bridge;
    out.gateway_mode6 = net.gateway_mode6;
    // dockgate's host rules and guard name Docker's default interfaces (docker0, br-<id>); a
    // bridge renamed with com.docker.network.bridge.name is outside them.
    const bool covered = net.bridge == "docker0" || net.bridge.starts_with("br-");
    if (mode == docker_ip6_mode::off || mode == docker_ip6_mode::unknown) {
        if (!covered && mode == docker_ip6_mode::off) {
            out.note = "its bridge name is not docker0 or br-*, which dockgate's host rules "
                       "match: its containers cannot reach each other or the outside over IPv6 "
                       "(ufw's deny routed); fix: `ufw route allow in on " +
                       net.bridge + "`, or create the network without the bridge.name option";
        }
        return out; // only ufw decides; published ports come through docker-proxy on the host
    }
    if (!covered && guard) {
        guard = false;
        out.note = "its bridge name is not docker0 or br-*, which dockgate's DOCKER-USER guard "
                   "matches";
    }
    out.published_via_forward = true;
    const bool modes = engine.major >= 28;
    const auto& gw = net.gateway_mode6;
    if (net.internal || (modes && gw == "isolated")) {
        out.routes_count = false;
        out.why = "the network is internal: Docker forwards nothing to it from outside";
        return out;
    }
    if (mode == docker_ip6_mode::nftables) {
        // Docker 29's nftables drops are final across base chains; its accepts are not, so
        // ufw still decides about published ports.
        if (!modes || gw == "nat" || gw == "routed") {
            out.routes_count = false;
            out.why = "Docker's nftables rules (table ip6 docker-bridges) drop traffic from "
                      "outside to unpublished container ports before ufw";
            out.fix = std::string(fix_ip6tables_off);
        }
        return out;
    }
    // iptables backend: Docker's FORWARD chains come before ufw's.
    if (guard) {
        // DOCKER-USER runs first and sends new connections from outside through ufw's rules.
        if (modes && gw == "nat") {
            out.routes_count = false;
            out.why = "Docker " + std::to_string(engine.major) +
                      "'s nat gateway mode drops traffic from outside to container addresses "
                      "(raw PREROUTING -d <address> ! -i " +
                      net.bridge + " -j DROP); published ports still work through the host address";
            out.fix = std::string(fix_routed);
        }
        return out;
    }
    const bool guard_possible = engine.major >= 23;
    const std::string guard_fix =
        guard_possible ? "let dockgate guard DOCKER-USER (policy \"docker_user_guard\": \"auto\")"
                       : std::string(fix_ip6tables_off) + ", or upgrade Docker to 23 or later, "
                                                          "where dockgate guards DOCKER-USER";
    out.published_bypass = !(modes && gw == "isolated");
    out.why = "Docker's DOCKER chain accepts published ports before ufw's rules";
    out.fix = guard_fix;
    if (modes && gw == "nat") {
        out.routes_count = false;
        out.why += "; Docker's nat gateway mode drops traffic from outside to container "
                   "addresses (raw PREROUTING -d <address> ! -i " +
                   net.bridge + " -j DROP)";
        out.fix = guard_possible ? guard_fix + ", and " + std::string(fix_routed) : guard_fix;
    } else if (modes && (gw == "routed" || kernel.routed_drop_bridges.contains(net.bridge))) {
        out.routes_count = false;
        out.why += "; Docker's DOCKER chain drops other traffic from outside (! -i " + net.bridge +
                   " -o " + net.bridge + " -j DROP)";
    } else if (gw == "nat-unprotected") {
        out.why = "gateway mode nat-unprotected: Docker accepts every port before ufw's rules";
    }
    return out;
}

} // namespace

host_posture assess_host(const engine_facts& engine, const std::vector<network_facts>& networks,
                         const kernel_facts& kernel, guard_setting guard, bool egress) {
    host_posture host;
    host.egress = egress;
    if (engine.nftables() || kernel.nft_docker) {
        host.mode = docker_ip6_mode::nftables;
    } else if (kernel.docker_filter) {
        host.mode = docker_ip6_mode::iptables;
    } else {
        host.mode = docker_ip6_mode::off;
    }
    // Docker 20.10-22 keep no IPv6 DOCKER-USER chain (docker/for-linux#1248, moby#44706).
    host.guard_possible = host.mode == docker_ip6_mode::iptables && engine.major >= 23;
    host.guard_wanted = host.guard_possible && guard == guard_setting::automatic;
    // Traffic between containers of one bridge and their outgoing connections: with Docker's
    // rules off nothing but ufw's deny routed sees them (br_netfilter sends bridged IPv6
    // through FORWARD), so dockgate allows them; Docker's own rules do it otherwise.
    host.bridge_rules_wanted = host.mode == docker_ip6_mode::off;
    for (const auto& net : networks) {
        if (net.ipv6) {
            host.networks.push_back(
                assess_network(engine, net, kernel, host.mode, host.guard_wanted));
        }
    }
    // By name: /networks comes in no fixed order, and the summary is logged when it changes.
    std::sort(host.networks.begin(), host.networks.end(),
              [](const auto& a, const auto& b) { return a.network < b.network; });
    return host;
}

std::vector<std::string> bridges_not_docker(const std::vector<std::string>& interfaces,
                                            const std::vector<network_facts>& networks) {
    std::vector<std::string> stray;
    for (const auto& name : interfaces) {
        const bool docker_like = name == "docker0" || name.starts_with("br-");
        const bool docker = std::any_of(networks.begin(), networks.end(),
                                        [&](const network_facts& n) { return n.bridge == name; });
        if (docker_like && !docker) {
            stray.push_back(name);
        }
    }
    return stray;
}

std::vector<std::string> host_posture::summary() const {
    std::vector<std::string> lines;
    switch (mode) {
    case docker_ip6_mode::off:
        lines.emplace_back("Docker writes no IPv6 filter rules (\"ip6tables\": false): ufw alone "
                           "decides; dockgate lets containers reach each other on one bridge" +
                           std::string(egress ? " and open outgoing connections" : "") +
                           ", and published ports need fw.publish");
        break;
    case docker_ip6_mode::iptables:
        lines.emplace_back(std::string("Docker's ip6tables rules are on (iptables backend); ") +
                           (guard_wanted     ? "dockgate guards DOCKER-USER: new connections from "
                                               "outside to containers go through ufw's route rules"
                            : guard_possible ? "the DOCKER-USER guard is off"
                                             : "this Docker has no IPv6 DOCKER-USER chain, so "
                                               "dockgate cannot put ufw first"));
        break;
    case docker_ip6_mode::nftables:
        lines.emplace_back("Docker's nftables backend is on: its drops come before ufw, and "
                           "dockgate cannot guard it");
        break;
    case docker_ip6_mode::unknown:
        lines.emplace_back("Docker's firewall setup not read yet");
        break;
    }
    for (const auto& name : stray_bridges) {
        if (mode == docker_ip6_mode::off || guard_wanted) {
            lines.push_back(
                "interface " + name + " is named like a Docker bridge but is NOT one: " +
                "dockgate's host rules (docker0, br-*) treat its traffic as a "
                "container's" +
                std::string(guard_wanted ? " and let it past the guard" : "") +
                "; fix: rename it, or set \"egress\": false / \"docker_user_guard\": \"off\"");
        }
    }
    for (const auto& net : networks) {
        std::string line = "network " + net.network + " (" + net.bridge + ", gateway mode " +
                           net.gateway_mode6 + "): ";
        if (!net.note.empty()) {
            lines.push_back("network " + net.network + " (" + net.bridge + "): " + net.note);
        }
        if (net.routes_count && !net.published_bypass) {
            line += "labels count";
            line += net.published_via_forward
                        ? ", published ports follow the container port's label"
                        : "";
        } else {
            line += !net.routes_count ? "labels do NOT open container addresses" : "labels count";
            line += net.published_bypass ? "; published ports are OPEN past ufw" : "";
            line += ": " + net.why;
            if (!net.fix.empty()) {
                line += "; fix: " + net.fix;
            }
        }
        lines.push_back(std::move(line));
    }
    return lines;
}

rule_assessment assess_route(const host_posture& host, const kernel_facts& kernel,
                             std::string_view network, const std::string& address, bool published) {
    if (host.mode == docker_ip6_mode::unknown) {
        return {};
    }
    if (const auto drop = kernel.raw_drops.find(address);
        drop != kernel.raw_drops.end() && !published) {
        return {rule_state::dead,
                "Docker drops it before ufw: raw PREROUTING -d " + address + "/128 ! -i " +
                    drop->second + " -j DROP",
                std::string(fix_routed)};
    }
    const auto* net = host.find(network);
    if (net == nullptr || net->routes_count || (published && net->published_via_forward)) {
        return {rule_state::effective, {}, {}};
    }
    return {rule_state::dead, net->why, net->fix};
}

host_rules_request decide_host_rules(bool egress_policy, bool guard_policy,
                                     const kernel_facts& kernel) {
    host_rules_request decided;
    decided.bridge_rules = !kernel.docker_filter && !kernel.nft_docker;
    decided.egress = egress_policy;
    decided.guard = guard_policy && kernel.docker_filter && kernel.docker_user && kernel.ufw_chains;
    return decided;
}

std::string host_rules_block(bool bridge_rules, bool egress, bool guard) {
    if (!bridge_rules && !guard) {
        return {};
    }
    std::ostringstream out;
    out << block_begin << '\n';
    if (bridge_rules) {
        const std::string chain(bridge_chain);
        out << "# containers on one Docker bridge reach each other (neighbour discovery included)"
            << (egress ? " and open outgoing connections" : "") << '\n'
            << ':' << chain << " - [0:0]\n"
            << "-A ufw6-after-forward -j " << chain << '\n'
            << "-A " << chain << " -i docker0 -o docker0 -j ACCEPT\n"
            << "-A " << chain << " -i br-+ -m physdev --physdev-is-bridged -j ACCEPT\n";
        if (egress) {
            out << "-A " << chain << " -i docker0 -o br-+ -j RETURN\n"
                << "-A " << chain << " -i br-+ -o docker0 -j RETURN\n"
                << "-A " << chain << " -i br-+ -o br-+ -j RETURN\n"
                << "-A " << chain << " -i docker0 -j ACCEPT\n"
                << "-A " << chain << " -i br-+ -j ACCEPT\n";
        }
    }
    if (guard) {
        const std::string mark = std::string("-m comment --comment ") + std::string(guard_comment);
        out << "# new connections from outside to Docker's bridges go through ufw's route rules\n"
            << ":DOCKER-USER - [0:0]\n"
            << "-A DOCKER-USER -m conntrack --ctstate RELATED,ESTABLISHED " << mark
            << " -j RETURN\n"
            << "-A DOCKER-USER -i docker0 " << mark << " -j RETURN\n"
            << "-A DOCKER-USER -i br-+ " << mark << " -j RETURN\n"
            << "-A DOCKER-USER -o docker0 " << mark << " -j ufw6-before-forward\n"
            << "-A DOCKER-USER -o br-+ " << mark << " -j ufw6-before-forward\n"
            << "-A DOCKER-USER -o docker0 " << mark << " -j DROP\n"
            << "-A DOCKER-USER -o br-+ " << mark << " -j DROP\n";
    }
    out << block_end << '\n';
    return out.str();
}

std::string host_rules_kernel_update(bool bridge_rules, bool egress, bool guard,
                                     const kernel_facts& now) {
    // Counting the rules of each part tells whether the kernel already holds what is asked
    // (ip6tables-save prints them in its own form, so the text itself cannot be compared):
    // a restart in sync then loads nothing.
    std::size_t want_bridge = 0;
    std::size_t want_guard = 0;
    for (const auto& line : split_lines(host_rules_block(bridge_rules, egress, guard))) {
        if (line.starts_with("-A DOCKER-USER ")) {
            ++want_guard;
        } else if (line.starts_with("-A " + std::string(bridge_chain) + " ")) {
            ++want_bridge;
        }
    }
    if (now.bridge_rules == bridge_rules && now.bridge_rule_count == want_bridge &&
        now.guard == guard && now.guard_rule_count == want_guard) {
        return {};
    }
    std::string doc;
    const std::string chain(bridge_chain);
    const std::string jump = "-A ufw6-after-forward -j " + chain;
    // The block's own lines: ":" declarations flush the chain even with -n, so the chain is
    // replaced whole. The jump is added only when missing (an -A would duplicate it).
    std::string_view block_text;
    const auto block = host_rules_block(bridge_rules, egress, guard);
    block_text = block;
    while (!block_text.empty()) {
        const auto eol = block_text.find('\n');
        const auto line = block_text.substr(0, eol);
        block_text.remove_prefix(eol == std::string_view::npos ? block_text.size() : eol + 1);
        if (line.empty() || line.starts_with('#') || (line == jump && now.bridge_rules)) {
            continue;
        }
        doc += std::string(line) + "\n";
    }
    if (!bridge_rules && now.bridge_rules) {
        doc += "-D ufw6-after-forward -j " + chain + "\n-F " + chain + "\n-X " + chain + "\n";
    }
    if (!guard && now.guard) {
        doc += ":DOCKER-USER - [0:0]\n";
    }
    return doc.empty() ? doc : "*filter\n" + doc + "COMMIT\n";
}

std::optional<std::string> splice_host_rules(std::string_view after6_rules,
                                             std::string_view block) {
    std::string text(after6_rules);
    // Drop an existing block (from its BEGIN line through its END line).
    if (const auto begin = text.find(block_begin); begin != std::string::npos) {
        const auto end = text.find(block_end, begin);
        if (end == std::string::npos) {
            return std::nullopt; // a block cut short: leave the file to the admin
        }
        const auto after = text.find('\n', end);
        text.erase(begin, (after == std::string::npos ? text.size() : after + 1) - begin);
    }
    if (block.empty()) {
        return text;
    }
    const auto filter = text.find("*filter");
    if (filter == std::string::npos) {
        return std::nullopt;
    }
    auto commit = text.find("\nCOMMIT", filter);
    if (commit == std::string::npos) {
        return std::nullopt;
    }
    ++commit; // at the C of COMMIT
    // Keep ufw's own "don't delete the 'COMMIT' line" comment next to the COMMIT.
    const auto comment = text.rfind("\n# don't delete the 'COMMIT'", commit);
    const auto at = comment != std::string::npos && comment > filter ? comment + 1 : commit;
    text.insert(at, block);
    return text;
}

} // namespace dockgate
