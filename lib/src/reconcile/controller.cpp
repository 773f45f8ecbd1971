// The driver's coroutines: the reconcile loop and its rounds, fed by the Docker watch.
#include "dockgate/reconcile/controller.hpp"

#include "dockgate/docker/docker_event.hpp"
#include "dockgate/model/error.hpp"
#include "dockgate/reconcile/off_loop.hpp"
#include "dockgate/reconcile/round_accounting.hpp"
#include "dockgate/reconcile/round_report.hpp"
#include "dockgate/service/log_fields.hpp"

namespace dockgate {
namespace {

docker_watch_settings watch_of(const controller_settings& s) {
    return {s.docker, s.backoff, s.health_interval, s.max_event_line};
}

std::chrono::steady_clock::time_point steady(mono_time t) {
    return std::chrono::steady_clock::time_point(t.time_since_epoch());
}

} // namespace

mono_time controller::now() {
    return mono_time(std::chrono::steady_clock::now().time_since_epoch());
}

controller::controller(asio::io_context& ioc, controller_settings settings, policy pol,
                       firewall& fw, std::shared_ptr<spdlog::logger> log)
    : ioc_(ioc), settings_(std::move(settings)), policy_(std::move(pol)), firewall_(fw),
      log_(std::move(log)),
      watch_(ioc, watch_of(settings_), log_,
             {[this](std::string_view line) { handle_line(line); },
              [this](std::vector<container_info> running) { take_snapshot(std::move(running)); },
              [this] { schedule_.snapshot_lost(); }},
             running_loops_),
      cache_(settings_.max_inspects_per_round), schedule_(settings_.schedule, now()),
      dirty_signal_(ioc), setup_(fw, worker_, log_) {}

controller::~controller() {
    worker_.join();
}

void controller::start() {
    asio::co_spawn(ioc_, watch_.run(), loop_ended("Docker watch"));
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
        log_->critical("internal error: the {} loop ended with an exception ({}); stopping so "
                       "that dockgated is restarted",
                       loop, printable(exception_text(error)));
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
    watch_.stop();
    dirty_signal_.cancel();
}

void controller::replace_policy(policy pol) {
    policy_ = std::move(pol);
    ++policy_generation_;
    setup_.mark_stale(); // egress and the guard are the policy's
    for (const auto& [id, info] : cache_.containers()) {
        note_container(info, "policy reloaded");
    }
    mark_dirty();
}

void controller::mark_dirty() {
    schedule_.mark_dirty();
    dirty_signal_.cancel();
}

const evaluation& controller::evaluation_of(const container_info& info) const {
    return cache_.evaluation_of(info, policy_, policy_generation_, setup_.publish_mode());
}

void controller::note_container(const container_info& info, const char* why) {
    log_evaluation(*log_, info, evaluation_of(info), why, settings_.max_rejections_logged);
}

void controller::handle_line(std::string_view line) {
    const auto decoded = decode_event(line);
    if (decoded.status == decode_status::malformed) {
        // It may have been a start or a stop: resync rather than miss it.
        log_->warn("skipped an event line Docker sent ({} bytes): {}; resyncing", line.size(),
                   decoded.reason);
        watch_.resync();
        return;
    }
    if (decoded.status != decode_status::relevant) {
        return;
    }
    const auto& event = *decoded.event;
    ++counters_.events;
    log_->debug("event {} for container {}", to_string(event.kind),
                event.container_id.substr(0, 12));
    if (event.kind == event_kind::network_change && !setup_.knows_network(event.network_id)) {
        // A network the last reading did not have. Joining or leaving a known one changes
        // nothing there, and the reading costs a listing of the kernel's whole IPv6 tables.
        setup_.mark_stale();
    }
    if (cache_.on_event(event)) {
        mark_dirty();
    }
}

void controller::take_snapshot(std::vector<container_info> running) {
    for (const auto& info : running) {
        note_container(info, "running");
    }
    cache_.replace(std::move(running));
    schedule_.snapshot_taken();
    setup_.mark_stale();
    log_->info("Docker snapshot: {} running container(s)", cache_.containers().size());
    mark_dirty();
}

asio::awaitable<void> controller::refresh_changed_containers() {
    const auto round = cache_.take_inspect_round();
    for (auto next = round.begin(); next != round.end() && !stopping_; ++next) {
        cache_.begin_inspect(*next);
        error_code ec;
        const auto reply = co_await watch_.inspect(*next, ec);
        if (ec) {
            cache_.requeue(std::vector<std::string>(
                next, round.end())); // the resync's snapshot supersedes them
            co_return;
        }
        const auto effect = cache_.finish_inspect(*next, reply);
        if (effect == inspect_effect::started || effect == inspect_effect::changed) {
            note_container(cache_.containers().at(*next),
                           effect == inspect_effect::started ? "started" : "changed");
        }
    }
    if (cache_.inspects_pending()) {
        mark_dirty();
    }
}

std::vector<owned_rule> controller::desired_rules() {
    std::vector<owned_rule> desired;
    for (const auto& [id, info] : cache_.containers()) {
        const auto& result = evaluation_of(info);
        desired.insert(desired.end(), result.rules.begin(), result.rules.end());
    }
    cache_.prune_evaluations(); // entries of containers that are gone go with them
    return desired;
}

asio::awaitable<void> controller::reconcile_loop() {
    const loop_guard running(running_loops_);
    while (!stopping_) {
        const auto step = schedule_.next(now());
        if (step.drift_tick) {
            setup_.mark_stale(); // also catches `ufw reload` or a dockerd restart changing it
            if (settings_.health_interval.count() == 0) {
                asio::co_spawn(ioc_, watch_.ping(), asio::detached);
            }
        }
        error_code ec;
        switch (step.what) {
        case schedule_step::kind::wait_until:
            dirty_signal_.expires_at(steady(step.until));
            co_await dirty_signal_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            continue;
        case schedule_step::kind::wait_for_snapshot:
            dirty_signal_.expires_at(std::chrono::steady_clock::time_point::max());
            co_await dirty_signal_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            continue;
        case schedule_step::kind::run_round:
            break;
        }
        if (step.coalesce_first) {
            dirty_signal_.expires_after(settings_.schedule.coalesce_window);
            co_await dirty_signal_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
        schedule_.round_started();
        co_await refresh_changed_containers();
        if (!stopping_ && schedule_.snapshot_valid()) {
            co_await reconcile_once(step.drift_only);
        }
    }
}

asio::awaitable<void> controller::reconcile_once(bool drift_only) {
    ++counters_.reconciles;
    auto probe_work = [this] { return firewall_.probe(); };
    const auto state = co_await off_loop(worker_, std::move(probe_work));
    write_path_ = state.path;
    if (state.path == write_path::verifying) {
        schedule_.ufw_verifying(now());
    }
    if (!state.active) {
        log_->warn("ufw is inactive: dockgate's rules are recorded but not enforced until "
                   "`ufw enable`");
    }
    if (setup_.stale()) {
        co_await setup_.refresh(watch_.client(), policy_);
    }
    const bool host_rules_ok =
        co_await setup_.ensure_host_rules(state.active, settings_.dry_run, counters_);
    auto desired = desired_rules();
    error_code read_ec;
    auto read_work = [this, &read_ec] {
        return firewall_.read_rules_since(actual_.version, read_ec);
    };
    auto actual = co_await off_loop(worker_, std::move(read_work));
    for (const auto& warning : actual.warnings) {
        log_->warn("ufw rules file: {}", warning);
    }
    firewall_healthy_ = firewall_answering(read_ec);
    if (read_ec) {
        ++counters_.failures;
        log_->error("cannot read ufw's rules ({}); no change made", read_ec.message());
        schedule_.round_failed(now());
        co_return;
    }
    take_reading(std::move(actual));
    const auto todo = make_plan(desired, actual_index_);
    log_covered(*log_, todo, reported_covered_);
    std::vector<apply_result> results;
    const auto answered = co_await apply_plan(todo, results);
    if (!stopping_) {
        finish_round(todo, results, answered, actual_index_.owned.size(), drift_only,
                     host_rules_ok);
    }
}

void controller::take_reading(rules_file_contents actual) {
    if (actual.unchanged) {
        return; // the same rules as last time: nothing went away, the index holds
    }
    if (!actual_.entries.empty()) { // not the first reading, nor after an empty one
        log_vanished(*log_, vanished_rules(foreign_rules(actual_), actual),
                     settings_.max_rejections_logged);
    }
    actual_ = std::move(actual);
    actual_index_ = index_rules(actual_);
}

asio::awaitable<std::size_t> controller::apply_plan(const plan& todo,
                                                    std::vector<apply_result>& results) {
    if (settings_.dry_run) {
        log_dry_run(*log_, todo);
        co_return 0;
    }
    results.resize(todo.ops.size());
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
        co_await off_loop(worker_, std::move(apply_work));
    }
    pending_ops_ = 0;
    co_return answered;
}

void controller::finish_round(const plan& todo, const std::vector<apply_result>& results,
                              std::size_t answered, std::size_t owned_before, bool drift_only,
                              bool host_rules_ok) {
    log_results(*log_, todo, results, answered, drift_only);
    auto outcome = account_round(todo, results, answered, owned_before, drift_only, counters_);
    if (answered > 0) {
        firewall_healthy_ = outcome.firewall_answering;
        schedule_.round_wrote(now());
    }
    if (setup_.known()) {
        assessed_ = assess_containers(
            cache_.containers(),
            [this](const auto& info) -> const evaluation& { return evaluation_of(info); },
            setup_.posture(), setup_.kernel(), assessed_.states);
        setup_.log_changes(assessed_);
    }
    gauges_ = {outcome.owned_rules, assessed_.effective, assessed_.dead,
               assessed_.published_open_past_ufw};
    failed_ops_ = std::move(outcome.failures);
    if (!failed_ops_.empty() || !host_rules_ok) {
        const auto delay = schedule_.round_failed(now());
        log_->warn("retrying failed ufw operations in {} ms", delay.count());
        return;
    }
    schedule_.round_succeeded();
    last_sync_unix_ = std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
    if (!synced_once_) {
        synced_once_ = true;
        log_first_sync(*log_, settings_.dry_run, cache_.containers().size(), outcome.owned_rules);
    }
    if (synced_callback_) {
        synced_callback_();
    }
}

bool controller::healthy() const {
    return !failed_ && watch_.state() == conn_state::streaming && firewall_healthy_;
}

status_view controller::view() const {
    status_view v;
    v.docker_state = to_string(watch_.state());
    v.docker_socket = watch_.socket_path();
    v.api_version = "1." + std::to_string(watch_.api_minor());
    v.connections = watch_.connections();
    v.docker_streaming = watch_.state() == conn_state::streaming;
    v.healthy = healthy();
    v.in_sync = schedule_.snapshot_valid() && !schedule_.dirty() && pending_ops_ == 0 &&
                failed_ops_.empty();
    v.last_sync_unix = last_sync_unix_;
    v.dry_run = settings_.dry_run;
    v.write_path = to_string(write_path_);
    v.setup = setup_.view();
    for (const auto& [id, info] : cache_.containers()) {
        const auto rows = assessed_.rows.find(id);
        if (auto row = container_view_of(info, evaluation_of(info),
                                         rows == assessed_.rows.end() ? nullptr : &rows->second,
                                         policy_)) {
            v.containers.push_back(std::move(*row));
        }
    }
    v.gauges = gauges_;
    v.pending_operations = pending_ops_;
    v.failed = failed_ops_;
    v.counters = counters_;
    return v;
}

} // namespace dockgate
