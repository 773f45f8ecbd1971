// dockgated's one-shot commands: status, --check-policy, --explain and --remove-all-rules.
#include "commands.hpp"

#include "dockgate/asio.hpp"
#include "dockgate/docker/docker_setup.hpp"
#include "dockgate/policy/labels.hpp"
#include "dockgate/reconcile/plan.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <ctime>
#include <iostream>
#include <optional>

namespace dockgate::daemon {
namespace {

/// --explain, one route rule: whether traffic reaches it past Docker, as the daemon assesses it.
void print_traffic(const owned_rule& wanted, const container_info& info,
                   const host_posture& posture, const kernel_facts& kernel) {
    const auto address = wanted.what.destination.to_string();
    const auto on = std::find_if(info.networks.begin(), info.networks.end(),
                                 [&](const auto& n) { return n.global_ipv6 == address; });
    const bool published =
        std::any_of(info.published.begin(), info.published.end(), [&](const auto& b) {
            return b.proto == to_string(wanted.what.proto) &&
                   wanted.what.port.first <= b.container_port &&
                   b.container_port <= wanted.what.port.last;
        });
    const auto verdict = assess_route(posture, kernel, on == info.networks.end() ? "" : on->network,
                                      address, published);
    std::cout << "      traffic: " << to_string(verdict.state);
    if (verdict.state == rule_state::dead) {
        std::cout << ": " << verdict.why << "\n      fix: " << verdict.fix;
    }
    std::cout << '\n';
}

/// --explain, one rule the policy grants: whether ufw holds it (`ec`: ufw's rules unreadable).
void print_rule(const owned_rule& wanted, const container_info& info,
                const rules_file_contents& actual, const boost::system::error_code& ec,
                const std::optional<host_posture>& posture, const kernel_facts& kernel) {
    const auto tuple = wanted.what.tuple();
    const auto found = std::find_if(actual.entries.begin(), actual.entries.end(),
                                    [&](const auto& e) { return e.tuple == tuple; });
    const char* state = ec                              ? "ufw rules unreadable"
                        : found == actual.entries.end() ? "not in ufw yet"
                        : found->owner                  ? "in ufw"
                                                        : "allowed by an admin rule";
    std::cout << "    " << wanted.what.describe() << "  [" << state << "]\n";
    if (posture && wanted.what.kind == rule_kind::route) {
        print_traffic(wanted, info, *posture, kernel);
    }
}

/// --explain, Docker's setup as the daemon assesses it, or why it is not known.
void print_setup(const std::optional<host_posture>& posture,
                 const std::optional<docker_setup_reading>& setup, const std::string& setup_why) {
    if (!posture) {
        std::cout << "  Docker's setup: not known ("
                  << (setup ? "cannot read the kernel's IPv6 tables" : setup_why) << ")\n";
        return;
    }
    std::cout << "  Docker's setup:\n";
    for (const auto& line : posture->summary()) {
        std::cout << "    " << line << '\n';
    }
}

/// --explain's report on one container, once Docker's setup has been read (or not).
evaluation print_explanation(const container_info& info, const policy& pol, firewall& fw,
                             const std::optional<docker_setup_reading>& setup,
                             const std::string& setup_why) {
    boost::system::error_code ec;
    const auto actual = fw.read_rules(ec);
    boost::system::error_code kernel_ec;
    const auto kernel = fw.read_kernel(kernel_ec);
    std::optional<host_posture> posture;
    if (setup && !kernel_ec) {
        posture = assess_host(setup->engine, setup->networks, kernel,
                              pol.docker_user_guard ? guard_setting::automatic : guard_setting::off,
                              pol.egress);
    }
    // Docker forwarding to the container: its published ports are opened at the container.
    const bool forwarded = posture && posture->mode != docker_ip6_mode::off;
    const auto result =
        evaluate(info, pol, forwarded ? publish_target::container_port : publish_target::host_port);
    std::cout << "  rules (" << (info.running ? result.rules.size() : 0U) << "):\n";
    for (const auto& wanted : result.rules) {
        print_rule(wanted, info, actual, ec, posture, kernel);
    }
    if (info.running && result.rules.empty() && result.rejected.empty()) {
        const bool labelled =
            std::any_of(info.labels.begin(), info.labels.end(),
                        [&](const auto& l) { return l.first.starts_with(pol.label_prefix); });
        std::cout << "  why no rule: "
                  << (labelled ? why_no_rules(info, pol) : "no " + pol.label_prefix + "* label")
                  << '\n';
    }
    print_setup(posture, setup, setup_why);
    return result;
}

asio::awaitable<int> explain_container(docker_client& docker, std::string container,
                                       const policy& pol, firewall& fw) {
    if (const auto ec = co_await docker.ping()) {
        std::cerr << "cannot reach Docker at " << docker.settings().socket_path << ": "
                  << ec.message() << '\n';
        co_return 1;
    }
    const auto reply =
        co_await docker.get(docker.versioned("/containers/" + url_encode(container) + "/json"));
    if (reply.ec) {
        std::cerr << "container " << container << ": " << reply.ec.message() << '\n';
        co_return 1;
    }
    std::string why;
    const auto info = decode_inspect(nlohmann::json::parse(reply.body, nullptr, false), &why);
    if (!info) {
        std::cerr << "container " << container << ": unusable reply from Docker: " << why << '\n';
        co_return 1;
    }
    std::cout << "container " << info->name << " (" << info->id.substr(0, 12) << "), "
              << (info->running ? "running" : "not running: no rules") << '\n';
    for (const auto& net : info->networks) {
        std::cout << "  network " << net.network << ": "
                  << (net.global_ipv6.empty() ? "no global IPv6 address" : net.global_ipv6) << '\n';
    }
    std::string setup_why;
    const auto setup = co_await read_docker_setup(docker, &setup_why);
    const auto result = print_explanation(*info, pol, fw, setup, setup_why);
    if (!result.rejected.empty()) {
        std::cout << "  rejected:\n";
        for (const auto& r : result.rejected) {
            std::cout << "    " << r.label << "=\"" << r.value << "\": " << r.reason << '\n';
        }
    }
    co_return 0;
}

/// Reads the whole status document from `path` into `text`. Returns 0, or 1 with a message.
int read_status(const std::string& path, std::chrono::milliseconds timeout, std::string& text) {
    asio::io_context ioc;
    local_stream::socket socket(ioc);
    error_code ec;
    // A daemon that accepts and never answers must not hang the command: the connect and the
    // read together get `timeout`. (Asio's blocking reads poll past SO_RCVTIMEO, so they are
    // asynchronous here and the io_context runs for at most `timeout`.)
    bool finished = false;
    socket.async_connect(local_stream::endpoint(path), [&](const error_code& connect_ec) {
        if (connect_ec) {
            ec = connect_ec;
            finished = true;
            return;
        }
        asio::async_read(socket, asio::dynamic_buffer(text),
                         [&](const error_code& read_ec, std::size_t) {
                             ec = read_ec;
                             finished = true;
                         });
    });
    ioc.run_for(timeout);
    if (!finished) {
        std::cerr << "no status from dockgated at " << path << " within " << timeout.count()
                  << " ms\n";
        return 1;
    }
    if (ec && ec != asio::error::eof) {
        std::cerr << "cannot reach dockgated at " << path << ": " << ec.message()
                  << " (is it running? root or the daemon's group may read it)\n";
        return 1;
    }
    return 0;
}

/// `status`: Docker, sync state, rule counts and Docker's setup.
void print_summary(const nlohmann::json& doc) {
    const auto& docker = doc["docker"];
    std::cout << "Docker:      " << docker["state"].get<std::string>() << " ("
              << docker["socket"].get<std::string>() << ", API "
              << docker["api_version"].get<std::string>() << ")\n";
    std::cout << "In sync:     " << (doc["in_sync"].get<bool>() ? "yes" : "no");
    if (doc["last_sync_unix"].is_number()) {
        const std::time_t when = doc["last_sync_unix"].get<std::time_t>();
        std::array<char, 64> buffer{};
        std::strftime(buffer.data(), buffer.size(), "%Y-%m-%d %H:%M:%S", std::localtime(&when));
        std::cout << ", last sync " << buffer.data();
    }
    std::cout << "\nufw writes:  " << doc.value("ufw_write_path", std::string("per-rule"));
    std::cout << "\nRules:       " << doc["owned_rules"].get<std::size_t>() << " owned, "
              << doc["pending_operations"].get<std::size_t>() << " pending, "
              << doc["failed_operations"].size() << " failed\n";
    // An older daemon (still running after an upgrade) sends no docker_setup.
    if (const auto setup = doc.value("docker_setup", nlohmann::json()); setup.is_object()) {
        std::cout << "Docker setup: Engine " << setup["engine"].get<std::string>() << ", "
                  << setup["firewall_backend"].get<std::string>()
                  << " backend, IPv6 filtering by Docker "
                  << setup["docker_ip6_filtering"].get<std::string>() << "; "
                  << setup["rules_effective"].get<std::size_t>() << " rule(s) effective, "
                  << setup["rules_dead"].get<std::size_t>() << " dead, "
                  << setup["published_open_past_ufw"].get<std::size_t>()
                  << " published port(s) open past ufw\n";
        for (const auto& line : setup["summary"]) {
            std::cout << "  " << line.get<std::string>() << '\n';
        }
    }
}

/// `status`: one rule of a container with its state ("dead" with why and the fix).
void print_status_rule(const nlohmann::json& rule, const nlohmann::json& states) {
    std::string state;
    for (const auto& a : states) {
        if (a["rule"] == rule) {
            state = a["state"].get<std::string>();
            if (state == "dead") {
                state +=
                    ": " + a["why"].get<std::string>() + "; fix: " + a["fix"].get<std::string>();
            }
        }
    }
    std::cout << "    " << rule.get<std::string>() << (state.empty() ? "" : "  [" + state + "]")
              << '\n';
}

/// `status`: one container, its rules, ports open past ufw, and why it has no rules.
void print_container(const nlohmann::json& c) {
    std::cout << "\n  " << c["name"].get<std::string>() << " (" << c["id"].get<std::string>()
              << ")\n";
    const auto states = c.value("rule_states", nlohmann::json::array());
    for (const auto& r : c["rules"]) {
        print_status_rule(r, states);
    }
    for (const auto& a : states) {
        if (a["state"] == "open past ufw") {
            std::cout << "    " << a["rule"].get<std::string>()
                      << "  [OPEN past ufw: " << a["why"].get<std::string>()
                      << "; fix: " << a["fix"].get<std::string>() << "]\n";
        }
    }
    if (c.contains("why_no_rules")) {
        std::cout << "    no rules: " << c["why_no_rules"].get<std::string>() << '\n';
    }
    for (const auto& r : c["rejected"]) {
        std::cout << "    rejected " << r["label"].get<std::string>() << "=\""
                  << r["value"].get<std::string>() << "\": " << r["reason"].get<std::string>()
                  << '\n';
    }
}

} // namespace

int show_status(const std::string& path, bool raw_json, std::chrono::milliseconds timeout) {
    std::string text;
    if (const int rc = read_status(path, timeout, text); rc != 0) {
        return rc;
    }
    const auto doc = nlohmann::json::parse(text, nullptr, false);
    if (doc.is_discarded()) {
        std::cerr << "unreadable status from " << path << "\n";
        return 1;
    }
    if (raw_json) {
        std::cout << doc.dump(2) << '\n';
        return 0;
    }
    print_summary(doc);
    for (const auto& c : doc["containers"]) {
        print_container(c);
    }
    for (const auto& f : doc["failed_operations"]) {
        std::cout << "\n  FAILED " << f["action"].get<std::string>() << " "
                  << f["rule"].get<std::string>() << " for " << f["container"].get<std::string>()
                  << ": " << f["error"].get<std::string>() << '\n';
    }
    return 0;
}

int check_policy(const std::string& path) {
    policy_error error;
    if (!load_policy_file(path, &error)) {
        std::cerr << error.to_string() << '\n';
        return 1;
    }
    std::cout << path << ": OK\n";
    return 0;
}

int explain(const docker_settings& settings, const std::string& container, const policy& pol,
            firewall& fw) {
    asio::io_context ioc;
    docker_client docker(settings);
    int rc = 1;
    // An exception inside the coroutine leaves ioc.run() here and ends the command (main's
    // catch): the edge where exceptions belong.
    asio::co_spawn(ioc, explain_container(docker, container, pol, fw),
                   [&rc](const std::exception_ptr& e, int value) {
                       if (e) {
                           std::rethrow_exception(e);
                       }
                       rc = value;
                   });
    ioc.run();
    return rc;
}

int remove_all_rules(firewall& fw, spdlog::logger& log) {
    boost::system::error_code ec;
    const auto actual = fw.read_rules(ec);
    if (ec) {
        log.error("cannot read ufw's rules: {}", ec.message());
        return 1;
    }
    int failures = 0;
    const auto cleanup = make_plan({}, actual);
    for (const auto& op : cleanup.ops) {
        const auto result = fw.apply(op);
        if (result.ec) {
            ++failures;
        }
        log.info("removed {} of {}: {}", op.target.what.describe(), op.target.owner.name,
                 to_string(result.verdict.outcome));
    }
    // dockgate's host rules (bridge traffic, egress, the DOCKER-USER guard) go too.
    const auto host = fw.apply_host_rules({false, false, false});
    if (host.ec) {
        ++failures;
        log.error("cannot remove dockgate's host rules from after6.rules and the kernel: {} ({})",
                  host.ec.message(), host.verdict.detail);
    } else if (host.verdict.outcome != ufw_outcome::already_present) {
        log.info("removed dockgate's host rules from ufw's after6.rules and the kernel");
    }
    log.info("{} dockgate rule(s) removed, {} failure(s); rules without a dockgate tag untouched",
             cleanup.ops.size() - static_cast<std::size_t>(failures), failures);
    return failures == 0 ? 0 : 1;
}

} // namespace dockgate::daemon
