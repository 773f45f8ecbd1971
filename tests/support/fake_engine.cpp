// The fake Docker Engine: a coroutine HTTP server speaking just enough of the Engine API.
#include "fake_engine.hpp"

#include <cstdio>
#include <cstdlib>
#include <unistd.h>

namespace dockgate::testing {

using json = nlohmann::json;

std::string url_decode(const std::string& text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%' && i + 2 < text.size()) {
            out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
            i += 2;
        } else {
            out += text[i];
        }
    }
    return out;
}

std::string container_id(int n) {
    char buffer[17];
    std::snprintf(buffer, sizeof buffer, "%016x", static_cast<unsigned>(n));
    return std::string(48, 'a') + buffer;
}

json fake_container::inspect_json() const {
    json networks = json::object();
    for (const auto& [net, ip] : ipv6_by_network) {
        networks[net] = {
            {"GlobalIPv6Address", ip}, {"IPAddress", "172.18.0.2"}, {"NetworkID", "n" + net}};
    }
    return {{"Id", id},
            {"Name", "/" + name},
            {"State", {{"Running", true}, {"Status", "running"}}},
            {"Config", {{"Labels", labels}}},
            {"NetworkSettings", {{"Networks", networks}, {"Ports", json::object()}}}};
}

json fake_container::list_json() const {
    json networks = json::object();
    for (const auto& [net, ip] : ipv6_by_network) {
        networks[net] = {{"GlobalIPv6Address", ip}, {"IPAddress", "172.18.0.2"}};
    }
    return {{"Id", id},
            {"Names", {"/" + name}},
            {"State", "running"},
            {"Labels", labels},
            {"Ports", json::array()},
            {"NetworkSettings", {{"Networks", networks}}}};
}

fake_engine::fake_engine(asio::io_context& ioc) : ioc_(ioc) {
    char pattern[] = "/tmp/dockgate-fake-engine.XXXXXX";
    dir_ = ::mkdtemp(pattern);
    socket_path_ = (dir_ / "docker.sock").string();
    listen();
}

fake_engine::~fake_engine() {
    error_code ignored;
    if (acceptor_) {
        acceptor_->close(ignored);
    }
    for (auto& s : streams_) {
        s->close(ignored);
    }
    for (auto& s : hanging_) {
        s->close(ignored);
    }
    std::error_code fs_ignored;
    std::filesystem::remove_all(dir_, fs_ignored);
}

void fake_engine::listen() {
    acceptor_ =
        std::make_shared<local_stream::acceptor>(ioc_, local_stream::endpoint(socket_path_));
    asio::co_spawn(ioc_, accept_loop(acceptor_), asio::detached);
}

void fake_engine::remove_socket() {
    error_code ignored;
    acceptor_->close(ignored);
    ::unlink(socket_path_.c_str());
}

void fake_engine::recreate_socket() {
    ::unlink(socket_path_.c_str());
    listen();
}

asio::awaitable<void> fake_engine::accept_loop(std::shared_ptr<local_stream::acceptor> acceptor) {
    while (acceptor->is_open()) {
        error_code ec;
        auto socket =
            co_await acceptor->async_accept(asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            co_return;
        }
        asio::co_spawn(ioc_, serve(std::move(socket)), asio::detached);
    }
}

namespace {

int requested_minor(const std::string& target) {
    if (target.rfind("/v1.", 0) != 0) {
        return -1;
    }
    return std::atoi(target.c_str() + 4);
}

std::string strip_version(const std::string& target) {
    if (target.rfind("/v", 0) != 0) {
        return target;
    }
    const auto slash = target.find('/', 1);
    return slash == std::string::npos ? target : target.substr(slash);
}

} // namespace

asio::awaitable<void> fake_engine::serve(local_stream::socket socket) {
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    error_code ec;
    co_await http::async_read(socket, buffer, req, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
        co_return;
    }
    const std::string full_target(req.target());
    targets.push_back(full_target);
    const auto path = strip_version(full_target);
    http::response<http::string_body> res{http::status::ok, 11};
    res.set(http::field::content_type, "application/json");
    res.set("Api-Version", api_version);
    res.keep_alive(false);
    const int minor = requested_minor(full_target);
    const int our_minor = std::atoi(api_version.c_str() + 2);
    auto send = [&]() -> asio::awaitable<void> {
        res.prepare_payload();
        co_await http::async_write(socket, res, asio::redirect_error(asio::use_awaitable, ec));
    };
    if (minor > our_minor) {
        res.result(http::status::bad_request);
        res.body() = R"({"message":"client version is too new"})";
        co_await send();
        co_return;
    }
    if (minor >= 0 && minor < min_api_minor) {
        res.result(http::status::bad_request);
        res.body() = "client version is too old";
        co_await send();
        co_return;
    }
    if (path == "/_ping") {
        if (ping_silent) {
            hanging_.push_back(std::make_shared<local_stream::socket>(std::move(socket)));
            co_return;
        }
        res.result(static_cast<http::status>(ping_status));
        res.body() = "OK";
        co_await send();
    } else if (path.rfind("/events", 0) == 0) {
        if (events_headers_never) {
            hanging_.push_back(std::make_shared<local_stream::socket>(std::move(socket)));
            co_return;
        }
        if (events_status != 200) {
            res.result(static_cast<http::status>(events_status));
            res.body() = R"({"message":"injected failure"})";
            co_await send();
            co_return;
        }
        ++events_connections;
        const std::string header =
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nApi-Version: " + api_version +
            "\r\nTransfer-Encoding: chunked\r\n\r\n";
        co_await asio::async_write(socket, asio::buffer(header),
                                   asio::redirect_error(asio::use_awaitable, ec));
        streams_.push_back(std::make_shared<local_stream::socket>(std::move(socket)));
    } else if (path.rfind("/containers/json", 0) == 0) {
        ++list_calls;
        if (list_status != 200) {
            res.result(static_cast<http::status>(list_status));
            res.body() = R"({"message":"injected failure"})";
        } else {
            // filters={"id":["^<hex>"]}: Docker matches the term as a regular expression
            // anywhere in the id; for "^" and hex digits that is a prefix, else a substring.
            std::string id_term;
            if (const auto at = full_target.find("filters="); at != std::string::npos) {
                const auto filters =
                    json::parse(url_decode(full_target.substr(at + 8)), nullptr, false);
                if (filters.is_object() && filters.contains("id")) {
                    id_term = filters["id"].at(0).get<std::string>();
                }
            }
            json list = json::array();
            for (const auto& [id, c] : containers) {
                const bool match = id_term.starts_with('^') ? id.starts_with(id_term.substr(1))
                                                            : id.find(id_term) != std::string::npos;
                if (match) {
                    list.push_back(c.list_json());
                }
            }
            res.body() = list.dump();
        }
        co_await send();
    } else if (path.rfind("/containers/", 0) == 0) {
        const auto id = path.substr(12, path.find('/', 12) - 12);
        const auto it = containers.find(id);
        if (it == containers.end() || inspect_404.contains(id)) {
            res.result(http::status::not_found);
            res.body() = R"({"message":"No such container: )" + id + "\"}";
        } else {
            res.body() = it->second.inspect_json().dump();
        }
        ++inspect_calls;
        if (on_inspect) {
            on_inspect(id);
        }
        if (inspect_delay.count() > 0) {
            co_await pause(inspect_delay);
        }
        co_await send();
    } else {
        res.result(http::status::not_found);
        res.body() = R"({"message":"page not found"})";
        co_await send();
    }
}

asio::awaitable<void> fake_engine::pause(std::chrono::milliseconds how_long) {
    asio::steady_timer timer(ioc_, how_long);
    error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

void fake_engine::chunk(const std::string& payload) {
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", payload.size());
    raw(std::string(size) + payload + "\r\n");
}

void fake_engine::raw(const std::string& bytes) {
    for (auto& s : streams_) {
        error_code ec;
        asio::write(*s, asio::buffer(bytes), ec); // small writes to a unix socket: no blocking
    }
}

void fake_engine::container_event(const std::string& action, const fake_container& c) {
    json event = {
        {"Type", "container"},
        {"Action", action},
        {"Actor", {{"ID", c.id}, {"Attributes", {{"name", c.name}, {"image", "local/bb:1"}}}}},
        {"scope", "local"},
        {"time", 1795973732},
        {"timeNano", 1795973732632824218LL}};
    for (const auto& [k, v] : c.labels) {
        event["Actor"]["Attributes"][k] = v;
    }
    if (legacy_event_fields) {
        event["status"] = action;
        event["id"] = c.id;
        event["from"] = "local/bb:1";
    }
    chunk(event.dump() + "\n");
}

void fake_engine::network_event(const std::string& action, const std::string& network,
                                const std::string& container) {
    json event = {
        {"Type", "network"},
        {"Action", action},
        {"Actor",
         {{"ID", "n" + network},
          {"Attributes", {{"container", container}, {"name", network}, {"type", "bridge"}}}}},
        {"scope", "local"},
        {"time", 1795973732},
        {"timeNano", 1795973732632824218LL}};
    chunk(event.dump() + "\n");
}

void fake_engine::cut_streams() {
    for (auto& s : streams_) {
        error_code ignored;
        s->shutdown(local_stream::socket::shutdown_both, ignored);
        s->close(ignored);
    }
    streams_.clear();
}

std::size_t fake_engine::open_streams() const {
    return streams_.size();
}

} // namespace dockgate::testing
