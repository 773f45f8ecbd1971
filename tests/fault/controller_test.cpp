// The controller against a fake Docker Engine with injected faults: every test ends connected
// and with ufw exactly in step with the containers.
#include "dockgate/privsep/privsep.hpp"
#include "dockgate/reconcile/controller.hpp"
#include "dockgate/service/service.hpp"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <sstream>

#include "../support/capture_sink.hpp"
#include "../support/fake_engine.hpp"
#include "../support/fake_firewall.hpp"
#include "../support/run_until.hpp"

namespace dockgate {
namespace {

using namespace std::chrono_literals;
using testing::container_id;
using testing::fake_container;

fake_container web(int n, const std::string& ip, const std::string& allow = "http") {
    return {container_id(n), "web" + std::to_string(n), {{"fw.allow", allow}}, {{"v6net", ip}}};
}

std::string route_tuple(const std::string& ip, int port) {
    return "route:allow tcp " + std::to_string(port) + " " + ip + " any ::/0 in";
}

class controller_test : public ::testing::Test {
  protected:
    controller_test() {
        log_ = std::make_shared<spdlog::logger>(
            "test", spdlog::sinks_init_list{
                        std::make_shared<spdlog::sinks::ostream_sink_mt>(log_text_), journal_});
        log_->set_level(spdlog::level::debug);
        settings_.docker.socket_path = engine_.socket_path();
        settings_.docker.request_timeout = 300ms;
        settings_.backoff = {10ms, 80ms};
        settings_.health_interval = 100ms;
        settings_.schedule.coalesce_window = 1ms;
        settings_.schedule.drift_interval = 0ms;
        settings_.max_event_line = 4096;
        firewall_.answer_delay = 5ms;
    }

    ~controller_test() override {
        if (ctl_) {
            ctl_->stop();
            EXPECT_TRUE(run_until([this] { return ctl_->finished(); }, 3s))
                << "the daemon did not unwind after stop()";
            if (::testing::Test::HasFailure() && std::getenv("DG_DUMP") != nullptr) {
                std::cerr << log_text_.str();
            }
        }
    }

    policy policy_ = builtin_policy();

    void start() {
        ctl_ = std::make_unique<controller>(ioc_, settings_, policy_, firewall_, log_);
        ctl_->on_synced([this] { ++synced_; });
        ctl_->start();
    }

    /// Runs the io_context until `done` holds, at most `cap`.
    bool run_until(const std::function<bool()>& done, std::chrono::milliseconds cap = 5s) {
        return testing::run_until(ioc_, done, cap);
    }

    /// Connected, streaming, ufw holds exactly `tuples` (all dockgate-owned), and the daemon
    /// says so too. The last condition also means that the round which wrote has taken in its
    /// answers (logged them, counted them): the fake firewall changes on the worker thread,
    /// before the reconcile loop hears of it.
    bool in_sync_with(std::vector<std::string> tuples) {
        std::vector<std::string> actual;
        for (const auto& line : firewall_.listing()) {
            if (line.find("|dockgate:") != std::string::npos) {
                actual.push_back(line.substr(0, line.find('|')));
            }
        }
        std::sort(actual.begin(), actual.end());
        std::sort(tuples.begin(), tuples.end());
        return ctl_->connection() == conn_state::streaming && actual == tuples &&
               ctl_->status()["in_sync"] == true;
    }

    std::size_t log_count(const std::string& needle) const {
        const auto text = log_text_.str();
        std::size_t count = 0;
        for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
            ++count;
        }
        return count;
    }

    asio::io_context ioc_;
    testing::fake_engine engine_{ioc_};
    testing::fake_firewall firewall_;
    std::ostringstream log_text_;
    std::shared_ptr<testing::capture_sink> journal_ = std::make_shared<testing::capture_sink>();
    std::shared_ptr<spdlog::logger> log_;
    controller_settings settings_;
    std::unique_ptr<controller> ctl_;
    int synced_ = 0;
};

TEST_F(controller_test, running_containers_get_their_rules_at_startup) {
    const auto a = web(1, "2001:db8:1::2");
    engine_.containers[a.id] = a;
    start();
    // The firewall changes on the worker thread first; "synced" follows when the loop resumes.
    ASSERT_TRUE(run_until([&] {
        return in_sync_with({route_tuple("2001:db8:1::2", 80)}) && synced_ >= 1;
    })) << log_text_.str();
    // The stream is opened before the containers are listed, so nothing falls in between.
    ASSERT_GE(engine_.targets.size(), 3U);
    EXPECT_NE(engine_.targets[1].find("/events"), std::string::npos);
    EXPECT_NE(engine_.targets[2].find("/containers/json"), std::string::npos);
}

TEST_F(controller_test, start_and_die_events_add_and_remove_rules) {
    start();
    ASSERT_TRUE(run_until([&] { return engine_.open_streams() == 1 && synced_ >= 1; }));
    const auto a = web(2, "2001:db8:1::3");
    engine_.containers[a.id] = a;
    engine_.container_event("start", a);
    ASSERT_TRUE(run_until([&] { return in_sync_with({route_tuple("2001:db8:1::3", 80)}); }));
    engine_.containers.erase(a.id);
    engine_.container_event("die", a);
    ASSERT_TRUE(run_until([&] { return in_sync_with({}); })) << log_text_.str();
}

TEST_F(controller_test, stream_cut_mid_chunk_reconnects_and_catches_up_on_the_gap) {
    const auto a = web(3, "2001:db8:1::4");
    engine_.containers[a.id] = a;
    start();
    ASSERT_TRUE(run_until([&] { return in_sync_with({route_tuple("2001:db8:1::4", 80)}); }));
    engine_.raw("7b\r\n{\"Type\":\"container\",\"Act"); // a chunk announced, then cut short
    engine_.cut_streams();
    // While the stream is down, one container goes and another comes: no events for either.
    engine_.containers.erase(a.id);
    const auto b = web(4, "2001:db8:1::5");
    engine_.containers[b.id] = b;
    ASSERT_TRUE(run_until([&] {
        return engine_.events_connections == 2 && in_sync_with({route_tuple("2001:db8:1::5", 80)});
    })) << log_text_.str();
}

TEST_F(controller_test, an_oversized_event_line_forces_a_resync) {
    // Labels ride in events: a container with huge labels makes a line over the limit. It may
    // have been its start or its stop, so dockgate must not just skip it: it resyncs.
    start();
    ASSERT_TRUE(run_until([&] { return engine_.open_streams() == 1 && synced_ >= 1; }));
    const auto a = web(5, "2001:db8:1::6");
    engine_.containers[a.id] = a;
    engine_.chunk(std::string(10000, 'x') + "\n"); // over max_event_line, the start it hid
    ASSERT_TRUE(run_until([&] { return in_sync_with({route_tuple("2001:db8:1::6", 80)}); }))
        << log_text_.str();
    EXPECT_GE(engine_.events_connections, 2) << "the stream was reopened and Docker re-listed";
    EXPECT_EQ(log_count("over the 4096 byte limit); resyncing"), 1U) << log_text_.str();
}

TEST_F(controller_test, a_malformed_event_line_forces_a_resync) {
    start();
    ASSERT_TRUE(run_until([&] { return engine_.open_streams() == 1 && synced_ >= 1; }));
    const auto a = web(6, "2001:db8:1::16");
    engine_.containers[a.id] = a;
    engine_.chunk("this is not json\n");
    ASSERT_TRUE(run_until([&] { return in_sync_with({route_tuple("2001:db8:1::16", 80)}); }))
        << log_text_.str();
    EXPECT_GE(engine_.events_connections, 2);
    EXPECT_GE(log_count("skipped an event line Docker sent"), 1U) << log_text_.str();
}

TEST_F(controller_test, a_container_list_over_the_reply_limit_is_read_in_parts) {
    // 16 containers with large labels: the whole list is over the limit, each part by the first
    // hex digit of the id is under it. Before, every snapshot failed for good.
    settings_.docker.max_reply_bytes = 16U << 10U;
    std::vector<std::string> wanted;
    for (int k = 0; k < 16; ++k) {
        fake_container c = web(k, "2001:db8:1::" + std::to_string(100 + k));
        c.id = std::string(64, "0123456789abcdef"[k]);
        c.labels["padding"] = std::string(3000, 'p');
        engine_.containers[c.id] = c;
        wanted.push_back(route_tuple("2001:db8:1::" + std::to_string(100 + k), 80));
    }
    start();
    ASSERT_TRUE(run_until([&] { return in_sync_with(wanted); })) << log_text_.str();
    EXPECT_EQ(log_count("reading it in parts"), 1U) << log_text_.str();
}

TEST_F(controller_test, a_loop_that_throws_makes_the_daemon_unhealthy_and_stop) {
    start();
    ASSERT_TRUE(run_until([&] { return engine_.open_streams() == 1 && synced_ >= 1; }));
    ASSERT_TRUE(ctl_->healthy());
    bool fatal = false;
    ctl_->on_fatal([&] { fatal = true; });
    firewall_.throw_on_probe = true;
    const auto a = web(9, "2001:db8:1::19");
    engine_.containers[a.id] = a;
    engine_.container_event("start", a);
    ASSERT_TRUE(run_until([&] { return fatal; })) << log_text_.str();
    EXPECT_TRUE(ctl_->failed());
    EXPECT_FALSE(ctl_->healthy()) << "no more WATCHDOG=1";
    EXPECT_EQ(log_count("the reconcile loop ended with an exception (injected: probe threw)"), 1U)
        << log_text_.str();
    firewall_.throw_on_probe = false;
}

TEST_F(controller_test, a_label_of_thousands_of_bad_items_logs_a_few_lines) {
    // 100 KB of bad items: over max_label_bytes, one rejection, one line (was 50,001 lines
    // on every snapshot, inspect and reload, and a 6.5 MB status document).
    std::string bad;
    for (int i = 0; i < 50000; ++i) {
        bad += "x,";
    }
    const auto a = web(10, "2001:db8:1::20", bad);
    engine_.containers[a.id] = a;
    // Within the limits but with a thousand distinct bad items: five lines and a count.
    policy_.max_label_bytes = 65536;
    policy_.max_label_items = 1024;
    std::string many;
    for (int i = 0; i < 1000; ++i) {
        many += "x" + std::to_string(i) + ",";
    }
    auto b = web(11, "2001:db8:1::21", many);
    engine_.containers[b.id] = b;
    start();
    ASSERT_TRUE(run_until([&] { return synced_ >= 1; }));
    EXPECT_EQ(log_count("web10 (" + a.id.substr(0, 12) + "): label fw.allow"), 1U) << "one line";
    EXPECT_EQ(log_count("over the policy's max_label_items") +
                  log_count("over the policy's max_label_bytes"),
              1U);
    EXPECT_EQ(log_count("web11 (" + b.id.substr(0, 12) + "): label fw.allow"), 5U);
    EXPECT_EQ(log_count("and 995 more rejected label item(s)"), 1U);
    EXPECT_LT(log_count("rejected"), 10U) << "fewer than 10 lines for both";
    const auto status = ctl_->status();
    ASSERT_EQ(status["containers"].size(), 2U);
    for (const auto& c : status["containers"]) {
        EXPECT_LE(c["rejected"].size(), 20U);
    }
    EXPECT_EQ(status["containers"][1]["rejected_total"], 1000U) << status.dump(1).substr(0, 400);
}

TEST_F(controller_test, a_status_client_that_never_reads_delays_no_one) {
    // 800 labelled containers make a status document far larger than a socket buffer: a
    // client that connects and never reads used to hold the (sequential) server, so every
    // later `dockgated status` hung.
    firewall_.answer_delay = 0ms;
    for (int k = 0; k < 800; ++k) {
        const auto c =
            web(1000 + k, "2001:db8:2::" + std::to_string(k + 1), "http,https,8000-8010/udp");
        engine_.containers[c.id] = c;
    }
    start();
    ASSERT_TRUE(run_until([&] { return synced_ >= 1; }, 10s));
    const std::string path = engine_.socket_path() + ".status";
    std::string why;
    const int fd = listen_unix_socket(path, SOCK_STREAM, ::getgid(), &why);
    ASSERT_GE(fd, 0) << why;
    status_server server(ioc_, *ctl_, fd, {4, 1000ms});
    server.start();
    local_stream::socket idle(ioc_);
    idle.connect(local_stream::endpoint(path));
    run_until([] { return false; }, 50ms); // the server accepts it and starts writing
    // A second client gets the whole document at once.
    local_stream::socket reader(ioc_);
    reader.connect(local_stream::endpoint(path));
    std::string text;
    bool done = false;
    asio::co_spawn(
        ioc_,
        [&]() -> asio::awaitable<void> {
            error_code ec;
            co_await asio::async_read(reader, asio::dynamic_buffer(text),
                                      asio::redirect_error(asio::use_awaitable, ec));
            done = true;
        },
        asio::detached);
    ASSERT_TRUE(run_until([&] { return done; }, 900ms)) << "the second client waited for the first";
    EXPECT_GT(text.size(), 300000U) << "larger than what a unix socket buffers";
    EXPECT_TRUE(nlohmann::json::parse(text, nullptr, false).is_object());
    // The idle one is cut off at its deadline: past it, what is left to read is only what the
    // socket had buffered, not the whole document.
    run_until([] { return false; }, 1200ms);
    std::array<char, 65536> sink{};
    error_code ec;
    std::size_t got = 0;
    const auto until = std::chrono::steady_clock::now() + 3s;
    while (!ec && std::chrono::steady_clock::now() < until) {
        ioc_.restart();
        ioc_.run_for(20ms);
        if (idle.available(ec) > 0) {
            got += idle.read_some(asio::buffer(sink), ec);
        }
    }
    EXPECT_LT(got, text.size()) << "the idle client was closed before it got everything";
    server.stop();
    ::unlink(path.c_str());
}

TEST_F(controller_test, idle_metrics_connections_delay_no_scrape_and_past_the_cap_are_closed) {
    // Six idle TCP connections used to delay a scrape by 30 s (one connection at a time).
    const auto a = web(1, "2001:db8:1::2");
    engine_.containers[a.id] = a;
    start();
    ASSERT_TRUE(run_until([&] { return synced_ >= 1; }));
    metrics_server server(ioc_, *ctl_, "127.0.0.1:0", {3, 2000ms});
    server.start();
    const asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), server.port());
    std::vector<std::unique_ptr<asio::ip::tcp::socket>> idle;
    for (int i = 0; i < 2; ++i) {
        idle.push_back(std::make_unique<asio::ip::tcp::socket>(ioc_));
        idle.back()->connect(endpoint);
    }
    run_until([] { return false; }, 50ms); // the server accepts them and waits for requests
    auto scrape = [&](std::string& text) {
        asio::ip::tcp::socket client(ioc_);
        client.connect(endpoint);
        const std::string request = "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n";
        asio::write(client, asio::buffer(request));
        bool done = false;
        asio::co_spawn(
            ioc_,
            [&]() -> asio::awaitable<void> {
                error_code ec;
                co_await asio::async_read(client, asio::dynamic_buffer(text),
                                          asio::redirect_error(asio::use_awaitable, ec));
                done = true;
            },
            asio::detached);
        return run_until([&] { return done; }, 1500ms);
    };
    std::string text;
    ASSERT_TRUE(scrape(text)) << "the scrape waited for the idle connections";
    EXPECT_NE(text.find("200 OK"), std::string::npos) << text.substr(0, 200);
    EXPECT_NE(text.find("dockgate_owned_rules 1"), std::string::npos) << text;
    // At the cap (2 idle + 1 more), a further connection is closed at once, unanswered.
    idle.push_back(std::make_unique<asio::ip::tcp::socket>(ioc_));
    idle.back()->connect(endpoint);
    run_until([] { return false; }, 50ms);
    std::string refused;
    scrape(refused);
    EXPECT_EQ(refused.find("200 OK"), std::string::npos) << "over the cap: " << refused;
    // Past their deadline the idle ones are gone and scrapes are answered again.
    run_until([] { return false; }, 2200ms);
    std::string again;
    ASSERT_TRUE(scrape(again));
    EXPECT_NE(again.find("200 OK"), std::string::npos);
    server.stop();
}

TEST_F(controller_test, event_headers_that_never_come_time_out_and_are_retried) {
    engine_.events_headers_never = true;
    start();
    ASSERT_TRUE(run_until([&] { return log_count("event subscription failed") == 1; }));
    engine_.events_headers_never = false;
    const auto a = web(6, "2001:db8:1::7");
    engine_.containers[a.id] = a;
    ASSERT_TRUE(run_until([&] { return in_sync_with({route_tuple("2001:db8:1::7", 80)}); }));
    EXPECT_EQ(log_count("event subscription failed"), 1U) << "repeats are not logged";
    EXPECT_GE(log_count("reconnected to Docker"), 1U);
}

TEST_F(controller_test, server_errors_are_retried_until_the_engine_recovers) {
    engine_.events_status = 500;
    start();
    ASSERT_TRUE(run_until([&] { return log_count("event subscription failed") >= 1; }));
    engine_.events_status = 200;
    engine_.list_status = 500;
    ASSERT_TRUE(run_until([&] { return log_count("container listing failed") >= 1; }));
    engine_.list_status = 200;
    const auto a = web(7, "2001:db8:1::8");
    engine_.containers[a.id] = a;
    ASSERT_TRUE(run_until([&] { return in_sync_with({route_tuple("2001:db8:1::8", 80)}); }));
}

TEST_F(controller_test, a_container_that_vanishes_before_inspect_is_gone) {
    const auto a = web(8, "2001:db8:1::9");
    engine_.containers[a.id] = a;
    start();
    ASSERT_TRUE(run_until([&] { return in_sync_with({route_tuple("2001:db8:1::9", 80)}); }));
    engine_.inspect_404.insert(a.id);
    engine_.network_event("disconnect", "v6net", a.id);
    ASSERT_TRUE(run_until([&] { return in_sync_with({}); })) << log_text_.str();
    EXPECT_EQ(engine_.events_connections, 1);
}

TEST_F(controller_test, too_old_engine_is_refused_and_logged_once_until_it_changes) {
    engine_.api_version = "1.30";
    start();
    ASSERT_TRUE(run_until([&] {
        return std::count_if(engine_.targets.begin(), engine_.targets.end(),
                             [](const auto& t) { return t == "/_ping"; }) >= 4;
    }));
    EXPECT_EQ(log_count("ping failed"), 1U) << log_text_.str();
    EXPECT_EQ(engine_.events_connections, 0);
    engine_.api_version = "1.41";
    ASSERT_TRUE(run_until([&] { return in_sync_with({}); }));
}

TEST_F(controller_test, newer_engine_gets_the_highest_common_version_and_new_event_format) {
    engine_.api_version = "1.53";
    engine_.min_api_minor = 44; // Engine 29 refuses anything older than 1.44
    engine_.legacy_event_fields = false;
    start();
    ASSERT_TRUE(run_until([&] { return engine_.open_streams() == 1 && synced_ >= 1; }));
    EXPECT_EQ(engine_.targets[1].rfind("/v1.52/events", 0), 0U) << engine_.targets[1];
    const auto a = web(9, "2001:db8:1::a");
    engine_.containers[a.id] = a;
    engine_.container_event("start", a);
    ASSERT_TRUE(run_until([&] { return in_sync_with({route_tuple("2001:db8:1::a", 80)}); }));
}

TEST_F(controller_test, socket_deleted_and_recreated_reconnects) {
    start();
    ASSERT_TRUE(run_until([&] { return engine_.open_streams() == 1 && synced_ >= 1; }));
    engine_.remove_socket();
    engine_.cut_streams();
    ASSERT_TRUE(run_until([&] { return log_count("ping failed") >= 1; })) << log_text_.str();
    const auto a = web(10, "2001:db8:1::b");
    engine_.containers[a.id] = a;
    engine_.recreate_socket();
    ASSERT_TRUE(run_until([&] { return in_sync_with({route_tuple("2001:db8:1::b", 80)}); }))
        << log_text_.str();
    EXPECT_EQ(log_count("ping failed"), 1U) << "the missing socket is reported once";
}

TEST_F(controller_test, network_connect_and_disconnect_follow_the_address) {
    auto a = web(11, "2001:db8:1::c");
    engine_.containers[a.id] = a;
    start();
    ASSERT_TRUE(run_until([&] { return in_sync_with({route_tuple("2001:db8:1::c", 80)}); }));
    engine_.containers[a.id].ipv6_by_network["second"] = "2001:db8:2::c";
    engine_.network_event("connect", "second", a.id);
    ASSERT_TRUE(run_until([&] {
        return in_sync_with({route_tuple("2001:db8:1::c", 80), route_tuple("2001:db8:2::c", 80)});
    }));
    engine_.containers[a.id].ipv6_by_network.erase("v6net");
    engine_.network_event("disconnect", "v6net", a.id);
    ASSERT_TRUE(run_until([&] { return in_sync_with({route_tuple("2001:db8:2::c", 80)}); }));
}

TEST_F(controller_test, a_daemon_that_stops_answering_ping_leads_to_reconnect) {
    start();
    ASSERT_TRUE(run_until([&] { return engine_.open_streams() == 1 && synced_ >= 1; }));
    engine_.ping_silent = true;
    ASSERT_TRUE(run_until([&] { return log_count("stopped answering /_ping") == 1; }));
    engine_.ping_silent = false;
    ASSERT_TRUE(run_until([&] { return engine_.events_connections == 2 && in_sync_with({}); }));
}

TEST_F(controller_test, resync_with_nothing_changed_runs_no_ufw_mutation) {
    const auto a = web(12, "2001:db8:1::d");
    engine_.containers[a.id] = a;
    start();
    ASSERT_TRUE(run_until([&] { return in_sync_with({route_tuple("2001:db8:1::d", 80)}); }));
    const int before = firewall_.mutations;
    const int synced_before = synced_;
    engine_.cut_streams();
    ASSERT_TRUE(
        run_until([&] { return engine_.events_connections == 2 && synced_ > synced_before; }));
    EXPECT_EQ(firewall_.mutations, before);
}

TEST_F(controller_test, admin_rules_are_never_touched_and_identical_ones_not_duplicated) {
    rule admin;
    admin.destination = *parse_prefix("2001:db8:1::e");
    admin.source = *parse_prefix("::/0");
    admin.port = {80, 80};
    firewall_.add_foreign(admin, "admin web");
    rule other = admin;
    other.port = {22, 22};
    firewall_.add_foreign(other, "");
    const auto a = web(13, "2001:db8:1::e");
    engine_.containers[a.id] = a;
    start();
    ASSERT_TRUE(run_until([&] { return log_count("already covered by an admin rule") >= 1; }));
    EXPECT_EQ(firewall_.mutations, 0);
    engine_.containers.erase(a.id);
    engine_.container_event("die", a);
    ASSERT_TRUE(run_until([&] { return in_sync_with({}); }));
    EXPECT_EQ(firewall_.listing().size(), 2U) << "admin rules stay";
}

TEST_F(controller_test, an_admin_rule_that_goes_away_is_reported_and_not_put_back) {
    rule admin;
    admin.destination = *parse_prefix("2001:db8:1::99");
    admin.source = *parse_prefix("::/0");
    admin.port = {22, 22};
    firewall_.add_foreign(admin, "admin ssh");
    start();
    ASSERT_TRUE(run_until([&] { return engine_.open_streams() == 1 && synced_ >= 1; }));
    firewall_.remove_by_hand(admin.tuple()); // e.g. lost to two ufw commands racing
    const auto a = web(23, "2001:db8:1::16");
    engine_.containers[a.id] = a;
    engine_.container_event("start", a); // the next round reads ufw's rules again
    ASSERT_TRUE(run_until([&] { return in_sync_with({route_tuple("2001:db8:1::16", 80)}); }));
    EXPECT_EQ(log_count("a rule dockgate does not own is gone from ufw: " + admin.tuple() +
                        " comment 'admin ssh'"),
              1U)
        << log_text_.str();
    EXPECT_EQ(firewall_.listing().size(), 1U) << "dockgate does not restore the admin's rules";
}

TEST_F(controller_test, failed_ufw_operations_are_retried) {
    firewall_.fail_next = 2;
    const auto a = web(14, "2001:db8:1::f");
    engine_.containers[a.id] = a;
    settings_.schedule.retry_initial = 10ms;
    start();
    ASSERT_TRUE(run_until([&] { return in_sync_with({route_tuple("2001:db8:1::f", 80)}); }, 8s))
        << log_text_.str();
    EXPECT_GE(log_count("retrying failed ufw operations"), 1U);
}

} // namespace
} // namespace dockgate

namespace dockgate {
namespace {

TEST_F(controller_test, drift_timer_restores_deleted_rules_and_removes_stale_ones) {
    settings_.schedule.drift_interval = 50ms;
    const auto a = web(15, "2001:db8:1::10");
    engine_.containers[a.id] = a;
    start();
    ASSERT_TRUE(run_until([&] { return in_sync_with({route_tuple("2001:db8:1::10", 80)}); }));
    // An admin deletes dockgate's rule by hand and leaves a dockgate-tagged leftover behind.
    firewall_.remove_by_hand(route_tuple("2001:db8:1::10", 80));
    rule leftover;
    leftover.destination = *parse_prefix("2001:db8:1::99");
    leftover.source = *parse_prefix("::/0");
    leftover.port = {443, 443};
    firewall_.add_foreign(leftover, "dockgate:0123456789ab:gone");
    ASSERT_TRUE(run_until([&] { return in_sync_with({route_tuple("2001:db8:1::10", 80)}); }))
        << log_text_.str();
    EXPECT_EQ(log_count("drift: missing"), 1U) << log_text_.str();
    EXPECT_EQ(log_count("drift: stale"), 1U) << log_text_.str();
    EXPECT_EQ(ctl_->counters().drift_corrections, 2U);
}

TEST_F(controller_test, flapping_container_applies_only_its_final_state) {
    settings_.schedule.coalesce_window = 50ms;
    start();
    ASSERT_TRUE(run_until([&] { return engine_.open_streams() == 1 && synced_ >= 1; }));
    const auto a = web(16, "2001:db8:1::11");
    for (int i = 0; i < 5; ++i) {
        engine_.container_event("start", a);
        engine_.container_event("die", a);
    }
    const auto b = web(17, "2001:db8:1::12");
    engine_.containers[b.id] = b;
    engine_.container_event("start", b);
    ASSERT_TRUE(run_until([&] { return in_sync_with({route_tuple("2001:db8:1::12", 80)}); }));
    EXPECT_EQ(firewall_.mutations, 1) << "the flapping container caused no ufw call";
}

TEST_F(controller_test, a_write_lost_to_a_concurrent_ufw_is_restored_by_the_recheck) {
    settings_.schedule.recheck_after_write = 200ms; // the drift timer is off (0) in these tests
    start();
    ASSERT_TRUE(run_until([&] { return engine_.open_streams() == 1 && synced_ >= 1; }));
    const auto a = web(19, "2001:db8:1::14");
    engine_.containers[a.id] = a;
    engine_.container_event("start", a);
    ASSERT_TRUE(run_until([&] { return in_sync_with({route_tuple("2001:db8:1::14", 80)}); }));
    // An admin's ufw command that read the file before dockgate's write saves its old copy.
    firewall_.remove_by_hand(route_tuple("2001:db8:1::14", 80));
    ASSERT_TRUE(run_until([&] { return in_sync_with({route_tuple("2001:db8:1::14", 80)}); }, 3s))
        << log_text_.str();
    EXPECT_EQ(log_count("drift: missing"), 1U) << log_text_.str();
    // One more look after that repair, then quiet: no timer keeps firing on an idle daemon.
    const auto reconciles = ctl_->counters().reconciles;
    run_until([] { return false; }, 700ms);
    EXPECT_LE(ctl_->counters().reconciles, reconciles + 1);
}

TEST_F(controller_test, a_reconnect_with_a_re_read_or_retry_pending_still_happens) {
    // Found by lab.docker_restart under ASan: a rule written just before dockerd stopped left
    // a re-read due while Docker was away, and the loop, unable to act without a snapshot,
    // spun on it without yielding: no reconnect, no SIGTERM handling.
    settings_.schedule.recheck_after_write = 30ms;
    const auto a = web(22, "2001:db8:1::15");
    engine_.containers[a.id] = a;
    start();
    ASSERT_TRUE(run_until([&] { return in_sync_with({route_tuple("2001:db8:1::15", 80)}); }));
    engine_.events_status = 500; // the stream goes and cannot come back for a while
    engine_.cut_streams();
    ASSERT_TRUE(run_until([&] {
        return engine_.open_streams() == 0 && ctl_->connection() != conn_state::streaming;
    }));
    run_until([] { return false; }, 200ms); // well past the re-read's due time
    engine_.events_status = 200;
    ASSERT_TRUE(run_until([&] { return in_sync_with({route_tuple("2001:db8:1::15", 80)}); }))
        << log_text_.str();
}

TEST_F(controller_test, rules_go_out_while_a_storm_of_starts_goes_on) {
    start();
    ASSERT_TRUE(run_until([&] { return engine_.open_streams() == 1 && synced_ >= 1; }));
    // Every inspect Docker answers brings the next start event, so events never pause.
    constexpr int storm = 80;
    std::vector<std::string> wanted;
    int started = 0;
    auto start_next = [&] {
        const auto c = web(100 + started, "2001:db8:2::" + std::to_string(started + 1));
        engine_.containers[c.id] = c;
        wanted.push_back(route_tuple("2001:db8:2::" + std::to_string(started + 1), 80));
        ++started;
        engine_.container_event("start", c);
    };
    engine_.on_inspect = [&](const std::string&) {
        if (started < storm) {
            start_next();
        }
    };
    start_next();
    const auto first = route_tuple("2001:db8:2::1", 80);
    ASSERT_TRUE(run_until([&] {
        const auto listing = firewall_.listing();
        return std::any_of(listing.begin(), listing.end(),
                           [&](const std::string& line) { return line.starts_with(first + "|"); });
    })) << log_text_.str();
    EXPECT_LT(started, storm) << "the first container's rule waited for the storm to end";
    ASSERT_TRUE(run_until([&] { return in_sync_with(wanted); }, 10s)) << log_text_.str();
    EXPECT_EQ(started, storm);
}

TEST_F(controller_test, a_stop_that_arrives_while_its_inspect_is_pending_wins) {
    start();
    ASSERT_TRUE(run_until([&] { return engine_.open_streams() == 1 && synced_ >= 1; }));
    const auto a = web(20, "2001:db8:3::2");
    engine_.containers[a.id] = a;
    // The inspect reply says "running", but the container dies before that reply arrives.
    engine_.inspect_delay = 50ms;
    engine_.on_inspect = [&](const std::string& id) {
        if (id == a.id) {
            engine_.containers.erase(a.id);
            engine_.container_event("die", a);
        }
    };
    engine_.container_event("start", a);
    ASSERT_TRUE(run_until([&] { return engine_.inspect_calls >= 1; }));
    engine_.on_inspect = nullptr;
    engine_.inspect_delay = 0ms;
    const auto b = web(21, "2001:db8:3::3");
    engine_.containers[b.id] = b;
    engine_.container_event("start", b);
    ASSERT_TRUE(run_until([&] { return in_sync_with({route_tuple("2001:db8:3::3", 80)}); }))
        << "a rule for the container that died while being inspected was left:\n"
        << log_text_.str();
}

} // namespace
} // namespace dockgate

namespace dockgate {
namespace {

TEST_F(controller_test, journal_messages_carry_container_rule_action_and_reason_fields) {
    auto a = web(18, "2001:db8:1::13", "http,0080");
    engine_.containers[a.id] = a;
    start();
    ASSERT_TRUE(run_until([&] { return in_sync_with({route_tuple("2001:db8:1::13", 80)}); }));
    bool saw_rule = false;
    bool saw_rejection = false;
    for (const auto& m : journal_->messages()) {
        if (m.fields.count("ACTION") != 0U && m.fields.at("ACTION") == "add") {
            saw_rule = true;
            EXPECT_EQ(m.fields.at("CONTAINER_NAME"), "web18");
            EXPECT_EQ(m.fields.at("CONTAINER_ID"), a.id.substr(0, 12));
            EXPECT_EQ(m.fields.at("RULE"), "route allow tcp from any to 2001:db8:1::13 port 80");
            EXPECT_EQ(m.fields.at("REASON"), "missing");
            EXPECT_EQ(m.priority, 6);
        }
        if (m.fields.count("LABEL") != 0U) {
            saw_rejection = true;
            EXPECT_EQ(m.fields.at("CONTAINER_NAME"), "web18");
            EXPECT_EQ(m.fields.at("LABEL"), "fw.allow");
            EXPECT_NE(m.fields.at("REASON").find("leading zero"), std::string::npos);
            EXPECT_EQ(m.priority, 4);
        }
    }
    EXPECT_TRUE(saw_rule);
    EXPECT_TRUE(saw_rejection);
}

} // namespace
} // namespace dockgate

#include "dockgate/service/service.hpp"

#include <sys/socket.h>
#include <sys/un.h>

namespace dockgate {
namespace {

/// A datagram socket standing in for systemd's NOTIFY_SOCKET.
class notify_listener {
  public:
    notify_listener() {
        path_ = "/tmp/dockgate-notify-" + std::to_string(::getpid()) + ".sock";
        ::unlink(path_.c_str());
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::memcpy(address.sun_path, path_.c_str(), path_.size() + 1);
        EXPECT_EQ(::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
        ::setenv("NOTIFY_SOCKET", path_.c_str(), 1);
        ::setenv("WATCHDOG_USEC", "100000", 1);
    }
    notify_listener(const notify_listener&) = delete;
    notify_listener& operator=(const notify_listener&) = delete;
    ~notify_listener() {
        ::unsetenv("NOTIFY_SOCKET");
        ::unsetenv("WATCHDOG_USEC");
        ::close(fd_);
        ::unlink(path_.c_str());
    }
    /// Every datagram received since the last call.
    std::vector<std::string> drain() {
        std::vector<std::string> out;
        std::array<char, 4096> buffer{};
        for (ssize_t n; (n = ::recv(fd_, buffer.data(), buffer.size(), 0)) > 0;) {
            out.emplace_back(buffer.data(), static_cast<std::size_t>(n));
        }
        return out;
    }

  private:
    std::string path_;
    int fd_ = -1;
};

bool contains(const std::vector<std::string>& messages, const std::string& needle) {
    return std::any_of(messages.begin(), messages.end(),
                       [&](const auto& m) { return m.find(needle) != std::string::npos; });
}

TEST_F(controller_test, ready_only_after_reconcile_and_watchdog_only_while_healthy) {
    notify_listener systemd;
    engine_.events_headers_never = true; // not connected yet: nothing may claim readiness
    ctl_ = std::make_unique<controller>(ioc_, settings_, builtin_policy(), firewall_, log_);
    service_notifier notifier(ioc_, *ctl_);
    notifier.start();
    ctl_->start();
    std::vector<std::string> seen;
    ASSERT_TRUE(run_until([&] {
        auto got = systemd.drain();
        seen.insert(seen.end(), got.begin(), got.end());
        return seen.size() >= 3; // watchdog ticks carry STATUS even when unhealthy
    }));
    EXPECT_FALSE(contains(seen, "READY=1")) << "READY before the first reconcile";
    EXPECT_FALSE(contains(seen, "WATCHDOG=1")) << "WATCHDOG while Docker is not streaming";

    engine_.events_headers_never = false;
    const auto a = web(19, "2001:db8:1::14");
    engine_.containers[a.id] = a;
    seen.clear();
    ASSERT_TRUE(run_until([&] {
        auto got = systemd.drain();
        seen.insert(seen.end(), got.begin(), got.end());
        return contains(seen, "READY=1") && contains(seen, "WATCHDOG=1");
    })) << log_text_.str();
    EXPECT_TRUE(in_sync_with({route_tuple("2001:db8:1::14", 80)}));
    EXPECT_TRUE(contains(seen, "STATUS=in sync"));

    // Docker goes away: the watchdog stops being fed.
    engine_.remove_socket();
    engine_.cut_streams();
    ASSERT_TRUE(run_until([&] { return ctl_->connection() != conn_state::streaming; }));
    systemd.drain();
    seen.clear();
    ASSERT_TRUE(run_until([&] {
        auto got = systemd.drain();
        seen.insert(seen.end(), got.begin(), got.end());
        return seen.size() >= 4;
    }));
    EXPECT_FALSE(contains(seen, "WATCHDOG=1")) << "WATCHDOG while the Docker stream is down";
    EXPECT_TRUE(contains(seen, "STATUS=degraded"));

    engine_.recreate_socket();
    seen.clear();
    ASSERT_TRUE(run_until([&] {
        auto got = systemd.drain();
        seen.insert(seen.end(), got.begin(), got.end());
        return contains(seen, "WATCHDOG=1");
    })) << "WATCHDOG resumes once Docker is back";
    notifier.stop();
    // stop() cancels the watchdog's timer; the watchdog coroutine still has to wake up (its
    // wait completes with operation_aborted) and read stopping_. Let it, while the notifier
    // exists: otherwise it would resume in the fixture's destructor, after this frame and the
    // notifier in it are gone (ASan: stack-use-after-return in service_notifier::watchdog_loop).
    EXPECT_TRUE(run_until([&] { return notifier.finished(); }, 3s));
}

TEST_F(controller_test, status_reports_containers_rules_rejections_and_failures) {
    auto a = web(20, "2001:db8:1::15", "http,0080");
    engine_.containers[a.id] = a;
    firewall_.fail_next = 1;
    settings_.schedule.retry_initial = 10s; // keep the failure visible
    start();
    ASSERT_TRUE(run_until([&] { return ctl_->status()["failed_operations"].size() == 1; }));
    const auto status = ctl_->status();
    EXPECT_EQ(status["docker"]["state"], "streaming");
    EXPECT_EQ(status["in_sync"], false);
    ASSERT_EQ(status["containers"].size(), 1U);
    EXPECT_EQ(status["containers"][0]["name"], "web20");
    EXPECT_EQ(status["containers"][0]["rules"][0],
              "route allow tcp from any to 2001:db8:1::15 port 80");
    EXPECT_EQ(status["containers"][0]["rejected"][0]["value"], "0080");
    EXPECT_EQ(status["failed_operations"][0]["container"], "web20");
    EXPECT_NE(status["failed_operations"][0]["error"].get<std::string>().find("ufw failed"),
              std::string::npos);
}

} // namespace
} // namespace dockgate
