// The watch loop (Docker connection lifecycle) and the reconcile loop (ufw convergence).
#include "dockgate/reconcile/controller.hpp"

#include "dockgate/model/error.hpp"
#include "dockgate/service/log_fields.hpp"
#include "dockgate/docker/ndjson.hpp"

#include <nlohmann/json.hpp>

#include <net/if.h>

#include <random>

namespace dockgate {
namespace {

/// Containers inspected before a reconcile round writes rules: large enough that a burst costs
/// few rounds, small enough that the first rules of a storm go out within a fraction of a second.
constexpr std::size_t max_inspects_per_round = 32;

/// Runs a blocking callable; spawned on the worker thread (a coroutine, not a capturing
/// lambda coroutine, so its copy of `work` lives in the frame).
template <class Work> asio::awaitable<decltype(std::declval<Work>()())> invoke(Work work) {
    co_return work();
}

/// Counts a loop as running for the lifetime of its coroutine frame.
struct loop_guard {
    explicit loop_guard(int& counter) : counter_(counter) { ++counter_; }
    loop_guard(const loop_guard&) = delete;
    loop_guard& operator=(const loop_guard&) = delete;
    ~loop_guard() { --counter_; }
    int& counter_;
};

double random_unit() {
    static thread_local std::mt19937 generator{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(generator);
}

const std::string events_filter = R"({"type":["container","network"],)"
                                  R"("event":["start","die","destroy","connect","disconnect"]})";

} // namespace

template <class Work> auto controller::off_loop(Work work) -> asio::awaitable<decltype(work())> {
    co_return co_await asio::co_spawn(worker_.get_executor(), invoke(std::move(work)),
                                      asio::use_awaitable);
}

controller::controller(asio::io_context& ioc, controller_settings settings, policy pol,
                       firewall& fw, std::shared_ptr<spdlog::logger> log)
    : ioc_(ioc), settings_(std::move(settings)), policy_(std::move(pol)), firewall_(fw),
      log_(std::move(log)), docker_(settings_.docker), fsm_(settings_.backoff, random_unit),
      backoff_timer_(ioc), dirty_signal_(ioc), health_timer_(ioc) {}

controller::~controller() {
    worker_.join();
}

void controller::start() {
    next_drift_check_ = std::chrono::steady_clock::now() + settings_.drift_interval;
    asio::co_spawn(ioc_, watch_docker(), loop_ended("Docker watch"));
    asio::co_spawn(ioc_, reconcile_loop(), loop_ended("reconcile"));
}

std::function<void(std::exception_ptr)> controller::loop_ended(const char* loop) {
    // A loop that throws must not leave the daemon looking healthy (WATCHDOG=1 would go on
    // while nothing is followed): say what happened, stop, and let the exit status tell
    // systemd to restart dockgate.
    return [this, loop](std::exception_ptr error) {
        if (!error) {
            return;
        }
        std::string what = "unknown exception";
        try {
            std::rethrow_exception(error);
        } catch (const std::exception& e) {
            what = e.what();
        } catch (...) {
        }
        log_->critical("internal error: the {} loop ended with an exception ({}); stopping so "
                       "that dockgated is restarted",
                       loop, printable(what));
        failed_ = true;
        stop();
        if (fatal_callback_) {
            fatal_callback_();
        }
    };
}

void controller::stop() {
    if (stopping_) {
        return;
    }
    stopping_ = true;
    stop_requested_ = true;
    log_->info("stopping; ufw rules stay in place");
    if (stream_) {
        stream_->close();
    }
    backoff_timer_.cancel();
    dirty_signal_.cancel();
    health_timer_.cancel();
}

void controller::replace_policy(policy pol) {
    policy_ = std::move(pol);
    ++policy_generation_;
    setup_stale_ = true; // egress and the guard are the policy's
    for (const auto& [id, info] : containers_) {
        note_container(info, "policy reloaded");
    }
    mark_dirty();
}

void controller::record_ufw_latency(std::chrono::milliseconds took) {
    const double seconds = static_cast<double>(took.count()) / 1000.0;
    std::size_t bucket = 0;
    while (bucket < ufw_latency_bounds.size() && seconds > ufw_latency_bounds[bucket]) {
        ++bucket;
    }
    ++stats_.ufw_latency_buckets[bucket];
    stats_.ufw_latency_sum += seconds;
    ++stats_.ufw_calls;
}

void controller::schedule_retry() {
    retry_delay_ =
        std::min(std::max(retry_delay_ * 2, settings_.retry_initial), settings_.retry_max);
    retry_at_ = std::chrono::steady_clock::now() + retry_delay_;
}

void controller::mark_dirty() {
    dirty_ = true;
    dirty_signal_.cancel();
}

void controller::note_container(const container_info& info, const char* why) {
    const auto& result = evaluation_of(info);
    const log_scope container_fields(
        {{"CONTAINER_ID", info.id.substr(0, 12)}, {"CONTAINER_NAME", info.name}});
    // Bounded: a label of thousands of bad items makes a few lines, not thousands (journald's
    // rate limit would otherwise hide real errors); status keeps the count.
    for (std::size_t i = 0; i < result.rejected.size() && i < settings_.max_rejections_logged; ++i) {
        const auto& r = result.rejected[i];
        const log_scope rejection_fields({{"LABEL", r.label}, {"REASON", r.reason}});
        log_->warn("container {} ({}): label {}=\"{}\" rejected: {}", printable(info.name),
                   info.id.substr(0, 12), r.label, r.value, r.reason);
    }
    if (result.rejected.size() > settings_.max_rejections_logged) {
        log_->warn("container {} ({}): and {} more rejected label item(s) (see dockgated status)",
                   printable(info.name), info.id.substr(0, 12),
                   result.rejected.size() - settings_.max_rejections_logged);
    }
    if (result.wants_anything()) {
        log_->info("container {} ({}) {}: {} rule(s) wanted", info.name, info.id.substr(0, 12), why,
                   result.rules.size());
    }
}

void controller::request_resync() {
    // Closing the stream makes the watch loop reconnect: new stream, new snapshot, full round.
    if (stream_ && !stopping_) {
        stream_->close();
    }
}

void controller::handle_line(std::string_view line) {
    const auto decoded = decode_event(line);
    if (decoded.status == decode_status::malformed) {
        // It may have been a start or a stop: resync rather than miss it.
        log_->warn("skipped an event line Docker sent ({} bytes): {}; resyncing", line.size(),
                   decoded.reason);
        request_resync();
        return;
    }
    if (decoded.status != decode_status::relevant) {
        return;
    }
    const auto& event = *decoded.event;
    ++stats_.events;
    log_->debug("event {} for container {}", to_string(event.kind),
                event.container_id.substr(0, 12));
    if (event.kind == event_kind::container_stop) {
        to_inspect_.erase(event.container_id);
        if (event.container_id == inspecting_) {
            stopped_while_inspecting_ = true;
        }
        if (containers_.erase(event.container_id) > 0) {
            mark_dirty();
        }
        return;
    }
    if (event.kind == event_kind::network_change) {
        setup_stale_ = true; // a new network, or one whose settings matter, may be involved
    }
    to_inspect_.insert(event.container_id);
    mark_dirty();
}

asio::awaitable<void> controller::watch_docker() {
    const loop_guard running(running_loops_);
    ndjson_splitter splitter(
        settings_.max_event_line, [this](std::string_view line) { handle_line(line); },
        [this](std::size_t dropped) {
            // Labels ride in events, so a container with huge labels makes huge lines; the
            // event may have been a start or a stop, so resync rather than miss it.
            log_->warn("skipped an event line of {} bytes (over the {} byte limit); resyncing",
                       dropped, settings_.max_event_line);
            request_resync();
        });
    auto action = fsm_.on(conn_input::start);
    const auto socket = settings_.docker.socket_path;
    while (true) {
        if (stopping_ && fsm_.state() != conn_state::stopped) {
            action = fsm_.on(conn_input::stop);
        }
        auto report = [&](const char* what, const error_code& ec) {
            if (action.report_failure) {
                log_->warn("Docker at {}: {} failed: {}; retrying in {} ms (repeats of this "
                           "error are not logged)",
                           socket, what, ec.message(), action.wait.count());
            }
        };
        switch (action.kind) {
        case conn_action_kind::ping: {
            const auto ec = co_await docker_.ping();
            action = fsm_.on(ec ? conn_input::ping_failed : conn_input::ping_ok, ec);
            report("ping", ec);
            break;
        }
        case conn_action_kind::subscribe: {
            stream_ = std::make_unique<event_stream>(ioc_.get_executor());
            splitter.reset();
            const auto ec = co_await stream_->open(
                settings_.docker,
                docker_.versioned("/events?filters=" + url_encode(events_filter)));
            action = fsm_.on(ec ? conn_input::subscribe_failed : conn_input::subscribed, ec);
            report("event subscription", ec);
            break;
        }
        case conn_action_kind::snapshot: {
            const auto ec = co_await take_snapshot();
            action = fsm_.on(ec ? conn_input::snapshot_failed : conn_input::snapshot_ok, ec);
            report("container listing", ec);
            break;
        }
        case conn_action_kind::stream: {
            log_->info("{} to Docker at {} (API 1.{}), following events",
                       action.report_recovery ? "reconnected" : "connected", socket,
                       docker_.api_minor());
            auto active = std::make_shared<bool>(true);
            asio::co_spawn(ioc_, health_check(active), asio::detached);
            const auto ec = co_await stream_->read(
                [&splitter](std::string_view bytes) { splitter.feed(bytes); });
            *active = false;
            health_timer_.cancel();
            snapshot_valid_ = false;
            action = fsm_.on(conn_input::stream_lost, ec);
            if (!stopping_) {
                log_->warn("Docker event stream lost: {}; rules stay as they are until resync",
                           ec.message());
            }
            break;
        }
        case conn_action_kind::wait: {
            error_code ec;
            backoff_timer_.expires_after(action.wait);
            co_await backoff_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            action = fsm_.on(conn_input::backoff_elapsed);
            break;
        }
        case conn_action_kind::close:
        case conn_action_kind::none:
            if (stream_) {
                stream_->close();
            }
            co_return;
        }
    }
}

asio::awaitable<void> controller::health_check(std::shared_ptr<bool> active) {
    const loop_guard running(running_loops_);
    // 0: no timer of its own; the drift timer's tick pings instead (one wake-up, not two).
    if (settings_.health_interval.count() == 0) {
        co_return;
    }
    while (*active && !stopping_) {
        error_code ec;
        health_timer_.expires_after(settings_.health_interval);
        co_await health_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (!*active || stopping_) {
            co_return;
        }
        co_await ping_docker();
    }
}

asio::awaitable<void> controller::ping_docker() {
    const loop_guard running(running_loops_);
    if (fsm_.state() != conn_state::streaming || !stream_) {
        co_return;
    }
    const auto connections = fsm_.connections();
    const auto ping_ec = co_await docker_.ping();
    // Only the stream this ping was about is closed, not one opened while it waited.
    if (ping_ec && !stopping_ && fsm_.state() == conn_state::streaming &&
        fsm_.connections() == connections) {
        log_->warn("Docker stopped answering /_ping ({}); reconnecting", ping_ec.message());
        stream_->close();
    }
}

asio::awaitable<error_code> controller::list_containers(std::string id_prefix,
                                                       std::vector<nlohmann::json>& items) {
    // A list over the reply limit (containers with huge labels) is read again in 16 parts by
    // id prefix, and a part still too large in 16 smaller ones: no size makes every snapshot
    // fail for good. Past 3 hex digits one part holds at most a few containers; it is an error.
    std::string target = "/containers/json";
    if (!id_prefix.empty()) {
        // Docker matches the id filter as a regular expression anywhere in the id: anchored,
        // a part of k hex digits holds about 1/16^k of the containers.
        target += "?filters=" + url_encode(R"({"id":["^)" + id_prefix + R"("]})");
    }
    const auto reply = co_await docker_.get(docker_.versioned(target));
    if (reply.ec == errc::docker_reply_too_large && id_prefix.size() < 3) {
        log_->warn("Docker's container list{} is over {} bytes; reading it in parts",
                   id_prefix.empty() ? "" : " (ids " + id_prefix + "*)",
                   settings_.docker.max_reply_bytes);
        for (const char digit : std::string_view("0123456789abcdef")) {
            if (const auto ec = co_await list_containers(id_prefix + digit, items)) {
                co_return ec;
            }
        }
        co_return error_code{};
    }
    if (reply.ec) {
        co_return reply.ec;
    }
    auto list = nlohmann::json::parse(reply.body, nullptr, false);
    if (!list.is_array()) {
        log_->error("Docker's container list is not a JSON array; keeping rules as they are");
        co_return errc::docker_bad_reply;
    }
    for (auto& item : list) {
        // Only those that start with the prefix, whatever the Engine made of the filter.
        if (id_prefix.empty() || (item.is_object() && item.value("Id", "").starts_with(id_prefix))) {
            items.push_back(std::move(item));
        }
    }
    co_return error_code{};
}

asio::awaitable<error_code> controller::take_snapshot() {
    std::vector<nlohmann::json> list;
    if (const auto ec = co_await list_containers({}, list)) {
        co_return ec;
    }
    std::map<std::string, container_info> fresh;
    for (const auto& item : list) {
        std::string why;
        auto info = decode_list_item(item, &why);
        if (!info) {
            log_->warn("skipped a container in Docker's list: {}", why);
            continue;
        }
        if (info->running) {
            note_container(*info, "running");
            fresh.emplace(info->id, std::move(*info));
        }
    }
    containers_ = std::move(fresh);
    to_inspect_.clear();
    snapshot_valid_ = true;
    setup_stale_ = true;
    log_->info("Docker snapshot: {} running container(s)", containers_.size());
    mark_dirty();
    co_return error_code{};
}

asio::awaitable<void> controller::refresh_changed_containers() {
    // Only what was queued when the round began, and at most max_inspects_per_round of it:
    // during a storm events keep coming, and the containers already inspected must get their
    // rules now, not when the storm pauses. Whatever is left stays queued for the next round.
    std::vector<std::string> round;
    while (!to_inspect_.empty() && round.size() < max_inspects_per_round) {
        round.push_back(to_inspect_.extract(to_inspect_.begin()).value());
    }
    for (auto next = round.begin(); next != round.end() && !stopping_; ++next) {
        const auto& id = *next;
        inspecting_ = id;
        stopped_while_inspecting_ = false;
        const auto reply = co_await docker_.get(docker_.versioned("/containers/" + id + "/json"));
        inspecting_.clear();
        if (stopped_while_inspecting_) {
            continue; // the stop event already removed it; a later start queues it again
        }
        if (reply.ec == errc::docker_not_found) {
            containers_.erase(id); // vanished between event and inspect: it is gone
            continue;
        }
        if (reply.ec) {
            log_->warn("inspect of container {} failed: {}; will resync", id.substr(0, 12),
                       reply.ec.message());
            to_inspect_.insert(next, round.end());
            if (stream_) {
                stream_->close(); // reconnect does a full snapshot, so nothing is lost
            }
            co_return;
        }
        std::string why;
        const auto info = decode_inspect(nlohmann::json::parse(reply.body, nullptr, false), &why);
        if (!info) {
            log_->warn("inspect of container {} returned an unusable reply: {}", id.substr(0, 12),
                       why);
            continue;
        }
        if (!info->running) {
            containers_.erase(id);
            continue;
        }
        const auto known = containers_.find(id);
        if (known == containers_.end() || !(known->second == *info)) {
            note_container(*info, known == containers_.end() ? "started" : "changed");
        }
        containers_[id] = *info;
    }
    if (!to_inspect_.empty()) {
        mark_dirty();
    }
}

std::vector<owned_rule> controller::desired_rules() {
    std::vector<owned_rule> desired;
    for (const auto& [id, info] : containers_) {
        const auto& result = evaluation_of(info);
        desired.insert(desired.end(), result.rules.begin(), result.rules.end());
    }
    // Entries of containers that are gone go with them.
    std::erase_if(evaluations_, [this](const auto& entry) { return !containers_.contains(entry.first); });
    return desired;
}

const evaluation& controller::evaluation_of(const container_info& info) const {
    // Labels are untrusted and evaluated on every round, status request and watchdog tick:
    // once per container, policy and Docker setup is enough. Comparing the stored copy costs
    // as much as reading the labels once, never as much as evaluating them.
    const auto mode = publish_mode();
    auto& cached = evaluations_[info.id];
    if (!cached.result || cached.policy_generation != policy_generation_ || cached.mode != mode ||
        !(cached.info == info)) {
        cached = {info, policy_generation_, mode, evaluate(info, policy_, mode)};
    }
    return *cached.result;
}

namespace {

/// The names of this network namespace's interfaces (no privilege needed).
std::vector<std::string> host_interfaces() {
    std::vector<std::string> names;
    if (auto* list = ::if_nameindex()) {
        for (const auto* entry = list; entry->if_index != 0 && entry->if_name != nullptr; ++entry) {
            names.emplace_back(entry->if_name);
        }
        ::if_freenameindex(list);
    }
    return names;
}

} // namespace

publish_target controller::publish_mode() const {
    // With Docker's ip6tables on, a published port reaches the container by DNAT through
    // FORWARD, where the container port's route rule decides; otherwise docker-proxy answers
    // on the host, where an IN rule for the host port does.
    return posture_.mode == docker_ip6_mode::iptables || posture_.mode == docker_ip6_mode::nftables
               ? publish_target::container_port
               : publish_target::host_port;
}

asio::awaitable<void> controller::refresh_docker_setup() {
    setup_stale_ = false;
    std::string why;
    const auto reading = co_await read_docker_setup(docker_, &why);
    if (!reading) {
        log_->warn("cannot read Docker's setup ({}); rules are written but whether Docker lets "
                   "their traffic reach ufw is not known",
                   why);
        co_return;
    }
    for (const auto& warning : reading->warnings) {
        log_->warn("Docker's setup: {}", warning);
    }
    error_code ec;
    auto read_kernel_work = [this, &ec] { return firewall_.read_kernel(ec); };
    auto kernel = co_await off_loop(std::move(read_kernel_work));
    if (ec) {
        log_->warn("cannot read the kernel's IPv6 tables ({}); whether Docker's rules come before "
                   "ufw's is not known",
                   ec.message());
        co_return;
    }
    engine_ = reading->engine;
    kernel_ = std::move(kernel);
    posture_ = assess_host(
        *engine_, reading->networks, kernel_,
        policy_.docker_user_guard ? guard_setting::automatic : guard_setting::off, policy_.egress);
    posture_.stray_bridges = bridges_not_docker(host_interfaces(), reading->networks);
    auto summary = posture_.summary();
    if (summary != reported_posture_) {
        log_->info("Docker {} ({} backend), IPv6 filtering by Docker: {}", engine_->version,
                   engine_->nftables() ? "nftables" : "iptables", to_string(posture_.mode));
        for (const auto& line : summary) {
            const bool bad = line.find("NOT") != std::string::npos ||
                             line.find("OPEN") != std::string::npos ||
                             line.find("cannot") != std::string::npos;
            const log_scope fields({{"POSTURE", line}});
            if (bad) {
                log_->warn("{}", line);
            } else {
                log_->info("{}", line);
            }
        }
        reported_posture_ = std::move(summary);
    }
}

asio::awaitable<bool> controller::ensure_host_rules(bool ufw_active) {
    if (!engine_ || settings_.dry_run) {
        co_return true;
    }
    // Not while ufw is disabled: the guard would send every new connection into an emptied
    // ufw6-before-forward and drop it, closing what the admin just opened.
    const host_rules_request want{posture_.bridge_rules_wanted, posture_.egress,
                                  posture_.guard_wanted && ufw_active};
    const bool kernel_matches = !kernel_.ufw_chains || (kernel_.bridge_rules == want.bridge_rules &&
                                                        kernel_.guard == want.guard);
    if (host_rules_written_ == want && kernel_matches) {
        co_return true;
    }
    auto work = [this, want] { return firewall_.apply_host_rules(want); };
    const auto result = co_await off_loop(std::move(work));
    if (result.ec) {
        ++stats_.failures;
        log_->error("cannot write dockgate's host rules to ufw's after6.rules: {} ({})",
                    result.ec.message(), result.verdict.detail);
        co_return false;
    }
    host_rules_written_ = want;
    if (kernel_.ufw_chains) {
        kernel_.bridge_rules = want.bridge_rules;
        kernel_.guard = want.guard;
    }
    if (result.verdict.outcome != ufw_outcome::already_present) {
        log_->info("host rules in ufw's after6.rules: bridge traffic{} {}, DOCKER-USER guard {}",
                   want.egress ? " and egress" : "",
                   want.bridge_rules ? "allowed" : "left to Docker", want.guard ? "on" : "off");
    }
    co_return true;
}

void controller::assess_rules() {
    std::map<std::string, std::string> states;
    assessments_.clear();
    stats_.rules_effective = 0;
    stats_.rules_dead = 0;
    stats_.published_open_past_ufw = 0;
    for (const auto& [id, info] : containers_) {
        const auto& result = evaluation_of(info);
        auto& rows = assessments_[id];
        const log_scope container_fields(
            {{"CONTAINER_ID", info.id.substr(0, 12)}, {"CONTAINER_NAME", info.name}});
        for (const auto& wanted : result.rules) {
            const auto& r = wanted.what;
            if (r.kind != rule_kind::route) {
                continue;
            }
            const auto address = r.destination.to_string();
            const auto on = std::find_if(info.networks.begin(), info.networks.end(),
                                         [&](const auto& n) { return n.global_ipv6 == address; });
            const bool published =
                std::any_of(info.published.begin(), info.published.end(), [&](const auto& b) {
                    return b.proto == to_string(r.proto) && r.port.first <= b.container_port &&
                           b.container_port <= r.port.last;
                });
            const auto verdict =
                assess_route(posture_, kernel_, on == info.networks.end() ? "" : on->network,
                             address, published);
            rows.push_back({r.describe(), to_string(verdict.state), verdict.why, verdict.fix});
            stats_.rules_effective += verdict.state == rule_state::effective ? 1U : 0U;
            stats_.rules_dead += verdict.state == rule_state::dead ? 1U : 0U;
            const auto key = info.id + " " + r.tuple();
            states[key] = to_string(verdict.state);
            const auto before = reported_states_.find(key);
            if (before != reported_states_.end() && before->second == states[key]) {
                continue;
            }
            const log_scope rule_fields({{"RULE", r.describe()}, {"STATE", states[key]}});
            if (verdict.state == rule_state::dead) {
                log_->warn("container {}: {} does NOT open it: {}; fix: {}", info.name,
                           r.describe(), verdict.why, verdict.fix);
            } else if (before != reported_states_.end() && before->second == "dead") {
                log_->info("container {}: {} now opens it", info.name, r.describe());
            }
        }
        // Published ports that Docker accepts before ufw, unless a rule of this container's
        // asks for that port anyway.
        for (const auto& b : info.published) {
            if (b.loopback_only) {
                continue; // Docker keeps it on the host's loopback
            }
            bool bypass = false;
            std::string why;
            std::string fix;
            for (const auto& n : info.networks) {
                if (const auto* net = posture_.find(n.network); net && net->published_bypass) {
                    bypass = true;
                    why = net->why;
                    fix = net->fix;
                }
            }
            const bool asked =
                std::any_of(result.rules.begin(), result.rules.end(), [&](const auto& w) {
                    return w.what.kind == rule_kind::route && to_string(w.what.proto) == b.proto &&
                           w.what.port.first <= b.container_port &&
                           b.container_port <= w.what.port.last;
                });
            if (!bypass || asked) {
                continue;
            }
            ++stats_.published_open_past_ufw;
            const auto port = std::to_string(b.host_port) + "->" +
                              std::to_string(b.container_port) + "/" + b.proto;
            rows.push_back({"published port " + port, "open past ufw", why, fix});
            const auto key = info.id + " publish " + port;
            states[key] = "bypass";
            if (!reported_states_.contains(key)) {
                const log_scope fields({{"PORT", port}, {"STATE", "bypass"}});
                log_->warn("container {}: published port {} is OPEN to everyone past ufw, with no "
                           "label asking for it: {}; fix: {}",
                           info.name, port, why, fix);
            }
        }
        if (rows.empty()) {
            assessments_.erase(id);
        }
    }
    reported_states_ = std::move(states);
}

asio::awaitable<void> controller::reconcile_loop() {
    const loop_guard running(running_loops_);
    while (!stopping_) {
        const auto now = std::chrono::steady_clock::now();
        bool drift_check = false;
        if (settings_.drift_interval.count() > 0 && now >= next_drift_check_) {
            next_drift_check_ = now + settings_.drift_interval;
            drift_check = true;
            setup_stale_ = true; // also catches `ufw reload` or a dockerd restart changing it
            if (settings_.health_interval.count() == 0) {
                asio::co_spawn(ioc_, ping_docker(), asio::detached);
            }
        }
        const bool retry_due = retry_at_ && now >= *retry_at_;
        const bool recheck_due = recheck_at_ && now >= *recheck_at_;
        if (!dirty_ && !drift_check && !retry_due && !recheck_due) {
            auto wake = settings_.drift_interval.count() > 0 ? next_drift_check_
                                                             : now + std::chrono::hours(24);
            for (const auto& due : {retry_at_, recheck_at_}) {
                if (due) {
                    wake = std::min(wake, *due);
                }
            }
            error_code ec;
            dirty_signal_.expires_at(wake);
            co_await dirty_signal_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            continue;
        }
        if (!snapshot_valid_) {
            // Without a current view of Docker, changing rules would act on stale data. Wait
            // for the snapshot after the reconnect (it marks dirty); its full round covers any
            // pending retry or re-read, so those are dropped rather than left due: a due time
            // that stays due would spin this loop and starve the reconnect itself.
            dirty_ = false;
            retry_at_.reset();
            recheck_at_.reset();
            error_code ec;
            dirty_signal_.expires_at(std::chrono::steady_clock::time_point::max());
            co_await dirty_signal_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            continue;
        }
        if (dirty_ && settings_.coalesce_window.count() > 0) {
            error_code ec;
            dirty_signal_.expires_after(settings_.coalesce_window);
            co_await dirty_signal_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
        // A round that only the drift timer asked for finds hand edits: report them as drift.
        const bool drift_only = (drift_check || recheck_due) && !dirty_ && !retry_due;
        dirty_ = false;
        retry_at_.reset();
        recheck_at_.reset();
        co_await refresh_changed_containers();
        if (!stopping_ && snapshot_valid_) {
            co_await reconcile_once(drift_only);
        }
    }
}

asio::awaitable<void> controller::reconcile_once(bool drift_only) {
    ++stats_.reconciles;
    auto probe_work = [this] { return firewall_.probe(); };
    const auto state = co_await off_loop(std::move(probe_work));
    write_path_ = state.path;
    if (state.path == write_path::verifying && !retry_at_) {
        // Look again shortly, so that the status view does not show "verifying" for a whole
        // drift interval after the check has finished.
        retry_at_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    }
    if (!state.active) {
        log_->warn("ufw is inactive: dockgate's rules are recorded but not enforced until "
                   "`ufw enable`");
    }
    if (setup_stale_) {
        co_await refresh_docker_setup();
    }
    const bool host_rules_ok = co_await ensure_host_rules(state.active);
    auto desired = desired_rules();
    error_code read_ec;
    // Lambdas are named before co_await: GCC 12 destroys temporaries in a co_await
    // expression twice (PR 107288 family).
    auto read_work = [this, &read_ec] { return firewall_.read_rules(read_ec); };
    const auto actual = co_await off_loop(std::move(read_work));
    for (const auto& warning : actual.warnings) {
        log_->warn("ufw rules file: {}", warning);
    }
    firewall_healthy_ = read_ec != errc::executor_unavailable && read_ec != errc::ufw_timeout;
    if (read_ec) {
        ++stats_.failures;
        log_->error("cannot read ufw's rules ({}); no change made", read_ec.message());
        schedule_retry();
        co_return;
    }
    // dockgate never removes a rule it does not own, so one that went away since the last read
    // was deleted by hand or lost to ufw's own race between two ufw commands: say so, since the
    // admin may not know.
    if (foreign_seen_) {
        const auto gone = vanished_rules(*foreign_seen_, actual);
        std::size_t logged = 0;
        for (const auto& [tuple, comment] : gone) {
            if (logged++ == settings_.max_rejections_logged) {
                break; // bounded, like rejections: the rest is one line
            }
            const auto shown =
                comment.empty() ? tuple : tuple + " comment '" + printable(comment) + "'";
            const log_scope fields({{"RULE", shown}});
            log_->warn("a rule dockgate does not own is gone from ufw: {} (deleted by hand, or "
                       "lost to ufw commands that ran at the same time)",
                       shown);
        }
        if (gone.size() > settings_.max_rejections_logged) {
            log_->warn("and {} more rules dockgate does not own are gone from ufw",
                       gone.size() - settings_.max_rejections_logged);
        }
    }
    foreign_seen_ = foreign_rules(actual);
    const auto todo = make_plan(desired, actual);
    // Reported once per rule, not on every reconcile.
    std::set<std::string> covered_now;
    for (const auto& covered : todo.admin_covered) {
        covered_now.insert(covered.what.tuple());
        if (reported_covered_.contains(covered.what.tuple())) {
            continue;
        }
        log_->info("container {}: {} already covered by an admin rule (same address, port and "
                   "source); not adding one",
                   covered.owner.name, covered.what.describe());
    }
    reported_covered_ = std::move(covered_now);
    bool failed = false;
    std::size_t owned = 0;
    for (const auto& entry : actual.entries) {
        owned += entry.owner ? 1U : 0U;
    }
    // Failures stay visible until a later round shows the operation done.
    std::vector<failed_op> round_failures;
    if (settings_.dry_run) {
        for (const auto& op : todo.ops) {
            log_->info("dry run: would {} {} ({}) for {}", to_string(op.kind),
                       op.target.what.describe(), op.reason, op.target.owner.name);
        }
    }
    std::vector<apply_result> results(settings_.dry_run ? 0 : todo.ops.size());
    // Filled by the worker thread; read here only after off_loop has returned.
    std::size_t answered = 0;
    pending_ops_ = results.size();
    if (!results.empty()) {
        // One batch per round: the firewall decides how many ufw or ip6tables-restore runs
        // that takes.
        auto apply_work = [this, &todo, &results, &answered] {
            firewall_.apply_batch(todo.ops, [&](std::size_t index, const apply_result& result) {
                results[index] = result;
                answered = index + 1;
                return !stop_requested_.load();
            });
        };
        co_await off_loop(std::move(apply_work));
    }
    pending_ops_ = 0;
    for (std::size_t i = 0; i < answered; ++i) {
        const auto& op = todo.ops[i];
        const auto& result = results[i];
        const log_scope op_fields({{"CONTAINER_ID", op.target.owner.short_id},
                                   {"CONTAINER_NAME", op.target.owner.name},
                                   {"RULE", op.target.what.describe()},
                                   {"ACTION", to_string(op.kind)},
                                   {"REASON", op.reason}});
        record_ufw_latency(result.took);
        firewall_healthy_ =
            result.ec != errc::executor_unavailable && result.ec != errc::ufw_timeout;
        if (result.ec) {
            ++stats_.failures;
            failed = true;
            round_failures.push_back({op.target.owner.name, op.target.owner.short_id,
                                      to_string(op.kind), op.target.what.describe(),
                                      result.ec.message() + (result.verdict.detail.empty()
                                                                 ? std::string{}
                                                                 : ": " + result.verdict.detail)});
            log_->error("container {}: {} {} failed after {} ms: {} ({})", op.target.owner.name,
                        to_string(op.kind), op.target.what.describe(), result.took.count(),
                        result.ec.message(), result.verdict.detail);
            continue;
        }
        if (op.kind == op_kind::add) {
            ++stats_.rules_added;
            // A re-tag ("owner changed": updated in place) or a rule already there was counted
            // from the file; only a new rule adds one.
            if (result.verdict.outcome != ufw_outcome::updated &&
                result.verdict.outcome != ufw_outcome::already_present) {
                ++owned;
            }
        } else {
            ++stats_.rules_removed;
            --owned;
        }
        if (drift_only) {
            ++stats_.drift_corrections;
        }
        log_->info("container {} ({}): {} {} [{}{}; {}] in {} ms", op.target.owner.name,
                   op.target.owner.short_id, op.kind == op_kind::add ? "allowed" : "removed",
                   op.target.what.describe(), drift_only ? "drift: " : "", op.reason,
                   to_string(result.verdict.outcome), result.took.count());
    }
    if (stopping_) {
        co_return;
    }
    if (engine_) {
        assess_rules();
    }
    failed = failed || !host_rules_ok;
    stats_.owned_rules = owned;
    failed_ops_ = std::move(round_failures);
    if (answered > 0 && settings_.recheck_after_write.count() > 0) {
        recheck_at_ = std::chrono::steady_clock::now() + settings_.recheck_after_write;
    }
    if (failed) {
        schedule_retry();
        log_->warn("retrying failed ufw operations in {} ms", retry_delay_.count());
        co_return;
    }
    retry_delay_ = std::chrono::milliseconds(0);
    stats_.last_sync = std::chrono::system_clock::now();
    if (!stats_.synced_once) {
        stats_.synced_once = true;
        if (settings_.dry_run) {
            log_->info("dry run: plan logged for {} container(s); ufw left as it is",
                       containers_.size());
        } else {
            log_->info("in sync: {} container(s), {} dockgate rule(s)", containers_.size(), owned);
        }
    }
    if (synced_callback_) {
        synced_callback_();
    }
}

} // namespace dockgate

namespace dockgate {

bool controller::healthy() const {
    return !failed_ && fsm_.state() == conn_state::streaming && firewall_healthy_;
}

nlohmann::json controller::status() const {
    using json = nlohmann::json;
    json containers = json::array();
    for (const auto& [id, info] : containers_) {
        const auto& result = evaluation_of(info);
        const auto assessed = assessments_.find(id);
        const bool labelled =
            std::any_of(info.labels.begin(), info.labels.end(), [this](const auto& l) {
                return l.first.starts_with(policy_.label_prefix);
            });
        if (!result.wants_anything() && assessed == assessments_.end() && !labelled) {
            continue;
        }
        json rules = json::array();
        for (const auto& r : result.rules) {
            rules.push_back(r.what.describe());
        }
        // Bounded like the log: a label of thousands of bad items must not make a document
        // of megabytes; the total is given.
        constexpr std::size_t max_rejections_shown = 20;
        json rejected = json::array();
        for (const auto& r : result.rejected) {
            if (rejected.size() == max_rejections_shown) {
                break;
            }
            rejected.push_back({{"label", r.label}, {"value", r.value}, {"reason", r.reason}});
        }
        json states = json::array();
        if (assessed != assessments_.end()) {
            for (const auto& a : assessed->second) {
                states.push_back(
                    {{"rule", a.rule}, {"state", a.state}, {"why", a.why}, {"fix", a.fix}});
            }
        }
        json entry{{"id", id.substr(0, 12)},
                   {"name", info.name},
                   {"rules", rules},
                   {"rule_states", states},
                   {"rejected", rejected},
                   {"rejected_total", result.rejected.size()}};
        if (result.rules.empty() && result.rejected.empty()) {
            entry["why_no_rules"] = why_no_rules(info, policy_);
        }
        containers.push_back(std::move(entry));
    }
    json failed = json::array();
    for (const auto& f : failed_ops_) {
        failed.push_back({{"container", f.container},
                          {"id", f.short_id},
                          {"action", f.action},
                          {"rule", f.rule},
                          {"error", f.error}});
    }
    json last_sync = nullptr;
    if (stats_.last_sync) {
        const auto seconds =
            std::chrono::duration_cast<std::chrono::seconds>(stats_.last_sync->time_since_epoch())
                .count();
        last_sync = seconds;
    }
    return {{"docker",
             {{"state", to_string(fsm_.state())},
              {"socket", settings_.docker.socket_path},
              {"api_version", "1." + std::to_string(docker_.api_minor())},
              {"connections", fsm_.connections()}}},
            {"in_sync", snapshot_valid_ && !dirty_ && pending_ops_ == 0 && failed_ops_.empty()},
            {"last_sync_unix", last_sync},
            {"dry_run", settings_.dry_run},
            {"ufw_write_path", to_string(write_path_)},
            {"docker_setup", setup_status()},
            {"containers", containers},
            {"owned_rules", stats_.owned_rules},
            {"pending_operations", pending_ops_},
            {"failed_operations", failed},
            {"counters",
             {{"events", stats_.events},
              {"reconciles", stats_.reconciles},
              {"rules_added", stats_.rules_added},
              {"rules_removed", stats_.rules_removed},
              {"failures", stats_.failures},
              {"drift_corrections", stats_.drift_corrections}}}};
}

nlohmann::json controller::setup_status() const {
    if (!engine_) {
        return nullptr;
    }
    return {{"engine", engine_->version},
            {"firewall_backend", engine_->nftables() ? "nftables" : "iptables"},
            {"docker_ip6_filtering", to_string(posture_.mode)},
            {"docker_user_guard", posture_.guard_wanted},
            {"bridge_rules", posture_.bridge_rules_wanted},
            {"egress", posture_.egress},
            {"rules_effective", stats_.rules_effective},
            {"rules_dead", stats_.rules_dead},
            {"published_open_past_ufw", stats_.published_open_past_ufw},
            {"summary", posture_.summary()}};
}

} // namespace dockgate

namespace dockgate {

std::string render_metrics(const controller_stats& stats, bool docker_connected) {
    std::string out;
    auto metric = [&out](const char* name, const char* type, const char* help,
                         const std::string& value) {
        out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" +
               name + " " + value + "\n";
    };
    metric("dockgate_events_total", "counter", "Docker events acted on.",
           std::to_string(stats.events));
    metric("dockgate_reconciles_total", "counter", "Reconcile rounds run.",
           std::to_string(stats.reconciles));
    metric("dockgate_rules_added_total", "counter", "ufw rules added.",
           std::to_string(stats.rules_added));
    metric("dockgate_rules_removed_total", "counter", "ufw rules removed.",
           std::to_string(stats.rules_removed));
    metric("dockgate_failures_total", "counter", "Failed ufw or rules-file operations.",
           std::to_string(stats.failures));
    metric("dockgate_drift_corrections_total", "counter", "Rules repaired after hand edits.",
           std::to_string(stats.drift_corrections));
    metric("dockgate_owned_rules", "gauge", "ufw rules carrying a dockgate tag.",
           std::to_string(stats.owned_rules));
    out += "# HELP dockgate_rules Route rules wanted by running containers, by what Docker does "
           "to their traffic (dead: Docker drops it before ufw).\n# TYPE dockgate_rules gauge\n"
           "dockgate_rules{state=\"effective\"} " +
           std::to_string(stats.rules_effective) + "\ndockgate_rules{state=\"dead\"} " +
           std::to_string(stats.rules_dead) + "\n";
    metric("dockgate_published_ports_open_past_ufw", "gauge",
           "Published container ports Docker accepts before ufw with no label asking for them.",
           std::to_string(stats.published_open_past_ufw));
    metric("dockgate_docker_connected", "gauge", "1 while the Docker event stream is followed.",
           docker_connected ? "1" : "0");
    if (stats.last_sync) {
        metric("dockgate_last_sync_timestamp_seconds", "gauge",
               "Unix time of the last successful reconcile.",
               std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                  stats.last_sync->time_since_epoch())
                                  .count()));
    }
    out += "# HELP dockgate_ufw_call_duration_seconds Duration of ufw runs.\n"
           "# TYPE dockgate_ufw_call_duration_seconds histogram\n";
    unsigned long cumulative = 0;
    for (std::size_t i = 0; i < stats.ufw_latency_buckets.size(); ++i) {
        cumulative += stats.ufw_latency_buckets[i];
        std::string bound = "+Inf";
        if (i < ufw_latency_bounds.size()) {
            bound = fmt::format("{}", ufw_latency_bounds[i]);
        }
        out += "dockgate_ufw_call_duration_seconds_bucket{le=\"" + bound + "\"} " +
               std::to_string(cumulative) + "\n";
    }
    out +=
        "dockgate_ufw_call_duration_seconds_sum " + fmt::format("{}", stats.ufw_latency_sum) + "\n";
    out += "dockgate_ufw_call_duration_seconds_count " + std::to_string(stats.ufw_calls) + "\n";
    return out;
}

} // namespace dockgate
