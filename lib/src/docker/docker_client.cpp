// Beast-over-unix-socket requests to the Docker Engine, with deadlines and mapped errors.
#include "dockgate/docker/docker_client.hpp"

#include "dockgate/model/error.hpp"
#include "dockgate/version.hpp"

#include <nlohmann/json.hpp>

#include <charconv>

namespace dockgate {
namespace {

using unix_stream =
    beast::basic_stream<local_stream, asio::any_io_executor, beast::unlimited_rate_policy>;

/// Socket-level failures all mean "Docker not reachable right now"; keep the cause for logs
/// only through the repeated-failure check, which compares codes.
error_code map_io_error(const error_code& ec) {
    if (ec == beast::error::timeout) {
        return errc::timeout;
    }
    if (ec == asio::error::operation_aborted) {
        return errc::shutting_down;
    }
    if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
        ec == asio::error::eof) {
        return errc::events_stream_ended;
    }
    return ec;
}

template <class Body> http::request<Body> make_request(std::string target) {
    http::request<Body> req{http::verb::get, std::move(target), 11};
    // HTTP/1.1 requires Host; Docker refuses requests without it.
    req.set(http::field::host, "docker");
    req.set(http::field::user_agent, std::string("dockgate/") + version_string);
    return req;
}

asio::awaitable<error_code> connect(unix_stream& stream, const docker_settings& settings) {
    error_code ec;
    stream.expires_after(settings.request_timeout);
    co_await stream.async_connect(local_stream::endpoint(settings.socket_path),
                                  asio::redirect_error(asio::use_awaitable, ec));
    co_return ec;
}

error_code status_error(unsigned status) {
    if (status == 404) {
        return errc::docker_not_found;
    }
    if (status >= 400) {
        return errc::docker_http_error;
    }
    return {};
}

} // namespace

std::optional<int> parse_api_version(std::string_view text) {
    if (!text.starts_with("1.")) {
        return std::nullopt;
    }
    text.remove_prefix(2);
    int minor = 0;
    const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), minor);
    if (ec != std::errc{} || ptr != text.data() + text.size() || minor < 0) {
        return std::nullopt;
    }
    return minor;
}

std::string url_encode(std::string_view text) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (const char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += hex[c >> 4U];
            out += hex[c & 15U];
        }
    }
    return out;
}

std::string docker_client::versioned(const std::string& target) const {
    return "/v1." + std::to_string(api_minor_) + target;
}

asio::awaitable<docker_reply> docker_client::get(std::string target) {
    docker_reply reply;
    unix_stream stream(co_await asio::this_coro::executor);
    if ((reply.ec = co_await connect(stream, settings_))) {
        co_return reply;
    }
    auto req = make_request<http::empty_body>(std::move(target));
    req.set(http::field::connection, "close");
    error_code ec;
    stream.expires_after(settings_.request_timeout);
    co_await http::async_write(stream, req, asio::redirect_error(asio::use_awaitable, ec));
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(settings_.max_reply_bytes);
    // The header first: Beast 1.74's eager read (what async_read does) does not enforce
    // body_limit against Content-Length, so a whole oversized reply would be read into memory;
    // the header read does (measured: a 5,000-byte body passed a 100-byte limit eagerly).
    if (!ec) {
        co_await http::async_read_header(stream, buffer, parser,
                                         asio::redirect_error(asio::use_awaitable, ec));
    }
    if (!ec) {
        co_await http::async_read(stream, buffer, parser,
                                  asio::redirect_error(asio::use_awaitable, ec));
    }
    if (!ec && parser.get().body().size() > settings_.max_reply_bytes) {
        ec = http::error::body_limit; // a chunked body, bounded by the same limit
    }
    if (ec) {
        reply.ec = ec == http::error::body_limit ? error_code(errc::docker_reply_too_large)
                                                 : map_io_error(ec);
        co_return reply;
    }
    reply.status = parser.get().result_int();
    reply.body = std::move(parser.get().body());
    reply.ec = status_error(reply.status);
    co_return reply;
}

asio::awaitable<error_code> docker_client::ping() {
    unix_stream stream(co_await asio::this_coro::executor);
    if (auto ec = co_await connect(stream, settings_)) {
        co_return ec;
    }
    auto req = make_request<http::empty_body>("/_ping");
    req.set(http::field::connection, "close");
    error_code ec;
    stream.expires_after(settings_.request_timeout);
    co_await http::async_write(stream, req, asio::redirect_error(asio::use_awaitable, ec));
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(4096);
    if (!ec) {
        co_await http::async_read(stream, buffer, parser,
                                  asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec) {
        co_return map_io_error(ec);
    }
    const auto& res = parser.get();
    if (res.result_int() != 200) {
        co_return status_error(res.result_int() == 404 ? 500 : res.result_int());
    }
    const auto theirs = parse_api_version(res["Api-Version"]);
    if (!theirs) {
        co_return errc::docker_bad_reply;
    }
    if (*theirs < api_minor_min) {
        co_return errc::api_version_unsupported;
    }
    api_minor_ = std::min(*theirs, api_minor_max);
    co_return error_code{};
}

asio::awaitable<error_code> event_stream::open(const docker_settings& settings,
                                               std::string target) {
    buffer_.clear();
    parser_.emplace();
    // The stream is endless: Beast's default 8 MB body limit would cut it after a while.
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    if (auto ec = co_await connect(stream_, settings)) {
        co_return ec;
    }
    const auto req = make_request<http::empty_body>(std::move(target));
    error_code ec;
    stream_.expires_after(settings.request_timeout);
    co_await http::async_write(stream_, req, asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) {
        co_await http::async_read_header(stream_, buffer_, *parser_,
                                         asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec) {
        co_return map_io_error(ec);
    }
    if (auto status = status_error(parser_->get().result_int())) {
        co_return status;
    }
    stream_.expires_never();
    co_return error_code{};
}

asio::awaitable<error_code> event_stream::read(data_handler on_data) {
    on_chunk_ = [handler = std::move(on_data)](std::uint64_t, std::string_view body, error_code&) {
        handler(body);
        return body.size();
    };
    parser_->on_chunk_body(on_chunk_);
    error_code ec;
    while (!parser_->is_done()) {
        co_await http::async_read_some(stream_, buffer_, *parser_,
                                       asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            co_return map_io_error(ec);
        }
    }
    co_return errc::events_stream_ended;
}

void event_stream::close() {
    error_code ignored;
    stream_.socket().shutdown(local_stream::socket::shutdown_both, ignored);
    stream_.close();
}

asio::awaitable<std::optional<docker_setup_reading>> read_docker_setup(docker_client& docker,
                                                                       std::string* why) {
    const auto version = co_await docker.get(docker.versioned("/version"));
    const auto info = co_await docker.get(docker.versioned("/info"));
    const auto networks = co_await docker.get(docker.versioned("/networks"));
    for (const auto* reply : {&version, &networks}) {
        if (reply->ec) {
            *why = std::string(reply == &version ? "GET /version" : "GET /networks") + ": " +
                   reply->ec.message();
            co_return std::nullopt;
        }
    }
    const auto info_json =
        info.ec ? nlohmann::json() : nlohmann::json::parse(info.body, nullptr, false);
    auto engine = decode_engine(nlohmann::json::parse(version.body, nullptr, false),
                                info_json.is_object() ? &info_json : nullptr, why);
    if (!engine) {
        co_return std::nullopt;
    }
    docker_setup_reading reading{*engine, {}, {}};
    if (info.ec) {
        reading.warnings.push_back("GET /info: " + info.ec.message() +
                                   " (firewall backend taken as iptables)");
    }
    reading.networks =
        decode_networks(nlohmann::json::parse(networks.body, nullptr, false), &reading.warnings);
    co_return reading;
}

} // namespace dockgate
