// The Docker API filter: one checked request head per connection, then Docker's reply relayed.
#include "dockgate/docker/docker_api_proxy.hpp"

#include "dockgate/docker/docker_api_filter.hpp"
#include "dockgate/model/text.hpp"
#include "dockgate/version.hpp"

#include <nlohmann/json.hpp>

#include <csignal>
#include <set>
#include <sys/socket.h>
#include <vector>

namespace dockgate {
namespace {

using unix_stream =
    beast::basic_stream<local_stream, asio::any_io_executor, beast::unlimited_rate_policy>;

/// How long a refused client gets to finish sending what it had queued (a POST body) before
/// the socket is closed: closing a unix socket with unread data makes the peer's read fail
/// with ECONNRESET, which could hide the 403 from it.
constexpr std::chrono::seconds linger_deadline{1};
constexpr std::size_t linger_max_bytes = 64U << 10U;
constexpr std::size_t relay_chunk_bytes = 16U << 10U;

/// At most `burst` lines per `interval`; the lines dropped are counted and reported with the
/// next line that gets through, so a client hammering the filter cannot flood the journal.
class log_budget {
  public:
    log_budget(std::chrono::seconds interval, std::size_t burst)
        : interval_(interval), burst_(burst) {}

    /// True when a line may be logged now; `dropped` is set to the lines dropped before it.
    bool take(std::size_t& dropped) {
        const auto now = std::chrono::steady_clock::now();
        if (now - window_start_ >= interval_) {
            window_start_ = now;
            used_ = 0;
        }
        if (used_ >= burst_) {
            ++dropped_;
            return false;
        }
        ++used_;
        dropped = dropped_;
        dropped_ = 0;
        return true;
    }

  private:
    std::chrono::steady_clock::duration interval_;
    std::size_t burst_;
    std::chrono::steady_clock::time_point window_start_{};
    std::size_t used_ = 0;
    std::size_t dropped_ = 0;
};

std::string dropped_note(std::size_t dropped) {
    return dropped == 0 ? std::string()
                        : " (" + std::to_string(dropped) + " similar line(s) dropped)";
}

struct connection;

} // namespace

struct docker_api_proxy::state {
    state(asio::io_context& ioc, docker_api_proxy_settings s, int fd, spdlog::logger& l)
        : settings(std::move(s)), acceptor(ioc, local_stream(), fd), log(l),
          busy_log(settings.log_interval, 1),
          refusal_log(settings.log_interval, settings.log_burst) {}

    docker_api_proxy_settings settings;
    local_stream::acceptor acceptor;
    spdlog::logger& log;
    bool stopping = false;
    std::set<connection*> connections;
    log_budget busy_log;
    log_budget refusal_log;
};

namespace {

using proxy_state = docker_api_proxy::state;

/// One client, and once its request is allowed, one Docker connection.
struct connection {
    connection(std::shared_ptr<proxy_state> owner_state, local_stream::socket peer)
        : owner(std::move(owner_state)), client(std::move(peer)), docker(client.get_executor()) {
        owner->connections.insert(this);
    }
    ~connection() { owner->connections.erase(this); }
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    /// Ends the exchange from either side: pending reads and writes on both sockets complete
    /// with an error and the coroutines unwind.
    void close() {
        error_code ignored;
        client.socket().shutdown(local_stream::socket::shutdown_both, ignored);
        docker.socket().shutdown(local_stream::socket::shutdown_both, ignored);
        client.close();
        docker.close();
    }

    std::shared_ptr<proxy_state> owner;
    unix_stream client;
    unix_stream docker;
};

void log_failure(spdlog::logger& log, const std::exception_ptr& failure) {
    if (!failure) {
        return;
    }
    try {
        std::rethrow_exception(failure);
    } catch (const std::exception& e) {
        log.error("docker API filter: connection failed: {}", e.what());
    }
}

/// Answers `status` with Docker's error shape ({"message": ...}) and closes the connection.
asio::awaitable<void> answer_error(connection& c, http::status status, const std::string& message) {
    http::response<http::string_body> res{status, 11};
    res.set(http::field::server, std::string("dockgate-api-filter/") + version_string);
    res.set(http::field::content_type, "application/json");
    res.set(http::field::connection, "close");
    res.body() = nlohmann::json{{"message", "dockgate API filter: " + message}}.dump() + "\n";
    res.prepare_payload();
    error_code ec;
    c.client.expires_after(c.owner->settings.write_deadline);
    co_await http::async_write(c.client, res, asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) {
        c.client.socket().shutdown(local_stream::socket::shutdown_send, ec);
        c.client.expires_after(linger_deadline);
        std::vector<char> discard(4096);
        std::size_t drained = 0;
        while (!ec && drained < linger_max_bytes) {
            drained += co_await c.client.async_read_some(
                asio::buffer(discard), asio::redirect_error(asio::use_awaitable, ec));
        }
    }
    c.close();
}

docker_request_head head_of(const http::request<http::empty_body>& req) {
    docker_request_head head{req.method_string(), req.target(), {}};
    for (const auto& field : req) {
        head.headers.push_back({field.name_string(), field.value()});
    }
    return head;
}

/// The head Docker sees: only what a GET needs, so no header the check did not judge (and no
/// keep-alive) gets through. Docker closes after its one reply.
http::request<http::empty_body> rebuilt_head(const http::request<http::empty_body>& req) {
    http::request<http::empty_body> out{req.method(), req.target(), 11};
    const auto host = req[http::field::host];
    out.set(http::field::host, host.empty() ? std::string_view("docker") : host);
    if (const auto agent = req[http::field::user_agent]; !agent.empty()) {
        out.set(http::field::user_agent, agent);
    }
    out.set(http::field::connection, "close");
    return out;
}

/// After the head nothing from the client is forwarded: this only notices the client leaving
/// (EOF or error) and then ends the relay.
asio::awaitable<void> watch_client(std::shared_ptr<connection> c) {
    std::vector<char> discard(4096);
    error_code ec;
    while (!ec) {
        co_await c->client.async_read_some(asio::buffer(discard),
                                           asio::redirect_error(asio::use_awaitable, ec));
    }
    c->close();
}

asio::awaitable<void> relay(std::shared_ptr<connection> c) {
    c->client.expires_never();
    c->docker.expires_never();
    asio::co_spawn(c->client.get_executor(), watch_client(c),
                   [owner = c->owner](const std::exception_ptr& e) { log_failure(owner->log, e); });
    std::vector<char> chunk(relay_chunk_bytes);
    error_code ec;
    while (!ec) {
        const auto n = co_await c->docker.async_read_some(
            asio::buffer(chunk), asio::redirect_error(asio::use_awaitable, ec));
        if (n > 0) {
            error_code write_ec;
            co_await asio::async_write(c->client, asio::buffer(chunk.data(), n),
                                       asio::redirect_error(asio::use_awaitable, write_ec));
            ec = ec ? ec : write_ec;
        }
    }
    c->close();
}

asio::awaitable<void> serve(std::shared_ptr<connection> c) {
    auto& settings = c->owner->settings;
    auto& log = c->owner->log;
    beast::flat_buffer buffer;
    http::request_parser<http::empty_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(settings.max_header_bytes));
    error_code ec;
    c->client.expires_after(settings.header_deadline);
    co_await http::async_read_header(c->client, buffer, parser,
                                     asio::redirect_error(asio::use_awaitable, ec));
    std::size_t dropped = 0;
    if (ec == beast::error::timeout || ec == http::error::end_of_stream || ec == asio::error::eof ||
        ec == asio::error::operation_aborted) {
        c->close(); // a silent or vanished client: nothing to answer
        co_return;
    }
    if (ec) {
        if (c->owner->refusal_log.take(dropped)) {
            log.warn("docker API filter: refused a malformed request head: {}{}", ec.message(),
                     dropped_note(dropped));
        }
        co_await answer_error(*c, http::status::bad_request, "malformed request head");
        co_return;
    }
    const auto& req = parser.get();
    const auto verdict = check_docker_request(head_of(req));
    if (!verdict.allowed) {
        if (c->owner->refusal_log.take(dropped)) {
            log.warn("docker API filter: refused {} {}: {}{}", printable(req.method_string()),
                     printable(req.target()), verdict.reason, dropped_note(dropped));
        }
        co_await answer_error(*c, http::status::forbidden, verdict.reason);
        co_return;
    }
    log.debug("docker API filter: {} {}", printable(req.method_string()), printable(req.target()));
    c->docker.expires_after(settings.connect_deadline);
    co_await c->docker.async_connect(local_stream::endpoint(settings.docker_socket),
                                     asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) {
        const auto out = rebuilt_head(req);
        c->docker.expires_after(settings.write_deadline);
        co_await http::async_write(c->docker, out, asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec) {
        // Docker down or restarting is routine for the watcher, which retries with backoff.
        if (c->owner->refusal_log.take(dropped)) {
            log.info("docker API filter: Docker at {} unreachable: {}{}", settings.docker_socket,
                     ec.message(), dropped_note(dropped));
        }
        co_await answer_error(*c, http::status::bad_gateway, "Docker unreachable");
        co_return;
    }
    co_await relay(c);
}

asio::awaitable<void> accept_loop(std::shared_ptr<proxy_state> s, std::function<void()> on_end) {
    while (!s->stopping) {
        error_code ec;
        auto peer =
            co_await s->acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
        if (s->stopping || ec == asio::error::operation_aborted) {
            break;
        }
        if (ec) {
            // Out of descriptors or memory passes; anything else means the socket is unusable.
            const bool transient =
                ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
                ec == asio::error::no_memory || ec == asio::error::connection_aborted;
            std::size_t dropped = 0;
            if (!transient) {
                s->log.error("docker API filter: accept failed: {}", ec.message());
                break;
            }
            if (s->busy_log.take(dropped)) {
                s->log.warn("docker API filter: accept failed: {}{}", ec.message(),
                            dropped_note(dropped));
            }
            asio::steady_timer pause(s->acceptor.get_executor(), std::chrono::milliseconds(100));
            co_await pause.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            continue;
        }
        if (s->settings.allowed_uid) {
            ucred peer_cred{};
            socklen_t length = sizeof peer_cred;
            if (::getsockopt(peer.native_handle(), SOL_SOCKET, SO_PEERCRED, &peer_cred, &length) !=
                    0 ||
                (peer_cred.uid != 0 && peer_cred.uid != *s->settings.allowed_uid)) {
                std::size_t dropped = 0;
                if (s->busy_log.take(dropped)) {
                    s->log.warn("docker API filter: refused a connection from uid {} (pid {}){}",
                                peer_cred.uid, peer_cred.pid, dropped_note(dropped));
                }
                peer.close(ec);
                continue;
            }
        }
        if (s->connections.size() >= s->settings.max_connections) {
            std::size_t dropped = 0;
            if (s->busy_log.take(dropped)) {
                s->log.warn("docker API filter: {} connections open, closing a new one at once{}",
                            s->connections.size(), dropped_note(dropped));
            }
            peer.close(ec);
            continue;
        }
        auto c = std::make_shared<connection>(s, std::move(peer));
        asio::co_spawn(s->acceptor.get_executor(), serve(std::move(c)),
                       [s](const std::exception_ptr& e) { log_failure(s->log, e); });
    }
    if (on_end) {
        on_end();
    }
}

} // namespace

docker_api_proxy::docker_api_proxy(asio::io_context& ioc, docker_api_proxy_settings settings,
                                   int listening_fd, spdlog::logger& log)
    : state_(std::make_shared<state>(ioc, std::move(settings), listening_fd, log)) {}

docker_api_proxy::~docker_api_proxy() {
    stop();
}

void docker_api_proxy::start(std::function<void()> on_accept_end) {
    asio::co_spawn(state_->acceptor.get_executor(), accept_loop(state_, std::move(on_accept_end)),
                   [s = state_](const std::exception_ptr& e) { log_failure(s->log, e); });
}

void docker_api_proxy::stop() {
    state_->stopping = true;
    error_code ignored;
    state_->acceptor.close(ignored);
    for (auto* c : state_->connections) {
        c->close();
    }
}

std::size_t docker_api_proxy::open_connections() const {
    return state_->connections.size();
}

int serve_docker_api_filter(int listening_fd, const docker_api_proxy_settings& settings,
                            spdlog::logger& log) {
    // A client that hangs up mid-reply must not kill the filter (Asio sends with MSG_NOSIGNAL,
    // this covers anything else).
    std::signal(SIGPIPE, SIG_IGN);
    asio::io_context ioc;
    docker_api_proxy proxy(ioc, settings, listening_fd, log);
    asio::signal_set signals(ioc, SIGTERM);
    bool asked_to_stop = false;
    signals.async_wait([&](const error_code& ec, int) {
        if (!ec) {
            asked_to_stop = true;
            proxy.stop();
        }
    });
    int exit_code = 0;
    proxy.start([&] {
        // The accept loop ends on SIGTERM (stop) or on a broken socket: only the latter is a
        // failure, and the supervisor starts a fresh filter.
        exit_code = asked_to_stop ? 0 : 1;
        error_code ignored;
        signals.cancel(ignored);
    });
    ioc.run();
    return exit_code;
}

} // namespace dockgate
